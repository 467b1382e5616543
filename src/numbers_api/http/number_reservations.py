"""Number reservations: `POST /v2/number_reservations` holds numbers of the available pool for the
caller's account (30 minutes, or `NUMBERS_API_RESERVATION_SECONDS`), `GET /v2/number_reservations`
and `GET /v2/number_reservations/{id}` show them, and `POST .../{id}/actions/extend` holds their
numbers again from now (docs/ordering.md, "Reservations").

A reservation is all or nothing: if any number cannot be reserved, the 422 names each such number
and nothing is held. Another account's reservation answers 404, as one that does not exist.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from numbers_api.domain import TEXT_RULE, is_text
from numbers_api.http.bodies import checked_body
from numbers_api.http.errors import error_object, error_response
from numbers_api.http.filtered_lists import filtered_list
from numbers_api.http.handlers import Asked
from numbers_api.http.jobs import E164, JOB_ID
from numbers_api.http.phone_number import InvalidBody, invalid_fields, now_ms
from numbers_api.query.reservation_query import NUMBER_RESERVATION_FILTERS
from numbers_api.serialisation import encode, format_timestamp
from numbers_api.settings import reservation_ms_from_environment
from numbers_api.store.database import Connection
from numbers_api.store.number_reservations import (
    NumbersUnavailable,
    Reservation,
    ReservationExpired,
    ReservedNumber,
    create_reservation,
    extend_reservation,
    find_reservation,
    list_reservations,
)

MAX_NUMBERS = 100  # numbers one reservation holds
SCHEMA = "CreateNumberReservationRequest"
ID_PARAMETER = "number_reservation_id"


def create_endpoint(asked: Asked) -> Response:
    try:
        document = checked_body(
            asked.body,
            {"phone_numbers": _phone_numbers_problem, "customer_reference": _reference_problem},
            schema=SCHEMA,
            required=("phone_numbers",),
        )
    except InvalidBody as invalid:
        return invalid.response
    numbers = [item["phone_number"] for item in document["phone_numbers"]]
    try:
        with asked.worker.database.transaction() as connection:
            reservation = create_reservation(
                connection,
                asked.caller.account_id,
                numbers,
                document.get("customer_reference"),
                now_ms=now_ms(),
                hold_ms=reservation_ms_from_environment(),
            )
    except NumbersUnavailable as unavailable:
        return invalid_fields(
            [
                (f"/phone_numbers/{numbers.index(number)}/phone_number", f"{number} {why}.")
                for number, why in unavailable.reasons.items()
            ]
        )
    return _response(reservation)


def _phone_numbers_problem(value: Any) -> str | None:
    if not isinstance(value, list):
        return 'must be an array of objects such as {"phone_number": "+19705555098"}'
    if not value:
        return "must hold at least 1 phone number"
    if len(value) > MAX_NUMBERS:
        return f"holds {len(value)} phone numbers; {MAX_NUMBERS} is the maximum allowed"
    seen: dict[str, int] = {}
    for index, item in enumerate(value):
        if not isinstance(item, dict) or list(item) != ["phone_number"]:
            return (
                f"must hold objects whose only field is phone_number; item {index} "
                f"({_shown(item)}) is not one"
            )
        number = item["phone_number"]
        if not isinstance(number, str) or not E164.fullmatch(number):
            return (
                f"must hold phone numbers in +E.164 format; item {index}'s phone_number "
                f"({_shown(number)}) is not one"
            )
        if number in seen:
            return f"holds {number} twice (items {seen[number]} and {index}); give each once"
        seen[number] = index
    return None


def _shown(value: Any) -> str:
    text = encode(value).decode()
    return text if len(text) <= 100 else f"{text[:100]}..."


def _reference_problem(value: Any) -> str | None:
    return None if is_text(value) else f"must be a string {TEXT_RULE}"


def retrieve_endpoint(connection: Connection, asked: Asked) -> Response:
    reservation_id = _reservation_id(asked)
    if isinstance(reservation_id, Response):
        return reservation_id
    reservation = find_reservation(connection, asked.caller.account_id, reservation_id)
    if reservation is None:
        return _not_found(asked)
    return _response(reservation)


def extend_endpoint(asked: Asked) -> Response:
    """Takes no body: one sent is not read."""
    reservation_id = _reservation_id(asked)
    if isinstance(reservation_id, Response):
        return reservation_id
    try:
        with asked.worker.database.transaction() as connection:
            reservation = extend_reservation(
                connection,
                asked.caller.account_id,
                reservation_id,
                now_ms=now_ms(),
                hold_ms=reservation_ms_from_environment(),
            )
    except ReservationExpired:
        return error_response(
            422,
            [
                error_object(
                    "10015",
                    "Reservation expired",
                    f"Number reservation {asked.path(ID_PARAMETER)} holds none of its numbers any "
                    "more (they expired or were ordered), so it cannot be extended; reserve the "
                    "numbers again.",
                    parameter=ID_PARAMETER,
                )
            ],
        )
    if reservation is None:
        return _not_found(asked)
    return _response(reservation)


def _reservation_id(asked: Asked) -> str | Response:
    """The path's reservation id (ids are UUIDs, in any case), or its 400."""
    raw_id = asked.path(ID_PARAMETER)
    if JOB_ID.fullmatch(raw_id.lower()) is None:
        return error_response(
            400,
            [
                error_object(
                    "10006",
                    "Invalid ID",
                    f"{raw_id!r} is not a number reservation id: reservation ids are UUIDs.",
                    parameter=ID_PARAMETER,
                )
            ],
        )
    return raw_id.lower()


def _not_found(asked: Asked) -> Response:
    detail = f"There is no number reservation {asked.path(ID_PARAMETER)}."
    return error_response(404, [error_object("10005", "Resource not found", detail)])


def _response(reservation: Reservation) -> Response:
    return Response(
        encode({"data": number_reservation(reservation)}), media_type="application/json"
    )


def number_reservation(reservation: Reservation) -> dict[str, Any]:
    """A `NumberReservation`; without customer_reference when none was given (the contract's
    is a string, never null)."""
    item: dict[str, Any] = {
        "id": reservation.id,
        "record_type": "number_reservation",
        "status": reservation.status,
        "phone_numbers": [reserved_phone_number(n) for n in reservation.phone_numbers],
        "created_at": format_timestamp(reservation.created_at),
        "updated_at": format_timestamp(reservation.updated_at),
    }
    if reservation.customer_reference is not None:
        item["customer_reference"] = reservation.customer_reference
    return item


def reserved_phone_number(number: ReservedNumber) -> dict[str, Any]:
    """A `ReservedPhoneNumber`: `expired_at` is when its hold ends or ended."""
    return {
        "id": number.id,
        "record_type": "reserved_phone_number",
        "phone_number": number.phone_number,
        "status": number.status,
        "expired_at": format_timestamp(number.expires_at),
        "created_at": format_timestamp(number.created_at),
        "updated_at": format_timestamp(number.updated_at),
    }


list_endpoint = filtered_list(NUMBER_RESERVATION_FILTERS, list_reservations, number_reservation)
