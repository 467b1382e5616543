"""`GET /v2/phone_numbers/voice` and `GET`, `PATCH /v2/phone_numbers/{id}/voice`: numbers with
their voice settings (`PhoneNumberWithVoiceSettings`).

Each setting is kept once, in its phone_numbers column, so a change here shows in the main list
(`call_forwarding_enabled`, `usage_payment_method`, ...) and its filters and sorts at once.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from numbers_api.domain import VOICE_SETTINGS, PhoneNumber, VoiceSetting
from numbers_api.http.phone_number import (
    InvalidBody,
    invalid_fields,
    invalid_id,
    is_text,
    json_object,
    now_ms,
    number_not_found,
    parse_id,
    pointer,
    unknown_connection,
)
from numbers_api.http.phone_numbers import ListView
from numbers_api.query.filters import VOICE_FILTERS
from numbers_api.query.list_query import ListQuery
from numbers_api.serialisation import encode, phone_number_with_voice_settings
from numbers_api.store.accounts import Caller
from numbers_api.store.database import Connection, Database
from numbers_api.store.phone_number import UnknownConnection, find_number
from numbers_api.store.voice_settings import Settings, find_voice_settings, update_voice_settings

SETTINGS = {(setting.group, setting.name): setting for setting in VOICE_SETTINGS}
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


VOICE_VIEW = ListView(VOICE_FILTERS, _items)


def retrieve_endpoint(connection: Connection, caller: Caller, raw_id: str) -> Response:
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id)
    number = find_number(connection, caller.account_id, number_id)
    if number is None:
        return number_not_found(raw_id)
    return _voice_response(connection, caller, number)


def update_endpoint(database: Database, caller: Caller, raw_id: str, body: bytes) -> Response:
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id)
    try:
        changes = parse_voice_update(body)
    except InvalidBody as invalid:
        return invalid.response
    try:
        with database.transaction() as connection:
            current = find_voice_settings(connection, caller.account_id, [number_id])
            if number_id not in current:
                return number_not_found(raw_id)
            if _lists_cnam_without_details(current[number_id], changes):
                detail = (
                    "cnam_listing_enabled needs cnam_listing_details: at most 15 letters, "
                    "digits or spaces."
                )
                return invalid_fields([(CNAM_DETAILS, detail)])
            number = update_voice_settings(
                connection, caller.account_id, number_id, changes, now_ms()
            )
            if number is None:
                return number_not_found(raw_id)
            return _voice_response(connection, caller, number)
    except UnknownConnection as unknown:
        return unknown_connection(unknown)


def parse_voice_update(body: bytes) -> VoiceChanges:
    """The columns an `UpdatePhoneNumberVoiceSettingsRequest` body sets; raises InvalidBody with
    every mistake in it (422, each naming its field in `source.pointer`, nested ones too:
    `/call_forwarding/forwards_to`), or 400 if it is not JSON at all."""
    changes: VoiceChanges = {}
    problems: list[tuple[str, str]] = []
    for name, value in json_object(body).items():
        if name in GROUPS and not isinstance(value, dict):
            problems.append((pointer(name), f"{name} must be an object."))
        elif name in GROUPS:
            for key, inner in value.items():
                _take(name, key, inner, changes, problems)
        elif name == "connection_id":
            if is_text(value):
                changes[name] = value or None  # "" removes the connection
            else:
                problems.append((pointer(name), f"{name} must be a string without NUL characters."))
        else:
            _take(None, name, value, changes, problems)
    if problems:
        raise InvalidBody(invalid_fields(problems))
    return changes


def _take(
    group: str | None,
    name: str,
    value: object,
    changes: VoiceChanges,
    problems: list[tuple[str, str]],
) -> None:
    """Adds the field's column to `changes`, or what is wrong with it to `problems`."""
    setting = SETTINGS.get((group, name))
    problem = _unknown_field(group, name) if setting is None else _value_problem(setting, value)
    if problem is not None:
        where = pointer(name) if group is None else pointer(group) + pointer(name)
        problems.append((where, problem))
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


def _lists_cnam_without_details(current: Settings, changes: VoiceChanges) -> bool:
    """Whether the change leaves a CNAM listing enabled without its details, which Telnyx's
    contract says it requires (checked only when the change touches the CNAM listing)."""
    if "cnam_listing_enabled" not in changes and "cnam_listing_details" not in changes:
        return False
    after = {**current, **changes}
    return bool(after["cnam_listing_enabled"]) and not after["cnam_listing_details"]


def _voice_response(connection: Connection, caller: Caller, number: PhoneNumber) -> Response:
    settings = find_voice_settings(connection, caller.account_id, [number.id])[number.id]
    document = {"data": phone_number_with_voice_settings(number, settings)}
    return Response(encode(document), media_type="application/json")
