"""The shape of the background work each server worker does (bulk jobs, CSV downloads): a thread
that takes work kept in the database, one piece at a time, woken at once when this worker made it
and otherwise looking again every `poll_seconds` (work made by other workers or hosts)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from numbers_api.store.database import Database

log = logging.getLogger("numbers_api.background")


class BackgroundRunner:
    """`start` it once, `wake` it when this worker made work, `stop` it on shutdown. A subclass
    says what one piece of work is (`run_next`) and may run more threads beside (`companions`)."""

    thread_name = "numbers-api-background"

    def __init__(self, database: Database, *, poll_seconds: float) -> None:
        self.database = database
        self.poll_seconds = poll_seconds
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

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._woken.clear()  # before looking: work made meanwhile wakes the wait
            try:
                worked = self.run_next()
            except Exception:  # the database may be away for a while: try again later
                log.exception("%s failed; it carries on", type(self).__name__)
                worked = False
            if not worked:
                self._woken.wait(self.poll_seconds)

    def _closing(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            finally:
                self.database.close()  # this thread's connection

        return run
