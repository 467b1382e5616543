"""An import from start to end: all records checked, and nothing written unless all are good."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO

from numbers_api.importing.readers import Record, UnreadableRecord, fields, read_records
from numbers_api.importing.records import FieldError, IdGenerator, RecordChecker
from numbers_api.store.accounts import account_id
from numbers_api.store.database import Database
from numbers_api.store.importer import Loader, Row

BATCH = 5000


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    bad_records: int = 0
    problems: int = 0
    seconds: float = 0.0
    lines: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return self.problems == 0


Checked = Row | list[FieldError] | UnreadableRecord
CHECK_BATCH = 2000


def checked(records: Iterable[tuple[int, Record]]) -> Iterator[tuple[int, Checked]]:
    """Every record checked (a row, or its problems), in order. Parsing and checking a record is
    most of an import's work, so past the first batch it is spread over one process per core."""
    now_ms = int(time.time() * 1000)
    batches = _batches(records)
    first = next(batches, [])
    yield from _check_batch(now_ms, first)
    workers = os.cpu_count() or 1
    if len(first) < CHECK_BATCH or workers == 1:
        for batch in batches:
            yield from _check_batch(now_ms, batch)
        return
    context = multiprocessing.get_context("forkserver")  # no fork of a threaded parent
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[Future[list[tuple[int, Checked]]]] = deque()
        for batch in batches:
            pending.append(pool.submit(_check_batch, now_ms, batch))
            if len(pending) >= 2 * workers:  # bounded: memory stays flat on any file size
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def _batches(records: Iterable[tuple[int, Record]]) -> Iterator[list[tuple[int, Record]]]:
    batch: list[tuple[int, Record]] = []
    for item in records:
        batch.append(item)
        if len(batch) == CHECK_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


@lru_cache(maxsize=1)
def _checker(now_ms: int) -> RecordChecker:
    """One checker per import in each process (an import stamps all its records alike)."""
    return RecordChecker(now_ms)


def _check_batch(now_ms: int, batch: list[tuple[int, Record]]) -> list[tuple[int, Checked]]:
    checker = _checker(now_ms)
    results: list[tuple[int, Checked]] = []
    for line, record in batch:
        found = fields(record)
        results.append((line, checker.check(found) if isinstance(found, dict) else found))
    return results


class _Rejected(Exception):
    pass


class _Writer:
    """Hands batches to the loader in a thread of its own, one at a time and in order, so that the
    next records are read and checked while the database works (its drivers let go of the GIL)."""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="import-writer")
        self._pending: Future[None] | None = None

    def add(self, rows: list[tuple[int, Row]]) -> None:
        batch = self._loader.batch(rows)  # made here, while the thread writes the one before
        self._wait()
        self._pending = self._thread.submit(self._loader.add, batch)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None:
                self._wait()
            elif self._pending is not None:
                wait([self._pending])  # the rollback that follows must not run beside a batch
        finally:
            self._thread.shutdown()


# Called with (line, field, reason) for each problem, as soon as it is found.
ProblemSink = Callable[[int, str, str], None]
# Called now and then with the number of records read so far.
ProgressSink = Callable[[int], None]


def import_records(
    database: Database,
    account_name: str,
    records: Iterable[tuple[int, Record]],
    on_problem: ProblemSink,
    on_progress: ProgressSink | None = None,
) -> ImportReport:
    started = time.perf_counter()
    report = ImportReport()

    loader: Loader | None = None

    def problem(line: int, field_name: str, reason: str) -> None:
        report.problems += 1
        report.lines.add(line)
        on_problem(line, field_name, reason)
        if loader is not None:
            loader.stop()

    try:
        with database.bulk_load(), database.transaction() as connection:
            loader = Loader(connection, account_id(connection, account_name))
            new_id = IdGenerator(after=loader.largest_id(below=IdGenerator.CEILING))
            batch: list[tuple[int, Row]] = []
            with _Writer(loader) as writer:
                for read, (line, result) in enumerate(checked(records), start=1):
                    if isinstance(result, UnreadableRecord):
                        problem(line, result.field, str(result))
                    elif isinstance(result, list):
                        for error in result:
                            problem(line, error.field, error.reason)
                    else:
                        batch.append(
                            (line, result if result[0] is not None else (new_id(), *result[1:]))
                        )
                    if len(batch) >= BATCH:
                        writer.add(batch)
                        batch = []
                        if on_progress is not None:
                            on_progress(read)
                writer.add(batch)
            for line, field_name, reason in loader.conflicts():
                problem(line, field_name, reason)
            if not report.ok:
                raise _Rejected  # rolls the whole transaction back: nothing written stays
            report.imported = loader.finish()
    except _Rejected:
        pass
    report.bad_records = len(report.lines)
    report.seconds = time.perf_counter() - started
    return report


def import_file(
    database: Database,
    account_name: str,
    path: Path,
    on_problem: ProblemSink,
    progress_to: IO[str] | None = None,
) -> ImportReport:
    with path.open("rb") as stream:
        total = path.stat().st_size
        progress = _progress_display(stream, total, progress_to) if progress_to else None
        return import_records(
            database, account_name, read_records(path, stream), on_problem, progress
        )


def _progress_display(stream: IO[bytes], total: int, out: IO[str]) -> ProgressSink:
    started = time.perf_counter()

    def show(read: int) -> None:
        done = stream.tell() / total if total else 1.0
        rate = read / max(time.perf_counter() - started, 1e-9)
        out.write(f"\r{done:6.1%}  {read:,} records read  {rate:,.0f}/s")
        out.flush()

    return show


def print_problem(line: int, field_name: str, reason: str) -> None:
    print(f"line {line}: {field_name}: {reason}", file=sys.stderr)
