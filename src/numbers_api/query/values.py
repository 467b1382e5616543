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
