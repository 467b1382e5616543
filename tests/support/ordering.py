"""Test data for number orders: numbers in the available pool, what an account's searches
returned, and reservations, written straight into their tables (the search and the
reservations are built elsewhere; an order only reads these rows)."""

from __future__ import annotations

import itertools
import time
import uuid

from numbers_api.store.accounts import account_id
from numbers_api.store.database import Database
from tests.support.factories import fresh_number

HOUR_MS = 3600 * 1000
_german = itertools.count()


def fresh_german_number() -> str:
    """A valid Berlin number that no other call returns (DE local needs requirements)."""
    return f"+49301{next(_german) % 100_000:05d}"


def now_ms() -> int:
    return int(time.time() * 1000)


class Pool:
    """The available pool of one database, and what its accounts searched and reserved."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def add(
        self,
        phone_number: str | None = None,
        *,
        country_code: str = "US",
        phone_number_type: str = "local",
        locality: str = "Denver",
        available_from: int = 0,
    ) -> str:
        """A number in the pool (a fresh US local one unless given; one already there is left as
        it is); returns it."""
        number = phone_number or fresh_number()
        with self.database.transaction() as connection:
            connection.execute(
                "INSERT INTO available_numbers (phone_number, country_code, phone_number_type, "
                "national_destination_code, locality, administrative_area, rate_center, features, "
                "currency, monthly_cost, upfront_cost, quickship, reservable, source, "
                "available_from) VALUES (?, ?, ?, '', ?, '', '', '[]', 'USD', '1.00', '1.00', "
                "TRUE, TRUE, 'test', ?) ON CONFLICT DO NOTHING",
                (number, country_code, phone_number_type, locality, available_from),
            )
        return number

    def searched(self, account: str, *numbers: str, at_ms: int | None = None) -> None:
        """The account's search returned the numbers (now, unless `at_ms` says when)."""
        with self.database.transaction() as connection:
            owner = account_id(connection, account)
            for number in numbers:
                connection.execute(
                    "INSERT INTO searched_numbers (account_id, phone_number, searched_at) "
                    "VALUES (?, ?, ?)",
                    (owner, number, now_ms() if at_ms is None else at_ms),
                )

    def found(self, account: str, count: int = 1) -> list[str]:
        """Fresh US numbers in the pool that the account's search just returned."""
        numbers = [self.add() for _ in range(count)]
        self.searched(account, *numbers)
        return numbers

    def found_german(self, account: str) -> str:
        """A fresh DE local number in the pool that the account's search just returned."""
        number = self.add(fresh_german_number(), country_code="DE", locality="Berlin")
        self.searched(account, number)
        return number

    def reserve(self, account: str, *numbers: str, expires_at: int | None = None) -> str:
        """The account holds the numbers reserved (30 minutes, unless `expires_at`); the
        reservation's id."""
        reservation = str(uuid.uuid4())
        now = now_ms()
        with self.database.transaction() as connection:
            owner = account_id(connection, account)
            connection.execute(
                "INSERT INTO number_reservations (id, account_id, status, created_at, updated_at) "
                "VALUES (?, ?, 'success', ?, ?)",
                (reservation, owner, now, now),
            )
            for number in numbers:
                connection.execute(
                    "INSERT INTO reserved_phone_numbers (id, reservation_id, account_id, "
                    "phone_number, status, expires_at, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, 'success', ?, ?, ?)",
                    (
                        str(uuid.uuid4()),
                        reservation,
                        owner,
                        number,
                        now + HOUR_MS / 2 if expires_at is None else expires_at,
                        now,
                        now,
                    ),
                )
        return reservation
