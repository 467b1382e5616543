"""One import record checked field by field and turned into a row ready for the store.

Records carry the fields of `PhoneNumberDetailed` plus `usage_payment_method`. Only
`phone_number` is required; given values are kept as given, the rest get the documented defaults.
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, _number_type_helper
from phonenumbers.re_util import re_compile

from numbers_api.domain import (
    BOOLEAN_FIELDS,
    EMERGENCY_STATUSES,
    INBOUND_CALL_SCREENING,
    MAX_TAGS,
    PHONE_NUMBER_TYPES,
    SOURCE_TYPES,
    STATUSES,
    TEXT_RULE,
    TIMESTAMP_FIELDS,
    USAGE_PAYMENT_METHODS,
    is_text,
)
from numbers_api.store.importer import ROW_FIELDS, Row

MAX_ID = 2**63 - 1
_ID = re.compile(r"[1-9][0-9]{0,18}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# How libphonenumber's types map onto Telnyx's phone_number_type.
NUMBER_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.UAN: "national",
    PhoneNumberType.PERSONAL_NUMBER: "national",
    PhoneNumberType.VOIP: "national",
    PhoneNumberType.PREMIUM_RATE: "national",
}
DEFAULT_BOOLEANS = {name: name == "call_forwarding_enabled" for name in BOOLEAN_FIELDS}
OPTIONAL_TEXT_FIELDS = (
    "external_pin",
    "connection_id",
    "connection_name",
    "customer_reference",
    "messaging_profile_id",
    "messaging_profile_name",
    "billing_group_id",
    "emergency_address_id",
)
ENUM_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "status": (STATUSES, "active"),
    "emergency_status": (EMERGENCY_STATUSES, "disabled"),
    "inbound_call_screening": (INBOUND_CALL_SCREENING, "disabled"),
    "usage_payment_method": (USAGE_PAYMENT_METHODS, "pay-per-minute"),
    "phone_number_type": (PHONE_NUMBER_TYPES, ""),  # default: derived from the number
}
# Each allowed value, to look one up by (only strings: a list or object in a file is unhashable) and
# keep the one string for all records: a batch of rows is pickled with each value written once.
_ENUM_VALUES = {
    name: {value: value for value in allowed} for name, (allowed, _) in ENUM_FIELDS.items()
}
KNOWN_FIELDS = frozenset(
    {"id", "record_type", "phone_number", "country_iso_alpha2", "tags", "source_type"}
    | set(BOOLEAN_FIELDS)
    | set(TIMESTAMP_FIELDS)
    | set(OPTIONAL_TEXT_FIELDS)
    | set(ENUM_FIELDS)
)


_NAMED = [(kind, f"{kind}_name", f"{kind}_id") for kind in ("connection", "messaging_profile")]
_row = operator.itemgetter(*ROW_FIELDS)  # a record's values, in the order of `Row`


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    reason: str


class IdGenerator:
    """Time-ordered 63-bit ids, shaped like Telnyx's: milliseconds since 2010 above a counter.

    Each id is above `after` (the largest id already stored), so that two imports within the same
    millisecond cannot collide.
    """

    EPOCH_MS = 1262304000000
    # Generated ids stay below 2**62 (until 2044); ids given in files may lie anywhere above.
    CEILING = 2**62

    def __init__(self, after: int = 0) -> None:
        self._last = after

    def __call__(self) -> int:
        candidate = (int(time.time() * 1000) - self.EPOCH_MS) << 22
        self._last = max(self._last + 1, candidate)
        return self._last


def parse_timestamp(value: str) -> int:
    """ISO 8601 to milliseconds since the epoch; a time without an offset is taken as UTC."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.utcoffset():
        moment = moment.astimezone(UTC)  # OverflowError outside the years 1 to 9999 in UTC
    since = moment - _EPOCH  # whole milliseconds, rounded down, without dividing timedeltas
    return since.days * 86_400_000 + since.seconds * 1000 + since.microseconds // 1000


def region_and_type(parsed: phonenumbers.PhoneNumber) -> tuple[str | None, int]:
    """`phonenumbers.region_code_for_number` and `number_type` in one pass; the type is UNKNOWN
    for a number that is not valid. Where a calling code is shared by several regions (+1, +44,
    +7...), finding the region already works out the number's type in each region tried, and
    asking `number_type` (or `is_valid_number`) afterwards would work it out a second time (what
    that cost: docs/performance.md). The same steps as phonenumbers' own, in the pinned version
    (private but stable)."""
    code = parsed.country_code
    regions = None if code is None else COUNTRY_CODE_TO_REGION_CODE.get(code)
    if code is None or not regions:
        return None, PhoneNumberType.UNKNOWN
    national = phonenumbers.national_significant_number(parsed)
    if len(regions) == 1:
        region = regions[0]
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
        if metadata is None:
            return region, PhoneNumberType.UNKNOWN
        return region, _number_type_helper(national, metadata)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is None:
            kind = _number_type_helper(national, metadata)
            if kind != PhoneNumberType.UNKNOWN:
                return region, kind
        elif re_compile(metadata.leading_digits).match(national):
            return region, _number_type_helper(national, metadata)
    return None, PhoneNumberType.UNKNOWN


class RecordChecker:
    """Checks records and fills in defaults; `now_ms` stamps every record of one import alike."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def check(self, record: Mapping[str, Any]) -> Row | list[FieldError]:
        """The row to store, or every problem with the record."""
        errors: list[FieldError] = []
        values: dict[str, Any] = {}
        if not KNOWN_FIELDS.issuperset(record):
            errors += [
                FieldError(name, "unknown field") for name in record if name not in KNOWN_FIELDS
            ]
        self._phone_number(record, values, errors)
        self._identity(record, values, errors)
        for name in OPTIONAL_TEXT_FIELDS:
            value = record.get(name)
            if value is not None and not (is_text(value) and value):
                errors.append(
                    FieldError(
                        name,
                        f"must be a non-empty string {TEXT_RULE}, or null, got {value!r}",
                    )
                )
                value = None
            values[name] = value
        _settings(record, values, errors)
        values["tags"] = _tags(record, errors)
        for name in TIMESTAMP_FIELDS:
            values[name] = _timestamp(record, name, self.now_ms, errors)
        for kind, name_field, id_field in _NAMED:
            if values[name_field] is not None and values[id_field] is None:
                errors.append(FieldError(name_field, f"needs {kind}_id: names belong to it"))
        if errors:
            return errors
        name = values["connection_name"]
        values["connection_name_folded"] = None if name is None else name.casefold()
        row: Row = _row(values)
        return row

    def _phone_number(
        self, record: Mapping[str, Any], values: dict[str, Any], errors: list[FieldError]
    ) -> None:
        number = record.get("phone_number")
        parsed = None
        region: str | None = None
        kind = PhoneNumberType.UNKNOWN
        if number is None:
            errors.append(FieldError("phone_number", "missing; it is the one required field"))
        elif not isinstance(number, str) or not number.startswith("+"):
            errors.append(
                FieldError("phone_number", f"must be +E.164, e.g. +19705555098; got {number!r}")
            )
        else:
            try:
                parsed = phonenumbers.parse(number, None)
            except phonenumbers.NumberParseException:
                parsed = None
            if parsed is not None:
                region, kind = region_and_type(parsed)
            if (
                parsed is None
                or phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != number
                or kind == PhoneNumberType.UNKNOWN
            ):
                errors.append(FieldError("phone_number", f"not a valid +E.164 number: {number!r}"))
                parsed = None
        values["phone_number"] = number
        country = record.get("country_iso_alpha2")
        if country is None and parsed is not None:
            country = region
            if not _COUNTRY.fullmatch(country or ""):  # "001": a non-geographic number
                errors.append(
                    FieldError(
                        "country_iso_alpha2",
                        f"cannot be derived from the non-geographic number {number}; give it",
                    )
                )
                country = None
        if country is not None and not (isinstance(country, str) and _COUNTRY.fullmatch(country)):
            errors.append(
                FieldError(
                    "country_iso_alpha2",
                    f"must be two upper-case letters (ISO 3166-1), got {country!r}",
                )
            )
        values["country_iso_alpha2"] = country
        if "phone_number_type" not in record and parsed is not None:
            values["phone_number_type"] = NUMBER_TYPES.get(kind, "local")

    def _identity(
        self, record: Mapping[str, Any], values: dict[str, Any], errors: list[FieldError]
    ) -> None:
        given = record.get("id")
        if given is None:
            values["id"] = None  # given a new id by the import, in file order
        elif isinstance(given, str) and _ID.fullmatch(given) and int(given) <= MAX_ID:
            values["id"] = int(given)
        else:
            errors.append(
                FieldError(
                    "id",
                    f"must be a string of digits for an integer from 1 to {MAX_ID}, got {given!r}",
                )
            )
        record_type = record.get("record_type", "phone_number")
        if record_type != "phone_number":
            errors.append(FieldError("record_type", f"must be phone_number, got {record_type!r}"))


def _settings(record: Mapping[str, Any], values: dict[str, Any], errors: list[FieldError]) -> None:
    """The flags and the fields that take one of a fixed set of values."""
    for name, default_flag in DEFAULT_BOOLEANS.items():
        flag = record.get(name, default_flag)
        if flag is not True and flag is not False:
            errors.append(FieldError(name, f"must be true or false, got {flag!r}"))
        values[name] = flag
    for name, (allowed, default) in ENUM_FIELDS.items():
        value = record.get(name, default or values.get(name))
        if name not in record and value is None:
            continue  # a type left to be derived from a number already reported as bad
        known = _ENUM_VALUES[name].get(value) if isinstance(value, str) else None
        if known is None:
            errors.append(FieldError(name, f"must be one of: {', '.join(allowed)}; got {value!r}"))
        values[name] = known
    source = record.get("source_type")
    if source is not None and source not in SOURCE_TYPES:
        errors.append(
            FieldError(
                "source_type",
                f"must be null or one of: {', '.join(SOURCE_TYPES)}; got {source!r}",
            )
        )
    values["source_type"] = source


def _tags(record: Mapping[str, Any], errors: list[FieldError]) -> str:
    """The tags as a JSON array, in the order given."""
    tags = record.get("tags", [])
    if tags == []:  # most records: nothing to check or encode
        return "[]"
    if not isinstance(tags, list) or not all(is_text(t) and t for t in tags):
        errors.append(
            FieldError("tags", f"must be a list of non-empty strings {TEXT_RULE}, got {tags!r}")
        )
        return "[]"
    different = list(dict.fromkeys(tags))  # a repeated tag is kept once
    if len(different) > MAX_TAGS:
        errors.append(
            FieldError("tags", f"must hold at most {MAX_TAGS} different tags, got {len(different)}")
        )
        return "[]"
    return orjson.dumps(different).decode()


def _timestamp(record: Mapping[str, Any], name: str, now_ms: int, errors: list[FieldError]) -> int:
    value = record.get(name)
    if value is None:
        if name in record:
            errors.append(FieldError(name, "must be an ISO 8601 timestamp, not null"))
        return now_ms
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except (ValueError, OverflowError):
            pass
    errors.append(
        FieldError(
            name, f"must be an ISO 8601 timestamp such as 2019-10-23T18:10:00.000Z, got {value!r}"
        )
    )
    return now_ms
