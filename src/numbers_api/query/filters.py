"""The list filters, declared once.

Each row of `PHONE_NUMBER_FILTERS` says, for one `filter[...]` parameter: its wire name, the
operators it takes in brackets (`None` stands for the plain `filter[name]=value` form), the value
type each accepts, and the condition it puts on the store. Parsing, validation, the store's SQL and
the published OpenAPI schema all follow from this table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from numbers_api.domain import (
    FILTERABLE_NUMBER_TYPES,
    FILTERABLE_STATUSES,
    JOB_TYPES,
    LEGACY_NUMBER_TYPES,
    MESSAGING_NUMBER_TYPES,
    PHONE_NUMBER_TYPES,
    USAGE_PAYMENT_METHODS,
    messaging_number_type,
)
from numbers_api.query.conditions import (
    Compares,
    Condition,
    DigitsContain,
    Field,
    HasNoTags,
    HasTag,
    IsNotNull,
    IsNull,
    MatchesNothing,
    OneOf,
    TextMatch,
    TextMatches,
)
from numbers_api.query.errors import ParameterError
from numbers_api.query.querystring import QueryParameter
from numbers_api.query.values import (
    Choice,
    CountryCodes,
    InvalidValue,
    JsonSchema,
    PhoneNumberDigits,
    PhoneNumbers,
    Text,
    Timestamp,
    Uuid,
    ValueType,
)

PLAIN = None  # the operator slot of a filter given as `filter[name]=value`
# What a table's filters make of their values: the lists' `Condition`s; a search of available
# numbers its own terms (`query/available_query.py`).
C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Lookup(Generic[C]):
    value: ValueType[Any]
    condition: Callable[[Any], C | None]  # None: the value asks for no restriction
    description: str


@dataclass(frozen=True, slots=True)
class Filter(Generic[C]):
    name: str
    lookups: Mapping[str | None, Lookup[C]]
    repeatable: bool = False  # several values (repeated keys or `[]`) are OR-ed together

    def schema(self) -> JsonSchema:
        if PLAIN in self.lookups:
            lookup = self.lookups[PLAIN]
            return {**lookup.value.schema(), "description": lookup.description}
        return {
            "type": "object",
            "properties": {
                op: {**lookup.value.schema(), "description": lookup.description}
                for op, lookup in self.lookups.items()
                if op is not None
            },
            "additionalProperties": False,
            "minProperties": 1,  # `filter[name]` with no operator is a 400
        }


def plain(
    name: str,
    value: ValueType[Any],
    condition: Callable[[Any], C | None],
    description: str,
    *,
    repeatable: bool = False,
) -> Filter[C]:
    return Filter(name, {PLAIN: Lookup(value, condition, description)}, repeatable)


def equals(field: Field) -> Callable[[str], Condition]:
    return lambda value: OneOf(field, (value,))


def equals_or_none(field: Field) -> Callable[[str], Condition]:
    """Exact match, where the string `null` asks for numbers that have no value."""
    return lambda value: IsNull(field) if value == "null" else OneOf(field, (value,))


def created_between(records: str) -> Filter[Condition]:
    """`created_at[gt]` and `[lt]`: `records` created after / before an RFC 3339 date-time.
    Times are kept to the millisecond, so the bounds are rounded outwards to it."""
    return Filter(
        "created_at",
        {
            "gt": Lookup(
                Timestamp(),
                lambda microseconds: Compares(Field.CREATED_AT, ">", microseconds // 1000),
                f"{records} created after this RFC 3339 date-time.",
            ),
            "lt": Lookup(
                Timestamp(),
                lambda microseconds: Compares(Field.CREATED_AT, "<", -(-microseconds // 1000)),
                f"{records} created before this RFC 3339 date-time.",
            ),
        },
    )


def connection_name(match: TextMatch, min_length: int) -> Lookup[Condition]:

    return Lookup(
        Text(min_length),
        lambda text: TextMatches(Field.CONNECTION_NAME, match, text),
        f"Connection name, case-insensitive: {match.value}"
        + (f" (at least {min_length} characters)" if min_length > 1 else ""),
    )


def number_type(value: str) -> Condition:
    return OneOf(Field.PHONE_NUMBER_TYPE, (value, *LEGACY_NUMBER_TYPES.get(value, ())))


def digits(value: str | None) -> Condition:
    return MatchesNothing() if value is None else DigitsContain(value)


SOURCES = {"ported": "port_request", "purchased": "number_order"}
# The main list's `filter[phone_number]` and the messaging list's `filter[phone_number][contains]`.
PHONE_NUMBER_DIGITS: Lookup[Condition] = Lookup(
    PhoneNumberDigits(),
    digits,
    "Numbers whose E.164 digits contain these digits (at least three; a leading + is "
    "ignored; any other non-digit matches nothing).",
)


class FilterSet(Generic[C]):
    """A table of filters and the parser that turns `filter[...]` parameters into conditions."""

    def __init__(self, filters: Iterable[Filter[C]]) -> None:
        self.filters = {f.name: f for f in filters}

    def schema(self) -> JsonSchema:
        return {
            "type": "object",
            "properties": {name: f.schema() for name, f in self.filters.items()},
            "additionalProperties": False,
        }

    def parse(self, parameters: Iterable[QueryParameter], errors: list[ParameterError]) -> list[C]:
        """Conditions for every well-formed filter; each mistake is appended to `errors`."""
        conditions: list[C] = []
        seen: dict[tuple[str, str | None], list[Any]] = {}
        for parameter in parameters:
            problem = self._parse_one(parameter, seen)
            if problem is not None:
                errors.append(ParameterError(parameter.key, problem))
        for (name, operator), values in seen.items():
            lookup = self.filters[name].lookups[operator]
            condition = lookup.condition(_merge(values))
            if condition is not None:
                conditions.append(condition)
        return conditions

    def _parse_one(
        self, parameter: QueryParameter, seen: dict[tuple[str, str | None], list[Any]]
    ) -> str | None:
        if not parameter.path:
            return "filters are given as filter[NAME]=VALUE, e.g. filter[status]=active"
        name, *rest = parameter.path
        spec = self.filters.get(name)
        if spec is None:
            return f"unknown filter {name!r}; known filters: {', '.join(self.filters)}"
        operator: str | None = PLAIN
        if rest and rest[0] != "" and (PLAIN not in spec.lookups or rest[0] in spec.lookups):
            operator, *rest = rest
        if rest == [""] and spec.repeatable:
            rest = []
        if rest:
            return f"unexpected {''.join(f'[{s}]' for s in rest)} after filter[{name}]"
        if operator not in spec.lookups:
            operators = ", ".join(f"filter[{name}][{op}]" for op in spec.lookups if op)
            if operator is PLAIN:
                return f"needs an operator: {operators}"
            return f"unknown operator {operator!r}; allowed: {operators}"
        try:
            value = spec.lookups[operator].value.parse(parameter.value)
        except InvalidValue as invalid:
            return str(invalid)
        values = seen.setdefault((name, operator), [])
        if values and not spec.repeatable:
            return "given more than once; it takes a single value"
        values.append(value)
        return None


def _merge(values: list[Any]) -> Any:
    """One value as parsed, or the union of a repeatable filter's tuples, in order."""
    if len(values) == 1:
        return values[0]
    merged: list[Any] = []
    for value in values:
        merged.extend(v for v in value if v not in merged)
    return tuple(merged)


PHONE_NUMBER_FILTERS: FilterSet[Condition] = FilterSet(
    [
        plain("tag", Text(), HasTag, "Numbers whose tags include this value exactly."),
        plain(
            "without_tags",
            Choice(("true", "false")),
            lambda v: HasNoTags() if v == "true" else None,
            "'true': numbers with no tags; 'false': no restriction.",
        ),
        Filter("phone_number", {PLAIN: PHONE_NUMBER_DIGITS}),
        plain("status", Choice(FILTERABLE_STATUSES), equals(Field.STATUS), "Exact status."),
        plain(
            "country_iso_alpha2",
            CountryCodes(),
            lambda codes: OneOf(Field.COUNTRY, codes),
            "ISO 3166-1 alpha-2 codes, case-insensitive; several joined by commas or repeated.",
            repeatable=True,
        ),
        plain("connection_id", Text(), equals(Field.CONNECTION_ID), "Exact connection id."),
        Filter(
            "voice.connection_name",
            {
                "contains": connection_name(TextMatch.CONTAINS, 3),
                "starts_with": connection_name(TextMatch.STARTS_WITH, 3),
                "ends_with": connection_name(TextMatch.ENDS_WITH, 3),
                "eq": connection_name(TextMatch.EQUALS, 1),
            },
        ),
        plain(
            "voice.usage_payment_method",
            Choice(USAGE_PAYMENT_METHODS),
            equals(Field.USAGE_PAYMENT_METHOD),
            "Exact usage payment method.",
        ),
        plain(
            "billing_group_id",
            Text(),
            equals_or_none(Field.BILLING_GROUP_ID),
            "Exact billing group id; 'null' for numbers without one.",
        ),
        plain(
            "emergency_address_id",
            Text(),
            equals_or_none(Field.EMERGENCY_ADDRESS_ID),
            "Exact emergency address id; 'null' for numbers without one.",
        ),
        plain(
            "customer_reference",
            Text(),
            equals(Field.CUSTOMER_REFERENCE),
            "Exact customer reference, case-sensitive.",
        ),
        Filter(
            "number_type",
            {
                "eq": Lookup(
                    Choice(FILTERABLE_NUMBER_TYPES),
                    number_type,
                    "Phone number type; toll_free also finds the legacy tollfree.",
                ),
            },
        ),
        plain(
            "source",
            Choice(tuple(SOURCES)),
            lambda source: OneOf(Field.SOURCE_TYPE, (SOURCES[source],)),
            "'ported': numbers ported in; 'purchased': numbers bought.",
        ),
    ]
)

# The filters `POST /v2/phone_numbers/csv_downloads` takes (its contract's list): the list's own
# rows, so that an export selects exactly what the list shows, and whether a number is in a bundle.
_CSV_DOWNLOAD_LIST_FILTERS = (
    "tag",
    "connection_id",
    "phone_number",
    "status",
    "voice.connection_name",
    "voice.usage_payment_method",
    "billing_group_id",
    "emergency_address_id",
    "customer_reference",
)
CSV_DOWNLOAD_FILTERS: FilterSet[Condition] = FilterSet(
    [
        plain(
            "has_bundle",
            Choice(("true", "false")),
            lambda v: IsNotNull(Field.BUNDLE_ID) if v == "true" else IsNull(Field.BUNDLE_ID),
            "'true': numbers in a bundle; 'false': numbers in none.",
        ),
        *(PHONE_NUMBER_FILTERS.filters[name] for name in _CSV_DOWNLOAD_LIST_FILTERS),
    ]
)

# `POST /v2/phone_numbers/jobs/update_phone_numbers` selects numbers by the same filters as a CSV
# download: their contracts list the same ones.
UPDATE_JOB_FILTERS = CSV_DOWNLOAD_FILTERS

# `GET /v2/phone_numbers/slim`: the list's filters but `without_tags`. Its contract spells one
# status `port_pending`; `port-pending`, as the list spells it and numbers show it, is taken too.
SLIM_STATUSES = {
    **{status: status for status in FILTERABLE_STATUSES},
    "port_pending": "port-pending",
}
SLIM_FILTERS: FilterSet[Condition] = FilterSet(
    [
        PHONE_NUMBER_FILTERS.filters["tag"],
        PHONE_NUMBER_FILTERS.filters["phone_number"],
        plain(
            "status",
            Choice(tuple(SLIM_STATUSES)),
            lambda status: OneOf(Field.STATUS, (SLIM_STATUSES[status],)),
            "Exact status; port_pending is port-pending.",
        ),
        *(
            PHONE_NUMBER_FILTERS.filters[name]
            for name in (
                "country_iso_alpha2",
                "connection_id",
                "voice.connection_name",
                "voice.usage_payment_method",
                "billing_group_id",
                "emergency_address_id",
                "customer_reference",
                "number_type",
                "source",
            )
        ),
    ]
)

# `GET /v2/phone_numbers/voice`: its contract's four filters, each meaning what the list's does.
VOICE_FILTERS: FilterSet[Condition] = FilterSet(
    [
        PHONE_NUMBER_FILTERS.filters["phone_number"],
        Filter(
            "connection_name",
            {"contains": PHONE_NUMBER_FILTERS.filters["voice.connection_name"].lookups["contains"]},
        ),
        PHONE_NUMBER_FILTERS.filters["customer_reference"],
        PHONE_NUMBER_FILTERS.filters["voice.usage_payment_method"],
    ]
)

# `GET /v2/phone_numbers/jobs`.
JOB_FILTERS: FilterSet[Condition] = FilterSet(
    [plain("type", Choice(JOB_TYPES), equals(Field.JOB_TYPE), "The type of the background job.")]
)

# `GET /v2/phone_numbers/messaging`: its contract's four filters.
MESSAGING_FILTERS: FilterSet[Condition] = FilterSet(
    [
        plain(
            "messaging_profile_id",
            Uuid(),
            equals(Field.MESSAGING_PROFILE_ID),
            "Exact messaging profile id.",
        ),
        Filter(
            "phone_number",
            {
                PLAIN: Lookup(
                    PhoneNumbers(),
                    lambda numbers: OneOf(Field.PHONE_NUMBER, numbers),
                    "Exact +E.164 numbers, one or several joined by commas.",
                ),
                "contains": PHONE_NUMBER_DIGITS,
            },
        ),
        plain(
            "type",
            Choice(MESSAGING_NUMBER_TYPES),
            lambda kind: OneOf(
                Field.PHONE_NUMBER_TYPE,
                tuple(t for t in PHONE_NUMBER_TYPES if messaging_number_type(t) == kind),
            ),
            "Messaging number type: tollfree, shortcode, or longcode (every other number).",
        ),
    ]
)
