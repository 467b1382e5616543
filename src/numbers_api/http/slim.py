"""`GET /v2/phone_numbers/slim`: the list's numbers as `SlimPhoneNumberDetailed`, with the
connection's name and the tags only when asked for (`include_connection`, `include_tags`)."""

from __future__ import annotations

from typing import Any

from numbers_api.domain import PhoneNumber
from numbers_api.http.phone_numbers import ListView
from numbers_api.query.filters import SLIM_FILTERS
from numbers_api.query.list_query import ListQuery
from numbers_api.serialisation import slim_phone_number

SWITCHES = ("include_connection", "include_tags")


def _items(query: ListQuery, numbers: list[PhoneNumber]) -> list[dict[str, Any]]:
    connection_shown = "include_connection" in query.switches
    tags_shown = "include_tags" in query.switches
    return [
        slim_phone_number(number, connection=connection_shown, tags=tags_shown)
        for number in numbers
    ]


SLIM_VIEW = ListView(SLIM_FILTERS, items=_items, switches=SWITCHES)
