"""An export from start to end: the matching numbers read in one snapshot, batch by batch, and
written as they come, so that memory stays flat whatever the account's size."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from numbers_api.exporting.formats import (
    CSV_COLUMNS,
    CsvWriter,
    JsonLinesWriter,
    RecordWriter,
    exported_record,
)
from numbers_api.query.conditions import Condition
from numbers_api.store.accounts import account_id
from numbers_api.store.database import Database
from numbers_api.store.phone_numbers import count_matching, matching_batches

BATCH = 5000
# Called after each batch with the numbers written so far and the numbers to write; it may raise
# to stop the export.
Progress = Callable[[int, int], None]
EXTENSIONS = (".csv", ".jsonl")


class UnsupportedExportFile(Exception):
    pass


def export_numbers(
    database: Database,
    account: int,
    conditions: Sequence[Condition],
    writer: RecordWriter,
    on_progress: Progress | None = None,
) -> int:
    """Writes every number of the account that the conditions match, in the list's default
    order, as one snapshot sees them; returns how many."""
    written = 0
    with database.snapshot() as connection:
        total = count_matching(connection, account, conditions)
        for batch in matching_batches(connection, account, conditions, BATCH):
            for number, profile_name in batch:
                writer.write(exported_record(number, profile_name))
            written += len(batch)
            if on_progress is not None:
                on_progress(written, total)
    writer.finish()
    return written


@dataclass(slots=True)
class ExportReport:
    exported: int = 0
    seconds: float = 0.0
    # Numbers with a tag holding `;`: a CSV file cannot keep them (nothing was written).
    split_tags: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.split_tags


def export_file(
    database: Database,
    account_name: str,
    path: Path,
    conditions: Sequence[Condition],
    *,
    csv_format: str = "V2",
    progress_to: IO[str] | None = None,
) -> ExportReport:
    """The account's matching numbers into `path` (.csv or .jsonl, by its extension). The file
    appears only once complete: it is written beside it under another name, then renamed."""
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise UnsupportedExportFile(f"{path}: expected a .csv or .jsonl file")
    started = time.perf_counter()
    with database.snapshot() as connection:
        account = account_id(connection, account_name)
    partial = path.with_name(f".{path.name}.partial")
    report = ExportReport()
    try:
        with partial.open("wb") as out:
            writer: RecordWriter = (
                CsvWriter(out, CSV_COLUMNS[csv_format])
                if suffix == ".csv"
                else JsonLinesWriter(out)
            )
            progress = _progress_display(progress_to, started) if progress_to else None
            report.exported = export_numbers(database, account, conditions, writer, progress)
        if isinstance(writer, CsvWriter):
            report.split_tags = writer.split_tags
        if report.ok:
            os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    report.seconds = time.perf_counter() - started
    return report


def _progress_display(out: IO[str], started: float) -> Progress:
    def show(written: int, total: int) -> None:
        done = written / total if total else 1.0
        rate = written / max(time.perf_counter() - started, 1e-9)
        out.write(f"\r{done:6.1%}  {written:,} of {total:,} numbers written  {rate:,.0f}/s")
        out.flush()

    return show
