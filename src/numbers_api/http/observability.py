"""What every request leaves behind: its `x-request-id`, its log line, and its counts in the
metrics (`numbers_api/metrics.py`), served at `GET /metrics`.

`Observed` is the outermost layer of the app (`ObservedStarlette`), outside Starlette's own
error handling, so that a 500 is counted, logged and given its id like any other answer. It is on
every request's path: per request it reads the headers once, makes at most one id, and counts
through series it looked up once per route, method and status."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

import anyio.to_thread
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from numbers_api.logs import REQUEST, RequestContext
from numbers_api.metrics import REQUEST_SECONDS, REQUESTS

log = logging.getLogger("numbers_api.http")

REQUEST_ID_HEADER = b"x-request-id"
# A caller's own request id is kept if it is 1 to this many of `_ID_CHARACTERS`: enough for a
# UUID, a trace id or a ULID with a prefix; nothing that could break a log line or a header.
MAX_REQUEST_ID_LENGTH = 128
_ID_CHARACTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:/+="
# A query parameter's name is logged if it is a letter and then these (`filter[voice.number]`),
# so that no value sent as a name (`?+19705550123`) is; any other is logged as `?`. Values
# never are.
_NAME_CHARACTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.[]"
MAX_LOGGED_NAME_LENGTH = 64
# Query strings whose names are kept once worked out: this many, each this long at most.
_KEPT_QUERIES = 1024
_KEPT_QUERY_BYTES = 512
# A request's line as text: `GET /v2/phone_numbers?filter[tag]&page[size] 200 1.2 ms 2345 B`.
REQUEST_LINE = "%s %s%s %d %.1f ms %d B"
# The methods a route template is counted under by name; any other counts as `other`.
COUNTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
# A UUID version 4 made from 128 random bits: these cleared, then the version and variant set.
_UUID_CLEARED = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)


def new_request_id() -> str:
    """A random UUID (version 4), in a quarter of `uuid.uuid4()`'s time: request ids need to be
    unique, not secret (each worker's generator is seeded from the system's randomness)."""
    bits = f"{random.getrandbits(128) & _UUID_CLEARED | _UUID_SET:032x}"
    return f"{bits[:8]}-{bits[8:12]}-{bits[12:16]}-{bits[16:20]}-{bits[20:]}"


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's `x-request-id` if it is of a sane form, else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if 0 < len(value) <= MAX_REQUEST_ID_LENGTH and not value.translate(
                None, _ID_CHARACTERS
            ):
                return value.decode("ascii")
            break
    return new_request_id()


class _Asked:
    """The names of the query strings asked most recently, each worked out once: dashboards and
    clients that page ask the same few again and again."""

    def __init__(self) -> None:
        self._known: dict[bytes, tuple[list[str], str]] = {}

    def names(self, query_string: bytes) -> tuple[list[str], str]:
        """The names in order, and as the text `?a&b`."""
        known = self._known.get(query_string)
        if known is None:
            names = query_names(query_string)
            known = (names, "?" + "&".join(names))
            if len(query_string) <= _KEPT_QUERY_BYTES:
                if len(self._known) >= _KEPT_QUERIES:
                    self._known.clear()
                self._known[query_string] = known
        return known


def query_names(query_string: bytes) -> list[str]:
    """The names of a query string's parameters, in order, without their values."""
    names = []
    for pair in query_string.split(b"&"):
        if not pair:
            continue
        name = pair.partition(b"=")[0]
        if b"%" in name or b"+" in name:
            name = unquote_to_bytes(name.replace(b"+", b" "))
        if (
            0 < len(name) <= MAX_LOGGED_NAME_LENGTH
            and name[:1].isalpha()
            and not name.translate(None, _NAME_CHARACTERS)
        ):
            names.append(name.decode("ascii"))
        else:
            names.append("?")
    return names


class Observed:
    """Each HTTP request: its id (`x-request-id` on its answer, `logs.REQUEST` meanwhile), one
    log line when it is answered, and its count and duration by route template."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        # Each route by its endpoint, which routing leaves in the scope: the template without
        # matching the path again.
        self.templates: dict[Any, str] = {
            r.endpoint: r.path for r in routes if isinstance(r, Route)
        }
        self._known: dict[tuple[object, str, int], tuple[Counter, Histogram, str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        context = RequestContext(request_id(scope["headers"]))
        # Not reset afterwards: each request is a task of its own, and the server's own line
        # about a request that failed (logged after this returns) then carries its id.
        REQUEST.set(context)
        header = (REQUEST_ID_HEADER, context.request_id.encode("ascii"))
        status = 500  # what the client is told if no answer started
        sent = 0

        async def observed(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                status = message["status"]
                headers = message.setdefault("headers", [])
                if isinstance(headers, list):
                    headers.append(header)
                else:
                    message["headers"] = [*headers, header]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            seconds = time.perf_counter() - started
            counted, timed, route = self._series(scope, status)
            counted.inc()
            timed.observe(seconds)
            if log.isEnabledFor(logging.INFO):
                _log(scope, route, status, seconds, sent)

    def _series(self, scope: Scope, status: int) -> tuple[Counter, Histogram, str]:
        """The request's series and route template, looked up once for each combination."""
        key = (scope.get("endpoint"), scope["method"], status)
        series = self._known.get(key)
        if series is None:
            route = self.templates.get(key[0], "")
            method = key[1] if key[1] in COUNTED_METHODS else "other"
            series = (
                REQUESTS.labels(route, method, str(status)),
                REQUEST_SECONDS.labels(route, method),
                route,
            )
            self._known[key] = series
        return series


def _log(scope: Scope, route: str, status: int, seconds: float, sent: int) -> None:
    """The request's line: its method, route template, the names of its query's parameters
    (never their values), status, duration and bytes sent."""
    method = scope["method"]
    milliseconds = round(seconds * 1000, 3)
    fields: dict[str, object] = {
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": milliseconds,
        "bytes": sent,
    }
    query_string: bytes = scope.get("query_string", b"")
    asked = ""
    if query_string:
        fields["query"], asked = _asked.names(query_string)
    arguments = (method, route, asked, status, milliseconds, sent)
    # Made and handled as `log.info` would, less its look for the caller's file and line (a
    # third of its time), which no line of ours shows.
    line = log.makeRecord(
        log.name, logging.INFO, "", 0, REQUEST_LINE, arguments, None, None, {"fields": fields}
    )
    log.handle(line)


_asked = _Asked()


class ObservedStarlette(Starlette):
    """Starlette with `Observed` outside everything else."""

    def build_middleware_stack(self) -> ASGIApp:
        return Observed(super().build_middleware_stack(), self.routes)


def metrics_endpoint(registry: CollectorRegistry) -> Route:
    """`GET /metrics`: the registry in the form the scraper asks for (Prometheus' text by
    default), made in a thread: in multi-process mode it reads every worker's files."""

    async def metrics(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        body = await anyio.to_thread.run_sync(encode, registry)
        return Response(body, headers={"Content-Type": content_type})

    return Route("/metrics", metrics, methods=["GET"])
