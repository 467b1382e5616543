"""The ASGI application: routes, authentication before anything else, and a log line per request."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from numbers_api.cache import LruCache
from numbers_api.exporting.downloads import DownloadRunner
from numbers_api.http import actions, csv_downloads, jobs, messaging, voice, voicemail
from numbers_api.http.errors import (
    authentication_failed,
    method_not_allowed,
    not_found,
    unexpected_error,
)
from numbers_api.http.openapi import served_openapi_document
from numbers_api.http.phone_number import delete_endpoint, retrieve_endpoint, update_endpoint
from numbers_api.http.phone_numbers import ListEndpoint, ListView, PhoneNumbersList, ViewList
from numbers_api.http.slim import SLIM_VIEW
from numbers_api.jobs.runner import SLOW_JOB_SECONDS, JobRunner
from numbers_api.logs import configure_logging
from numbers_api.query.list_query import ListQuery
from numbers_api.settings import Settings
from numbers_api.store.accounts import Caller, authentication, current_caller
from numbers_api.store.database import Connection, Database
from numbers_api.store.executors import executor_for
from numbers_api.store.messaging_profiles import MessagingProfileDirectory
from numbers_api.store.number_index import NumberIndexes

log = logging.getLogger("numbers_api.http")
# Authenticated routes take every method, so that a wrong one is a 405 only after authentication.
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
# A read answered in a snapshot: given the connection (inside the request's read transaction), the
# caller at that snapshot's data version, and the request.
Read = Callable[[Connection, Caller, Request], Response]
PAGE_CACHE_BYTES = 64 * 1024 * 1024  # per worker process
COUNT_CACHE_ENTRIES = 100_000


def _bearer_key(request: Request) -> str | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else None


@dataclass(frozen=True, slots=True)
class Write:
    """A handler that changes data. It opens its own write transaction; it is given the request's
    body, read once the caller is known."""

    handle: Callable[[Caller, Request, bytes], Response]


Handler = Read | Write | ListEndpoint


class Api:
    def __init__(self, settings: Settings) -> None:
        self.database = Database(settings.database_url)
        self.executor = executor_for(self.database)
        self.profiles = MessagingProfileDirectory(failing="messaging_profiles" in settings.faults)
        self.openapi = served_openapi_document()
        # Whole list responses by (account, data version, path, query string): dashboards and
        # sync jobs ask the same pages over and over, and any write to the account moves it on.
        self.pages: LruCache[bytes] = LruCache(PAGE_CACHE_BYTES, size=len)
        self.counts: LruCache[int] = LruCache(COUNT_CACHE_ENTRIES)
        self.indexes = NumberIndexes(self.database, settings.index_mode)
        self.downloads = DownloadRunner(
            self.database, pause_seconds=2.0 if "slow_csv_downloads" in settings.faults else 0.0
        )
        self.jobs = JobRunner(
            self.database, delay_seconds=SLOW_JOB_SECONDS if "slow_jobs" in settings.faults else 0
        )

    def endpoint(self, **handlers: Handler) -> Callable[[Request], Awaitable[Response]]:
        """An authenticated endpoint: 401 before anything else, then 404, 405 or the method's
        handler; each step run where the executor runs it."""

        async def respond(request: Request) -> Response:
            return await self.executor.answer(self._answer(request, handlers))

        return respond

    async def _answer(self, request: Request, handlers: dict[str, Handler]) -> Response:
        """The one place that decides how a request is answered."""
        executor = self.executor
        caller = await executor.read(authentication(_bearer_key(request)))
        if caller is None:
            return authentication_failed()
        handler = handlers.get(request.method)
        if handler is None:
            if not handlers:
                return not_found(request.url.path)
            return method_not_allowed(request.method, list(handlers))
        if isinstance(handler, Write):
            body = await executor.on_loop(request.body())
            return await executor.blocking(handler.handle, caller, request, body)
        if not isinstance(handler, ListEndpoint):
            return await executor.blocking(self._in_snapshot, handler, caller, request)
        page = self.pages.get(self._page_key(caller, request))
        if page is not None:
            return Response(page, media_type="application/json")
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
            return read(connection, current_caller(connection, caller), request)

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

    def phone_numbers_list(self) -> PhoneNumbersList:
        return PhoneNumbersList(self.database.dialect, self.profiles, self.counts)

    def list_view(self, view: ListView) -> ViewList:
        return ViewList(view, self.database.dialect, self.counts)

    def retrieve_voice_settings(
        self, connection: Connection, caller: Caller, request: Request
    ) -> Response:
        return voice.retrieve_endpoint(connection, caller, request.path_params["id"])

    def update_voice_settings(self, caller: Caller, request: Request, body: bytes) -> Response:
        return voice.update_endpoint(self.database, caller, request.path_params["id"], body)

    def retrieve_phone_number(
        self, connection: Connection, caller: Caller, request: Request
    ) -> Response:
        return retrieve_endpoint(connection, caller, request.path_params["id"], self.profiles)

    def update_phone_number(self, caller: Caller, request: Request, body: bytes) -> Response:
        return update_endpoint(
            self.database, caller, request.path_params["id"], body, self.profiles
        )

    def delete_phone_number(self, caller: Caller, request: Request, body: bytes) -> Response:
        return delete_endpoint(self.database, caller, request.path_params["id"], self.profiles)

    def retrieve_messaging_settings(
        self, connection: Connection, caller: Caller, request: Request
    ) -> Response:
        return messaging.retrieve_endpoint(connection, caller, request.path_params["id"])

    def update_messaging_settings(self, caller: Caller, request: Request, body: bytes) -> Response:
        return messaging.update_endpoint(
            self.database, caller, request.path_params["id"], body, self.profiles
        )

    def enable_emergency(self, caller: Caller, request: Request, body: bytes) -> Response:
        return actions.enable_emergency_endpoint(
            self.database, caller, request.path_params["id"], body
        )

    def change_bundle_status(self, caller: Caller, request: Request, body: bytes) -> Response:
        return actions.bundle_status_change_endpoint(
            self.database, caller, request.path_params["id"], body
        )

    def verify_ownership(self, caller: Caller, request: Request, body: bytes) -> Response:
        return actions.verify_ownership_endpoint(self.database, caller, body)

    def retrieve_voicemail(
        self, connection: Connection, caller: Caller, request: Request
    ) -> Response:
        return voicemail.retrieve_endpoint(
            connection, caller, request.path_params["phone_number_id"]
        )

    def create_voicemail(self, caller: Caller, request: Request, body: bytes) -> Response:
        return voicemail.create_endpoint(
            self.database, caller, request.path_params["phone_number_id"], body
        )

    def update_voicemail(self, caller: Caller, request: Request, body: bytes) -> Response:
        return voicemail.update_endpoint(
            self.database, caller, request.path_params["phone_number_id"], body
        )

    def create_csv_download(self, caller: Caller, request: Request, body: bytes) -> Response:
        return csv_downloads.create_endpoint(
            self.database,
            caller,
            request.scope["query_string"].decode("latin-1"),
            str(request.base_url),
            self.downloads.wake,
        )

    def list_csv_downloads(
        self, connection: Connection, caller: Caller, request: Request
    ) -> Response:
        return csv_downloads.list_endpoint(
            connection,
            caller,
            request.scope["query_string"].decode("latin-1"),
            str(request.base_url),
        )

    def retrieve_csv_download(
        self, connection: Connection, caller: Caller, request: Request
    ) -> Response:
        return csv_downloads.retrieve_endpoint(
            connection, caller, request.path_params["id"], str(request.base_url)
        )

    def csv_download_file(
        self, connection: Connection, caller: Caller, request: Request
    ) -> Response:
        return csv_downloads.file_endpoint(
            connection, caller, request.path_params["id"], self.database
        )

    def create_delete_job(self, caller: Caller, request: Request, body: bytes) -> Response:
        return self._started(jobs.delete_job_endpoint(self.database, caller, body))

    def create_update_job(self, caller: Caller, request: Request, body: bytes) -> Response:
        query_string = request.scope["query_string"].decode("latin-1")
        return self._started(
            jobs.update_job_endpoint(self.database, caller, query_string, body, self.counts)
        )

    def create_emergency_job(self, caller: Caller, request: Request, body: bytes) -> Response:
        return self._started(jobs.emergency_job_endpoint(self.database, caller, body))

    def _started(self, response: Response) -> Response:
        if response.status_code == 202:  # a job was made: this worker's runner takes it at once
            self.jobs.wake()
        return response

    def list_jobs(self, connection: Connection, caller: Caller, request: Request) -> Response:
        query_string = request.scope["query_string"].decode("latin-1")
        return jobs.list_jobs_endpoint(connection, caller, query_string)

    def retrieve_job(self, connection: Connection, caller: Caller, request: Request) -> Response:
        return jobs.retrieve_job_endpoint(connection, caller, request.path_params["id"])

    async def openapi_document(self, request: Request) -> Response:
        return Response(self.openapi, media_type="application/json")


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def unknown_path(request: Request) -> Response:
    return not_found(request.url.path)


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return unexpected_error()


class RequestLog:
    """One line per request: method, path with query, status, and time taken."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            target = scope["path"] + ("?" + query if query else "")
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1fms", scope["method"], target, status, elapsed)


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    api: Api = app.state.api
    api.downloads.start()
    api.jobs.start()
    try:
        yield
    finally:
        api.executor.close()
        # Off the event loop: stopping waits for the runner to give its download back.
        await anyio.to_thread.run_sync(api.downloads.stop)
        await anyio.to_thread.run_sync(api.jobs.stop)  # it lets go of an unfinished job


def create_app(settings: Settings) -> Starlette:
    api = Api(settings)
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v2/openapi.json", api.openapi_document, methods=["GET"]),
        Route(
            "/v2/phone_numbers",
            api.endpoint(GET=api.phone_numbers_list()),
            methods=EVERY_METHOD,
        ),
        # Before /v2/phone_numbers/{id}, which would take `slim` or `voice` for an id.
        Route(
            "/v2/phone_numbers/slim",
            api.endpoint(GET=api.list_view(SLIM_VIEW)),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/voice",
            api.endpoint(GET=api.list_view(voice.VOICE_VIEW)),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/{id}/voice",
            api.endpoint(GET=api.retrieve_voice_settings, PATCH=Write(api.update_voice_settings)),
            methods=EVERY_METHOD,
        ),
        # Before /v2/phone_numbers/{id}, which would take `jobs` for an id; the job types before
        # /v2/phone_numbers/jobs/{id}.
        Route(
            "/v2/phone_numbers/jobs",
            api.endpoint(GET=api.list_jobs),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/jobs/delete_phone_numbers",
            api.endpoint(POST=Write(api.create_delete_job)),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/jobs/update_phone_numbers",
            api.endpoint(POST=Write(api.create_update_job)),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/jobs/update_emergency_settings",
            api.endpoint(POST=Write(api.create_emergency_job)),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/jobs/{id}",
            api.endpoint(GET=api.retrieve_job),
            methods=EVERY_METHOD,
        ),
        # Before /v2/phone_numbers/{id}, which would take `csv_downloads` for an id.
        Route(
            "/v2/phone_numbers/csv_downloads",
            api.endpoint(GET=api.list_csv_downloads, POST=Write(api.create_csv_download)),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/csv_downloads/{id}",
            api.endpoint(GET=api.retrieve_csv_download),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/csv_downloads/{id}/file",
            api.endpoint(GET=api.csv_download_file),
            methods=EVERY_METHOD,
        ),
        # Before /v2/phone_numbers/{id}, which would take `messaging` for an id.
        Route(
            "/v2/phone_numbers/messaging",
            api.endpoint(GET=api.list_view(messaging.MESSAGING_VIEW)),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/{id}/messaging",
            api.endpoint(
                GET=api.retrieve_messaging_settings, PATCH=Write(api.update_messaging_settings)
            ),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/{id}",
            api.endpoint(
                GET=api.retrieve_phone_number,
                PATCH=Write(api.update_phone_number),
                DELETE=Write(api.delete_phone_number),
            ),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/actions/verify_ownership",
            api.endpoint(POST=Write(api.verify_ownership)),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/{id}/actions/enable_emergency",
            api.endpoint(POST=Write(api.enable_emergency)),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/{id}/actions/bundle_status_change",
            api.endpoint(PATCH=Write(api.change_bundle_status)),
            methods=EVERY_METHOD,
        ),
        Route(
            "/v2/phone_numbers/{phone_number_id}/voicemail",
            api.endpoint(
                GET=api.retrieve_voicemail,
                POST=Write(api.create_voicemail),
                PATCH=Write(api.update_voicemail),
            ),
            methods=EVERY_METHOD,
        ),
        Route("/v2/{rest:path}", api.endpoint(), methods=EVERY_METHOD),
        Route("/{rest:path}", unknown_path, methods=EVERY_METHOD),
    ]
    app = Starlette(
        routes=routes, exception_handlers={Exception: internal_error}, lifespan=_lifespan
    )
    app.state.api = api
    app.add_middleware(RequestLog)
    return app


def create_app_from_environment() -> Starlette:
    """The factory `numbers-api serve` gives each worker process."""
    configure_logging()
    return create_app(Settings.from_environment())
