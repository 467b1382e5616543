"""The endpoint of a list that takes its filter table's `filter[...]` and `page[...]` (no sort),
in `created_at` order, with exact page metadata: number reservations, number orders, their sub
orders and numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from numbers_api.http.errors import bad_request
from numbers_api.http.handlers import Asked
from numbers_api.query.conditions import Condition
from numbers_api.query.errors import InvalidQuery
from numbers_api.query.filters import FilterSet
from numbers_api.query.list_query import FilteredPage, parse_filtered_page
from numbers_api.serialisation import Json, encode, pagination_meta
from numbers_api.store.database import Connection


def filtered_list(
    filters: FilterSet[Condition],
    read: Callable[[Connection, int, FilteredPage], tuple[int, list[Any]]],
    serialise: Callable[[Any], Json],
) -> Callable[[Connection, Asked], Response]:
    """The endpoint: `read` gives the caller's total and page of records for the query, each
    answered as `serialise` shows it."""

    def endpoint(connection: Connection, asked: Asked) -> Response:
        try:
            query = parse_filtered_page(asked.query_string, filters)
        except InvalidQuery as invalid:
            return bad_request(invalid.errors)
        total, items = read(connection, asked.caller.account_id, query)
        document = {
            "data": [serialise(item) for item in items],
            "meta": pagination_meta(query.page.number, query.page.size, total),
        }
        return Response(encode(document), media_type="application/json")

    return endpoint
