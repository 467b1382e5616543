"""An operator's own available stock, from a .csv or .jsonl file (`numbers-api available-numbers
load`): every record checked first, then all written in one transaction, or nothing.

Only `phone_number` is required; the rest default from the number (its country and type, by
phonenumbers) and from the stock table (`pool/stock.py`). docs/ordering.md lists the fields."""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import phonenumbers

from numbers_api.domain import is_text
from numbers_api.importing.readers import (
    UnreadableRecord,
    fields,
    read_records,
)
from numbers_api.importing.records import region_and_type
from numbers_api.pool.stock import (
    AVAILABLE_NUMBER_TYPES,
    CURRENCY,
    FEATURES,
    PHONENUMBERS_TYPES,
    RATE_CENTER_COUNTRIES,
    AvailableNumber,
    stock,
)
from numbers_api.store.available_numbers import LOADED, load_pool, tidy_pool
from numbers_api.store.database import Database

FIELDS = (
    "phone_number",
    "country_code",
    "phone_number_type",
    "national_destination_code",
    "locality",
    "administrative_area",
    "rate_center",
    "features",
    "currency",
    "monthly_cost",
    "upfront_cost",
    "quickship",
    "reservable",
    "vanity_format",
)
TEXT_FIELDS = ("locality", "administrative_area", "rate_center", "vanity_format")
_COST = re.compile(r"[0-9]{1,9}(\.[0-9]{1,5})?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_DIGITS = re.compile(r"[0-9]{1,8}")
_TYPE_OF = {kind: name for name, kinds in PHONENUMBERS_TYPES.items() for kind in kinds}
PROGRESS_EVERY = 10_000

# (line, field, reason) for each problem, as soon as it is found.
ProblemSink = Callable[[int, str, str], None]


@dataclass(slots=True)
class LoadReport:
    loaded: dict[str, int] = field(default_factory=dict)  # numbers loaded, by country
    problems: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problems == 0


class _Rejected(Exception):
    pass


def load_file(
    database: Database,
    path: Path,
    on_problem: ProblemSink,
    *,
    replace: bool = False,
    progress_to: IO[str] | None = None,
) -> LoadReport:
    """The file's numbers into the pool, all or none. Each country in the file has its pool
    made of what is loaded: its generated numbers go; with `replace`, every number loaded
    before goes too."""
    started = time.perf_counter()
    report = LoadReport()

    def problem(line: int, field_name: str, reason: str) -> None:
        report.problems += 1
        on_problem(line, field_name, reason)

    numbers: list[AvailableNumber] = []
    lines: dict[str, int] = {}
    with path.open("rb") as stream:
        for count, (line, record) in enumerate(_records(path, stream), start=1):
            if isinstance(record, str):
                problem(line, "record", record)
            else:
                checked = check_record(record)
                if isinstance(checked, list):
                    for name, reason in checked:
                        problem(line, name, reason)
                elif checked.phone_number in lines:
                    first = lines[checked.phone_number]
                    problem(line, "phone_number", f"repeats line {first}'s number")
                else:
                    lines[checked.phone_number] = line
                    numbers.append(checked)
            if progress_to is not None and count % PROGRESS_EVERY == 0:
                progress_to.write(f"\r{count:,} records checked")
                progress_to.flush()
    if report.ok:
        try:
            with database.bulk_load(), database.transaction() as connection:
                loaded = load_pool(connection, numbers, replace=replace, now_ms=_now_ms())
                for number in loaded.conflicts:
                    problem(
                        lines[number],
                        "phone_number",
                        "already in the pool, loaded before (--replace loads the file instead "
                        "of what was loaded)",
                    )
                if not report.ok:
                    raise _Rejected  # rolls the whole transaction back
                report.loaded = loaded.countries
            tidy_pool(database)
        except _Rejected:
            pass
    report.seconds = time.perf_counter() - started
    return report


def check_record(record: Mapping[str, Any]) -> AvailableNumber | list[tuple[str, str]]:
    """The pool number a record stands for, or its every problem as (field, reason)."""
    problems = [(name, "unknown field") for name in record if name not in FIELDS]
    parsed, region, kind = _phone_number(record.get("phone_number"), problems)
    country = _country(record, parsed, region, problems)
    number_type = _number_type(record, parsed, kind, problems)
    texts = {name: _given_text(record, name, problems) or "" for name in TEXT_FIELDS}
    ndc = _given_text(record, "national_destination_code", problems)
    if ndc is not None and not _DIGITS.fullmatch(ndc):
        problems.append(("national_destination_code", f"must be 1 to 8 digits; got {ndc!r}"))
    features = _features(record.get("features"), problems)
    costs = {}
    for name in ("monthly_cost", "upfront_cost"):
        cost = _given_text(record, name, problems)
        if cost is not None and not _COST.fullmatch(cost):
            problems.append((name, f"must be an amount such as 1.00; got {cost!r}"))
        costs[name] = cost
    currency = _given_text(record, "currency", problems) or CURRENCY
    if not _CURRENCY.fullmatch(currency):
        problems.append(("currency", f"must be an ISO 4217 code such as USD; got {currency!r}"))
    flags = {name: _flag(record, name, problems) for name in ("quickship", "reservable")}
    if problems or parsed is None or country is None or number_type is None:
        return problems or [("phone_number", "not a valid number")]
    offer = stock(country, number_type)
    if ndc is None:
        ndc_length = phonenumbers.length_of_national_destination_code(parsed)
        ndc = phonenumbers.national_significant_number(parsed)[:ndc_length]
    rate_center = texts["rate_center"]
    if not rate_center and country in RATE_CENTER_COUNTRIES:
        rate_center = texts["locality"].upper()
    return AvailableNumber(
        phone_number=str(record["phone_number"]),
        country_code=country,
        phone_number_type=number_type,
        national_destination_code=ndc,
        locality=texts["locality"],
        administrative_area=texts["administrative_area"],
        rate_center=rate_center,
        features=offer.features if features is None else features,
        currency=currency,
        monthly_cost=costs["monthly_cost"] or offer.monthly_cost,
        upfront_cost=costs["upfront_cost"] or offer.upfront_cost,
        quickship=True if flags["quickship"] is None else flags["quickship"],
        reservable=offer.reservable if flags["reservable"] is None else flags["reservable"],
        vanity_format=texts["vanity_format"],
        source=LOADED,
    )


def _phone_number(
    number: Any, problems: list[tuple[str, str]]
) -> tuple[phonenumbers.PhoneNumber | None, str | None, int]:
    """The number parsed, its region and its phonenumbers type; None if it is not valid."""
    if number is None:
        problems.append(("phone_number", "missing; it is the one required field"))
        return None, None, 0
    if not isinstance(number, str) or not number.startswith("+"):
        problems.append(("phone_number", f"must be +E.164, e.g. +19705555098; got {number!r}"))
        return None, None, 0
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        parsed = None
    region, kind = (None, 0) if parsed is None else region_and_type(parsed)
    if (
        parsed is None
        or region is None
        or phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != number
    ):
        problems.append(("phone_number", f"not a valid +E.164 number: {number!r}"))
        return None, None, 0
    return parsed, region, kind


def _country(
    record: Mapping[str, Any],
    parsed: phonenumbers.PhoneNumber | None,
    region: str | None,
    problems: list[tuple[str, str]],
) -> str | None:
    """The given country, if the number is one of its; else the number's own."""
    country: str | None = _given_text(record, "country_code", problems)
    if country is not None and not _COUNTRY.fullmatch(country):
        problems.append(("country_code", f"must be two capital letters; got {country!r}"))
        return None
    if parsed is None:
        return country
    if country is None:
        if region is None or not _COUNTRY.fullmatch(region):  # "001": non-geographic
            problems.append(("country_code", "cannot be derived from the number; give it"))
        return region
    if country != region and not phonenumbers.is_valid_number_for_region(parsed, country):
        problems.append(("country_code", f"the number is one of {region}, not of {country}"))
    return country


def _number_type(
    record: Mapping[str, Any],
    parsed: phonenumbers.PhoneNumber | None,
    kind: int,
    problems: list[tuple[str, str]],
) -> str | None:
    number_type: str | None = _given_text(record, "phone_number_type", problems)
    if number_type is not None and number_type not in AVAILABLE_NUMBER_TYPES:
        allowed = ", ".join(AVAILABLE_NUMBER_TYPES)
        problems.append(("phone_number_type", f"must be one of {allowed}; got {number_type!r}"))
        return None
    if number_type is None and parsed is not None:
        number_type = _TYPE_OF.get(kind)
        if number_type is None:
            problems.append(("phone_number_type", "cannot be derived from the number; give it"))
    return number_type


def _given_text(record: Mapping[str, Any], name: str, problems: list[tuple[str, str]]) -> Any:
    value = record.get(name)
    if value is None or value == "":
        return None
    if not is_text(value):
        problems.append((name, f"must be text without control characters; got {value!r}"))
        return None
    return value


def _features(value: Any, problems: list[tuple[str, str]]) -> tuple[str, ...] | None:
    """A JSON array of features, or (a CSV cell) features joined by ';'; None: the table's."""
    if value is None or value == "":
        return None
    given = value.split(";") if isinstance(value, str) else value
    if not isinstance(given, list) or not all(f in FEATURES for f in given):
        problems.append(
            ("features", f"must be some of {', '.join(FEATURES)} (';' between); got {value!r}")
        )
        return None
    return tuple(dict.fromkeys(given))


def _flag(record: Mapping[str, Any], name: str, problems: list[tuple[str, str]]) -> bool | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    flag = {"true": True, "false": False, True: True, False: False}.get(value)
    if flag is None:
        problems.append((name, f"must be true or false; got {value!r}"))
    return flag


# A record's fields, or (a string) why its line is not a record.
Record = dict[str, Any] | str


def _records(path: Path, stream: IO[bytes]) -> Iterator[tuple[int, Record]]:
    """Numbered records of a .csv file (its own columns), or of a .jsonl file as an import reads
    it; UnsupportedFile for any other."""
    if path.suffix.lower() == ".csv":
        yield from _csv_rows(stream)
        return
    for line, record in read_records(path, stream):
        found = fields(record)
        yield line, str(found) if isinstance(found, UnreadableRecord) else found


def _csv_rows(stream: IO[bytes]) -> Iterator[tuple[int, Record]]:
    text = (line.decode("utf-8", errors="replace") for line in stream)
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        return
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    unknown = [name for name in header if name not in FIELDS]
    if unknown:
        yield 1, f"unknown columns: {', '.join(unknown)}; known: {', '.join(FIELDS)}"
        return
    first_line = reader.line_num + 1
    for row in reader:
        line, first_line = first_line, reader.line_num + 1
        if not any(row):
            continue
        if len(row) != len(header):
            yield line, f"has {len(row)} cells where the header has {len(header)}"
            continue
        yield line, dict(zip(header, row, strict=True))


def _now_ms() -> int:
    return int(time.time() * 1000)
