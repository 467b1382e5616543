"""The available pool, written directly: numbers a search could find and an account reserve."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from numbers_api.store.accounts import account_id
from numbers_api.store.database import Database
from tests.support.factories import fresh_number

POOL_COLUMNS: dict[str, Any] = {
    "country_code": "US",
    "phone_number_type": "local",
    "national_destination_code": "720",
    "locality": "Denver",
    "administrative_area": "CO",
    "rate_center": "DENVER",
    "features": orjson.dumps(["sms", "voice"]).decode(),
    "currency": "USD",
    "monthly_cost": "1.00",
    "upfront_cost": "1.00",
    "quickship": True,
    "reservable": True,
    "vanity_format": "",
    "source": "test",
    "available_from": 0,
}


def add_to_pool(database: Database, *numbers: str, **columns: Any) -> list[str]:
    """The numbers given (or one fresh number) in the pool, with `columns` instead of the
    defaults where given; the numbers."""
    numbers = numbers or (fresh_number(),)
    values = {**POOL_COLUMNS, **columns}
    with database.transaction() as connection:
        connection.copy_rows(
            "available_numbers",
            ("phone_number", *values),
            [(number, *values.values()) for number in numbers],
        )
    return list(numbers)


def pooled(database: Database, count: int, **columns: Any) -> list[str]:
    """`count` fresh numbers in the pool."""
    return add_to_pool(database, *(fresh_number() for _ in range(count)), **columns)


def expire_holds(database: Database, *numbers: str) -> None:
    """Every hold of these numbers ended a minute ago, as if the time had passed."""
    with database.transaction() as connection:
        for number in numbers:
            connection.execute(
                "UPDATE reserved_phone_numbers SET expires_at = ? WHERE phone_number = ?",
                (int(time.time() * 1000) - 60_000, number),
            )


def reservation_for(database: Database, account: str, reservation_id: str | None = None) -> str:
    """A reservation holding a fresh pool number for 30 minutes for the account named, with
    this id if given (the served document's example, say); its id."""
    [number] = pooled(database, 1)
    reservation_id = reservation_id or str(uuid.uuid4())
    now = int(time.time() * 1000)
    with database.transaction() as connection:
        owner = account_id(connection, account)
        connection.execute(
            "INSERT INTO number_reservations (id, account_id, status, created_at, updated_at) "
            "VALUES (?, ?, 'success', ?, ?)",
            (reservation_id, owner, now, now),
        )
        connection.execute(
            "INSERT INTO reserved_phone_numbers (id, reservation_id, account_id, phone_number, "
            "status, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'success', ?, ?, ?)",
            (str(uuid.uuid4()), reservation_id, owner, number, now + 30 * 60_000, now, now),
        )
    return reservation_id
