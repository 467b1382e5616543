"""`GET /v2/phone_numbers`, and the lists that show the same numbers another way: each list's
query, its page from a plan where the account's index can answer (no I/O), else in a snapshot."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
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
from numbers_api.query.conditions import Condition
from numbers_api.query.errors import InvalidQuery
from numbers_api.query.filters import FilterSet
from numbers_api.query.list_query import NAMED_SORTS, ListQuery, Sorting, parse_list_query
from numbers_api.serialisation import encode, encode_page, pagination_meta, phone_number_detailed
from numbers_api.store.accounts import Caller
from numbers_api.store.database import Connection
from numbers_api.store.dialects import Dialect
from numbers_api.store.messaging_profiles import (
    MessagingProfileDirectory,
    MessagingProfilesUnavailable,
)
from numbers_api.store.number_index import AccountIndex
from numbers_api.store.phone_numbers import (
    ListResult,
    PageShape,
    list_phone_numbers,
    page_from_index,
)
from numbers_api.store.plans import Plan


class ListEndpoint(ABC):
    """A list whose pages the response cache keeps (`Api.endpoint` asks it first)."""

    @abstractmethod
    def query(self, query_string: str) -> ListQuery | Response:
        """The query, or the 400 that says what is wrong with it."""

    @abstractmethod
    def plan(
        self, caller: Caller, query: ListQuery, index: AccountIndex | None
    ) -> Plan[Response | None] | None:
        """The page from `index` when it is at the caller's data version and answers the query;
        None, or the plan's answer None (a write moved the version on since): a snapshot must
        answer."""

    @abstractmethod
    def in_snapshot(
        self, connection: Connection, caller: Caller, query: ListQuery, index: AccountIndex | None
    ) -> Response:
        """The page in `connection`'s snapshot, where the caller's data version was read; `index`
        is the account's at that version, or None."""


def _if_read(
    respond: Callable[[ListResult], Response], result: ListResult | None
) -> Response | None:
    return None if result is None else respond(result)


@dataclass(frozen=True, slots=True)
class PhoneNumbersList(ListEndpoint):
    """`GET /v2/phone_numbers`: its items rendered by the database (`PageShape.DETAILED_JSON`),
    unless profile names cannot be loaded: then they are made here, with or without the names as
    the query asks."""

    dialect: Dialect
    profiles: MessagingProfileDirectory
    counts: LruCache[int]

    def query(self, query_string: str) -> ListQuery | Response:
        try:
            return parse_list_query(query_string)
        except InvalidQuery as invalid:
            return bad_request(invalid.errors)

    def plan(
        self, caller: Caller, query: ListQuery, index: AccountIndex | None
    ) -> Plan[Response | None] | None:
        if index is None or not index.answers(query.conditions, query.order):
            return None
        shape = self._shape()
        page = page_from_index(self.dialect, caller, query, index, shape)
        return page.then(partial(_if_read, partial(self._response, query, shape)))

    def in_snapshot(
        self, connection: Connection, caller: Caller, query: ListQuery, index: AccountIndex | None
    ) -> Response:
        shape = self._shape()
        result = list_phone_numbers(connection, caller, query, self.counts, index, shape=shape)
        return self._response(query, shape, result)

    def _shape(self) -> PageShape:
        return PageShape.NUMBERS if self.profiles.failing else PageShape.DETAILED_JSON

    def _response(self, query: ListQuery, shape: PageShape, result: ListResult) -> Response:
        meta = pagination_meta(query.page.number, query.page.size, result.total)
        if shape is PageShape.DETAILED_JSON:
            return Response(encode_page(result.detailed_json, meta), media_type="application/json")
        errors: list[dict[str, Any]] = []
        names: dict[str, str | None] | None = result.profile_names
        if result.numbers:
            try:
                self.profiles.check_available()
            except MessagingProfilesUnavailable as failure:
                if not query.handle_messaging_profile_error:
                    return error_response(
                        503,
                        [
                            error_object(
                                "10007",
                                PROFILE_ERROR_TITLE,
                                f"{failure}. Retry later, or send "
                                "handle_messaging_profile_error=true to get the numbers without "
                                "messaging_profile_id and messaging_profile_name.",
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


# A list's items, made from its page of numbers alone.
PageItems = Callable[[ListQuery, list[PhoneNumber]], list[dict[str, Any]]]
# A list's items that read more than the page's rows (settings kept elsewhere), in the request's
# snapshot.
SettingsItems = Callable[[Connection, Caller, ListQuery, list[PhoneNumber]], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ListView:
    """A list that shows its numbers its own way (`/slim`, `/voice`, `/messaging`): the main
    list's parameters, store, index and pages, with its own filters, true-or-false parameters,
    sorts and items: `items` from the page's rows alone, or `items_with_settings`, whose pages
    are then always read in a snapshot."""

    filters: FilterSet[Condition]
    items: PageItems | None = None
    items_with_settings: SettingsItems | None = None
    switches: Sequence[str] = ()
    sorts: Sorting = NAMED_SORTS


@dataclass(frozen=True, slots=True)
class ViewList(ListEndpoint):
    view: ListView
    dialect: Dialect
    counts: LruCache[int]

    def query(self, query_string: str) -> ListQuery | Response:
        view = self.view
        try:
            return parse_list_query(query_string, view.filters, view.sorts, switches=view.switches)
        except InvalidQuery as invalid:
            return bad_request(invalid.errors)

    def plan(
        self, caller: Caller, query: ListQuery, index: AccountIndex | None
    ) -> Plan[Response | None] | None:
        items = self.view.items
        if items is None or index is None or not index.answers(query.conditions, query.order):
            return None
        page = page_from_index(self.dialect, caller, query, index, PageShape.NUMBERS)
        return page.then(partial(_if_read, partial(_view_response, query, items)))

    def in_snapshot(
        self, connection: Connection, caller: Caller, query: ListQuery, index: AccountIndex | None
    ) -> Response:
        result = list_phone_numbers(connection, caller, query, self.counts, index)
        items = self.view.items
        if items is None:
            assert self.view.items_with_settings is not None
            items = partial(self.view.items_with_settings, connection, caller)
        return _view_response(query, items, result)


def _view_response(query: ListQuery, items: PageItems, result: ListResult) -> Response:
    document = {
        "data": items(query, result.numbers),
        "meta": pagination_meta(query.page.number, query.page.size, result.total),
    }
    return Response(encode(document), media_type="application/json")
