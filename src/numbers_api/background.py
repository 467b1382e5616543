"""The shape of the background work each server worker does (bulk jobs, CSV downloads): a thread
that takes work kept in the database, one piece at a time, woken at once when this worker made it
and otherwise looking again every `poll_seconds` (work made by other workers or hosts).

Faults (docs/deployment.md, "Background work and faults"): a transient database error (the
database away, restarting, a statement or lock timed out) that escapes a piece of work is one
warning line, and the runner waits longer each time it meets one in a row (doubling from twice
`poll_seconds`, at most `MAX_BACKOFF_SECONDS`); any other error is a defect, logged with its
traceback. A piece of work that fails on a transient error is tried again `retry_wait` later,
`MAX_ATTEMPTS` times in all, counted in the database; the runners say how (jobs/runner.py,
exporting/downloads.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypedDict, Unpack

from numbers_api.metrics import BACKGROUND_RETRIES, DATABASE_ERRORS
from numbers_api.settings import SettingsError
from numbers_api.store.database import Database
from numbers_api.store.faults import is_lock_timeout, is_statement_timeout, is_transient
from numbers_api.store.pool import DurationError, seconds_from_environment

log = logging.getLogger("numbers_api.background")

# How often an idle runner looks for work made by other workers or hosts; work made by its own
# worker wakes it at once.
POLL_SECONDS = 1.0
# The longest a runner waits after transient errors in a row before it looks again.
MAX_BACKOFF_SECONDS = 30.0
# How many times one piece of work (a number's operation in a job, a CSV download) is tried
# before it is failed, and the wait before the second try, doubled before each next one: 2, 4,
# 8 and 16 s, so a piece of work gives up about 30 s after it first failed.
MAX_ATTEMPTS = 5
RETRY_SECONDS = 2.0
# A lease (how long a runner that was killed holds its work) other than 30 s, in seconds:
# lower for tests that kill servers, higher where a piece of work may stall longer.
LEASE_VARIABLE = "NUMBERS_API_LEASE_SECONDS"
DEFAULT_LEASE_MS = 30_000


def lease_ms_from_environment() -> int:
    """The lease runners take on their work: `NUMBERS_API_LEASE_SECONDS`, else 30 s."""
    try:
        seconds = seconds_from_environment(
            LEASE_VARIABLE, DEFAULT_LEASE_MS / 1000, minimum=0.1, maximum=86_400
        )
    except DurationError as error:
        raise SettingsError(str(error)) from None
    return round(seconds * 1000)


def defect(error: BaseException | None) -> BaseException | None:
    """The error if it is a defect, whose traceback the log should have; None if it is the
    database's state (or there is none)."""
    return None if error is None or is_transient(error) else error


def error_kind(error: BaseException) -> str:
    """A transient error's kind, as `numbers_api_database_errors` counts it."""
    if is_statement_timeout(error):
        return "statement_timeout"
    if is_lock_timeout(error):
        return "lock_timeout"
    return "unavailable"


# What each kind means, for a reason the API shows (which never holds the error's own words:
# they may name the database's host).
KIND_MEANINGS = {
    "unavailable": "the database could not be reached",
    "statement_timeout": "a database statement ran out of time",
    "lock_timeout": "the database was locked by another writer",
}


def failure_cause(error: BaseException, attempts: int) -> str:
    """Why a piece of work failed for good, for the API to show."""
    if is_transient(error):
        meaning = KIND_MEANINGS[error_kind(error)]
        return f"{meaning} on each of its {attempts} tries"
    return f"an unexpected error ({type(error).__name__}; the server's log has it)"


def describe(error: BaseException) -> str:
    """An error in one line: its type and the first line of its message."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


class RunnerOptions(TypedDict, total=False):
    """What every runner may be given; each has a default."""

    poll_seconds: float  # how often it looks for work made elsewhere (other workers or hosts)
    lease_ms: int | None  # how long its claim on a piece of work holds; None: the environment's
    retry_seconds: float  # the wait before a failed piece's second try, doubled before each next
    max_attempts: int  # how many tries a piece of work has in all


class BackgroundRunner:
    """`start` it once, `wake` it when this worker made work, `stop` it on shutdown. A subclass
    says what one piece of work is (`run_next`) and may run more threads beside (`companions`)."""

    thread_name = "numbers-api-background"
    kind = "background"  # the `kind` of its `numbers_api_background_retries`

    def __init__(self, database: Database, **options: Unpack[RunnerOptions]) -> None:
        self.database = database
        self.poll_seconds = options.get("poll_seconds", POLL_SECONDS)
        lease_ms = options.get("lease_ms")
        self.lease_ms = lease_ms_from_environment() if lease_ms is None else lease_ms
        self.retry_seconds = options.get("retry_seconds", RETRY_SECONDS)
        self.max_attempts = options.get("max_attempts", MAX_ATTEMPTS)
        self._stopping = threading.Event()
        self._woken = threading.Event()
        self._threads: list[threading.Thread] = []

    def run_next(self) -> bool:
        """Do one piece of work; False if there was none."""
        raise NotImplementedError

    def companions(self) -> list[Callable[[], None]]:
        """Other loops to run on threads of their own while the runner runs."""
        return []

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def pause(self, seconds: float) -> bool:
        """Wait, unless the runner is stopping; whether it is."""
        return self._stopping.wait(seconds)

    def start(self) -> None:
        self._stopping.clear()
        targets = [self._loop, *self.companions()]
        self._threads = [
            threading.Thread(target=self._closing(target), name=self.thread_name, daemon=True)
            for target in targets
        ]
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """Work was just made here: look now rather than at the next poll."""
        self._woken.set()

    def stop(self) -> None:
        """Ask every thread to stop and wait for them: `run_next` sees `stopping`."""
        self._stopping.set()
        self._woken.set()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def retry_wait(self, error: BaseException, attempts: int) -> float | None:
        """How long to wait before trying a piece of work again after `error` ended its
        `attempts`-th try; None if it is not to be tried again (a defect, or no tries left)."""
        if not is_transient(error) or attempts >= self.max_attempts:
            return None
        return min(self.retry_seconds * 2.0 ** (attempts - 1), MAX_BACKOFF_SECONDS)

    def counted_retry(self, error: BaseException) -> None:
        """A piece of work will be tried again after `error`: the metrics say so."""
        if is_transient(error):
            DATABASE_ERRORS.labels(kind=error_kind(error)).inc()
        BACKGROUND_RETRIES.labels(kind=self.kind).inc()

    def _loop(self) -> None:
        failures = 0  # transient errors in a row
        while not self._stopping.is_set():
            self._woken.clear()  # before looking: work made meanwhile wakes the wait
            wait: float | None = self.poll_seconds
            try:
                if self.run_next():
                    wait = None
                failures = 0
            except Exception as error:
                if is_transient(error):  # the database is away or busy: one line, longer waits
                    failures += 1
                    wait = min(self.poll_seconds * 2**failures, MAX_BACKOFF_SECONDS)
                    log.warning(
                        "%s: the database failed (%s); trying again in %.1f s",
                        type(self).__name__,
                        describe(error),
                        wait,
                    )
                    self.counted_retry(error)
                else:
                    failures = 0
                    log.exception("%s failed; it carries on", type(self).__name__)
            if wait is not None:
                self.wait_for_work(wait)

    def wait_for_work(self, seconds: float) -> None:
        """Wait `seconds`, or less if work is made through this worker (which also says the
        database is back after an outage)."""
        self._woken.wait(seconds)

    def _closing(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            finally:
                self.database.close()  # this thread's connection

        return run
