"""What an exported number looks like: a record of the import's own fields, written as a CSV row
(V1 or V2 columns) or as a JSON Lines object. Every file written here is one that
`numbers-api import` reads back."""

from __future__ import annotations

import csv
import io
import operator
from collections.abc import Sequence
from typing import IO, Any, Protocol

import orjson

from numbers_api.domain import PhoneNumber
from numbers_api.importing.records import OPTIONAL_TEXT_FIELDS
from numbers_api.serialisation import phone_number_detailed

# V1: every property of PhoneNumberDetailed, as the API shows a number, in the same order.
V1_COLUMNS = (
    "id",
    "record_type",
    "phone_number",
    "country_iso_alpha2",
    "status",
    "tags",
    "external_pin",
    "connection_id",
    "connection_name",
    "customer_reference",
    "billing_group_id",
    "emergency_enabled",
    "emergency_address_id",
    "emergency_status",
    "call_forwarding_enabled",
    "cnam_listing_enabled",
    "caller_id_name_enabled",
    "call_recording_enabled",
    "t38_fax_gateway_enabled",
    "phone_number_type",
    "inbound_call_screening",
    "purchased_at",
    "created_at",
    "updated_at",
    "hd_voice_enabled",
    "source_type",
    "deletion_lock_enabled",
    "messaging_profile_id",
    "messaging_profile_name",
)
# V2: V1, then what the API does not show but the server keeps: everything a number has.
V2_COLUMNS = (*V1_COLUMNS, "usage_payment_method")
CSV_COLUMNS = {"V1": V1_COLUMNS, "V2": V2_COLUMNS}
Record = dict[str, Any]


def exported_record(number: PhoneNumber, profile_name: str | None) -> Record:
    """The number as the API shows it, and `usage_payment_method`: every field of V2's columns
    (writers take those, whatever else the API may show)."""
    names = {number.messaging_profile_id: profile_name} if number.messaging_profile_id else {}
    record = phone_number_detailed(number, names)
    record["usage_payment_method"] = number.usage_payment_method
    for name in OPTIONAL_TEXT_FIELDS:
        # The import takes no empty string (a PATCH can set one): it is written as no value.
        if record[name] == "":
            record[name] = None
    return record


def csv_cell(value: Any) -> str:
    """A value as the import reads it back from a cell: empty for null, tags joined by `;`."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value.__class__ is list:
        return ";".join(value)
    return str(value)


class RecordWriter(Protocol):
    def write(self, record: Record) -> None: ...

    def finish(self) -> None: ...


class CsvWriter:
    """A header row of `columns`, then a row per record (Python's `excel` dialect, UTF-8)."""

    def __init__(self, out: IO[bytes], columns: Sequence[str]) -> None:
        self._text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        self._rows = csv.writer(self._text)
        self._values = operator.itemgetter(*columns)
        self._rows.writerow(columns)
        # Numbers with a tag holding `;`, which a cell cannot keep apart from the separator.
        self.split_tags: list[str] = []

    def write(self, record: Record) -> None:
        tags = record["tags"]
        if tags and any(";" in tag for tag in tags):
            self.split_tags.append(record["phone_number"])
        # Most values are text already: only the others go through csv_cell, so that most cells
        # skip its call (docs/performance.md).
        self._rows.writerow(
            [v if v.__class__ is str else csv_cell(v) for v in self._values(record)]
        )

    def finish(self) -> None:
        self._text.flush()
        self._text.detach()  # the caller's stream stays open


class JsonLinesWriter:
    """An object per line, with every field (null where there is no value)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out

    def write(self, record: Record) -> None:
        self._out.write(orjson.dumps({name: record[name] for name in V2_COLUMNS}) + b"\n")

    def finish(self) -> None:
        self._out.flush()
