"""The ASGI application: routes, authentication before anything else; each request observed
(`observability.py`: its id, its log line, its metrics)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from numbers_api.cache import LruCache
from numbers_api.exporting.downloads import DownloadRunner
from numbers_api.http import (
    actions,
    available_numbers,
    csv_downloads,
    jobs,
    messaging,
    number_orders,
    number_reservations,
    phone_number,
    voice,
    voicemail,
)
from numbers_api.http.errors import (
    authentication_failed,
    method_not_allowed,
    not_found,
    overloaded,
    try_again_later,
    unexpected_error,
)
from numbers_api.http.handlers import Asked, Read, Worker, Write
from numbers_api.http.limits import BodyTooLarge, body_too_large, query_string_too_long, read_body
from numbers_api.http.observability import ObservedStarlette, metrics_endpoint
from numbers_api.http.openapi import served_openapi_document
from numbers_api.http.phone_numbers import ListEndpoint, ListView, PhoneNumbersList, ViewList
from numbers_api.http.rate_limits import Verdict, rate_limiter, too_many_requests
from numbers_api.http.slim import SLIM_VIEW
from numbers_api.jobs.runner import SLOW_JOB_SECONDS, JobRunner
from numbers_api.logs import configure_logging, note_account
from numbers_api.metrics import (
    DATABASE_ERRORS,
    PAGE_CACHE,
    REFUSED,
    scraped_registry,
    worker_ended,
    worker_started,
)
from numbers_api.ordering.runner import OrderRunner
from numbers_api.query.list_query import ListQuery
from numbers_api.settings import Settings
from numbers_api.store.accounts import Caller, authentication, current_caller
from numbers_api.store.dialects import SQLITE
from numbers_api.store.executors import (
    REQUEST_DEADLINE_SECONDS,
    STATEMENT_TIMEOUT_MS,
    THREADS_PER_WORKER,
    WRITE_LOCK_WAIT_SECONDS,
    Overloaded,
    PastDeadline,
    executor_for,
    server_database,
)
from numbers_api.store.faults import is_lock_timeout, is_statement_timeout, is_transient
from numbers_api.store.messaging_profiles import MessagingProfileDirectory
from numbers_api.store.number_indexes import NumberIndexes
from numbers_api.store.plans import Plan
from numbers_api.webhooks.delivery import DeliveryRunner

log = logging.getLogger("numbers_api.http")
# Authenticated routes take every method, so that a wrong one is a 405 only after authentication.
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
PAGE_CACHE_BYTES = 64 * 1024 * 1024  # per worker process
COUNT_CACHE_BYTES = 16 * 1024 * 1024  # per worker process
# Requests a worker takes at once; past them, 503 at once. Enough to keep its request threads
# busy (each is answered in milliseconds) without a queue whose wait outgrows any client's
# patience.
REQUESTS_IN_FLIGHT = 64
# SQLite writes a worker makes at once; past them, 503 at once. Writes that wait for the write
# lock (held by an import, say) then never take every request thread from the reads. PostgreSQL
# writes lock rows, not the database: they queue for request threads like any blocking work.
SQLITE_WRITES_IN_FLIGHT = THREADS_PER_WORKER - 2
# The series counted on the hot path, looked up once.
PAGE_CACHE_HITS, PAGE_CACHE_MISSES = PAGE_CACHE.labels("hit"), PAGE_CACHE.labels("miss")
RATE_LIMITED, OVERLOADED = REFUSED.labels("rate_limited"), REFUSED.labels("overloaded")

Handler = Read | Write | ListEndpoint


def _client_address(request: Request) -> str:
    client = request.scope.get("client")
    return f"address:{client[0] if client else ''}"


def _with_headers(response: Response, verdict: Verdict) -> Response:
    response.raw_headers.extend(verdict.raw_headers())
    return response


def _bearer_key(request: Request) -> str | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else None


class Api:
    def __init__(self, settings: Settings, *, owns_process: bool = False) -> None:
        database = server_database(settings.database_url)
        self.database = database
        self.executor = executor_for(database)
        self.profiles = MessagingProfileDirectory(failing="messaging_profiles" in settings.faults)
        self.worker = Worker(
            database,
            self.profiles,
            LruCache(COUNT_CACHE_BYTES),
            DownloadRunner(
                database, pause_seconds=2.0 if "slow_csv_downloads" in settings.faults else 0.0
            ),
            JobRunner(
                database, delay_seconds=SLOW_JOB_SECONDS if "slow_jobs" in settings.faults else 0
            ),
            OrderRunner(database),
            owns_process,
        )
        # Sends the webhook outbox (docs/ordering.md, "Webhooks"), with every other worker.
        self.webhooks = DeliveryRunner(database)
        self.openapi = served_openapi_document()
        # Whole list responses by (account, data version, path, query string): dashboards and
        # sync jobs ask the same pages over and over, and any write to the account moves it on.
        self.pages: LruCache[bytes] = LruCache(PAGE_CACHE_BYTES)
        self.indexes = NumberIndexes(
            database,
            settings.index_mode,
            memory_budget=settings.index_memory_mb * 2**20,
            smallest=settings.index_smallest,
            directory=settings.index_directory,
        )
        self.in_flight = 0  # requests this worker has taken and not yet answered
        self.writes = threading.BoundedSemaphore(
            SQLITE_WRITES_IN_FLIGHT if database.dialect is SQLITE else REQUESTS_IN_FLIGHT
        )
        self._migrating: asyncio.Future[None] | None = None
        self.rate_limits = rate_limiter(settings.rate_limit, settings.rate_limit_table)

    def endpoint(self, **handlers: Handler) -> Callable[[Request], Awaitable[Response]]:
        """An authenticated endpoint: 401 before anything else, then 404, 405 or the method's
        handler; each step run where the executor runs it."""

        async def respond(request: Request) -> Response:
            if self.in_flight >= REQUESTS_IN_FLIGHT:
                OVERLOADED.inc()
                return overloaded()
            self.in_flight += 1  # only the event loop counts: no lock
            try:
                if not self.database.migrated:  # once: no coroutine on every request
                    await self._migrated()
                return await self.executor.answer(self._answer(request, handlers))
            except Overloaded:
                OVERLOADED.inc()
                return overloaded()
            except Exception as error:
                return self.unavailable(error)
            finally:
                self.in_flight -= 1

        return respond

    async def _migrated(self) -> None:
        """The schema brought up to date, by one attempt at a time however many requests ask,
        before this worker's first request that reaches the database: a worker starts while the
        database is down. A transient error if it cannot be reached."""
        if self.database.migrated:
            return
        if self._migrating is None:
            self._migrating = asyncio.get_running_loop().run_in_executor(None, self._migrate)
        migrating = self._migrating
        try:
            async with asyncio.timeout(REQUEST_DEADLINE_SECONDS):
                await asyncio.shield(migrating)
        except TimeoutError:
            raise PastDeadline from None
        finally:
            if migrating.done() and self._migrating is migrating:
                self._migrating = None

    def _migrate(self) -> None:
        try:
            self.database.migrate()
        finally:
            self.database.close()  # this thread's connection: the loop's default executor

    def unavailable(self, error: Exception) -> Response:
        """The 503 for a database fault (any other error is raised again, a defect: 500)."""
        if isinstance(error, PastDeadline):
            detail = f"The request was not answered within {REQUEST_DEADLINE_SECONDS:.0f} s"
            kind = "unavailable"
        elif not is_transient(error):
            raise error
        elif is_lock_timeout(error):
            detail = (
                f"The database was kept busy by another write (an import, say) for over "
                f"{WRITE_LOCK_WAIT_SECONDS:.0f} s"
            )
            kind = "lock_timeout"
        elif is_statement_timeout(error):
            detail = f"A statement ran over {STATEMENT_TIMEOUT_MS / 1000:.0f} s and was cancelled"
            kind = "statement_timeout"
        else:
            detail = "The database cannot be reached"
            kind = "unavailable"
        DATABASE_ERRORS.labels(kind).inc()
        REFUSED.labels("database_unavailable").inc()
        log.warning("503: %s (%s: %s)", detail, type(error).__name__, _first_line(error))
        return try_again_later(detail)

    async def _answer(self, request: Request, handlers: dict[str, Handler]) -> Response:
        """The one place that decides how a request is answered."""
        too_long = query_string_too_long(request.scope["query_string"])
        if too_long is not None:
            return too_long
        limits = self.rate_limits
        # A flood of bad keys from one address is refused before it costs a database lookup.
        address = _client_address(request)
        refused = limits.refuses(address)
        if refused is not None:
            RATE_LIMITED.inc()
            return too_many_requests(refused)
        key = _bearer_key(request)
        caller = await self.executor.read(authentication(key))
        if caller is None:
            return _with_headers(authentication_failed(), limits.failed(address))
        note_account(caller.account_id)
        verdict = limits.take(f"key:{key}")
        if not verdict.allowed:
            RATE_LIMITED.inc()
            return too_many_requests(verdict)
        return _with_headers(await self._answer_caller(caller, request, handlers), verdict)

    async def _answer_caller(
        self, caller: Caller, request: Request, handlers: dict[str, Handler]
    ) -> Response:
        executor = self.executor
        handler = handlers.get(request.method)
        if handler is None:
            if not handlers:
                return not_found(request.url.path)
            return method_not_allowed(request.method, list(handlers))
        if isinstance(handler, Write):
            try:
                body = await executor.on_loop(read_body(request))
            except BodyTooLarge:
                return body_too_large()
            if not self.writes.acquire(blocking=False):
                OVERLOADED.inc()
                return overloaded()
            try:
                return await executor.blocking(
                    handler.handle, Asked(self.worker, caller, request, body)
                )
            finally:
                self.writes.release()
        if not isinstance(handler, ListEndpoint):
            return await executor.blocking(self._in_snapshot, handler, caller, request)
        page = self.pages.get(self._page_key(caller, request))
        if page is not None:
            PAGE_CACHE_HITS.inc()
            self.indexes.in_use(caller)
            return Response(page, media_type="application/json")
        PAGE_CACHE_MISSES.inc()
        query = handler.query(request.scope["query_string"].decode("latin-1"))
        if isinstance(query, Response):
            return query
        plan = handler.plan(caller, query, self.indexes.current(caller))
        answer = None if plan is None else await executor.read(plan)
        if answer is not None:
            return self._kept_page(caller, request, answer)
        read_at, page_read = await executor.blocking(self._list_in_snapshot, handler, caller, query)
        return self._kept_page(read_at, request, page_read)

    def _in_snapshot(self, read: Read, caller: Caller, request: Request) -> Response:
        with self.database.snapshot() as connection:  # one snapshot for every read of a request
            asked = Asked(self.worker, current_caller(connection, caller), request)
            return read(connection, asked)

    def _list_in_snapshot(
        self, endpoint: ListEndpoint, caller: Caller, query: ListQuery
    ) -> tuple[Caller, Response]:
        """The page, and the caller at the data version it was read at."""
        with self.database.snapshot() as connection:
            caller = current_caller(connection, caller)
            index = self.indexes.get(connection, caller)
            return caller, endpoint.in_snapshot(connection, caller, query, index)

    @staticmethod
    def _page_key(caller: Caller, request: Request) -> tuple[int, int, str, bytes]:
        # The path too: the lists under /v2/phone_numbers take the same query strings.
        path: str = request.scope["path"]
        return (caller.account_id, caller.data_version, path, request.scope["query_string"])

    def _kept_page(self, caller: Caller, request: Request, response: Response) -> Response:
        if response.status_code == 200 and not self.profiles.failing:
            self.pages.put(self._page_key(caller, request), bytes(response.body))
        return response

    async def openapi_document(self, request: Request) -> Response:
        return Response(self.openapi, media_type="application/json")

    async def ready(self, request: Request) -> Response:
        """The readiness probe: 200 when this worker has the database migrated and answering,
        in the request's deadline; 503 otherwise."""
        try:
            await self._migrated()
            await self.executor.answer(self.executor.read(_ANSWERING))
        except Exception as error:
            return self.unavailable(error)
        return Response(b'{"status":"ready"}', media_type="application/json")


_ANSWERING = Plan("SELECT 1", (), lambda rows: None)


def _first_line(error: BaseException) -> str:
    return str(error).strip().partition("\n")[0]


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def unknown_path(request: Request) -> Response:
    return not_found(request.url.path)


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return unexpected_error()


def _at_start(api: Api) -> None:
    """The schema migrated and the indexes kept in the database loaded before the first request:
    a load that competes with requests takes many times as long."""
    try:
        api.database.migrate()
    finally:
        api.database.close()  # this thread's connection
    api.indexes.preload()


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    api: Api = app.state.api
    worker = api.worker
    worker_started()
    try:
        await anyio.to_thread.run_sync(_at_start, api)
    except Exception as error:
        if not is_transient(error):
            raise
        log.warning(
            "the database cannot be reached (%s); this worker answers 503 until it can",
            _first_line(error),
        )
    worker.downloads.start()
    worker.jobs.start()
    api.webhooks.start()
    worker.orders.start()
    worker.keep_out_of_collections()  # what it holds from its start: modules, metadata
    try:
        yield
    finally:
        api.executor.close()
        api.rate_limits.close()
        api.indexes.close()
        # Off the event loop: stopping waits for the runner to give its download back.
        await anyio.to_thread.run_sync(worker.downloads.stop)
        await anyio.to_thread.run_sync(worker.jobs.stop)  # it lets go of an unfinished job
        # It ends its attempt under way (its timeout bounds it) and records its outcome.
        await anyio.to_thread.run_sync(api.webhooks.stop)
        await anyio.to_thread.run_sync(worker.orders.stop)
        worker_ended()


def create_app(settings: Settings, *, owns_process: bool = False) -> Starlette:
    api = Api(settings, owns_process=owns_process)
    dialect, counts = api.database.dialect, api.worker.counts

    def route(path: str, **handlers: Handler) -> Route:
        return Route(path, api.endpoint(**handlers), methods=EVERY_METHOD)

    def view(view: ListView) -> ViewList:
        return ViewList(view, dialect, counts)

    numbers = "/v2/phone_numbers"
    # A fixed path before the {id} route that would take it for an id; the job types before
    # jobs/{id}.
    routes = [
        Route("/v2/openapi.json", api.openapi_document, methods=["GET"]),
        route(numbers, GET=PhoneNumbersList(dialect, api.profiles, counts)),
        route(f"{numbers}/slim", GET=view(SLIM_VIEW)),
        route(f"{numbers}/voice", GET=view(voice.VOICE_VIEW)),
        route(f"{numbers}/messaging", GET=view(messaging.MESSAGING_VIEW)),
        route(f"{numbers}/jobs", GET=jobs.list_jobs_endpoint),
        route(f"{numbers}/jobs/delete_phone_numbers", POST=Write(jobs.delete_job_endpoint)),
        route(f"{numbers}/jobs/update_phone_numbers", POST=Write(jobs.update_job_endpoint)),
        route(f"{numbers}/jobs/update_emergency_settings", POST=Write(jobs.emergency_job_endpoint)),
        route(f"{numbers}/jobs/{{id}}", GET=jobs.retrieve_job_endpoint),
        route(
            f"{numbers}/csv_downloads",
            GET=csv_downloads.list_endpoint,
            POST=Write(csv_downloads.create_endpoint),
        ),
        route(f"{numbers}/csv_downloads/{{id}}", GET=csv_downloads.retrieve_endpoint),
        route(f"{numbers}/csv_downloads/{{id}}/file", GET=csv_downloads.file_endpoint),
        route(
            f"{numbers}/actions/verify_ownership",
            POST=Write(actions.verify_ownership_endpoint),
        ),
        route(
            f"{numbers}/{{id}}",
            GET=phone_number.retrieve_endpoint,
            PATCH=Write(phone_number.update_endpoint),
            DELETE=Write(phone_number.delete_endpoint),
        ),
        route(
            f"{numbers}/{{id}}/voice",
            GET=voice.retrieve_endpoint,
            PATCH=Write(voice.update_endpoint),
        ),
        route(
            f"{numbers}/{{id}}/messaging",
            GET=messaging.retrieve_endpoint,
            PATCH=Write(messaging.update_endpoint),
        ),
        route(
            f"{numbers}/{{id}}/actions/enable_emergency",
            POST=Write(actions.enable_emergency_endpoint),
        ),
        route(
            f"{numbers}/{{id}}/actions/bundle_status_change",
            PATCH=Write(actions.bundle_status_change_endpoint),
        ),
        route(
            f"{numbers}/{{phone_number_id}}/voicemail",
            GET=voicemail.retrieve_endpoint,
            POST=Write(voicemail.create_endpoint),
            PATCH=Write(voicemail.update_endpoint),
        ),
        route(
            "/v2/number_reservations",
            GET=number_reservations.list_endpoint,
            POST=Write(number_reservations.create_endpoint),
        ),
        route(
            "/v2/number_reservations/{number_reservation_id}",
            GET=number_reservations.retrieve_endpoint,
        ),
        route(
            "/v2/number_reservations/{number_reservation_id}/actions/extend",
            POST=Write(number_reservations.extend_endpoint),
        ),
        # Number orders (docs/ordering.md, "Orders").
        route(
            "/v2/number_orders",
            GET=number_orders.list_endpoint,
            POST=Write(number_orders.create_endpoint),
        ),
        route(
            "/v2/number_orders/{id}",
            GET=number_orders.retrieve_endpoint,
            PATCH=Write(number_orders.update_endpoint),
        ),
        route("/v2/sub_number_orders", GET=number_orders.list_sub_orders_endpoint),
        route(
            "/v2/sub_number_orders/{id}",
            GET=number_orders.retrieve_sub_order_endpoint,
            PATCH=Write(number_orders.update_sub_order_endpoint),
        ),
        route(
            "/v2/sub_number_orders/{id}/cancel",
            PATCH=Write(number_orders.cancel_sub_order_endpoint),
        ),
        route(
            "/v2/sub_number_orders/{id}/requirement_group",
            POST=Write(number_orders.sub_order_requirement_group_endpoint),
        ),
        route("/v2/number_order_phone_numbers", GET=number_orders.list_numbers_endpoint),
        route(
            "/v2/number_order_phone_numbers/{id}",
            GET=number_orders.retrieve_number_endpoint,
            PATCH=Write(number_orders.update_number_endpoint),
        ),
        route(
            "/v2/number_order_phone_numbers/{id}/requirement_group",
            POST=Write(number_orders.number_requirement_group_endpoint),
        ),
        route("/v2/available_phone_numbers", GET=Write(available_numbers.search_endpoint)),
        # After the API's routes, which most requests are for: each route before a path's own
        # costs it a match.
        Route("/health", health, methods=["GET"]),
        Route("/ready", api.ready, methods=["GET"]),
        route("/v2/{rest:path}"),
        Route("/{rest:path}", unknown_path, methods=EVERY_METHOD),
    ]
    if not settings.metrics_port:  # else `serve` serves them on a port of their own
        routes.insert(-2, metrics_endpoint(scraped_registry()))
    app = ObservedStarlette(
        routes=routes, exception_handlers={Exception: internal_error}, lifespan=_lifespan
    )
    app.state.api = api
    return app


def create_app_from_environment() -> Starlette:
    """The factory `numbers-api serve` gives each worker process."""
    configure_logging()
    return create_app(Settings.from_environment(), owns_process=True)
