"""Value types: how one raw query value is checked and converted, and how it is described."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from numbers_api.domain import MAX_TEXT_LENGTH

T_co = TypeVar("T_co", covariant=True)
JsonSchema = dict[str, Any]


class InvalidValue(ValueError):
    """The value is not acceptable; the message says what is allowed."""


SHOWN_CHARACTERS = 100


def shown(raw: str) -> str:
    """The value as an error message quotes it: a long one cut short, so that an error never
    echoes kilobytes back."""
    if len(raw) <= SHOWN_CHARACTERS:
        return repr(raw)
    return f"{raw[:SHOWN_CHARACTERS]!r}... ({len(raw):,} characters)"


class ValueType(Protocol[T_co]):
    def parse(self, raw: str) -> T_co: ...

    def schema(self) -> JsonSchema: ...


@dataclass(frozen=True, slots=True)
class Text:
    min_length: int = 1
    # No stored text is longer (`domain.MAX_TEXT_LENGTH`), so no longer value can match; the
    # limit also bounds what a query holds in the caches' keys.
    max_length: int = MAX_TEXT_LENGTH

    def parse(self, raw: str) -> str:
        if len(raw) > self.max_length:
            raise InvalidValue(
                f"must be at most {self.max_length} characters long; got {len(raw):,}"
            )
        if len(raw) < self.min_length:
            if not raw:
                raise InvalidValue("must not be empty")
            raise InvalidValue(
                f"must be at least {self.min_length} characters long, got {shown(raw)}"
            )
        if "\x00" in raw:  # no stored text holds one (PostgreSQL's cannot), so no filter asks
            raise InvalidValue(f"must not contain NUL characters, got {shown(raw)}")
        return raw

    def schema(self) -> JsonSchema:
        return {
            "type": "string",
            "minLength": self.min_length,
            "maxLength": self.max_length,
            "pattern": "^[^\\x00]*$",
        }


@dataclass(frozen=True, slots=True)
class Choice:
    values: tuple[str, ...]

    def parse(self, raw: str) -> str:
        if raw not in self.values:
            allowed = ", ".join(self.values)
            if not raw:
                raise InvalidValue(f"must not be empty; allowed values: {allowed}")
            raise InvalidValue(f"must be one of: {allowed}; got {shown(raw)}")
        return raw

    def schema(self) -> JsonSchema:
        return {"type": "string", "enum": list(self.values)}


@dataclass(frozen=True, slots=True)
class Integer:
    minimum: int
    maximum: int

    def parse(self, raw: str) -> int:
        # Digits past the maximum's are out of range before Python would refuse to convert
        # them (more than 4,300 digits).
        digits = raw.lstrip("0") or "0"
        if (
            not re.fullmatch(r"[0-9]+", raw)
            or len(digits) > len(str(self.maximum))
            or not self.minimum <= int(digits) <= self.maximum
        ):
            raise InvalidValue(
                f"must be an integer from {self.minimum} to {self.maximum}; got {shown(raw)}"
            )
        return int(digits)

    def schema(self) -> JsonSchema:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


_COUNTRY_CODE = re.compile(r"[A-Za-z]{2}")


@dataclass(frozen=True, slots=True)
class CountryCodes:
    """One ISO 3166-1 alpha-2 code, or several joined by commas (the official SDK's list)."""

    def parse(self, raw: str) -> tuple[str, ...]:
        codes = raw.split(",")
        for code in codes:
            if not _COUNTRY_CODE.fullmatch(code):
                raise InvalidValue(
                    "must be two-letter ISO 3166-1 alpha-2 country codes, one or several "
                    f"joined by commas (e.g. US or US,CA); got {shown(raw)}"
                )
        return tuple(code.upper() for code in codes)

    def schema(self) -> JsonSchema:
        return {"type": "string", "pattern": "^[A-Za-z]{2}(,[A-Za-z]{2})*$"}


@dataclass(frozen=True, slots=True)
class PhoneNumberDigits:
    """A search for digits within numbers.

    A leading `+` (or the space an unencoded `+` turns into) is dropped. A value with any other
    non-digit can match no number, so it parses to None; fewer than three digits is an error.
    """

    minimum_digits: int = 3

    def parse(self, raw: str) -> str | None:
        rest = raw[1:] if raw[:1] in ("+", " ") else raw
        if rest and not (rest.isascii() and rest.isdigit()):
            return None
        if len(rest) < self.minimum_digits:
            raise InvalidValue(
                f"needs at least {self.minimum_digits} digits (a leading + is allowed); "
                f"got {shown(raw)}"
            )
        return rest

    def schema(self) -> JsonSchema:
        digits = f"[0-9]{{{self.minimum_digits},}}"
        return {"type": "string", "pattern": rf"^[+ ]?({digits}|[\s\S]*[^0-9][\s\S]*)$"}


_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"


@dataclass(frozen=True, slots=True)
class Uuid:
    """A UUID in its textual form, compared as given."""

    def parse(self, raw: str) -> str:
        if not re.fullmatch(_UUID, raw):
            raise InvalidValue(
                f"must be a UUID (e.g. 3fa85f64-5717-4562-b3fc-2c963f66afa6); got {shown(raw)}"
            )
        return raw

    def schema(self) -> JsonSchema:
        return {"type": "string", "format": "uuid", "pattern": f"^{_UUID}$"}


# E.164: up to 15 digits, after a + (or the space an unencoded + turns into) that may be left out.
_E164 = r"[+ ]?[1-9][0-9]{0,14}"


@dataclass(frozen=True, slots=True)
class PhoneNumbers:
    """One +E.164 number, or several joined by commas; each is given back with its `+`."""

    def parse(self, raw: str) -> tuple[str, ...]:
        numbers = raw.split(",")
        if not all(re.fullmatch(_E164, number) for number in numbers):
            raise InvalidValue(
                "must be +E.164 phone numbers, one or several joined by commas "
                f"(e.g. +18005550001,+18005550002); got {shown(raw)}"
            )
        return tuple("+" + number.lstrip("+ ") for number in numbers)

    def schema(self) -> JsonSchema:
        return {"type": "string", "pattern": f"^{_E164}(,{_E164})*$"}


# RFC 3339's date-time (what JSON Schema's `date-time` format names): a date, `T`, a time with
# seconds (60 for a leap second) and an optional fraction, and `Z` or an offset.
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


def _days_before(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the date, in the proleptic Gregorian calendar (any year)."""
    year -= month <= 2
    era, year_of_era = divmod(year, 400)
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _month_days(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


@dataclass(frozen=True, slots=True)
class Timestamp:
    """An RFC 3339 date-time (`2024-06-01T12:00:00Z`, `2024-06-01T14:00:00.5+02:00`), as
    microseconds since the Unix epoch."""

    def parse(self, raw: str) -> int:
        match = _DATE_TIME.fullmatch(raw)
        if match is None:
            raise self._invalid(raw)
        year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
        sign, offset_hours, offset_minutes = match.group(8), match.group(9), match.group(10)
        offset = 0 if sign is None else int(offset_hours) * 60 + int(offset_minutes)
        if (
            not 1 <= month <= 12
            or not 1 <= day <= _month_days(year, month)
            or hour > 23
            or minute > 59
            or second > 60  # a leap second
            or (sign is not None and (int(offset_hours) > 23 or int(offset_minutes) > 59))
        ):
            raise self._invalid(raw)
        minutes = _days_before(year, month, day) * 1440 + hour * 60 + minute
        minutes -= -offset if sign == "-" else offset
        fraction = (match.group(7) or ".")[1:7].ljust(6, "0")  # to the microsecond
        return (minutes * 60 + second) * 1_000_000 + int(fraction)

    @staticmethod
    def _invalid(raw: str) -> InvalidValue:
        return InvalidValue(
            "must be an RFC 3339 date-time, such as 2024-06-01T12:00:00Z or "
            f"2024-06-01T14:00:00.250+02:00; got {shown(raw)}"
        )

    def schema(self) -> JsonSchema:
        return {"type": "string", "format": "date-time"}


@dataclass(frozen=True, slots=True)
class CountryCode:
    """One ISO 3166-1 alpha-2 code, case-insensitive; given back in capitals."""

    def parse(self, raw: str) -> str:
        if not _COUNTRY_CODE.fullmatch(raw):
            raise InvalidValue(
                f"must be a two-letter ISO 3166-1 alpha-2 country code (e.g. US); got {shown(raw)}"
            )
        return raw.upper()

    def schema(self) -> JsonSchema:
        return {"type": "string", "pattern": "^[A-Za-z]{2}$"}


@dataclass(frozen=True, slots=True)
class Choices:
    """One or several of a fixed set of values, joined by commas (as the official SDKs send an
    array); each once, in the order given."""

    values: tuple[str, ...]

    def parse(self, raw: str) -> tuple[str, ...]:
        given = raw.split(",")
        wrong = [value for value in given if value not in self.values]
        if wrong:
            raise InvalidValue(
                f"must be one or several of: {', '.join(self.values)}, joined by commas; "
                f"got {shown(raw)}"
            )
        return tuple(dict.fromkeys(given))

    def schema(self) -> JsonSchema:
        one = f"({'|'.join(self.values)})"
        return {"type": "string", "pattern": f"^{one}(,{one})*$"}
