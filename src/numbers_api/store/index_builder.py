"""Index builds in a process of their own, whose results are kept in the database for every
worker to load.

A build is mostly Python work: on a thread of a worker that is answering requests it fought them
for the interpreter lock, and an account of 1,000,000 numbers took minutes under load where it
takes seconds alone (docs/performance.md). A process of its own takes a core's share instead.
Each worker has one (`IndexBuilder`), started at its first build. What a build makes is kept in
the database (`index_snapshots`, a pickle in parts) at the data version it was built at: the
host's other workers, other hosts, and the server's next start load it instead of building it
again. The builds of one account are serialised across a host's workers by a lock file in the
directory they share, so that a host builds each version once.

The process (`python -m numbers_api.store.index_builder LOCKS SMALLEST`) reads one account id a
line on its standard input and answers each with a JSON line: the account's data version,
whether it has an index (not when the account is too small to need one), and whether this
process built it. It ends when its input does, which is when its worker ends.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from numbers_api.logs import configure_logging
from numbers_api.store.accounts import Caller, data_version
from numbers_api.store.database import Connection, Database
from numbers_api.store.faults import is_transient
from numbers_api.store.number_index import (
    SNAPSHOT_FORMAT,
    AccountIndex,
    build_index,
    release_free_memory,
)

log = logging.getLogger("numbers_api.index")
# How the process gets its database URL, which may hold a password: the environment, unlike the
# arguments, is not shown to other users.
_DATABASE_URL_VARIABLE = "NUMBERS_API_INDEX_BUILDER_DATABASE_URL"
# Well under either engine's largest value (1 GB for both).
SNAPSHOT_PART_BYTES = 64 * 2**20


@dataclass(frozen=True, slots=True)
class Built:
    """An account's index at `data_version`, kept in the database unless the account is small."""

    account_id: int
    data_version: int
    indexed: bool  # False: the account is too small to index
    built_here: bool  # False: another worker's build (or an earlier one) had left it
    seconds: float  # what the build, or the wait for another worker's, took


def count_up_to(connection: Connection, account_id: int, limit: int) -> int:
    """The account's numbers, counted no further than `limit`."""
    (numbers,) = connection.execute(
        "SELECT count(*) FROM (SELECT 1 FROM phone_numbers WHERE account_id = ? LIMIT ?) t",
        (account_id, limit),
    ).fetchone()
    return int(numbers)


def load_snapshot(connection: Connection, account_id: int, version: int) -> AccountIndex | None:
    """The index kept for the account at that data version, if there is one. Unpickling is one
    C call: no other thread of the worker runs meanwhile (a fraction of a second at 1,000,000
    numbers), where work in many small steps would wait for the interpreter lock at each."""
    parts = connection.execute(
        "SELECT body FROM index_snapshots "
        "WHERE account_id = ? AND data_version = ? AND format = ? ORDER BY part",
        (account_id, version, SNAPSHOT_FORMAT),
    ).fetchall()
    if not parts:
        return None
    # Made by this service's own builder, in its own database.
    index = pickle.loads(b"".join(part[0] for part in parts))  # noqa: S301
    assert isinstance(index, AccountIndex)
    return index


def kept_snapshots(connection: Connection) -> list[tuple[int, int, int]]:
    """(account, data version, bytes) of each index kept in this code's format, largest first."""
    rows = connection.execute(
        "SELECT account_id, data_version, sum(length(body)) AS bytes "
        "FROM index_snapshots WHERE format = ? "
        "GROUP BY account_id, data_version ORDER BY bytes DESC",
        (SNAPSHOT_FORMAT,),
    ).fetchall()
    return [(int(a), int(v), int(b)) for a, v, b in rows]


def save_snapshot(database: Database, index: AccountIndex) -> None:
    """Keep the index in the database, in place of the account's older ones; written a part at
    a time, never whole in memory beside the index."""
    with database.transaction() as connection:
        connection.execute(
            "DELETE FROM index_snapshots "
            "WHERE account_id = ? AND (data_version < ? OR format <> ?)",
            (index.account_id, index.data_version, SNAPSHOT_FORMAT),
        )
        parts = _Parts(connection, index)
        pickle.dump(index, parts, protocol=pickle.HIGHEST_PROTOCOL)
        parts.flush()


class _Parts:
    """A file-like writer that stores what is written as numbered parts of the snapshot."""

    def __init__(self, connection: Connection, index: AccountIndex) -> None:
        self.connection = connection
        self.key = (index.account_id, index.data_version)
        self.buffer = bytearray()
        self.written = 0

    def write(self, data: bytes | pickle.PickleBuffer) -> int:
        view = memoryview(data)  # large arrays come as buffers, written without a copy
        self.buffer += view
        while len(self.buffer) >= SNAPSHOT_PART_BYTES:
            self._insert(self.buffer[:SNAPSHOT_PART_BYTES])
            del self.buffer[:SNAPSHOT_PART_BYTES]
        return view.nbytes

    def flush(self) -> None:
        if self.buffer or not self.written:
            self._insert(self.buffer)
            self.buffer.clear()

    def _insert(self, body: bytearray) -> None:
        self.connection.execute(
            "INSERT INTO index_snapshots (account_id, data_version, format, part, body) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",  # another host's: the same
            (*self.key, SNAPSHOT_FORMAT, self.written, bytes(body)),
        )
        self.written += 1


def _has_snapshot(connection: Connection, account_id: int, version: int) -> bool:
    row = connection.execute(
        "SELECT 1 FROM index_snapshots "
        "WHERE account_id = ? AND data_version = ? AND format = ? LIMIT 1",
        (account_id, version, SNAPSHOT_FORMAT),
    ).fetchone()
    return row is not None


def build_into(
    database: Database, account_id: int, smallest: int, locks: Path | None = None
) -> Built:
    """The account's index at the data version now current, built and kept in the database
    unless it is there already or the account has fewer than `smallest` numbers. `locks`: the
    directory a host's workers share, so that they build each version once."""
    started = time.perf_counter()

    def built(version: int, *, indexed: bool = True, here: bool = False) -> Built:
        return Built(account_id, version, indexed, here, time.perf_counter() - started)

    with database.snapshot() as connection:
        version = data_version(connection, account_id)
        if _has_snapshot(connection, account_id, version):
            return built(version)
        if count_up_to(connection, account_id, smallest) < smallest:
            return built(version, indexed=False)
    with _locked(locks / f"{account_id}.lock") if locks is not None else nullcontext():
        with database.snapshot() as connection:  # a new look: another worker's may be there now
            version = data_version(connection, account_id)
            if _has_snapshot(connection, account_id, version):
                return built(version)
            index = build_index(connection, Caller(account_id, version))
        save_snapshot(database, index)
    del index
    release_free_memory()
    return built(version, here=True)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


class BuildFailed(RuntimeError):
    """A build that failed in the builder process; `transient` if on a database error that
    trying again later may not meet (`faults.is_transient`)."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class IndexBuilder:
    """A worker's builder process, started at the first build and again if it died."""

    def __init__(self, database_url: str, locks: Path, smallest: int) -> None:
        self.database_url = database_url
        self.locks = locks
        self.smallest = smallest
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def build(self, account_id: int) -> Built:
        """The account's index at its current data version, built or found (blocks meanwhile)."""
        with self._lock:
            process = self._started()
            stdin, stdout = _pipes(process)
            stdin.write(f"{account_id}\n")
            stdin.flush()
            line = stdout.readline()
            if not line:
                self._process = None
                raise RuntimeError(f"the index builder exited ({process.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise BuildFailed(f"the index builder failed: {answer['error']}", answer["transient"])
        return Built(
            account_id,
            answer["data_version"],
            answer["indexed"],
            answer["built_here"],
            answer["seconds"],
        )

    def close(self) -> None:
        """End the process (it ends on its own when its input closes, should this not run)."""
        with self._lock:
            if self._process is not None:
                _pipes(self._process)[0].close()
                self._process.wait()
                self._process = None

    def _started(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(  # noqa: S603 (this interpreter, our module)
                [sys.executable, "-m", __name__, str(self.locks), str(self.smallest)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, _DATABASE_URL_VARIABLE: self.database_url},
            )
        return self._process


def _pipes(process: subprocess.Popen[str]) -> tuple[IO[str], IO[str]]:
    assert process.stdin is not None
    assert process.stdout is not None
    return process.stdin, process.stdout


def main() -> None:
    configure_logging()
    locks, smallest = Path(sys.argv[1]), int(sys.argv[2])
    # The server that starts this has migrated the database, or will once it can reach it.
    database = Database(os.environ[_DATABASE_URL_VARIABLE], migrate=False)
    for line in sys.stdin:
        account_id = int(line)
        try:
            built = build_into(database, account_id, smallest, locks)
        except Exception as error:
            transient = is_transient(error)
            if not transient:
                log.exception("building the index of account %d failed", account_id)
            answer: dict[str, object] = {
                "error": f"{type(error).__name__}: {error}",
                "transient": transient,
            }
        else:
            answer = {
                "data_version": built.data_version,
                "indexed": built.indexed,
                "built_here": built.built_here,
                "seconds": built.seconds,
            }
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    database.close()


if __name__ == "__main__":
    main()
