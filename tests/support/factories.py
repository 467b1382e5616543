"""Test data: valid import records with fresh numbers; accounts loaded through the real import."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import orjson

from numbers_api.importing.run import import_records
from numbers_api.store.accounts import create_account
from numbers_api.store.database import Database

_sequence = itertools.count()


def fresh_number() -> str:
    """A valid US number that no other call returns: +1 720 NXX XXXX."""
    n = next(_sequence)
    return f"+1720{200 + n // 10_000:03d}{n % 10_000:04d}"


def number_record(**fields: Any) -> dict[str, Any]:
    """An import record: a fresh number, plus whatever fields the test cares about."""
    return {"phone_number": fresh_number(), **fields}


class Inventory:
    """Accounts and their numbers in one database, loaded the way users load them."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def account(self, name: str) -> str:
        """A new account; returns its API key."""
        return create_account(self.database, name)

    def load(self, account: str, records: Iterable[dict[str, Any]]) -> None:
        problems: list[tuple[int, str, str]] = []
        report = import_records(
            self.database,
            account,
            enumerate(records, start=1),
            lambda line, field, reason: problems.append((line, field, reason)),
        )
        assert report.ok, problems

    def measure_messaging(self, number_id: str, **columns: Any) -> None:
        """Set messaging columns that Telnyx measures and no import record carries
        (`eligible_messaging_products`, `message_count`, the ratios)."""
        values = [orjson.dumps(v).decode() if isinstance(v, list) else v for v in columns.values()]
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self.database.transaction() as connection:
            connection.execute(
                f"UPDATE phone_numbers SET {assignments} WHERE id = ?", [*values, int(number_id)]
            )
