"""`GET /v2/available_phone_numbers`: its `filter[...]` parameters, declared once in
`AVAILABLE_NUMBER_FILTERS`, parsed into one validated search (docs/ordering.md, "The available
pool").

Most filters are conditions on a pool number; `country_code`, `limit`, `best_effort` and
`exclude_held_numbers` say how the search runs, and are taken out of the conditions here."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from numbers_api.pool.stock import AVAILABLE_NUMBER_TYPES, FEATURES
from numbers_api.query.conditions import TextMatch
from numbers_api.query.errors import InvalidQuery, ParameterError
from numbers_api.query.filters import Filter, FilterSet, Lookup, plain
from numbers_api.query.list_query import parameters_by_name
from numbers_api.query.values import (
    Choice,
    Choices,
    CountryCode,
    Integer,
    PhoneNumberDigits,
    Text,
)

DEFAULT_COUNTRY = "US"
DEFAULT_LIMIT = 50
MAX_LIMIT = 250
TRUE_OR_FALSE = Choice(("true", "false"))


class PoolField(enum.Enum):
    """A pool number's attribute that a search can compare."""

    PHONE_NUMBER_TYPE = "phone_number_type"
    NATIONAL_DESTINATION_CODE = "national_destination_code"
    LOCALITY = "locality"
    ADMINISTRATIVE_AREA = "administrative_area"
    RATE_CENTER = "rate_center"
    QUICKSHIP = "quickship"
    RESERVABLE = "reservable"


# The filters that say where a number is: best effort relaxes them (to the same state or
# province) when exact matches are too few.
WHERE_FIELDS = frozenset(
    {PoolField.NATIONAL_DESTINATION_CODE, PoolField.LOCALITY, PoolField.RATE_CENTER}
)


@dataclass(frozen=True, slots=True)
class Equals:
    """The field equals the value; `folded`: ASCII letters compared case-insensitively."""

    field: PoolField
    value: str
    folded: bool = False


@dataclass(frozen=True, slots=True)
class DigitsMatch:
    """The national number's digits, past its first `skip` (the destination code, when
    `filter[national_destination_code]` is given), start with, contain or end with `digits`;
    None: a pattern with a non-digit, which matches nothing."""

    match: TextMatch
    digits: str | None
    skip: int = 0


@dataclass(frozen=True, slots=True)
class HasFeatures:
    """Every one of the features is among the number's."""

    features: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IsTrue:
    field: PoolField


PoolCondition = Equals | DigitsMatch | HasFeatures | IsTrue


@dataclass(frozen=True, slots=True)
class Setting:
    """Not a condition on a number: how the search runs (`country`, `limit`, `best_effort`,
    `exclude_held`, as `AvailableSearch` names them)."""

    name: str
    value: Any


SearchTerm = PoolCondition | Setting


@dataclass(frozen=True, slots=True)
class AvailableSearch:
    conditions: tuple[PoolCondition, ...]
    country: str = DEFAULT_COUNTRY
    limit: int = DEFAULT_LIMIT
    best_effort: bool = False
    exclude_held: bool = False


def _digits(match: TextMatch) -> Lookup[SearchTerm]:
    return Lookup(
        PhoneNumberDigits(minimum_digits=1),
        lambda digits: DigitsMatch(match, digits),
        f"National number digits (no country code), {match.value.replace('_', ' ')} these; "
        "with filter[national_destination_code], the digits after it. A pattern with any "
        "character but digits (a leading + aside) matches no number.",
    )


def _text(field: PoolField, description: str, *, folded: bool = True) -> Filter[SearchTerm]:
    return plain(field.value, Text(), lambda v: Equals(field, v, folded), description)


def _setting(name: str) -> Callable[[Any], Setting]:
    return lambda value: Setting(name, value)


def _switch(name: str, term: SearchTerm, description: str) -> Filter[SearchTerm]:
    return plain(name, TRUE_OR_FALSE, lambda v: term if v == "true" else None, description)


AVAILABLE_NUMBER_FILTERS: FilterSet[SearchTerm] = FilterSet(
    [
        Filter(
            "phone_number",
            {
                "starts_with": _digits(TextMatch.STARTS_WITH),
                "contains": _digits(TextMatch.CONTAINS),
                "ends_with": _digits(TextMatch.ENDS_WITH),
            },
        ),
        _text(PoolField.LOCALITY, "City, exactly; ASCII letters in any case."),
        _text(
            PoolField.ADMINISTRATIVE_AREA,
            "US state or Canadian province code (e.g. CO, ON); letters in any case.",
        ),
        plain(
            "country_code",
            CountryCode(),
            _setting("country"),
            f"ISO 3166-1 alpha-2 code, in any case (default {DEFAULT_COUNTRY}).",
        ),
        _text(
            PoolField.NATIONAL_DESTINATION_CODE,
            "National destination code (US and Canada: the area code), exactly.",
            folded=False,
        ),
        _text(PoolField.RATE_CENTER, "US and Canada rate center (e.g. CHICAGO); any case."),
        plain(
            "phone_number_type",
            Choice(AVAILABLE_NUMBER_TYPES),
            lambda kind: Equals(PoolField.PHONE_NUMBER_TYPE, kind),
            "Number type (default: every type).",
        ),
        plain(
            "features",
            Choices(FEATURES),
            HasFeatures,
            "Numbers with every one of these features: joined by commas, or repeated.",
            repeatable=True,
        ),
        plain(
            "limit",
            Integer(1, MAX_LIMIT),
            _setting("limit"),
            f"The most numbers answered (default {DEFAULT_LIMIT}).",
        ),
        _switch(
            "best_effort",
            Setting("best_effort", True),
            "'true' (US, CA): when fewer numbers match than the limit, numbers of the same "
            "state or province are added, marked best_effort; 'false': exact matches only.",
        ),
        _switch(
            "quickship",
            IsTrue(PoolField.QUICKSHIP),
            "'true': only numbers usable at once after purchase (some +1 toll-free numbers "
            "are not); 'false': no restriction.",
        ),
        _switch(
            "reservable",
            IsTrue(PoolField.RESERVABLE),
            "'true': only numbers that can be reserved; 'false': no restriction.",
        ),
        _switch(
            "exclude_held_numbers",
            Setting("exclude_held", True),
            "'true': leave out numbers this account holds reserved; 'false': show them.",
        ),
    ]
)


def parse_available_search(query_string: str) -> AvailableSearch:
    """The search, or InvalidQuery listing every offending parameter. Other top-level
    parameters are ignored, as the lists ignore them."""
    errors: list[ParameterError] = []
    by_name = parameters_by_name(query_string, errors)
    terms = AVAILABLE_NUMBER_FILTERS.parse(by_name.get("filter", []), errors)
    if errors:
        raise InvalidQuery(errors)
    settings = {t.name: t.value for t in terms if isinstance(t, Setting)}
    conditions = [t for t in terms if not isinstance(t, Setting)]
    destination = next(
        (
            c.value
            for c in conditions
            if isinstance(c, Equals) and c.field is PoolField.NATIONAL_DESTINATION_CODE
        ),
        None,
    )
    if destination is not None:
        conditions = [
            replace(c, skip=len(destination)) if isinstance(c, DigitsMatch) else c
            for c in conditions
        ]
    return AvailableSearch(conditions=tuple(conditions), **settings)
