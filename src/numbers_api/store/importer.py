"""The store's side of an import: rows staged in a temporary table, checked against each other
and the database in SQL, then moved in one transaction (the caller's), so memory stays bounded."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from numbers_api.domain import BOOLEAN_FIELDS, TIMESTAMP_FIELDS
from numbers_api.store.accounts import bump_data_version
from numbers_api.store.database import Connection

# The order of `Row`'s values: the store's staging table has one column for each.
ROW_FIELDS = (
    "id",
    "phone_number",
    "country_iso_alpha2",
    "status",
    "tags",
    "external_pin",
    "connection_id",
    "connection_name",
    "connection_name_folded",
    "customer_reference",
    "messaging_profile_id",
    "messaging_profile_name",
    "billing_group_id",
    "emergency_enabled",
    "emergency_address_id",
    "emergency_status",
    "call_forwarding_enabled",
    "cnam_listing_enabled",
    "caller_id_name_enabled",
    "call_recording_enabled",
    "t38_fax_gateway_enabled",
    "phone_number_type",
    "inbound_call_screening",
    "usage_payment_method",
    "hd_voice_enabled",
    "source_type",
    "deletion_lock_enabled",
    "purchased_at",
    "created_at",
    "updated_at",
)
Row = tuple[Any, ...]

NUMBER_COLUMNS = [
    name
    for name in ROW_FIELDS
    if name not in ("connection_name", "connection_name_folded", "messaging_profile_name")
]


def _staging_type(name: str) -> str:
    if name == "id" or name in TIMESTAMP_FIELDS:
        return "BIGINT"
    return "BOOLEAN" if name in BOOLEAN_FIELDS else "TEXT"


STAGING_COLUMNS = ("line", *ROW_FIELDS)


class Staging:
    def __init__(self, connection: Connection, account_id: int) -> None:
        self.connection = connection
        self.account_id = account_id
        columns = ", ".join(f"{name} {_staging_type(name)}" for name in ROW_FIELDS)
        connection.execute("DROP TABLE IF EXISTS import_staging")
        connection.execute(
            f"CREATE TEMP TABLE import_staging (line INTEGER PRIMARY KEY, {columns})"
        )

    def largest_id(self, below: int) -> int:
        """The largest stored id under `below` (0 if none)."""
        return int(
            self.connection.execute(
                "SELECT coalesce(max(id), 0) FROM phone_numbers WHERE id < ?", (below,)
            ).fetchone()[0]
        )

    def add(self, rows: Sequence[tuple[int, Row]]) -> None:
        self.connection.copy_rows(
            "import_staging", STAGING_COLUMNS, [(line, *row) for line, row in rows]
        )

    def conflicts(self) -> Iterator[tuple[int, str, str]]:
        """(line, field, reason) for each record that repeats another or one already stored."""
        for column in ("phone_number", "id"):
            yield from self.connection.execute(
                f"SELECT line, '{column}', 'repeats line ' || first || ': ' || {column} FROM ("
                f"  SELECT line, {column}, min(line) OVER (PARTITION BY {column}) AS first"
                "   FROM import_staging) AS ranked WHERE line <> first"
            )
            yield from self.connection.execute(
                f"SELECT s.line, '{column}', 'already in the database: ' || s.{column} "
                f"FROM import_staging s JOIN phone_numbers p ON p.{column} = s.{column}"
            )

    def commit_rows(self) -> int:
        """Move the staged rows into place: connections and profiles first, then numbers, tags."""
        connection = self.connection
        for table, id_column, name_columns in (
            ("connections", "connection_id", ("connection_name", "connection_name_folded")),
            ("messaging_profiles", "messaging_profile_id", ("messaging_profile_name",)),
        ):
            # The last record that names the connection (or profile) gives it its name; records
            # that only point at it create it without a name, or leave its name as it is.
            targets = ", ".join(["name", "name_folded"][: len(name_columns)])
            updates = ", ".join(
                f"{t} = coalesce(excluded.{t}, {table}.{t})"
                for t in ["name", "name_folded"][: len(name_columns)]
            )
            connection.execute(
                f"INSERT INTO {table} (account_id, id, {targets}) "
                f"SELECT ?, {id_column}, {', '.join(name_columns)} FROM ("
                f"  SELECT *, row_number() OVER (PARTITION BY {id_column} "
                f"    ORDER BY {name_columns[0]} IS NOT NULL DESC, line DESC) AS rank"
                f"  FROM import_staging WHERE {id_column} IS NOT NULL) AS ranked WHERE rank = 1 "
                f"ON CONFLICT (account_id, id) DO UPDATE SET {updates}",
                (self.account_id,),
            )
        columns = ", ".join(NUMBER_COLUMNS)
        inserted = connection.execute(
            f"INSERT INTO phone_numbers (account_id, {columns}) "
            f"SELECT ?, {columns} FROM import_staging ORDER BY line",
            (self.account_id,),
        ).rowcount
        connection.execute(
            "INSERT INTO phone_number_tags (account_id, tag, phone_number_id) "
            "SELECT ?, j.value, s.id FROM import_staging s, "
            + connection.dialect.tag_elements.format(tags="s.tags"),
            (self.account_id,),
        )
        connection.execute("DROP TABLE import_staging")
        bump_data_version(connection, self.account_id)
        return int(inserted)
