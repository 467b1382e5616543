"""`GET /v2/number_reservations`: its filters, declared once, and its query (filters and page)."""

from __future__ import annotations

from dataclasses import dataclass

from numbers_api.query.conditions import Condition, Field, OneOf
from numbers_api.query.errors import InvalidQuery, ParameterError
from numbers_api.query.filters import FilterSet, created_between, equals, plain
from numbers_api.query.list_query import Page, parameters_by_name, parse_page
from numbers_api.query.values import Choice, PhoneNumbers, Text

RESERVATION_STATUSES = ("pending", "success", "failure")


NUMBER_RESERVATION_FILTERS: FilterSet[Condition] = FilterSet(
    [
        plain(
            "status",
            Choice(RESERVATION_STATUSES),
            equals(Field.STATUS),
            "The reservation's status.",
        ),
        created_between("Reservations"),
        plain(
            "phone_numbers.phone_number",
            PhoneNumbers(),
            lambda numbers: OneOf(Field.PHONE_NUMBER, numbers),
            "Reservations holding any of these +E.164 numbers, one or several joined by commas.",
        ),
        plain(
            "customer_reference",
            Text(),
            equals(Field.CUSTOMER_REFERENCE),
            "Exact customer reference, case-sensitive.",
        ),
    ]
)


@dataclass(frozen=True, slots=True)
class ReservationListQuery:
    conditions: tuple[Condition, ...]
    page: Page


def parse_reservation_list_query(query_string: str) -> ReservationListQuery:
    """The query, or InvalidQuery listing every offending parameter; other parameters are
    ignored, as the other lists ignore those they do not know."""
    errors: list[ParameterError] = []
    by_name = parameters_by_name(query_string, errors)
    conditions = NUMBER_RESERVATION_FILTERS.parse(by_name.get("filter", []), errors)
    page = parse_page(by_name.get("page", []), errors)
    if errors:
        raise InvalidQuery(errors)
    return ReservationListQuery(tuple(conditions), page)
