"""The query strings of the number orders' lists: `GET /v2/number_orders`,
`/v2/sub_number_orders` and `/v2/number_order_phone_numbers` (filters and page), and
`GET /v2/sub_number_orders/{id}`'s `filter[include_phone_numbers]`. Each list's filters are
declared once, in a table, as the phone numbers' are (`filters.py`)."""

from __future__ import annotations

from numbers_api.domain import CURRENT_NUMBER_TYPES
from numbers_api.query.conditions import Compares, Condition, Field, IsNotNull, OneOf
from numbers_api.query.errors import InvalidQuery, ParameterError
from numbers_api.query.filters import Filter, FilterSet, created_between, equals, plain
from numbers_api.query.list_query import parameters_by_name
from numbers_api.query.values import (
    Choice,
    CountryCodes,
    Integer,
    Text,
    Uuid,
)

ORDER_STATUSES = ("pending", "success", "failure")
MAX_COUNT = 1_000_000


def _count() -> Filter[Condition]:
    return plain(
        "phone_numbers_count",
        Integer(0, MAX_COUNT),
        lambda count: Compares(Field.PHONE_NUMBERS_COUNT, "=", count),
        "Exactly this many phone numbers.",
    )


_STATUS: Filter[Condition] = plain(
    "status", Choice(ORDER_STATUSES), equals(Field.STATUS), "Exact status."
)
_COUNTRY: Filter[Condition] = plain(
    "country_code",
    CountryCodes(),
    lambda codes: OneOf(Field.COUNTRY_CODE, codes),
    "ISO 3166-1 alpha-2 codes, case-insensitive; several joined by commas.",
)

NUMBER_ORDER_FILTERS: FilterSet[Condition] = FilterSet(
    [
        _STATUS,
        created_between("Number orders"),
        _count(),
        plain(
            "customer_reference",
            Text(),
            equals(Field.CUSTOMER_REFERENCE),
            "Exact customer reference, case-sensitive.",
        ),
        plain(
            "requirements_met",
            Choice(("true", "false")),
            lambda met: Compares(Field.REQUIREMENTS_MET, "=", int(met == "true")),
            "Whether every number of the order has its requirements met.",
        ),
    ]
)
SUB_NUMBER_ORDER_FILTERS: FilterSet[Condition] = FilterSet(
    [
        _STATUS,
        plain(
            "order_request_id",
            Uuid(),
            lambda order_id: OneOf(Field.ORDER_ID, (order_id.lower(),)),
            "The id of the number order the sub number orders belong to.",
        ),
        _COUNTRY,
        plain(
            "phone_number_type",
            Choice(CURRENT_NUMBER_TYPES),
            equals(Field.PHONE_NUMBER_TYPE),
            "Exact phone number type.",
        ),
        _count(),
    ]
)
ORDER_PHONE_NUMBER_FILTERS: FilterSet[Condition] = FilterSet([_COUNTRY])
# `GET /v2/sub_number_orders/{id}`: its one filter asks for the sub order's numbers.
SUB_NUMBER_ORDER_RETRIEVE_FILTERS: FilterSet[Condition] = FilterSet(
    [
        plain(
            "include_phone_numbers",
            Choice(("true", "false")),
            lambda given: IsNotNull(Field.PHONE_NUMBER) if given == "true" else None,
            "'true': the sub order's first 50 phone numbers too.",
        )
    ]
)


def include_phone_numbers(query_string: str) -> bool:
    """Whether `filter[include_phone_numbers]` is true; InvalidQuery for a bad filter."""
    errors: list[ParameterError] = []
    by_name = parameters_by_name(query_string, errors)
    conditions = SUB_NUMBER_ORDER_RETRIEVE_FILTERS.parse(by_name.get("filter", []), errors)
    if errors:
        raise InvalidQuery(errors)
    return bool(conditions)
