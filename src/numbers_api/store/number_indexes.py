"""A worker's in-memory indexes (`number_index.py`) of the accounts it serves, held within a
memory budget: each index counted at its real size, the least recently asked for evicted first,
accounts too small to need one answered by SQL, and builds run one at a time on a thread of
their own."""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path

from numbers_api.cache import LruCache
from numbers_api.store.accounts import Caller, data_version
from numbers_api.store.database import Connection, Database
from numbers_api.store.number_index import (
    AccountIndex,
    IndexMode,
    advance_index,
    build_index,
    release_free_memory,
)

log = logging.getLogger("numbers_api.index")

# Sized for a host of 2 cores and a few GB with one worker per core: room for the index of an
# account of 1,000,000 numbers (about 550 MB of real memory, docs/performance.md) and hundreds of
# accounts of thousands.
DEFAULT_INDEX_MEMORY_MB = 1024
# An account with fewer numbers than this is answered by SQL alone: its lists cost within about
# a millisecond of the index's there (docs/performance.md), and its index would cost memory for
# nothing.
SMALLEST_INDEXED = 1_000
# Which accounts were found too small, and at which data version (a write may have grown them).
_SMALL_ACCOUNTS_BYTES = 4 * 1024 * 1024
_STATUS = Path("/proc/self/status")


class NumberIndexes:
    """The index of each account asked for, kept at its newest data version, within
    `memory_budget` bytes of their real sizes."""

    def __init__(
        self,
        database: Database,
        mode: IndexMode,
        memory_budget: int = DEFAULT_INDEX_MEMORY_MB * 2**20,
        smallest: int = SMALLEST_INDEXED,
    ) -> None:
        self.database = database
        self.mode = mode
        self.memory_budget = memory_budget
        self.smallest = smallest
        self._indexes: dict[int, AccountIndex] = {}
        self._sizes: dict[int, int] = {}  # each held index's real size in bytes
        self._held = 0  # their sum
        self._asked: dict[int, float] = {}  # when each held index was last asked for
        self._small: LruCache[int] = LruCache(_SMALL_ACCOUNTS_BYTES)
        self._too_large: set[int] = set()  # accounts whose index alone outgrew the budget
        self._lock = threading.Lock()
        self._advancing = threading.Lock()
        self._builds: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._queued: set[int] = set()
        self._builder: threading.Thread | None = None

    @property
    def held_bytes(self) -> int:
        return self._held

    def current(self, caller: Caller) -> AccountIndex | None:
        """The caller's index if it is at the caller's data version (no database read)."""
        index = self._indexes.get(caller.account_id)
        if index is None or index.data_version != caller.data_version:
            return None
        self._asked[caller.account_id] = time.monotonic()
        return index

    def get(self, connection: Connection, caller: Caller) -> AccountIndex | None:
        """The caller's index at its data version, or None: then the database answers."""
        index = self.current(caller)
        if index is not None:
            return index
        index = self._advanced(connection, caller)
        if index is not None:
            return index
        account = caller.account_id
        if (
            self.mode is IndexMode.OFF
            or account in self._too_large
            or self._small.get(account) == caller.data_version
        ):
            return None
        if self.mode is IndexMode.INLINE:
            self._build(connection, caller)
            return self.current(caller)
        with self._lock:
            if account in self._queued:
                return None
            self._queued.add(account)
            if self._builder is None:
                self._builder = threading.Thread(
                    target=self._run_builds, daemon=True, name="numbers-api-index"
                )
                self._builder.start()
        self._builds.put(account)
        return None

    def ready(self) -> list[AccountIndex]:
        """The indexes held now, whatever their versions."""
        with self._lock:
            return list(self._indexes.values())

    def close(self) -> None:
        """Stop the builder thread once its current build is done."""
        if self._builder is not None:
            self._builds.put(None)

    def _advanced(self, connection: Connection, caller: Caller) -> AccountIndex | None:
        """The caller's index brought forward from an older version, if it can be."""
        index = self._indexes.get(caller.account_id)
        if index is None or index.data_version >= caller.data_version:
            return None
        with self._advancing:  # one thread advances; the others then find its result
            index = self._indexes.get(caller.account_id)
            if index is not None and index.data_version < caller.data_version:
                advanced = advance_index(index, connection, caller)
                if advanced is not None:
                    # What the advance copied; the rest is shared with the index it replaces.
                    growth = advanced.size_in_bytes() - index.size_in_bytes()
                    self._keep(advanced, self._sizes.get(index.account_id, 0) + growth)
        return self.current(caller)

    def _run_builds(self) -> None:
        """The builder thread: one build at a time, on its own connection, in the order asked."""
        while (account := self._builds.get()) is not None:
            try:
                with self.database.snapshot() as connection:
                    self._build(connection, Caller(account, data_version(connection, account)))
            except Exception:
                log.exception("building the index of account %d failed", account)
            finally:
                with self._lock:
                    self._queued.discard(account)
        self.database.close()  # this thread's connection

    def _build(self, connection: Connection, caller: Caller) -> None:
        """Build and keep the caller's index, unless the account is small."""
        (numbers,) = connection.execute(
            "SELECT count(*) FROM (SELECT 1 FROM phone_numbers WHERE account_id = ? LIMIT ?) t",
            (caller.account_id, self.smallest),
        ).fetchone()
        if numbers < self.smallest:
            self._small.put(caller.account_id, caller.data_version)
            return
        release_free_memory()
        before = _private_memory()
        index = build_index(connection, caller)
        release_free_memory()
        after = _private_memory()
        # The process's private memory grew by what the index holds, give or take what other
        # threads did meanwhile: never less than the index's own count of its arrays and bitmaps.
        size = index.size_in_bytes()
        if before is not None and after is not None:
            size = max(size, after - before)
        log.info(
            "index of account %d takes %.0f MB of memory (%.0f MB of arrays and bitmaps); "
            "indexes held: %.0f MB of %.0f",
            caller.account_id,
            size / 2**20,
            index.size_in_bytes() / 2**20,
            (self._held + size) / 2**20,
            self.memory_budget / 2**20,
        )
        self._keep(index, size)

    def _keep(self, index: AccountIndex, size: int) -> None:
        account = index.account_id
        with self._lock:
            current = self._indexes.get(account)
            if current is not None and current.data_version >= index.data_version:
                return
            if size > self.memory_budget:
                self._too_large.add(account)
                self._forget(account)
                log.warning(
                    "the index of account %d (%d numbers, %.0f MB) is larger than the index "
                    "memory budget (%.0f MB): its lists are answered by SQL; raise "
                    "--index-memory to index it",
                    account,
                    len(index.ids),
                    size / 2**20,
                    self.memory_budget / 2**20,
                )
                return
            self._forget(account)
            self._indexes[account] = index
            self._sizes[account] = size
            self._held += size
            self._asked.setdefault(account, time.monotonic())
            while self._held > self.memory_budget:
                evicted = min(
                    (a for a in self._indexes if a != account),
                    key=lambda a: self._asked.get(a, 0.0),
                )
                self._forget(evicted)
                log.info("index of account %d evicted to stay within budget", evicted)

    def _forget(self, account: int) -> None:
        """Drop the account's index (the caller holds the lock)."""
        if self._indexes.pop(account, None) is not None:
            self._held -= self._sizes.pop(account)
            self._asked.pop(account, None)


def _private_memory() -> int | None:
    """This process's private resident memory (RssAnon) in bytes; None where unknown."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
