"""`GET /v2/phone_numbers`: its parameters parsed into one validated, immutable query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from numbers_api.query.conditions import Condition, Field, SortKey
from numbers_api.query.errors import InvalidQuery, ParameterError
from numbers_api.query.filters import PHONE_NUMBER_FILTERS, FilterSet
from numbers_api.query.querystring import QueryParameter, parse_query_string
from numbers_api.query.values import Choice, Integer, InvalidValue, JsonSchema, ValueType

# Ids compare as integers, so every order below is total and pages never overlap.
DEFAULT_ORDER = (SortKey(Field.CREATED_AT, descending=True), SortKey(Field.ID, descending=True))
SORTS: dict[str, tuple[SortKey, ...]] = {
    "purchased_at": (SortKey(Field.PURCHASED_AT), SortKey(Field.ID)),
    "phone_number": (SortKey(Field.PHONE_NUMBER), SortKey(Field.ID)),
    "connection_name": (SortKey(Field.CONNECTION_NAME, case_insensitive=True), SortKey(Field.ID)),
    "usage_payment_method": (SortKey(Field.USAGE_PAYMENT_METHOD), SortKey(Field.ID)),
}
TRUE_OR_FALSE = Choice(("true", "false"))
MAX_INT64 = 2**63 - 1  # the largest page number a 64-bit client can hold
PAGE_PARAMETERS: dict[str, tuple[ValueType[int], int]] = {
    "number": (Integer(1, MAX_INT64), 1),
    "size": (Integer(1, 250), 20),
}


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


@dataclass(frozen=True, slots=True)
class ListQuery:
    conditions: tuple[Condition, ...]
    order: tuple[SortKey, ...]
    page: Page
    handle_messaging_profile_error: bool
    # Those of a list's own true-or-false parameters (`include_tags`) that were given as true.
    switches: frozenset[str] = frozenset()


class Sorting(Protocol):
    """How a list takes its `sort` parameters."""

    def parse(
        self, parameters: list[QueryParameter], errors: list[ParameterError]
    ) -> tuple[SortKey, ...]: ...


@dataclass(frozen=True, slots=True)
class NamedSorts:
    """`sort=NAME`, one of a fixed set of orders (the main list's form)."""

    orders: Mapping[str, tuple[SortKey, ...]]

    def parse(
        self, parameters: list[QueryParameter], errors: list[ParameterError]
    ) -> tuple[SortKey, ...]:
        name = single_value(parameters, Choice(tuple(self.orders)), errors)
        return DEFAULT_ORDER if name is None else self.orders[name]


DIRECTIONS = Choice(("asc", "desc"))


@dataclass(frozen=True, slots=True)
class DirectedSorts:
    """`sort[FIELD]=asc|desc` (the messaging list's form): by one field, ties by id in the same
    direction, so that `desc` is exactly the reverse of `asc`."""

    fields: Mapping[str, Field]

    def parse(
        self, parameters: list[QueryParameter], errors: list[ParameterError]
    ) -> tuple[SortKey, ...]:
        order = DEFAULT_ORDER
        for index, parameter in enumerate(parameters):
            if len(parameter.path) != 1 or parameter.path[0] not in self.fields:
                allowed = ", ".join(f"sort[{name}]" for name in self.fields)
                problem = f"sorts are given as {allowed}, with asc or desc"
                errors.append(ParameterError(parameter.key, problem))
            elif index > 0:
                errors.append(ParameterError(parameter.key, "only one sort may be given"))
            else:
                try:
                    descending = DIRECTIONS.parse(parameter.value) == "desc"
                except InvalidValue as invalid:
                    errors.append(ParameterError(parameter.key, str(invalid)))
                    continue
                field = self.fields[parameter.path[0]]
                order = (SortKey(field, descending), SortKey(Field.ID, descending))
        return order


NAMED_SORTS = NamedSorts(SORTS)
# `GET /v2/phone_numbers/messaging`: `sort[phone_number]=asc|desc`.
MESSAGING_SORTS = DirectedSorts({"phone_number": Field.PHONE_NUMBER})


def parse_list_query(
    query_string: str,
    filters: FilterSet[Condition] = PHONE_NUMBER_FILTERS,
    sorts: Sorting = NAMED_SORTS,
    switches: Sequence[str] = (),
) -> ListQuery:
    """The query, or InvalidQuery listing every offending parameter. `switches` are the list's
    own true-or-false parameters (false unless given)."""
    errors: list[ParameterError] = []
    by_name = parameters_by_name(query_string, errors)
    conditions = filters.parse(by_name.get("filter", []), errors)
    page = parse_page(by_name.get("page", []), errors)
    order = sorts.parse(by_name.get("sort", []), errors)
    handle_error = single_value(
        by_name.get("handle_messaging_profile_error", []), TRUE_OR_FALSE, errors
    )
    given = [
        (name, single_value(by_name.get(name, []), TRUE_OR_FALSE, errors)) for name in switches
    ]
    if errors:
        raise InvalidQuery(errors)
    return ListQuery(
        conditions=tuple(conditions),
        order=order,
        page=page,
        handle_messaging_profile_error=handle_error == "true",
        switches=frozenset(name for name, value in given if value == "true"),
    )


def parameters_by_name(
    query_string: str, errors: list[ParameterError]
) -> dict[str, list[QueryParameter]]:
    """The well-formed parameters, grouped by the name before their brackets; each malformed one
    is appended to `errors`."""
    by_name: dict[str, list[QueryParameter]] = {}
    for parameter in parse_query_string(query_string):
        if not parameter.well_formed:
            errors.append(ParameterError(parameter.key, "malformed brackets in parameter name"))
        else:
            by_name.setdefault(parameter.name, []).append(parameter)
    return by_name


def page_schema() -> JsonSchema:
    return {
        "type": "object",
        "properties": {
            name: {**value.schema(), "default": default}
            for name, (value, default) in PAGE_PARAMETERS.items()
        },
        "additionalProperties": False,
    }


def single_value(
    parameters: list[QueryParameter], value_type: ValueType[str], errors: list[ParameterError]
) -> str | None:
    """A top-level parameter that takes one value and no brackets."""
    value = None
    for index, parameter in enumerate(parameters):
        if parameter.path:
            errors.append(ParameterError(parameter.key, f"{parameter.name} takes no brackets"))
        elif index > 0:
            errors.append(ParameterError(parameter.key, "given more than once; it takes one value"))
        else:
            try:
                value = value_type.parse(parameter.value)
            except InvalidValue as invalid:
                errors.append(ParameterError(parameter.key, str(invalid)))
    return value


def parse_page(parameters: list[QueryParameter], errors: list[ParameterError]) -> Page:
    values = {name: default for name, (_, default) in PAGE_PARAMETERS.items()}
    given: set[str] = set()
    for parameter in parameters:
        if len(parameter.path) != 1 or parameter.path[0] not in PAGE_PARAMETERS:
            errors.append(
                ParameterError(
                    parameter.key, "unknown page parameter; use page[number] and page[size]"
                )
            )
            continue
        name = parameter.path[0]
        if name in given:
            errors.append(ParameterError(parameter.key, "given more than once; it takes one value"))
            continue
        given.add(name)
        try:
            values[name] = PAGE_PARAMETERS[name][0].parse(parameter.value)
        except InvalidValue as invalid:
            errors.append(ParameterError(parameter.key, str(invalid)))
    return Page(number=values["number"], size=values["size"])


@dataclass(frozen=True, slots=True)
class FilteredPage:
    """The query of a list that takes its filter table's `filter[...]` and `page[...]`, and no
    sort: number reservations, number orders, their sub orders and numbers."""

    conditions: tuple[Condition, ...]
    page: Page


def parse_filtered_page(query_string: str, filters: FilterSet[Condition]) -> FilteredPage:
    """The query, or InvalidQuery listing every offending parameter; other parameters are
    ignored, as the other lists ignore those they do not know."""
    errors: list[ParameterError] = []
    by_name = parameters_by_name(query_string, errors)
    conditions = filters.parse(by_name.get("filter", []), errors)
    page = parse_page(by_name.get("page", []), errors)
    if errors:
        raise InvalidQuery(errors)
    return FilteredPage(tuple(conditions), page)
