"""A worker's in-memory indexes (`number_index.py`) of the accounts it serves, held within a
memory budget: each index counted at its real size, the least recently asked for evicted first,
accounts too small to need one answered by SQL, and builds run one at a time by the worker's
builder process (`index_builder.py`), whose results the host's workers share."""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from numbers_api.cache import LruCache
from numbers_api.metrics import INDEX_BUILD_SECONDS, INDEX_BUILDS, INDEX_BYTES
from numbers_api.store.accounts import Caller
from numbers_api.store.database import Connection, Database
from numbers_api.store.index_builder import (
    BuildFailed,
    Built,
    IndexBuilder,
    count_up_to,
    kept_snapshots,
    load_snapshot,
)
from numbers_api.store.number_index import (
    AccountIndex,
    IndexMode,
    advance_index,
    build_index,
    release_free_memory,
)

log = logging.getLogger("numbers_api.index")
Index = TypeVar("Index", AccountIndex, AccountIndex | None)

# Sized for a host of 2 cores and a few GB with one worker per core: room for the index of an
# account of 1,000,000 numbers (about 550 MB of real memory, docs/performance.md) and hundreds of
# accounts of thousands.
DEFAULT_INDEX_MEMORY_MB = 1024
# An account with fewer numbers than this is answered by SQL alone: its lists cost within about
# a millisecond of the index's there (docs/performance.md), and its index would cost memory for
# nothing.
SMALLEST_INDEXED = 1_000
# Which accounts were found too small, and at which data version (a write may have grown them);
# as much again for those whose index was not kept, and until when.
_SMALL_ACCOUNTS_BYTES = 4 * 1024 * 1024
# An index asked for within this long is never evicted for another. When more accounts are
# listed in turn than the budget holds, evicting the least recently asked for evicts each just
# before it is asked again, and every request then waits on a load: the tenants benchmark's
# first run at 1,000 accounts evicted 2,869 indexes in five minutes, the large account's among
# them (docs/performance.md).
KEPT_AT_LEAST_SECONDS = 30.0
# What an index takes in a worker's private memory for each byte its arrays and bitmaps count,
# at least (measured: 112 MB for 59 MB counted over 100 accounts of 1,200 to 5,000 numbers; 267
# for 166 at 1,000,000): a load's growth of the process's memory says less when the allocator
# reuses what an evicted index freed.
_REAL_PER_COUNTED = 1.9
_STATUS = Path("/proc/self/status")


class NumberIndexes:
    """The index of each account asked for, kept at its newest data version, within
    `memory_budget` bytes of their real sizes."""

    def __init__(
        self,
        database: Database,
        mode: IndexMode,
        *,
        memory_budget: int = DEFAULT_INDEX_MEMORY_MB * 2**20,
        smallest: int = SMALLEST_INDEXED,
        directory: Path | None = None,
        kept_at_least: float = KEPT_AT_LEAST_SECONDS,
    ) -> None:
        """`directory`: the one the host's workers share, for their builds' lock files (`serve`
        makes one); by default, a temporary one of this worker's own."""
        self.database = database
        self.mode = mode
        self.memory_budget = memory_budget
        self.smallest = smallest
        self.kept_at_least = kept_at_least
        self._indexes: dict[int, AccountIndex] = {}
        self._sizes: dict[int, int] = {}  # each held index's real size in bytes
        self._held = 0  # their sum
        self._asked: dict[int, float] = {}  # when each held index was last asked for
        self._small: LruCache[int] = LruCache(_SMALL_ACCOUNTS_BYTES)
        self._refused: LruCache[float] = LruCache(_SMALL_ACCOUNTS_BYTES)  # until when
        self._too_large: set[int] = set()  # accounts whose index alone outgrew the budget
        self._lock = threading.Lock()
        self._advancing = threading.Lock()
        self._builds: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._queued: set[int] = set()
        self._builder: threading.Thread | None = None
        self._own_directory: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._own_directory = tempfile.TemporaryDirectory(prefix="numbers-api-indexes-")
            directory = Path(self._own_directory.name)
        self._process = IndexBuilder(database.url, directory, smallest)

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

    def in_use(self, caller: Caller) -> None:
        """The account was answered without its index (a page from the cache): its index is in
        use all the same, and must not look idle to the eviction."""
        if caller.account_id in self._indexes:
            self._asked[caller.account_id] = time.monotonic()

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
            or (self._refused.get(account) or 0.0) > time.monotonic()
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

    def preload(self) -> None:
        """Load the indexes kept in the database (`index_builder.py`), the largest accounts'
        first, as many as the budget holds. An index older than its account's data version is
        brought forward at its first use, if few numbers changed since."""
        if self.mode is not IndexMode.BACKGROUND:
            return
        with self.database.snapshot() as connection:
            kept = kept_snapshots(connection)
        for account, version, stored in kept:
            if self._held + stored > self.memory_budget:
                continue
            started = time.perf_counter()
            index, size = self._load_kept(account, version)
            if index is not None:
                self._loaded(index, size, "kept", started, evict=False)
                _made_ready("loaded", time.perf_counter() - started)
        self.database.close()  # this thread's connection

    def close(self) -> None:
        """Stop the builder thread once its current build is done, and the builder process."""
        if self._builder is not None:
            self._builds.put(None)
            self._builder.join()
        self._process.close()
        if self._own_directory is not None:
            self._own_directory.cleanup()

    def _advanced(self, connection: Connection, caller: Caller) -> AccountIndex | None:
        """The caller's index brought forward from an older version, if it can be."""
        index = self._indexes.get(caller.account_id)
        if index is None or index.data_version >= caller.data_version:
            return None
        with self._advancing:  # one thread advances; the others then find its result
            index = self._indexes.get(caller.account_id)
            if index is not None and index.data_version < caller.data_version:
                started = time.perf_counter()
                advanced = advance_index(index, connection, caller)
                if advanced is not None:
                    _made_ready("advanced", time.perf_counter() - started)
                    # What the advance copied; the rest is shared with the index it replaces.
                    growth = advanced.size_in_bytes() - index.size_in_bytes()
                    self._keep(
                        advanced, self._sizes.get(index.account_id, 0) + growth, announce=False
                    )
        return self.current(caller)

    def _run_builds(self) -> None:
        """The builder thread: one build at a time, by the builder process, in the order asked;
        the thread loads what the build kept, on a connection of its own."""
        while (account := self._builds.get()) is not None:
            try:
                self._load(self._process.build(account))
            except Exception as error:
                INDEX_BUILDS.labels("failed").inc()
                if isinstance(error, BuildFailed) and error.transient:
                    # The database is away: one line, and a later request asks again.
                    log.warning("building the index of account %d failed: %s", account, error)
                else:
                    log.exception("building the index of account %d failed", account)
            finally:
                with self._lock:
                    self._queued.discard(account)
        self.database.close()  # this thread's connection

    def _load(self, built: Built) -> None:
        account, version = built.account_id, built.data_version
        if not built.indexed:
            self._small.put(account, version)
            return
        started = time.perf_counter()
        index, size = self._load_kept(account, version)
        if index is None:  # a newer version's build replaced it meanwhile: asked again later
            return
        how = "built" if built.built_here else "found (built before or by another worker)"
        self._loaded(index, size, f"{how} in {built.seconds:.2f} s", started)
        outcome = "built" if built.built_here else "loaded"
        _made_ready(outcome, built.seconds + time.perf_counter() - started)

    def _load_kept(self, account: int, version: int) -> tuple[AccountIndex | None, int]:
        with self.database.snapshot() as connection:
            return _measured(lambda: load_snapshot(connection, account, version))

    def _loaded(
        self, index: AccountIndex, size: int, how: str, started: float, *, evict: bool = True
    ) -> None:
        log.info(
            "index of account %d (data version %d, %d numbers) ready: %s, loaded in %.2f s",
            index.account_id,
            index.data_version,
            len(index.ids),
            how,
            time.perf_counter() - started,
        )
        self._keep(index, size, evict=evict)

    def _build(self, connection: Connection, caller: Caller) -> None:
        """Build and keep the caller's index here, unless the account is small."""
        if count_up_to(connection, caller.account_id, self.smallest) < self.smallest:
            self._small.put(caller.account_id, caller.data_version)
            return
        started = time.perf_counter()
        index, size = _measured(lambda: build_index(connection, caller))
        _made_ready("built", time.perf_counter() - started)
        self._keep(index, size)

    def _keep(
        self, index: AccountIndex, size: int, *, evict: bool = True, announce: bool = True
    ) -> bool:
        """Hold the index, evicting those asked for least recently if it does not fit, but none
        asked for within `kept_at_least` seconds; whether it is held. Its size is logged at
        INFO if `announce`, else at DEBUG (an index brought forward after each write)."""
        account = index.account_id
        log.log(
            logging.INFO if announce else logging.DEBUG,
            "index of account %d takes %.0f MB of memory (%.0f MB of arrays and bitmaps); "
            "indexes held: %.0f MB of %.0f",
            account,
            size / 2**20,
            index.size_in_bytes() / 2**20,
            (self._held + size) / 2**20,
            self.memory_budget / 2**20,
        )
        with self._lock:
            current = self._indexes.get(account)
            if current is not None and current.data_version >= index.data_version:
                return True
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
                return False
            self._forget(account)
            now = time.monotonic()
            while self._held + size > self.memory_budget:
                idle = [a for a in self._indexes if now - self._asked[a] >= self.kept_at_least]
                if not evict or not idle:
                    # Every index held is in use: this account stays with SQL for a while, and
                    # the held ones are not traded for it (docs/deployment.md, "Memory").
                    self._refused.put(account, now + self.kept_at_least)
                    # Debug: with more accounts than the budget holds, one line an account a
                    # worker every 30 s (thousands a minute in the tenants benchmark).
                    log.debug("index of account %d not kept: the budget is in use", account)
                    return False
                evicted = min(idle, key=self._asked.__getitem__)
                self._forget(evicted)
                log.info("index of account %d evicted to stay within budget", evicted)
            self._indexes[account] = index
            self._sizes[account] = size
            self._held += size
            INDEX_BYTES.set(self._held)
            self._asked[account] = now
            return True

    def _forget(self, account: int) -> None:
        """Drop the account's index (the caller holds the lock)."""
        if self._indexes.pop(account, None) is not None:
            self._held -= self._sizes.pop(account)
            INDEX_BYTES.set(self._held)
            self._asked.pop(account, None)


def _made_ready(outcome: str, seconds: float) -> None:
    """Counted in the metrics: an index made ready, and how long that took."""
    INDEX_BUILDS.labels(outcome).inc()
    INDEX_BUILD_SECONDS.labels(outcome).observe(seconds)


def _measured(make: Callable[[], Index]) -> tuple[Index, int]:
    """The index `make` returns, and its real size: what the process's private memory grew by
    meanwhile, give or take what other threads did; never less than the index's own count of
    its arrays and bitmaps times `_REAL_PER_COUNTED`."""
    release_free_memory()
    before = _private_memory()
    index = make()
    release_free_memory()
    after = _private_memory()
    size = 0 if index is None else int(index.size_in_bytes() * _REAL_PER_COUNTED)
    if before is not None and after is not None:
        size = max(size, after - before)
    return index, size


def _private_memory() -> int | None:
    """This process's private resident memory (RssAnon) in bytes; None where unknown."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
