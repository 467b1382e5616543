"""`GET`, `PATCH` and `DELETE /v2/phone_numbers/{id}`: one number of the caller's account.

Another account's number answers exactly as a number that does not exist: 404.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson
from starlette.responses import Response

from numbers_api.domain import (
    CURRENT_NUMBER_TYPES,
    LEGACY_NUMBER_TYPES,
    MAX_TAGS,
    TEXT_RULE,
    PhoneNumber,
    is_text,
)
from numbers_api.http.errors import error_object, error_response, profiles_left_out
from numbers_api.http.handlers import Asked
from numbers_api.serialisation import encode, phone_number_detailed
from numbers_api.store.accounts import Caller
from numbers_api.store.database import Connection
from numbers_api.store.messaging_profiles import (
    MessagingProfileDirectory,
    MessagingProfilesUnavailable,
)
from numbers_api.store.phone_number import (
    Changes,
    DeletionLocked,
    MissingAssociation,
    delete_number,
    find_number,
    update_number,
)

# Ids as the server writes them: decimal, no leading zero (so that an id names one number only).
ID_PATTERN = re.compile(r"[1-9][0-9]{0,18}")
MAX_ID = 2**63 - 1  # the largest id either engine stores
TEXT_FIELDS = ("external_pin", "connection_id", "customer_reference", "billing_group_id")
# For these, an empty string means "none": no connection or billing group has an empty id.
DETACHABLE_FIELDS = ("connection_id", "billing_group_id")
READ_ONLY_FIELDS = ("id",)
# In Telnyx's UpdatePhoneNumberRequest, but not kept by this server (no number shows it).
UNSUPPORTED_FIELDS = ("address_id",)


T = TypeVar("T")


class InvalidBody(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("invalid request body")
        self.response = response


def retrieve_endpoint(connection: Connection, asked: Asked) -> Response:
    caller = asked.caller
    raw_id = asked.path()
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id)
    number = find_number(connection, caller.account_id, number_id)
    if number is None:
        return number_not_found(raw_id)
    return number_response(connection, caller, number, asked.worker.profiles)


def update_endpoint(asked: Asked) -> Response:
    caller = asked.caller
    raw_id = asked.path()
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id)
    try:
        changes = parse_update(asked.body)
    except InvalidBody as invalid:
        return invalid.response
    try:
        with asked.worker.database.transaction() as connection:
            number = update_number(connection, caller.account_id, number_id, changes, now_ms())
            if number is None:
                return number_not_found(raw_id)
            return number_response(connection, caller, number, asked.worker.profiles)
    except MissingAssociation as missing:
        return missing_association_error(missing)


def missing_association_error(missing: MissingAssociation, prefix: str = "") -> Response:
    """422 for a reference the account lacks; `prefix` points to the object holding the field
    (`/voice` in a job's body)."""
    return error_response(
        422,
        [
            error_object(
                "10013",
                "Missing association",
                str(missing),
                pointer=f"{prefix}/{missing.field}",
            )
        ],
    )


def delete_endpoint(asked: Asked) -> Response:
    caller = asked.caller
    raw_id = asked.path()
    number_id = parse_id(raw_id)
    if number_id is None:
        return invalid_id(raw_id)
    try:
        with asked.worker.database.transaction() as connection:
            number = delete_number(connection, caller.account_id, number_id, now_ms())
            if number is None:
                return number_not_found(raw_id)
            return number_response(
                connection, caller, number, asked.worker.profiles, as_deleted=True
            )
    except DeletionLocked:
        return deletion_locked(
            f"Phone number {raw_id} has deletion lock enabled, so it cannot be deleted."
        )


def deletion_locked(detail: str) -> Response:
    return error_response(422, [error_object("10015", "Deletion lock enabled", detail)])


def parse_id(raw_id: str) -> int | None:
    if ID_PATTERN.fullmatch(raw_id) is None:
        return None
    # A well-formed id above the largest stored one names no number: 0 never matches a row.
    return int(raw_id) if int(raw_id) <= MAX_ID else 0


def parse_body(
    body: bytes, changes_of: Callable[[Mapping[str, Any]], tuple[T, list[tuple[str, str]]]]
) -> T:
    """What a body's JSON object asks for, as `changes_of` reads it; raises InvalidBody with every
    mistake in it (422, each naming its field in `source.pointer`), or 400 if it is not JSON."""
    changes, problems = changes_of(json_object(body))
    if problems:
        raise InvalidBody(invalid_fields(problems))
    return changes


def parse_update(body: bytes) -> Changes:
    """The fields an `UpdatePhoneNumberRequest` body sets (see `parse_body`)."""
    return parse_body(body, update_changes)


def update_changes(
    document: Mapping[str, Any], schema: str = "UpdatePhoneNumberRequest"
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The changes a body's `UpdatePhoneNumberRequest` fields ask for, and (pointer, problem)
    for each field that is not one of them or has a wrong value; `schema` names the body's."""
    changes: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for name, value in document.items():
        problem = _field_problem(name, value, schema)
        if problem is not None:
            problems.append((pointer(name), problem))
        elif name in DETACHABLE_FIELDS and value == "":
            changes[name] = None
        elif name == "tags":
            changes[name] = list(dict.fromkeys(value))  # a repeated tag is kept once
        else:
            changes[name] = value
    return changes, problems


def json_object(body: bytes, invalid_json_status: int = 400) -> dict[str, Any]:
    """The body as a JSON object; raises InvalidBody: `invalid_json_status` (code 10023) if it is
    not JSON at all, 422 if it is JSON but not an object."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidBody(
            error_response(
                invalid_json_status,
                [error_object("10023", "Invalid JSON", "The request body is not valid JSON.")],
            )
        ) from None
    if not isinstance(document, dict):
        raise InvalidBody(invalid_fields([("", "The request body must be a JSON object.")]))
    return document


def _field_problem(name: str, value: object, schema: str) -> str | None:
    if name in READ_ONLY_FIELDS:
        return f"{name} is read-only."
    if name in UNSUPPORTED_FIELDS:
        return f"{name} is not supported by this server."
    if name == "hd_voice_enabled":
        return None if isinstance(value, bool) else f"{name} must be true or false."
    if name == "tags":
        problem = tag_list(value)
        return None if problem is None else f"tags {problem}."
    if name in TEXT_FIELDS:
        return None if is_text(value) else f"{name} must be a string {TEXT_RULE}."
    return f"{name} is not a field of {schema}."


def tag_list(value: object) -> str | None:
    """What is wrong with a body's list of tags, or None."""
    if not (isinstance(value, list) and all(is_text(t) and t for t in value)):
        return f"must be an array of non-empty strings {TEXT_RULE}"
    if len(set(value)) > MAX_TAGS:
        return f"must hold at most {MAX_TAGS} different tags, got {len(set(value)):,}"
    return None


def pointer(name: str) -> str:
    """The JSON pointer (RFC 6901) to a top-level member."""
    return "/" + name.replace("~", "~0").replace("/", "~1")


def invalid_fields(problems: list[tuple[str, str]]) -> Response:
    return error_response(
        422,
        [error_object("10015", "Bad Request", detail, pointer=p) for p, detail in problems],
    )


def invalid_id(raw_id: str, *, status: int = 400, parameter: str = "id") -> Response:
    """A malformed id in the path: 400, or the status the operation's contract has for it."""
    return error_response(
        status,
        [
            error_object(
                "10006",
                "Invalid ID",
                f"{raw_id!r} is not a phone number id: ids are decimal integers, "
                "without leading zeros.",
                parameter=parameter,
            )
        ],
    )


def number_not_found(raw_id: str) -> Response:
    return error_response(
        404,
        [error_object("10005", "Resource not found", f"There is no phone number {raw_id}.")],
    )


def _as_deleted(item: dict[str, Any]) -> dict[str, Any]:
    """A number as Telnyx's PhoneNumberDeletedDetailed allows: no nulls (none of its properties
    is required, so they are left out) and no legacy number type (`tollfree` by its current name;
    one that has none is left out)."""
    item = {name: value for name, value in item.items() if value is not None}
    number_type = item["phone_number_type"]
    current = [new for new, legacy in LEGACY_NUMBER_TYPES.items() if number_type in legacy]
    if current:
        item["phone_number_type"] = current[0]
    elif number_type not in CURRENT_NUMBER_TYPES:
        del item["phone_number_type"]
    return item


def number_response(
    connection: Connection,
    caller: Caller,
    number: PhoneNumber,
    profiles: MessagingProfileDirectory,
    *,
    as_deleted: bool = False,
) -> Response:
    """`{"data": number}`; if messaging-profile information cannot be loaded, the number without
    it and the failure in `errors` (never an error status: a write has already happened)."""
    ids = {number.messaging_profile_id} if number.messaging_profile_id else set()
    errors: list[dict[str, Any]] = []
    try:
        names: dict[str, str | None] | None = profiles.names(connection, caller.account_id, ids)
    except MessagingProfilesUnavailable as failure:
        names = None
        errors.append(profiles_left_out(failure))
    item = phone_number_detailed(number, names)
    if as_deleted:
        item = _as_deleted(item)
    document: dict[str, Any] = {"data": item}
    if errors:
        document["errors"] = errors
    return Response(encode(document), media_type="application/json")


def now_ms() -> int:
    return int(time.time() * 1000)
