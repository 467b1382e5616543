"""Number reservations: numbers of the available pool held for one account for a while
(docs/ordering.md, "Reservations").

A hold is a `reserved_phone_numbers` row whose `expires_at` (milliseconds) has not passed: it
ends by time alone, with nothing to clean up. While it lasts no other account can reserve the
number (nor, once the orders are built, order it, nor find it in a search). Every writer that
makes a number unavailable to others takes the number's lock first (`lock_numbers`), so that two
accounts reserving one number at once never both get it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from numbers_api.query.conditions import Compares, Condition, Field, OneOf
from numbers_api.query.list_query import FilteredPage
from numbers_api.store.available_numbers import HELD, lock_numbers, unavailable_numbers
from numbers_api.store.database import Connection, in_chunks
from numbers_api.store.pages import account_page

RESERVED = "success"  # every reservation and reserved number: a refused one is never kept
# What makes a number unreservable, as the 422 says it after the number.
NOT_AVAILABLE = "is not available"
ALREADY_RESERVED = "is already reserved"
NOT_RESERVABLE = "cannot be reserved: it may only be ordered"
CHUNK = 500  # numbers bound in one statement (well below either engine's limit on parameters)
RESERVATION_COLUMNS = "id, status, customer_reference, created_at, updated_at"
NUMBER_COLUMNS = "reservation_id, id, phone_number, status, expires_at, created_at, updated_at"


@dataclass(frozen=True, slots=True)
class ReservedNumber:
    id: str
    phone_number: str
    status: str
    expires_at: int
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    status: str
    customer_reference: str | None
    created_at: int
    updated_at: int
    phone_numbers: list[ReservedNumber]


class NumbersUnavailable(Exception):
    """Numbers that cannot be reserved: each with why, as `unavailable_numbers` says it."""

    def __init__(self, reasons: dict[str, str]) -> None:
        super().__init__(", ".join(f"{number} {why}" for number, why in reasons.items()))
        self.reasons = reasons


class ReservationExpired(Exception):
    """None of the reservation's numbers is still held: there is nothing to extend."""


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _selected(connection: Connection, sql: str, numbers: Sequence[str], *rest: Any) -> set[str]:
    """The numbers a statement selects; `sql` has `{numbers}` where the numbers' placeholders
    go, first among its parameters, and `rest` after them."""
    found: set[str] = set()
    for chunk in in_chunks(numbers, CHUNK):
        rows = connection.execute(sql.format(numbers=_marks(chunk)), [*chunk, *rest])
        found.update(row[0] for row in rows)
    return found


def _reasons(
    connection: Connection, account_id: int, phone_numbers: Sequence[str], now_ms: int
) -> dict[str, str]:
    """Why each number the account cannot reserve now cannot be, in this API's words."""
    return {
        number: ALREADY_RESERVED if reason == HELD else NOT_AVAILABLE
        for number, reason in unavailable_numbers(
            connection, account_id, phone_numbers, now_ms
        ).items()
    }


def create_reservation(
    connection: Connection,
    account_id: int,
    phone_numbers: Sequence[str],
    customer_reference: str | None,
    *,
    now_ms: int,
    hold_ms: int,
) -> Reservation:
    """A reservation holding every number for `hold_ms`; raises NumbersUnavailable, having
    written nothing, if any cannot be reserved. A number the account holds already is held
    again by the new reservation (its earlier one keeps its own expiry)."""
    phone_numbers = list(dict.fromkeys(phone_numbers))  # each once
    lock_numbers(connection, phone_numbers)
    reasons = _reasons(connection, account_id, phone_numbers, now_ms)
    unreservable = _selected(
        connection,
        "SELECT phone_number FROM available_numbers WHERE phone_number IN ({numbers}) "
        "AND NOT reservable",
        phone_numbers,
    )
    reasons.update({n: NOT_RESERVABLE for n in unreservable if n not in reasons})
    if reasons:
        raise NumbersUnavailable({n: reasons[n] for n in phone_numbers if n in reasons})
    reservation_id = str(uuid.uuid4())
    connection.execute(
        f"INSERT INTO number_reservations ({RESERVATION_COLUMNS}, account_id) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (reservation_id, RESERVED, customer_reference, now_ms, now_ms, account_id),
    )
    hold = (RESERVED, now_ms + hold_ms, now_ms, now_ms, account_id)
    connection.copy_rows(
        "reserved_phone_numbers",
        (*NUMBER_COLUMNS.split(", "), "account_id"),
        [(reservation_id, str(uuid.uuid4()), number, *hold) for number in phone_numbers],
    )
    reservation = find_reservation(connection, account_id, reservation_id)
    assert reservation is not None
    return reservation


def extend_reservation(
    connection: Connection, account_id: int, reservation_id: str, *, now_ms: int, hold_ms: int
) -> Reservation | None:
    """The reservation, each of its numbers still held now held for `hold_ms` from now; None if
    the account has no such reservation. Raises ReservationExpired, changing nothing, if none of
    its numbers is held any more (expired, or ordered)."""
    if find_reservation(connection, account_id, reservation_id) is None:
        return None
    numbers = [
        row[0]
        for row in connection.execute(
            "SELECT phone_number FROM reserved_phone_numbers WHERE reservation_id = ? "
            "ORDER BY phone_number",
            (reservation_id,),
        )
    ]
    lock_numbers(connection, numbers)
    held = _selected(
        connection,
        "SELECT phone_number FROM reserved_phone_numbers WHERE phone_number IN ({numbers}) "
        "AND reservation_id = ? AND expires_at > ?",
        numbers,
        reservation_id,
        now_ms,
    )
    # A number imported into an inventory meanwhile is no longer the account's to hold.
    extendable = sorted(
        held - set(unavailable_numbers(connection, account_id, sorted(held), now_ms))
    )
    if not extendable:
        raise ReservationExpired(reservation_id)
    for chunk in in_chunks(extendable, CHUNK):
        connection.execute(
            "UPDATE reserved_phone_numbers SET expires_at = ?, updated_at = ? "
            f"WHERE reservation_id = ? AND phone_number IN ({_marks(chunk)})",
            [now_ms + hold_ms, now_ms, reservation_id, *chunk],
        )
    connection.execute(
        "UPDATE number_reservations SET updated_at = ? WHERE id = ?", (now_ms, reservation_id)
    )
    return find_reservation(connection, account_id, reservation_id)


def end_holds(
    connection: Connection, account_id: int, phone_numbers: Sequence[str], now_ms: int
) -> None:
    """The account's holds of these numbers ended now (the account ordered them): their
    reservations show them expired at this time, and extending no longer holds them."""
    for chunk in in_chunks(list(dict.fromkeys(phone_numbers)), CHUNK):
        connection.execute(
            "UPDATE reserved_phone_numbers SET expires_at = ?, updated_at = ? "
            f"WHERE account_id = ? AND expires_at > ? AND phone_number IN ({_marks(chunk)})",
            [now_ms, now_ms, account_id, now_ms, *chunk],
        )


def find_reservation(
    connection: Connection, account_id: int, reservation_id: str
) -> Reservation | None:
    row = connection.execute(
        f"SELECT {RESERVATION_COLUMNS} FROM number_reservations WHERE id = ? AND account_id = ?",
        (reservation_id, account_id),
    ).fetchone()
    return None if row is None else _with_numbers(connection, [row])[0]


def list_reservations(
    connection: Connection, account_id: int, query: FilteredPage
) -> tuple[int, list[Reservation]]:
    """The exact number of the account's reservations that match, and the query's page of them,
    newest first."""
    total, rows = account_page(
        connection,
        table="number_reservations r",
        columns=RESERVATION_COLUMNS,
        account_id=account_id,
        clauses=[_condition(condition) for condition in query.conditions],
        order_by="r.created_at DESC, r.id DESC",
        page=query.page,
    )
    return total, _with_numbers(connection, rows)


COLUMNS = {Field.STATUS: "r.status", Field.CUSTOMER_REFERENCE: "r.customer_reference"}


def _condition(condition: Condition) -> tuple[str, Sequence[object]]:
    match condition:
        case OneOf(Field.PHONE_NUMBER, numbers):
            return (
                "EXISTS (SELECT 1 FROM reserved_phone_numbers n WHERE n.reservation_id = r.id "
                f"AND n.phone_number IN ({_marks(numbers)}))",
                numbers,
            )
        case OneOf(field, values):
            return f"{COLUMNS[field]} IN ({_marks(values)})", values
        case Compares(Field.CREATED_AT, operator, ms) if operator in ("<", ">"):
            return f"r.created_at {operator} ?", (ms,)
    raise AssertionError(f"reservations have no condition {condition!r}")


def _with_numbers(connection: Connection, rows: Sequence[Sequence[Any]]) -> list[Reservation]:
    numbers: dict[str, list[ReservedNumber]] = {row[0]: [] for row in rows}
    for chunk in in_chunks(list(numbers), CHUNK):
        for reservation_id, *values in connection.execute(
            f"SELECT {NUMBER_COLUMNS} FROM reserved_phone_numbers "
            f"WHERE reservation_id IN ({_marks(chunk)}) ORDER BY reservation_id, phone_number",
            chunk,
        ):
            number_id, number, status, expires_at, created_at, updated_at = values
            numbers[reservation_id].append(
                ReservedNumber(
                    number_id, number, status, int(expires_at), int(created_at), int(updated_at)
                )
            )
    return [
        Reservation(
            reservation_id,
            status,
            reference,
            int(created_at),
            int(updated_at),
            numbers[reservation_id],
        )
        for reservation_id, status, reference, created_at, updated_at in rows
    ]
