"""`GET /v2/phone_numbers`: its parameters parsed into one validated, immutable query."""

from __future__ import annotations

from dataclasses import dataclass

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
SORT = Choice(tuple(SORTS))
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


def parse_list_query(query_string: str, filters: FilterSet = PHONE_NUMBER_FILTERS) -> ListQuery:
    """The query, or InvalidQuery listing every offending parameter."""
    errors: list[ParameterError] = []
    by_name: dict[str, list[QueryParameter]] = {}
    for parameter in parse_query_string(query_string):
        if not parameter.well_formed:
            errors.append(ParameterError(parameter.key, "malformed brackets in parameter name"))
        else:
            by_name.setdefault(parameter.name, []).append(parameter)

    conditions = filters.parse(by_name.get("filter", []), errors)
    page = _parse_page(by_name.get("page", []), errors)
    sort = _single(by_name.get("sort", []), SORT, errors)
    handle_error = _single(by_name.get("handle_messaging_profile_error", []), TRUE_OR_FALSE, errors)
    if errors:
        raise InvalidQuery(errors)
    return ListQuery(
        conditions=tuple(conditions),
        order=DEFAULT_ORDER if sort is None else SORTS[sort],
        page=page,
        handle_messaging_profile_error=handle_error == "true",
    )


def page_schema() -> JsonSchema:
    return {
        "type": "object",
        "properties": {
            name: {**value.schema(), "default": default}
            for name, (value, default) in PAGE_PARAMETERS.items()
        },
        "additionalProperties": False,
    }


def _single(
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


def _parse_page(parameters: list[QueryParameter], errors: list[ParameterError]) -> Page:
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
