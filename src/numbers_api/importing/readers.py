"""Streaming records out of JSON Lines and CSV files, one at a time, with their line numbers."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from numbers_api.domain import BOOLEAN_FIELDS
from numbers_api.importing.records import KNOWN_FIELDS


class UnreadableRecord(Exception):
    """A line that is not a record at all (not JSON, not an object)."""


class UnsupportedFile(Exception):
    pass


# A record, or the reason its line could not be read, with the line it starts on.
Record = dict[str, Any] | UnreadableRecord


def read_records(path: Path, stream: IO[bytes]) -> Iterator[tuple[int, Record]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _json_lines(stream)
    if suffix == ".csv":
        return _csv_rows(stream)
    raise UnsupportedFile(f"{path}: expected a .jsonl or .csv file")


def _json_lines(stream: IO[bytes]) -> Iterator[tuple[int, Record]]:
    for line_number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield line_number, UnreadableRecord(f"not valid JSON ({error})")
            continue
        if isinstance(record, dict):
            yield line_number, record
        else:
            yield line_number, UnreadableRecord("must be a JSON object")


def _csv_rows(stream: IO[bytes]) -> Iterator[tuple[int, Record]]:
    text = (line.decode("utf-8") for line in stream)
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        return
    unknown = [name for name in header if name not in KNOWN_FIELDS]
    if unknown:
        for name in unknown:
            yield 1, UnreadableRecord(f"{name}: unknown column")
        return
    for row in reader:
        if not any(row):
            continue
        if len(row) != len(header):
            yield (
                reader.line_num,
                UnreadableRecord(f"has {len(row)} cells where the header has {len(header)}"),
            )
            continue
        yield (
            reader.line_num,
            {name: _cell(name, cell) for name, cell in zip(header, row, strict=True)},
        )


def _cell(name: str, cell: str) -> Any:
    """A CSV cell as the JSON value it stands for: empty is null, tags split on `;`."""
    if name == "tags":
        return cell.split(";") if cell else []
    if cell == "":
        return None
    if name in BOOLEAN_FIELDS:
        return {"true": True, "false": False}.get(cell, cell)
    return cell
