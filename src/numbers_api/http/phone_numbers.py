"""`GET /v2/phone_numbers`, and the lists that show the same numbers another way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from numbers_api.cache import LruCache
from numbers_api.domain import PhoneNumber
from numbers_api.http.errors import (
    PROFILE_ERROR_TITLE,
    bad_request,
    error_object,
    error_response,
    profiles_left_out,
)
from numbers_api.query.errors import InvalidQuery
from numbers_api.query.filters import FilterSet
from numbers_api.query.list_query import NAMED_SORTS, ListQuery, Sorting, parse_list_query
from numbers_api.serialisation import encode, pagination_meta, phone_number_detailed
from numbers_api.store.accounts import Caller
from numbers_api.store.database import Connection
from numbers_api.store.messaging_profiles import (
    MessagingProfileDirectory,
    MessagingProfilesUnavailable,
)
from numbers_api.store.number_index import NumberIndexes
from numbers_api.store.phone_numbers import list_phone_numbers


def list_endpoint(
    connection: Connection,
    caller: Caller,
    query_string: str,
    *,
    profiles: MessagingProfileDirectory,
    counts: LruCache[int],
    indexes: NumberIndexes,
) -> Response:
    try:
        query = parse_list_query(query_string)
    except InvalidQuery as invalid:
        return bad_request(invalid.errors)
    index = indexes.get(connection, caller)
    result = list_phone_numbers(connection, caller, query, counts, index)
    errors: list[dict[str, Any]] = []
    names: dict[str, str | None] | None = {}
    if result.numbers:
        try:
            names = profiles.names(
                connection,
                caller.account_id,
                {n.messaging_profile_id for n in result.numbers if n.messaging_profile_id},
            )
        except MessagingProfilesUnavailable as failure:
            if not query.handle_messaging_profile_error:
                return error_response(
                    503,
                    [
                        error_object(
                            "10007",
                            PROFILE_ERROR_TITLE,
                            f"{failure}. Retry later, or send handle_messaging_profile_error=true "
                            "to get the numbers without messaging_profile_id and "
                            "messaging_profile_name.",
                        )
                    ],
                )
            names = None
            errors.append(profiles_left_out(failure))
    document: dict[str, Any] = {
        "data": [phone_number_detailed(number, names) for number in result.numbers],
        "meta": pagination_meta(query.page.number, query.page.size, result.total),
    }
    if errors:
        document["errors"] = errors
    return Response(encode(document), media_type="application/json")


# A list's items, made from its page of numbers in the request's snapshot.
Items = Callable[[Connection, Caller, ListQuery, list[PhoneNumber]], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ListView:
    """A list that shows its numbers its own way (`/slim`, `/voice`, `/messaging`): the main
    list's parameters, store, index and pages, with its own filters, true-or-false parameters,
    sorts and items."""

    filters: FilterSet
    items: Items
    switches: Sequence[str] = ()
    sorts: Sorting = NAMED_SORTS


def list_view_endpoint(
    connection: Connection,
    caller: Caller,
    query_string: str,
    view: ListView,
    *,
    counts: LruCache[int],
    indexes: NumberIndexes,
) -> Response:
    try:
        query = parse_list_query(query_string, view.filters, view.sorts, switches=view.switches)
    except InvalidQuery as invalid:
        return bad_request(invalid.errors)
    result = list_phone_numbers(connection, caller, query, counts, indexes.get(connection, caller))
    document = {
        "data": view.items(connection, caller, query, result.numbers),
        "meta": pagination_meta(query.page.number, query.page.size, result.total),
    }
    return Response(encode(document), media_type="application/json")
