"""`GET /v2/phone_numbers/messaging`, and `GET` and `PATCH /v2/phone_numbers/{id}/messaging`:
numbers with their messaging settings.

The list is the main list's machinery (same pages, index, totals and errors) with the messaging
list's own filters and sort; only the serialisation differs.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from numbers_api.domain import TEXT_RULE, MessagingSettings, PhoneNumber, is_text
from numbers_api.http.bodies import Check, checked_body
from numbers_api.http.errors import PROFILE_ERROR_TITLE, error_object, error_response
from numbers_api.http.handlers import Asked
from numbers_api.http.phone_number import (
    InvalidBody,
    invalid_id,
    now_ms,
    number_not_found,
    parse_id,
    tag_list,
)
from numbers_api.http.phone_numbers import ListView
from numbers_api.query.filters import MESSAGING_FILTERS
from numbers_api.query.list_query import MESSAGING_SORTS, ListQuery
from numbers_api.serialisation import encode, phone_number_with_messaging_settings
from numbers_api.store.accounts import Caller
from numbers_api.store.database import Connection
from numbers_api.store.messaging_profiles import (
    MessagingProfilesUnavailable,
)
from numbers_api.store.messaging_settings import (
    IneligibleProduct,
    MessagingChanges,
    UnknownMessagingProfile,
    find_messaging_settings,
    update_messaging_settings,
    with_messaging_settings,
)

# The read-only properties of PhoneNumberWithMessagingSettings: named as such when sent.
READ_ONLY_FIELDS = (
    "id",
    "record_type",
    "phone_number",
    "country_code",
    "type",
    "traffic_type",
    "eligible_messaging_products",
    "features",
    "created_at",
    "updated_at",
)


def _items(
    connection: Connection, caller: Caller, query: ListQuery, numbers: list[PhoneNumber]
) -> list[dict[str, Any]]:
    settings = with_messaging_settings(connection, caller.account_id, numbers)
    return [phone_number_with_messaging_settings(s) for s in settings]


MESSAGING_VIEW = ListView(MESSAGING_FILTERS, items_with_settings=_items, sorts=MESSAGING_SORTS)


def retrieve_endpoint(connection: Connection, asked: Asked) -> Response:
    caller = asked.caller
    raw_id = asked.path()
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id)
    settings = find_messaging_settings(connection, caller.account_id, number_id)
    return number_not_found(raw_id) if settings is None else _settings_response(settings)


def update_endpoint(asked: Asked) -> Response:
    caller = asked.caller
    raw_id = asked.path()
    profiles = asked.worker.profiles
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id)
    try:
        changes = parse_messaging_update(asked.body)
    except InvalidBody as invalid:
        return invalid.response
    try:
        with asked.worker.database.transaction() as connection:
            settings = update_messaging_settings(
                connection, caller.account_id, number_id, changes, now_ms(), profiles=profiles
            )
    except UnknownMessagingProfile as unknown:
        return _unprocessable(
            "10013",
            "Missing association",
            f"messaging_profile_id {unknown.args[0]!r} is not a messaging profile of this account.",
            "/messaging_profile_id",
        )
    except IneligibleProduct as ineligible:
        return _unprocessable(
            "10015",
            "Bad Request",
            f"This number is not eligible for messaging_product {ineligible.product!r}; it is "
            f"eligible for: {', '.join(ineligible.eligible)}.",
            "/messaging_product",
        )
    except MessagingProfilesUnavailable as failure:
        detail = f"{failure}, so messaging_profile_id could not be checked; nothing was changed."
        return error_response(503, [error_object("10007", PROFILE_ERROR_TITLE, detail)])
    return number_not_found(raw_id) if settings is None else _settings_response(settings)


def _text_or_null(value: Any) -> str | None:
    if value is None or is_text(value):
        return None
    return f"must be a string {TEXT_RULE}, or null"


def _tags_or_null(value: Any) -> str | None:
    return None if value is None else tag_list(value)


def _read_only(value: Any) -> str:
    return "is read-only"


CHECKS: dict[str, Check] = {
    "messaging_product": _text_or_null,
    "messaging_profile_id": _text_or_null,
    "tags": _tags_or_null,
    **dict.fromkeys(READ_ONLY_FIELDS, _read_only),
}


def parse_messaging_update(body: bytes) -> MessagingChanges:
    """The fields an `UpdatePhoneNumberMessagingSettingsRequest` body changes: a null keeps the
    current value (as the contract says), `messaging_profile_id` `""` detaches the profile (None),
    a repeated tag is kept once. Raises InvalidBody."""
    document = checked_body(body, CHECKS, schema="UpdatePhoneNumberMessagingSettingsRequest")
    changes: dict[str, str | list[str] | None] = {}
    for name, value in document.items():
        if value is None:
            continue
        if name == "tags":
            changes[name] = list(dict.fromkeys(value))
        else:
            changes[name] = None if name == "messaging_profile_id" and value == "" else value
    return changes


def _unprocessable(code: str, title: str, detail: str, pointer: str) -> Response:
    return error_response(422, [error_object(code, title, detail, pointer=pointer)])


def _settings_response(settings: MessagingSettings) -> Response:
    return Response(
        encode({"data": phone_number_with_messaging_settings(settings)}),
        media_type="application/json",
    )
