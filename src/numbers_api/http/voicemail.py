"""`GET`, `POST` and `PATCH /v2/phone_numbers/{phone_number_id}/voicemail`: a number's voicemail
settings, which exist only once `POST` has created them.

The contract lists no 400 for `POST` and `PATCH`: there its "Bad request" is 422, so a malformed
id or body is answered 422 (with the codes a 400 would have).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from numbers_api.http.bodies import Check, boolean, checked_body
from numbers_api.http.errors import error_object, error_response
from numbers_api.http.handlers import Asked
from numbers_api.http.phone_number import InvalidBody, invalid_id, number_not_found, parse_id
from numbers_api.serialisation import encode
from numbers_api.store.database import Connection
from numbers_api.store.voicemail import (
    NoSuchNumber,
    Voicemail,
    VoicemailExists,
    VoicemailFields,
    create_voicemail,
    find_voicemail,
    update_voicemail,
)

PARAMETER = "phone_number_id"
BAD_REQUEST_STATUS = 422
# Keyed in on a telephone keypad.
PIN_PATTERN = re.compile(r"[0-9]{4,10}")


def _pin(value: Any) -> str | None:
    if isinstance(value, str) and PIN_PATTERN.fullmatch(value):
        return None
    return "must be a string of 4 to 10 digits"


def _greeting(value: Any) -> str | None:
    return "is not supported by this server (it plays media from Telnyx's Media Storage)"


CHECKS: dict[str, Check] = {"enabled": boolean, "pin": _pin, "greeting": _greeting}


def retrieve_endpoint(connection: Connection, asked: Asked) -> Response:
    caller = asked.caller
    raw_id = asked.path(PARAMETER)
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id, parameter=PARAMETER)
    try:
        voicemail = find_voicemail(connection, caller.account_id, number_id)
    except NoSuchNumber:
        return number_not_found(raw_id)
    return _no_voicemail(raw_id) if voicemail is None else _voicemail_response(voicemail)


def create_endpoint(asked: Asked) -> Response:
    return _write(asked, create_voicemail)


def update_endpoint(asked: Asked) -> Response:
    return _write(asked, update_voicemail)


def _write(
    asked: Asked, write: Callable[[Connection, int, int, VoicemailFields], Voicemail | None]
) -> Response:
    caller, raw_id = asked.caller, asked.path(PARAMETER)
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id, status=BAD_REQUEST_STATUS, parameter=PARAMETER)
    try:
        fields = VoicemailFields(
            **checked_body(
                asked.body,
                CHECKS,
                schema="VoicemailRequest",
                invalid_json_status=BAD_REQUEST_STATUS,
            )
        )
    except InvalidBody as invalid:
        return invalid.response
    try:
        with asked.worker.database.transaction() as connection:
            voicemail = write(connection, caller.account_id, number_id, fields)
    except NoSuchNumber:
        return number_not_found(raw_id)
    except VoicemailExists:
        return error_response(
            422,
            [
                error_object(
                    "10015",
                    "Voicemail settings exist",
                    f"Phone number {raw_id} already has voicemail settings: change them with "
                    "PATCH.",
                )
            ],
        )
    return _no_voicemail(raw_id) if voicemail is None else _voicemail_response(voicemail)


def _no_voicemail(raw_id: str) -> Response:
    return error_response(
        404,
        [
            error_object(
                "10005",
                "Resource not found",
                f"Phone number {raw_id} has no voicemail settings: create them with POST.",
            )
        ],
    )


def _voicemail_response(voicemail: Voicemail) -> Response:
    """`VoicemailPrefResponse`; a pin never set is left out (the schema allows no null)."""
    data: dict[str, Any] = {"enabled": voicemail.enabled}
    if voicemail.pin is not None:
        data["pin"] = voicemail.pin
    return Response(encode({"data": data}), media_type="application/json")
