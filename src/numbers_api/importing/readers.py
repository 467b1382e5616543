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
    """A line that is not a record at all (not JSON, not an object), or a bad CSV header cell."""

    def __init__(self, reason: str, field: str = "record") -> None:
        super().__init__(reason)
        self.field = field

    def __reduce__(self) -> tuple[type[UnreadableRecord], tuple[str, str]]:
        return UnreadableRecord, (str(self), self.field)  # crosses to the checking processes


BYTE_ORDER_MARK = b"\xef\xbb\xbf"


class UnsupportedFile(Exception):
    pass


# A record, with the line it starts on: its fields, the reason its line could not be read, or (in
# JSON Lines) the line itself, parsed by `fields` where it is checked: in another process, mostly.
Record = dict[str, Any] | UnreadableRecord | bytes


def read_records(path: Path, stream: IO[bytes]) -> Iterator[tuple[int, Record]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _json_lines(stream)
    if suffix == ".csv":
        return _csv_rows(stream)
    raise UnsupportedFile(f"{path}: expected a .jsonl or .csv file")


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Numbered lines, without the byte order mark that some tools (Excel) write first."""
    for number, line in enumerate(stream, start=1):
        yield number, line.removeprefix(BYTE_ORDER_MARK) if number == 1 else line


def fields(record: Record) -> dict[str, Any] | UnreadableRecord:
    """A record's fields, or the reason it has none; a JSON Lines line is parsed here."""
    if not isinstance(record, bytes):
        return record
    try:
        parsed = orjson.loads(record)
    except orjson.JSONDecodeError as error:
        return UnreadableRecord(f"not valid JSON ({error})")
    return parsed if isinstance(parsed, dict) else UnreadableRecord("must be a JSON object")


def _json_lines(stream: IO[bytes]) -> Iterator[tuple[int, Record]]:
    for line_number, line in _lines(stream):
        if line.strip():
            yield line_number, line


def _decoded(stream: IO[bytes], not_utf8: set[int]) -> Iterator[str]:
    """The file's lines as text; the numbers of lines that are not UTF-8 go into `not_utf8`."""
    for number, line in _lines(stream):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            not_utf8.add(number)
            yield line.decode("utf-8", errors="replace")


def _csv_rows(stream: IO[bytes]) -> Iterator[tuple[int, Record]]:
    not_utf8: set[int] = set()
    reader = csv.reader(_decoded(stream, not_utf8))
    header = next(reader, None)
    if header is None:
        return
    if not_utf8:
        yield 1, UnreadableRecord("the header is not valid UTF-8")
        return
    unknown = [name for name in header if name not in KNOWN_FIELDS]
    if unknown:
        for name in unknown:
            yield 1, UnreadableRecord("unknown column", field=name)
        return
    first_line = reader.line_num + 1  # a record may span lines: it is reported where it starts
    for row in reader:
        line, first_line = first_line, reader.line_num + 1
        if not any(row):
            continue
        if not_utf8.intersection(range(line, reader.line_num + 1)):
            yield line, UnreadableRecord("not valid UTF-8")
            continue
        if len(row) != len(header):
            yield (
                line,
                UnreadableRecord(f"has {len(row)} cells where the header has {len(header)}"),
            )
            continue
        yield line, {name: _cell(name, cell) for name, cell in zip(header, row, strict=True)}


def _cell(name: str, cell: str) -> Any:
    """A CSV cell as the JSON value it stands for: empty is null, tags split on `;`."""
    if name == "tags":
        return cell.split(";") if cell else []
    if cell == "":
        return None
    if name in BOOLEAN_FIELDS:
        return {"true": True, "false": False}.get(cell, cell)
    return cell
