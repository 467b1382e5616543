"""The store's side of an import: rows written into place batch by batch as they come, in the
caller's one transaction, so that the database works while the records still to come are checked,
and memory stays bounded.

Each good record's line, phone number and id are also kept in a temporary table. If every batch
goes in, the tables' own unique constraints have proved that no record repeats another or one
already stored. Once a batch fails (a repeat) or a record is bad, writing stops, the records still
to come are only kept in the temporary table, and the repeats are found there in SQL, to be
reported with their lines; the caller then rolls everything back.

On SQLite, what keeps the digits search and the tables' other indexes up to date row by row is set
aside during a large import and built again at its end (`_SetAside`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

from numbers_api.store.accounts import bump_data_version
from numbers_api.store.database import NUMBER_TABLES, Connection
from numbers_api.store.schema import MARK_POOL_INVENTORY

# The order of `Row`'s values: the columns of phone_numbers, as many as `NUMBER_COLUMNS`, first,
# so that a row is written without rearranging it; then the names, which go elsewhere.
NUMBER_COLUMNS = (
    "id",
    "phone_number",
    "country_iso_alpha2",
    "status",
    "tags",
    "external_pin",
    "connection_id",
    "customer_reference",
    "messaging_profile_id",
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
ROW_FIELDS = (
    *NUMBER_COLUMNS,
    "connection_name",
    "connection_name_folded",
    "messaging_profile_name",
)
Row = tuple[Any, ...]

_ID, _PHONE_NUMBER, _TAGS, _CONNECTION_ID, _PROFILE_ID, _BILLING_GROUP_ID = (
    NUMBER_COLUMNS.index(name)
    for name in (
        "id",
        "phone_number",
        "tags",
        "connection_id",
        "messaging_profile_id",
        "billing_group_id",
    )
)
_CONNECTION_NAME, _CONNECTION_NAME_FOLDED, _PROFILE_NAME = (
    ROW_FIELDS.index(name)
    for name in ("connection_name", "connection_name_folded", "messaging_profile_name")
)
_NUMBER_WIDTH = len(NUMBER_COLUMNS)

# SQLite's trigger that indexes each new number's digits (FTS5). Fired by one INSERT per row, it
# makes FTS5 write out a tiny segment per row, which slows a large import down badly
# (docs/performance.md), so it is set aside for the import and each batch's digits are indexed by
# one statement instead.
_DIGITS_TRIGGER = "phone_number_digits_insert"
# SQLite's trigger that marks a pool number as in an inventory: a lookup in the pool for each row
# (docs/performance.md). Set aside once an import is large, and the pool marked in one pass over
# it at the end (`MARK_POOL_INVENTORY`); a small one (an order's) is cheaper with the trigger.
_POOL_TRIGGER = "available_number_into_inventory"
# The indexes SQLite keeps up to date row by row are set aside too once an import has written more
# numbers than the table held, and at least this many: building an index at the end, from sorted
# rows, is cheaper than keeping it up to date row by row (docs/performance.md).
_REBUILD_FROM = 20_000
_INDEXED_TABLES = ("phone_numbers", "phone_number_tags")
# What SQLite says of a row whose id (the table's key) or number is already there.
_SQLITE_REPEATS = (sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE)


@dataclass(frozen=True, slots=True)
class Batch:
    """The rows one batch of good records writes into each table."""

    lines: list[int]
    staged: list[tuple[int, str, int]]
    connections: list[tuple[int, str, str | None, str | None]]
    profiles: list[tuple[int, str, str | None]]
    billing_groups: list[tuple[int, str]]
    numbers: list[tuple[Any, ...]]
    tags: list[tuple[int, str, int]]


class Loader:
    """One import's writes, in the caller's transaction: `add` each `batch` of good records, in
    file order; `stop` at the first bad one; then `conflicts`, and `finish` if there were none."""

    def __init__(self, connection: Connection, account_id: int) -> None:
        self.connection = connection
        self.account_id = account_id
        self.loaded = 0
        self.loaded_through = 0  # every good record up to this line is written
        self.writing = True
        self._repeat: Exception | None = None  # the error that stopped the writing, if a repeat
        connection.execute("DROP TABLE IF EXISTS import_staging")
        connection.execute(
            "CREATE TEMP TABLE import_staging "
            "(line INTEGER PRIMARY KEY, phone_number TEXT NOT NULL, id BIGINT NOT NULL)"
        )
        self._set_aside = _SetAside(connection) if connection.dialect.name == "sqlite" else None

    def largest_id(self, below: int) -> int:
        """The largest stored id under `below` (0 if none)."""
        return int(
            self.connection.execute(
                "SELECT coalesce(max(id), 0) FROM phone_numbers WHERE id < ?", (below,)
            ).fetchone()[0]
        )

    def stop(self) -> None:
        """No more writing: the import will be rolled back, only repeats remain to be found."""
        self.writing = False

    def batch(self, rows: Sequence[tuple[int, Row]]) -> Batch:
        """What good records (in file order, with their lines) write, made ready beforehand: made
        while the database still works on the batch before, it keeps no one waiting."""
        account = self.account_id
        # Batches come in file order and each gives an id the last name it has in the batch, so
        # the last record that names a connection (or profile) gives its name; one that only
        # points at it creates it or leaves it as it is.
        connections: dict[str, tuple[int, str, str | None, str | None]] = {}
        profiles: dict[str, tuple[int, str, str | None]] = {}
        for _, row in rows:
            connection_id = row[_CONNECTION_ID]
            if connection_id is not None and (
                row[_CONNECTION_NAME] is not None or connection_id not in connections
            ):
                connections[connection_id] = (
                    account,
                    connection_id,
                    row[_CONNECTION_NAME],
                    row[_CONNECTION_NAME_FOLDED],
                )
            profile_id = row[_PROFILE_ID]
            if profile_id is not None and (
                row[_PROFILE_NAME] is not None or profile_id not in profiles
            ):
                profiles[profile_id] = (account, profile_id, row[_PROFILE_NAME])
        return Batch(
            lines=[line for line, _ in rows],
            staged=[(line, row[_PHONE_NUMBER], row[_ID]) for line, row in rows],
            connections=list(connections.values()),
            billing_groups=[
                (account, group)
                for group in dict.fromkeys(row[_BILLING_GROUP_ID] for _, row in rows)
                if group is not None
            ],
            profiles=list(profiles.values()),
            numbers=[(account, *row[:_NUMBER_WIDTH]) for _, row in rows],
            tags=[
                (account, tag, row[_ID])
                for _, row in rows
                if row[_TAGS] != "[]"
                for tag in orjson.loads(row[_TAGS])
            ],
        )

    def add(self, batch: Batch) -> None:
        if not batch.lines:
            return
        connection = self.connection
        connection.copy_rows("import_staging", ("line", "phone_number", "id"), batch.staged)
        if not self.writing:
            return
        # Connections and profiles first, for the numbers' foreign keys. A name is only written
        # when it changes: on PostgreSQL, each batch writing it again would leave the row one more
        # version for the foreign key check of every number pointing at it to step over.
        _execute_many(
            connection,
            "INSERT INTO connections (account_id, id, name, name_folded) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (account_id, id) DO UPDATE "
            "SET name = excluded.name, name_folded = excluded.name_folded "
            "WHERE excluded.name IS NOT NULL "
            "AND (connections.name IS NULL OR connections.name <> excluded.name)",
            batch.connections,
        )
        _execute_many(
            connection,
            "INSERT INTO messaging_profiles (account_id, id, name) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id, id) DO UPDATE SET name = excluded.name "
            "WHERE excluded.name IS NOT NULL "
            "AND (messaging_profiles.name IS NULL OR messaging_profiles.name <> excluded.name)",
            batch.profiles,
        )
        _execute_many(
            connection,
            "INSERT INTO billing_groups (account_id, id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            batch.billing_groups,
        )
        written = self._write_numbers(batch.numbers)
        if written:
            self.loaded += written
            self.loaded_through = batch.lines[written - 1]
        if written < len(batch.numbers):
            self.writing = False  # a repeat: it is found, with the others, by `conflicts`
            return
        if self._set_aside is not None:
            connection.execute(
                "INSERT INTO phone_number_digits (rowid, phone_number) "
                "SELECT id, phone_number FROM import_staging WHERE line >= ? ORDER BY id",
                (batch.lines[0],),
            )
        tag_columns = ("account_id", "tag", "phone_number_id")
        connection.copy_rows("phone_number_tags", tag_columns, batch.tags)
        if self._set_aside is not None:
            self._set_aside.written(self.loaded)

    def _write_numbers(self, numbers: list[tuple[Any, ...]]) -> int:
        """How many of the rows went in before one repeated a number or id already there."""
        connection = self.connection
        columns = ("account_id", *NUMBER_COLUMNS)
        raw = connection.raw
        if isinstance(raw, sqlite3.Connection):
            # SQLite undoes only the failing row, and says how many went in before it. A savepoint
            # would do too, but makes SQLite copy out each page the batch changes: most of them.
            before = raw.total_changes
            try:
                connection.copy_rows("phone_numbers", columns, numbers)
            except sqlite3.IntegrityError as error:
                if error.sqlite_errorcode not in _SQLITE_REPEATS:
                    raise
                self._repeat = error
                return raw.total_changes - before
            return len(numbers)
        # PostgreSQL aborts the whole transaction on an error, unless it is in a savepoint.
        connection.execute("SAVEPOINT import_batch")
        try:
            connection.copy_rows("phone_numbers", columns, numbers)
        except psycopg.errors.UniqueViolation as error:
            connection.execute("ROLLBACK TO SAVEPOINT import_batch")
            self._repeat = error
            written = 0
        else:
            written = len(numbers)
        connection.execute("RELEASE SAVEPOINT import_batch")
        return written

    def conflicts(self) -> Iterator[tuple[int, str, str]]:
        """(line, field, reason) for each record that repeats another or one already stored."""
        if self.writing:
            return  # every record went in: the unique constraints held
        connection = self.connection
        if connection.dialect.name == "postgresql":
            connection.execute("ANALYZE import_staging")  # temporary tables have no statistics
        found = 0
        for column in ("phone_number", "id"):
            for conflict in connection.execute(
                f"SELECT line, '{column}', 'repeats line ' || first || ': ' || {column} FROM ("
                f"  SELECT line, {column}, min(line) OVER (PARTITION BY {column}) AS first"
                "   FROM import_staging) AS ranked WHERE line <> first"
            ):
                found += 1
                yield conflict
            # A number this import wrote before it stopped (`mine`) is a repeat, reported above.
            for conflict in connection.execute(
                f"SELECT s.line, '{column}', 'already in the database: ' || s.{column} "
                f"FROM import_staging s JOIN phone_numbers p ON p.{column} = s.{column} "
                "LEFT JOIN import_staging mine ON mine.id = p.id AND mine.line <= ? "
                "WHERE mine.line IS NULL ORDER BY s.line",
                (self.loaded_through,),
            ):
                found += 1
                yield conflict
        if self._repeat is not None and not found:
            # The number it repeated is gone (another writer's, since deleted): fail all the same.
            raise self._repeat

    def finish(self) -> int:
        """The import's last writes, once every record is in; the number of numbers written."""
        connection = self.connection
        if self._set_aside is not None:
            self._set_aside.restore()
        connection.execute("DROP TABLE import_staging")
        bump_data_version(connection, self.account_id, None)  # numbers added
        connection.after_bulk_write(NUMBER_TABLES, self.loaded)
        return self.loaded


def _execute_many(connection: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """One statement run for many rows (a round trip each would cost PostgreSQL dearly)."""
    if connection.dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    connection.raw.cursor().executemany(sql, rows)


class _SetAside:
    """The SQLite schema objects an import sets aside: dropped, then made again from their own SQL
    before it commits, with the planner's statistics on them. All inside the import's transaction,
    so that readers (WAL mode) and a rollback only ever see them as they were."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._statements: list[str] = []
        self._statistics: list[tuple[str, list[Any]]] = []
        self._drop("trigger", [_DIGITS_TRIGGER])
        self._pool_marks_owed = False
        self._rows_before: int | None = None  # counted only for a large import: a scan
        self._indexes_dropped = False

    def written(self, numbers: int) -> None:
        """After each batch, with the numbers the import has written so far."""
        if numbers >= _REBUILD_FROM and not self._pool_marks_owed:
            self._drop("trigger", [_POOL_TRIGGER])
            self._pool_marks_owed = True
        if self._indexes_dropped or numbers < _REBUILD_FROM:
            return
        if self._rows_before is None:
            (rows,) = self.connection.execute("SELECT count(*) FROM phone_numbers").fetchone()
            self._rows_before = int(rows) - numbers
        if numbers > self._rows_before:
            self._drop_indexes()

    def _drop_indexes(self) -> None:
        """Not the indexes of keys and unique columns: they find a file's repeats as it goes in."""
        connection = self.connection
        marks = ", ".join("?" * len(_INDEXED_TABLES))
        indexes = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({marks})",
                _INDEXED_TABLES,
            )
        ]
        # ANALYZE's statistics, if it was ever run: dropping an index deletes its rows there.
        marks = ", ".join("?" * len(indexes))
        for (table,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
            ("sqlite_stat1", "sqlite_stat4"),
        ).fetchall():
            found = connection.execute(f"SELECT * FROM {table} WHERE idx IN ({marks})", indexes)
            self._statistics += [(table, list(row)) for row in found]
        self._drop("index", indexes)
        self._indexes_dropped = True

    def _drop(self, kind: str, names: Sequence[str]) -> None:
        for name in names:
            (sql,) = self.connection.execute(
                "SELECT sql FROM sqlite_master WHERE type = ? AND name = ?", (kind, name)
            ).fetchone()
            self.connection.execute(f"DROP {kind.upper()} {name}")
            self._statements.append(sql)

    def restore(self) -> None:
        for sql in self._statements:
            self.connection.execute(sql)
        if self._pool_marks_owed:
            self.connection.execute(MARK_POOL_INVENTORY)
        for table, row in self._statistics:
            marks = ", ".join("?" * len(row))
            self.connection.execute(f"INSERT INTO {table} VALUES ({marks})", row)
