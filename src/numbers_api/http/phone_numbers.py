"""`GET /v2/phone_numbers`, and the lists that show the same numbers another way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

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
from numbers_api.serialisation import encode, encode_page, pagination_meta, phone_number_detailed
from numbers_api.store.accounts import Caller
from numbers_api.store.database import Connection
from numbers_api.store.messaging_profiles import (
    MessagingProfileDirectory,
    MessagingProfilesUnavailable,
)
from numbers_api.store.phone_numbers import ListResult, PageShape

# The page a query asks for, its rows read in the shape given, one way or another (see `Api`):
# None when it cannot be read that way, and must be read in a snapshot.
Pages = Callable[[ListQuery, PageShape], ListResult | None]


def list_endpoint(
    query_string: str, pages: Pages, profiles: MessagingProfileDirectory
) -> Response | None:
    query = list_query(query_string)
    if isinstance(query, Response):
        return query
    shape = list_shape(profiles)
    result = pages(query, shape)
    return None if result is None else list_response(query, result, shape, profiles)


def list_query(query_string: str) -> ListQuery | Response:
    """The query, or the 400 that says what is wrong with it."""
    try:
        return parse_list_query(query_string)
    except InvalidQuery as invalid:
        return bad_request(invalid.errors)


def list_shape(profiles: MessagingProfileDirectory) -> PageShape:
    # The database renders the items, unless profile names cannot be loaded: then they are
    # made here, with or without the names as the query asks.
    return PageShape.NUMBERS if profiles.failing else PageShape.DETAILED_JSON


def list_response(
    query: ListQuery, result: ListResult, shape: PageShape, profiles: MessagingProfileDirectory
) -> Response:
    meta = pagination_meta(query.page.number, query.page.size, result.total)
    if shape is PageShape.DETAILED_JSON:
        return Response(encode_page(result.detailed_json, meta), media_type="application/json")
    errors: list[dict[str, Any]] = []
    names: dict[str, str | None] | None = result.profile_names
    if result.numbers:
        try:
            profiles.check_available()
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
        "meta": meta,
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
    sorts and items. `items_read_more`: its items read more than the page's rows (settings kept
    elsewhere), so its pages are always computed in a snapshot."""

    filters: FilterSet
    items: Items
    switches: Sequence[str] = ()
    sorts: Sorting = NAMED_SORTS
    items_read_more: bool = False


def list_view_endpoint(
    connection: Connection, caller: Caller, query_string: str, view: ListView, pages: Pages
) -> Response | None:
    try:
        query = parse_list_query(query_string, view.filters, view.sorts, switches=view.switches)
    except InvalidQuery as invalid:
        return bad_request(invalid.errors)
    result = pages(query, PageShape.NUMBERS)
    if result is None:
        return None
    document = {
        "data": view.items(connection, caller, query, result.numbers),
        "meta": pagination_meta(query.page.number, query.page.size, result.total),
    }
    return Response(encode(document), media_type="application/json")
