"""Where a request's steps run. A request is answered by one async function (`http/app.py`) whose
steps are plans (`store/plans.py`) and blocking work (a snapshot, a write); the executor decides
where each runs, and there are exactly two:

- `RequestThreads` (SQLite): the whole request runs in one request thread, each step at once,
  so that a request costs one handover from the event loop; the loop never waits on a file lock.
- `LoopPipeline` (PostgreSQL): the request runs on the event loop, its plans' statements sent
  down the loop's own pipelined connection (`PipelinedStatements`), so that a worker's concurrent
  requests share it and a request answered from plans (authentication, a cached page, a page
  from a current index) involves no thread; snapshots and writes go to the request threads.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from numbers_api.store.database import Database, Deadlines, connect_postgresql
from numbers_api.store.dialects import POSTGRESQL
from numbers_api.store.libpq import PipelinedStatements
from numbers_api.store.plans import Plan

T = TypeVar("T")
# A worker's request threads, each with its own database connection: with 2 cores, more only
# add memory and lock contention.
THREADS_PER_WORKER = 8
# Work that waited longer than this for a request thread is not started: its client is better
# told at once to come back (503) than answered late, and the queue drains.
QUEUE_DEADLINE_SECONDS = 1.0
# A request is answered within this, whatever the database does: past it, 503 (docs/deployment.md,
# "Outages"). Statements of requests are cancelled by PostgreSQL itself a little earlier.
REQUEST_DEADLINE_SECONDS = 5.0
STATEMENT_TIMEOUT_MS = 4_000
# How long a request's write waits for SQLite's write lock (held by an import, say) before it is
# answered 503: short, so that waiting writes never hold every request thread.
WRITE_LOCK_WAIT_SECONDS = 2.0


class Overloaded(Exception):
    """The work waited past `QUEUE_DEADLINE_SECONDS` for a request thread and was not done."""


class PastDeadline(Exception):
    """The request was not answered within `REQUEST_DEADLINE_SECONDS`."""


# How often the event loop looks for requests past their deadline: a request is cut off at most
# this long after it, so its deadline is set this much earlier than the 5 s promised.
DEADLINE_SWEEP_SECONDS = 0.25


class RequestDeadlines:
    """The deadline of each request awaited on one event loop, kept by one sweep of the loop's
    every `DEADLINE_SWEEP_SECONDS` that cancels the tasks past theirs: a request costs a dict
    entry rather than a timer of its own, as `asyncio.timeout` would make (a tenth of a cached
    page's instructions; docs/performance.md)."""

    def __init__(self, seconds: float = REQUEST_DEADLINE_SECONDS) -> None:
        self.seconds = max(seconds - DEADLINE_SWEEP_SECONDS, DEADLINE_SWEEP_SECONDS)
        self._due: dict[asyncio.Task[Any], float] = {}
        self._late: set[asyncio.Task[Any]] = set()
        self._sweeping = False

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """`work`'s answer, or PastDeadline once it has run `seconds` (it is cancelled)."""
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        self._due[task] = loop.time() + self.seconds
        if not self._sweeping:
            self._sweeping = True
            loop.call_later(DEADLINE_SWEEP_SECONDS, self._sweep, loop)
        try:
            return await work
        except asyncio.CancelledError:
            if task not in self._late:
                raise  # the request's own cancellation: its client went away
            task.uncancel()
            raise PastDeadline from None
        finally:
            del self._due[task]
            self._late.discard(task)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, due in self._due.items():
            if due < now and task not in self._late:
                self._late.add(task)
                task.cancel()
        if self._due:
            loop.call_later(DEADLINE_SWEEP_SECONDS, self._sweep, loop)
        else:
            self._sweeping = False


def server_database(url: str) -> Database:
    """The database as a server worker opens it: its schema brought up to date once it can be
    reached (a worker starts while it is down), statements and lock waits bounded."""
    return Database(
        url,
        migrate=False,
        statement_timeout_ms=STATEMENT_TIMEOUT_MS,
        lock_wait_seconds=WRITE_LOCK_WAIT_SECONDS,
    )


def unless_late(queued: float, work: Callable[..., T], *arguments: Any) -> T:
    """`work`, run in a request thread, unless it was `queued` too long ago."""
    if time.monotonic() - queued > QUEUE_DEADLINE_SECONDS:
        raise Overloaded
    return work(*arguments)


class Executor(ABC):
    """Runs a request's steps: `answer` the request's coroutine, whose awaits are this executor's
    own methods only."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.threads = ThreadPoolExecutor(
            THREADS_PER_WORKER, thread_name_prefix="numbers-api-request"
        )
        self.request_deadlines = RequestDeadlines()

    async def answer(self, request: Coroutine[Any, Any, T]) -> T:
        """The request's answer: awaited from the event loop; Overloaded if it waited too long
        for a request thread, PastDeadline if it took longer than `REQUEST_DEADLINE_SECONDS`
        (its work may still finish: a write may then have been made)."""
        return await self.request_deadlines.run(self._answer(request))

    @abstractmethod
    async def _answer(self, request: Coroutine[Any, Any, T]) -> T:
        """The request's answer, with no deadline of its own."""

    @abstractmethod
    async def read(self, plan: Plan[T]) -> T:
        """A plan's answer, its statement run where this executor runs statements."""

    @abstractmethod
    async def blocking(self, work: Callable[..., T], *arguments: Any) -> T:
        """Work that blocks (a snapshot, a write), run in a request thread; Overloaded if it
        waited too long for one."""

    @abstractmethod
    async def on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        """Work that needs the event loop (reading a request's body)."""

    def close(self) -> None:
        self.threads.shutdown(wait=False)


class RequestThreads(Executor):
    """Every step in the request's own thread, the statements on that thread's connection."""

    _loop: asyncio.AbstractEventLoop

    async def _answer(self, request: Coroutine[Any, Any, T]) -> T:
        self._loop = asyncio.get_running_loop()
        try:
            # In the request's context (its id, for its log lines): an executor does not carry it.
            in_context: Callable[..., T] = contextvars.copy_context().run
            return await self._loop.run_in_executor(
                self.threads, in_context, unless_late, time.monotonic(), _run_to_end, request
            )
        except Overloaded:
            request.close()
            raise

    async def read(self, plan: Plan[T]) -> T:
        return self.database.read(plan)

    async def blocking(self, work: Callable[..., T], *arguments: Any) -> T:
        return work(*arguments)

    async def on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()


def _run_to_end(request: Coroutine[Any, Any, T]) -> T:
    """The request's coroutine, run to its end in this thread: each of `RequestThreads`' steps
    returns at once, so it never waits on the event loop."""
    try:
        request.send(None)
    except StopIteration as finished:
        result: T = finished.value
        return result
    request.close()
    raise RuntimeError("a request's step waited on the event loop in a request thread")


class LoopPipeline(Executor):
    """Plans from the event loop, down its own pipelined connection; blocking work in threads."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.statements = PipelinedStatements(
            partial(connect_postgresql, database.url, database.statement_timeout_ms)
        )
        self.deadlines = Deadlines(database, REQUEST_DEADLINE_SECONDS)

    async def _answer(self, request: Coroutine[Any, Any, T]) -> T:
        return await request

    async def read(self, plan: Plan[T]) -> T:
        if plan.sql is None:
            return plan.answer([])
        return plan.answer(await self.statements.fetch(plan.sql, plan.parameters))

    async def blocking(self, work: Callable[..., T], *arguments: Any) -> T:
        in_context: Callable[..., T] = contextvars.copy_context().run  # as `RequestThreads`
        return await asyncio.get_running_loop().run_in_executor(
            self.threads,
            in_context,
            unless_late,
            time.monotonic(),
            self.deadlines.run,
            work,
            *arguments,
        )

    async def on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        return await work

    def close(self) -> None:
        self.statements.close()
        self.deadlines.close()
        super().close()


def executor_for(database: Database) -> Executor:
    return LoopPipeline(database) if database.dialect is POSTGRESQL else RequestThreads(database)
