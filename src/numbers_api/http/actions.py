"""The actions on phone numbers: `POST /v2/phone_numbers/{id}/actions/enable_emergency`,
`PATCH /v2/phone_numbers/{id}/actions/bundle_status_change` and
`POST /v2/phone_numbers/actions/verify_ownership`.

Another account's number answers exactly as a number that does not exist: 404, and for
verify_ownership, `not_found`.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from numbers_api.domain import PhoneNumber
from numbers_api.http.bodies import boolean, checked_body, identifier
from numbers_api.http.errors import error_object, error_response
from numbers_api.http.handlers import Asked
from numbers_api.http.phone_number import (
    InvalidBody,
    invalid_id,
    now_ms,
    number_not_found,
    parse_id,
)
from numbers_api.serialisation import encode, phone_number_with_voice_settings
from numbers_api.store.accounts import Caller
from numbers_api.store.actions import InAnotherBundle, change_bundle, owned_numbers
from numbers_api.store.database import Connection
from numbers_api.store.emergency import set_emergency
from numbers_api.store.voice_settings import find_voice_settings

E164 = re.compile(r"\+[1-9][0-9]{1,14}")
MAX_VERIFIED_NUMBERS = 1000


def enable_emergency_endpoint(asked: Asked) -> Response:
    caller = asked.caller
    raw_id = asked.path()
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id)
    try:
        request = checked_body(
            asked.body,
            {"emergency_enabled": boolean, "emergency_address_id": identifier},
            schema="PhoneNumberEnableEmergencyRequest",
            required=("emergency_enabled", "emergency_address_id"),
        )
    except InvalidBody as invalid:
        return invalid.response
    with asked.worker.database.transaction() as connection:
        number = set_emergency(
            connection,
            caller.account_id,
            number_id,
            emergency_enabled=request["emergency_enabled"],
            emergency_address_id=request["emergency_address_id"],
            now_ms=now_ms(),
        )
        if number is None:
            return number_not_found(raw_id)
        return _voice_settings_response(connection, caller, number)


def _bundle_id(value: Any) -> str | None:
    return None if value is None else identifier(value)


def bundle_status_change_endpoint(asked: Asked) -> Response:
    caller = asked.caller
    raw_id = asked.path()
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id)
    try:
        request = checked_body(
            asked.body,
            {"bundle_id": _bundle_id},
            schema="PhoneNumberBundleStatusChangeRequest",
            required=("bundle_id",),
        )
    except InvalidBody as invalid:
        return invalid.response
    bundle_id: str | None = request["bundle_id"]
    try:
        with asked.worker.database.transaction() as connection:
            number = change_bundle(connection, caller.account_id, number_id, bundle_id, now_ms())
            if number is None:
                return number_not_found(raw_id)
            return _voice_settings_response(connection, caller, number, bundle_id=bundle_id)
    except InAnotherBundle as refused:
        return error_response(
            422,
            [
                error_object(
                    "10015",
                    "Bad Request",
                    f"Phone number {raw_id} is in bundle {refused.bundle_id}: remove it from "
                    "that bundle (bundle_id null) before assigning it to another.",
                    pointer="/bundle_id",
                )
            ],
        )


def _phone_numbers(value: Any) -> str | None:
    if not isinstance(value, list):
        return "must be an array of phone numbers in +E.164 format"
    if not value:
        return "must hold at least 1 phone number"
    if len(value) > MAX_VERIFIED_NUMBERS:
        return f"must hold at most {MAX_VERIFIED_NUMBERS} phone numbers"
    for index, item in enumerate(value):
        if not isinstance(item, str) or E164.fullmatch(item) is None:
            return f"must hold phone numbers in +E.164 format (+19705555098); item {index} is not"
    return None


def verify_ownership_endpoint(asked: Asked) -> Response:
    caller = asked.caller
    try:
        request = checked_body(
            asked.body,
            {"phone_numbers": _phone_numbers},
            schema="PhoneNumberVerifyOwnershipRequest",
            required=("phone_numbers",),
        )
    except InvalidBody as invalid:
        return invalid.response
    numbers = list(dict.fromkeys(request["phone_numbers"]))  # each once, in the order given
    with asked.worker.database.snapshot() as connection:
        owned = owned_numbers(connection, caller.account_id, numbers)
    data = {
        "found": [{"id": str(owned[n]), "number_val_e164": n} for n in numbers if n in owned],
        "not_found": [n for n in numbers if n not in owned],
        "record_type": "number_ownership_verification",
    }
    return Response(encode({"data": data}), media_type="application/json")


def _voice_settings_response(
    connection: Connection, caller: Caller, number: PhoneNumber, **extra: object
) -> Response:
    """`{"data": PhoneNumberWithVoiceSettings}` of the number after the action, with `extra`."""
    settings = find_voice_settings(connection, caller.account_id, [number.id])[number.id]
    data = {**phone_number_with_voice_settings(number, settings), **extra}
    return Response(encode({"data": data}), media_type="application/json")
