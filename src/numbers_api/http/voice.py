"""`GET /v2/phone_numbers/voice` and `GET`, `PATCH /v2/phone_numbers/{id}/voice`: numbers with
their voice settings (`PhoneNumberWithVoiceSettings`).

Each setting is kept once, in its phone_numbers column, so a change here shows in the main list
(`call_forwarding_enabled`, `usage_payment_method`, ...) and its filters and sorts at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from numbers_api.domain import TEXT_RULE, VOICE_SETTINGS, PhoneNumber, VoiceSetting, is_text
from numbers_api.http.handlers import Asked
from numbers_api.http.phone_number import (
    InvalidBody,
    invalid_fields,
    invalid_id,
    missing_association_error,
    now_ms,
    number_not_found,
    parse_body,
    parse_id,
    pointer,
)
from numbers_api.http.phone_numbers import ListView
from numbers_api.query.filters import VOICE_FILTERS
from numbers_api.query.list_query import ListQuery
from numbers_api.serialisation import encode, phone_number_with_voice_settings
from numbers_api.store.accounts import Caller
from numbers_api.store.database import Connection
from numbers_api.store.phone_number import MissingAssociation, find_number
from numbers_api.store.voice_settings import (
    CnamListingWithoutDetails,
    find_voice_settings,
    update_voice_settings,
)

SETTINGS = {(setting.group, setting.name): setting for setting in VOICE_SETTINGS}
BY_COLUMN = {setting.column: setting for setting in VOICE_SETTINGS}
GROUPS = {setting.group for setting in VOICE_SETTINGS if setting.group is not None}
READ_ONLY_FIELDS = ("id", "record_type", "phone_number")
# Shown with the voice settings, but changed by other operations.
CHANGED_ELSEWHERE = {
    "customer_reference": "PATCH /v2/phone_numbers/{id}",
    "emergency": "POST /v2/phone_numbers/{id}/actions/enable_emergency",
}
CNAM_DETAILS = "/cnam_listing/cnam_listing_details"
VoiceChanges = dict[str, str | bool | None]  # column -> new value


def _items(
    connection: Connection, caller: Caller, query: ListQuery, numbers: list[PhoneNumber]
) -> list[dict[str, Any]]:
    settings = find_voice_settings(connection, caller.account_id, [n.id for n in numbers])
    return [phone_number_with_voice_settings(n, settings[n.id]) for n in numbers]


VOICE_VIEW = ListView(VOICE_FILTERS, items_with_settings=_items)


def retrieve_endpoint(connection: Connection, asked: Asked) -> Response:
    caller = asked.caller
    raw_id = asked.path()
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id)
    number = find_number(connection, caller.account_id, number_id)
    if number is None:
        return number_not_found(raw_id)
    return _voice_response(connection, caller, number)


def update_endpoint(asked: Asked) -> Response:
    caller = asked.caller
    raw_id = asked.path()
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id)
    try:
        changes = parse_voice_update(asked.body)
    except InvalidBody as invalid:
        return invalid.response
    try:
        with asked.worker.database.transaction() as connection:
            number = update_voice_settings(
                connection, caller.account_id, number_id, changes, now_ms()
            )
            if number is None:
                return number_not_found(raw_id)
            return _voice_response(connection, caller, number)
    except MissingAssociation as missing:
        return missing_association_error(missing)
    except CnamListingWithoutDetails:
        detail = (
            "cnam_listing_enabled needs cnam_listing_details: at most 15 letters, digits or spaces."
        )
        return invalid_fields([(CNAM_DETAILS, detail)])


def parse_voice_update(body: bytes) -> VoiceChanges:
    """The columns an `UpdatePhoneNumberVoiceSettingsRequest` body sets; raises InvalidBody with
    every mistake in it (422, each naming its field in `source.pointer`, nested ones too:
    `/call_forwarding/forwards_to`), or 400 if it is not JSON at all."""
    return parse_body(body, voice_changes)


def voice_changes(
    document: Mapping[str, Any], prefix: str = ""
) -> tuple[VoiceChanges, list[tuple[str, str]]]:
    """The columns an `UpdatePhoneNumberVoiceSettingsRequest` object sets, and (pointer, problem)
    for each of its mistakes; `prefix` is the pointer to the object (`/voice` in a job's body)."""
    changes: VoiceChanges = {}
    problems: list[tuple[str, str]] = []
    for name, value in document.items():
        if name in GROUPS and not isinstance(value, dict):
            problems.append((prefix + pointer(name), f"{name} must be an object."))
        elif name in GROUPS:
            for key, inner in value.items():
                _take(prefix + pointer(name), name, key, inner, changes=changes, problems=problems)
        elif name == "connection_id":
            if is_text(value):
                changes[name] = value or None  # "" removes the connection
            else:
                problems.append((prefix + pointer(name), f"{name} must be a string {TEXT_RULE}."))
        else:
            _take(prefix, None, name, value, changes=changes, problems=problems)
    return changes, problems


def public_voice(changes: Mapping[str, object]) -> dict[str, Any]:
    """Voice changes (column -> value) in the names and nesting of the request that makes them."""
    document: dict[str, Any] = {}
    for column, value in changes.items():
        setting = BY_COLUMN.get(column)  # None: connection_id, named as its column
        if setting is None or setting.group is None:
            document[column if setting is None else setting.name] = value
        else:
            document.setdefault(setting.group, {})[setting.name] = value
    return document


def _take(
    holder: str,
    group: str | None,
    name: str,
    value: object,
    *,
    changes: VoiceChanges,
    problems: list[tuple[str, str]],
) -> None:
    """Adds the field's column to `changes`, or what is wrong with it to `problems`; `holder`
    is the pointer to the object that holds it."""
    setting = SETTINGS.get((group, name))
    problem = _unknown_field(group, name) if setting is None else _value_problem(setting, value)
    if problem is not None:
        problems.append((holder + pointer(name), problem))
    elif setting is not None and isinstance(value, str | bool):
        changes[setting.column] = value


def _value_problem(setting: VoiceSetting, value: object) -> str | None:
    if setting.choices:
        if isinstance(value, str) and value in setting.choices:
            return None
        return f"{setting.name} must be one of: {', '.join(setting.choices)}."
    if setting.pattern is not None:
        if isinstance(value, str) and re.fullmatch(setting.pattern, value):
            return None
        return f"{setting.name} must be {setting.rule}."
    return None if isinstance(value, bool) else f"{setting.name} must be true or false."


def _unknown_field(group: str | None, name: str) -> str:
    if group is not None:
        return f"{name} is not a field of {group}."
    if name in READ_ONLY_FIELDS:
        return f"{name} is read-only."
    if name in CHANGED_ELSEWHERE:
        return f"{name} is changed with {CHANGED_ELSEWHERE[name]}."
    return f"{name} is not a field of UpdatePhoneNumberVoiceSettingsRequest."


def _voice_response(connection: Connection, caller: Caller, number: PhoneNumber) -> Response:
    settings = find_voice_settings(connection, caller.account_id, [number.id])[number.id]
    document = {"data": phone_number_with_voice_settings(number, settings)}
    return Response(encode(document), media_type="application/json")
