"""What an endpoint's handler is given: the request as asked by a known caller, and the parts of
the worker it may use. `Api` answers every request through one of these (`http/app.py`)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from numbers_api.cache import LruCache
from numbers_api.exporting.downloads import DownloadRunner
from numbers_api.jobs.runner import JobRunner
from numbers_api.ordering.runner import OrderRunner
from numbers_api.store.accounts import Caller
from numbers_api.store.database import Connection, Database
from numbers_api.store.messaging_profiles import MessagingProfileDirectory


@dataclass(frozen=True, slots=True)
class Worker:
    """A worker process's parts that handlers use."""

    database: Database
    profiles: MessagingProfileDirectory
    counts: LruCache[int]  # list totals, by account, data version and conditions
    downloads: DownloadRunner
    jobs: JobRunner
    orders: OrderRunner  # number orders completed in the background
    owns_process: bool = False  # `numbers-api serve`'s worker: the only app in its process

    def keep_out_of_collections(self) -> None:
        """What the process holds now left out of the garbage collector's full passes, each of
        which walked all of it: a tail of tens of milliseconds on the request that set one off
        (docs/performance.md, "Searching the available pool"). Only in a process of its own:
        the cycles of frozen objects are never collected, and among other apps (a test's) it
        would keep their garbage, connections included."""
        if self.owns_process:
            gc.freeze()


@dataclass(frozen=True, slots=True)
class Asked:
    """A request, its caller known; a write's body, read once the caller was known."""

    worker: Worker
    caller: Caller
    request: Request
    body: bytes = b""

    def path(self, name: str = "id") -> str:
        """A parameter of the route's path (`{id}` unless named)."""
        value: str = self.request.path_params[name]
        return value

    @property
    def query_string(self) -> str:
        query: bytes = self.request.scope["query_string"]
        return query.decode("latin-1")

    @property
    def base_url(self) -> str:
        return str(self.request.base_url)


# A read answered in a snapshot: given the connection (inside the request's read transaction), and
# the request asked by the caller at that snapshot's data version.
Read = Callable[[Connection, Asked], Response]


@dataclass(frozen=True, slots=True)
class Write:
    """A handler that changes data: it opens its own write transaction."""

    handle: Callable[[Asked], Response]
