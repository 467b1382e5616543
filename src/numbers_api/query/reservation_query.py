"""`GET /v2/number_reservations`: its filters, declared once, and its query (filters and page)."""

from __future__ import annotations

from numbers_api.query.conditions import Condition, Field, OneOf
from numbers_api.query.filters import FilterSet, created_between, equals, plain
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
