"""`GET /v2/phone_numbers/slim`: the list's numbers as `SlimPhoneNumberDetailed`, with the
connection's name and the tags only when asked for (`include_connection`, `include_tags`)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from numbers_api.cache import LruCache
from numbers_api.domain import PhoneNumber
from numbers_api.http.phone_numbers import list_page_endpoint
from numbers_api.query.filters import SLIM_FILTERS
from numbers_api.query.list_query import ListQuery
from numbers_api.serialisation import slim_phone_number
from numbers_api.store.accounts import Caller
from numbers_api.store.database import Connection
from numbers_api.store.number_index import NumberIndexes

SWITCHES = ("include_connection", "include_tags")


def slim_list_endpoint(
    connection: Connection,
    caller: Caller,
    query_string: str,
    *,
    counts: LruCache[int],
    indexes: NumberIndexes,
) -> Response:
    return list_page_endpoint(
        connection,
        caller,
        query_string,
        filters=SLIM_FILTERS,
        switches=SWITCHES,
        items=_items,
        counts=counts,
        indexes=indexes,
    )


def _items(
    connection: Connection, caller: Caller, query: ListQuery, numbers: list[PhoneNumber]
) -> list[dict[str, Any]]:
    connection_shown = "include_connection" in query.switches
    tags_shown = "include_tags" in query.switches
    return [
        slim_phone_number(number, connection=connection_shown, tags=tags_shown)
        for number in numbers
    ]
