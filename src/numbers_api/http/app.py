"""The ASGI application: routes, authentication before anything else, and a log line per request."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

import anyio.to_thread
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from numbers_api.cache import LruCache
from numbers_api.http.ceiling import ceiling
from numbers_api.http.errors import (
    authentication_failed,
    method_not_allowed,
    not_found,
    unexpected_error,
)
from numbers_api.http.phone_number import delete_endpoint, retrieve_endpoint, update_endpoint
from numbers_api.http.phone_numbers import list_endpoint
from numbers_api.logs import configure_logging
from numbers_api.serialisation import encode
from numbers_api.settings import Settings
from numbers_api.store.accounts import Caller, authenticate, current_caller
from numbers_api.store.database import Connection, Database
from numbers_api.store.messaging_profiles import MessagingProfileDirectory
from numbers_api.store.number_index import NumberIndexes

log = logging.getLogger("numbers_api.http")
# Authenticated routes take every method, so that a wrong one is a 405 only after authentication.
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
# A read handler gets the connection (inside the request's read transaction), the caller and the
# request.
Handler = Callable[[Connection, Caller, Request], Response]
PAGE_CACHE_BYTES = 64 * 1024 * 1024  # per worker process
THREADS_PER_WORKER = 8
COUNT_CACHE_ENTRIES = 100_000


def load_openapi_document() -> dict[str, Any]:
    text = resources.files("numbers_api.http").joinpath("openapi.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


@dataclass(frozen=True, slots=True)
class Write:
    """A handler that changes data. It opens its own write transaction; it is given the request's
    body, read before the request went to a worker thread."""

    handle: Callable[[Caller, Request, bytes], Response]


@dataclass(frozen=True, slots=True)
class CachedRead:
    """A read whose whole answer is kept by the caller's data version. The cache is asked right
    after authentication, which is one statement outside any transaction (one round trip on
    PostgreSQL, where a snapshot costs two more); only a miss opens a snapshot and computes."""

    cached: Callable[[Caller, Request], Response | None]
    compute: Handler


class Api:
    def __init__(self, settings: Settings) -> None:
        self.database = Database(settings.database_url)
        self.profiles = MessagingProfileDirectory(failing="messaging_profiles" in settings.faults)
        self.openapi = encode(load_openapi_document())
        # Whole list responses by (account, data version, query string): dashboards and sync
        # jobs ask the same pages over and over, and any write to the account moves it on.
        self.pages: LruCache[bytes] = LruCache(PAGE_CACHE_BYTES, size=len)
        self.counts: LruCache[int] = LruCache(COUNT_CACHE_ENTRIES)
        self.indexes = NumberIndexes(self.database, settings.index_mode)

    def endpoint(self, **handlers: Handler | Write | CachedRead) -> Callable[[Request], Any]:
        """An authenticated endpoint: 401 before anything else, then 405 or the method's handler."""

        async def respond(request: Request) -> Response:
            # Only a write reads the body: the reads never wait for one.
            handler = handlers.get(request.method)
            body = await request.body() if isinstance(handler, Write) else b""
            return await anyio.to_thread.run_sync(self._respond, request, handlers, body)

        return respond

    def _respond(
        self, request: Request, handlers: dict[str, Handler | Write | CachedRead], body: bytes
    ) -> Response:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        caller = None
        if scheme.lower() == "bearer":
            caller = authenticate(self.database.connection(), key.strip())
        if caller is None:
            return authentication_failed()
        handler = handlers.get(request.method)
        if handler is None:
            if not handlers:
                return not_found(request.url.path)
            return method_not_allowed(request.method, list(handlers))
        if isinstance(handler, Write):
            return handler.handle(caller, request, body)
        if isinstance(handler, CachedRead):
            cached = handler.cached(caller, request)
            if cached is not None:
                return cached
            handler = handler.compute
        with self.database.snapshot() as connection:  # one snapshot for every read of a request
            return handler(connection, current_caller(connection, caller), request)

    def cached_page(self, caller: Caller, request: Request) -> Response | None:
        page = self.pages.get(self._page_key(caller, request))
        return None if page is None else Response(page, media_type="application/json")

    def list_phone_numbers(
        self, connection: Connection, caller: Caller, request: Request
    ) -> Response:
        response = list_endpoint(
            connection,
            caller,
            request.scope["query_string"].decode("latin-1"),
            profiles=self.profiles,
            counts=self.counts,
            indexes=self.indexes,
        )
        if response.status_code == 200 and not self.profiles.failing:
            self.pages.put(self._page_key(caller, request), bytes(response.body))
        return response

    @staticmethod
    def _page_key(caller: Caller, request: Request) -> tuple[int, int, bytes]:
        return (caller.account_id, caller.data_version, request.scope["query_string"])

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
    # Each thread holds its own database connection and page cache; with 2 cores, more threads
    # than this only add memory and lock contention.
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS_PER_WORKER
    yield


def create_app(settings: Settings) -> Starlette:
    api = Api(settings)
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v2/openapi.json", api.openapi_document, methods=["GET"]),
        Route(
            "/v2/phone_numbers",
            api.endpoint(GET=CachedRead(api.cached_page, api.list_phone_numbers)),
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
        Route("/v2/{rest:path}", api.endpoint(), methods=EVERY_METHOD),
        Route("/{rest:path}", unknown_path, methods=EVERY_METHOD),
    ]
    if settings.bench_ceiling:
        routes.insert(0, Route("/bench/ceiling", ceiling, methods=["GET"]))
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
