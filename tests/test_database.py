"""The store's connection: `fetch`, the hot path's reads (prepared statements on PostgreSQL),
reads what `execute` reads, and its failures leave the database usable."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from numbers_api.store.database import Database
from tests.support.databases import ON_POSTGRESQL

VALUES = "SELECT CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT) IS NULL, ? || ''"


def test_fetch_reads_what_execute_reads(database: Database) -> None:
    connection = database.connection()
    parameters = (12, "twelve", None, "a ? and a $1")
    assert connection.fetch(VALUES, parameters) == [(12, "twelve", True, "a ? and a $1")]
    assert connection.fetch(VALUES, parameters) == connection.execute(VALUES, parameters).fetchall()


def test_fetch_runs_each_statement_with_its_own_values(database: Database) -> None:
    connection = database.connection()
    assert connection.fetch(VALUES, (1, "one", "x", "")) == [(1, "one", False, "")]
    assert connection.fetch("SELECT ? + 1", (41,)) == [(42,)]
    assert connection.fetch(VALUES, (2, "two", None, "b")) == [(2, "two", True, "b")]


def test_fetch_of_no_rows_is_empty(database: Database) -> None:
    assert database.connection().fetch("SELECT id FROM accounts WHERE id = ?", (-1,)) == []


def test_a_failing_fetch_raises_the_engines_error_and_the_connection_goes_on(
    database: Database,
) -> None:
    connection = database.connection()
    with pytest.raises((sqlite3.OperationalError, psycopg.errors.UndefinedTable)):
        connection.fetch("SELECT * FROM no_such_table WHERE id = ?", (1,))
    assert connection.fetch("SELECT ? + 1", (1,)) == [(2,)]


def test_a_fetch_failing_in_a_transaction_rolls_it_back(database: Database) -> None:
    insert = "INSERT INTO accounts (name, created_at) VALUES (?, ?) RETURNING id"

    def insert_twice() -> None:
        with database.transaction() as connection:
            connection.fetch(insert, ("first", 0))
            connection.fetch(insert, ("first", 0))  # fails as it runs, not as it is prepared

    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        insert_twice()
    assert database.connection().fetch("SELECT count(*) FROM accounts", ()) == [(0,)]


@pytest.mark.skipif(not ON_POSTGRESQL, reason="a connection the server drops: PostgreSQL's")
def test_a_connection_the_server_dropped_is_replaced(database: Database) -> None:
    connection = database.connection()
    assert isinstance(connection.raw, psycopg.Connection)
    assert connection.fetch("SELECT ? + 1", (1,)) == [(2,)]
    with psycopg.connect(database.url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (connection.raw.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):
        connection.fetch("SELECT ? + 1", (1,))
    replaced = database.connection()
    assert replaced is not connection
    assert replaced.fetch("SELECT ? + 1", (1,)) == [(2,)]


def _prepared_here(database: Database) -> int:
    """How many statements `fetch` has prepared on this thread's connection (PostgreSQL)."""
    sql = "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE ?"
    (count,) = database.connection().execute(sql, ("numbers_api_%",)).fetchone()
    return int(count)


def _psycopg_deallocates_everything(database: Database) -> None:
    """What psycopg does once it has prepared statements of its own (after 5 runs of one) and a
    ROLLBACK runs: DEALLOCATE ALL, `fetch`'s statements with its own."""
    connection = database.connection()
    for _ in range(6):
        connection.execute("SELECT count(*) FROM accounts WHERE id > ?", (0,))
    connection.execute("BEGIN")
    connection.execute("ROLLBACK")


@pytest.mark.skipif(not ON_POSTGRESQL, reason="prepared statements: PostgreSQL's")
def test_fetch_prepares_again_what_psycopg_deallocated(database: Database) -> None:
    connection = database.connection()
    assert connection.fetch("SELECT ? + 1", (1,)) == [(2,)]
    _psycopg_deallocates_everything(database)
    assert _prepared_here(database) == 0
    assert connection.fetch("SELECT ? + 1", (2,)) == [(3,)]
    assert _prepared_here(database) == 1


@pytest.mark.skipif(not ON_POSTGRESQL, reason="prepared statements: PostgreSQL's")
def test_after_a_deallocation_a_request_reads_its_page_in_a_snapshot(database: Database) -> None:
    """As a request does: authentication outside a transaction, then a page in a snapshot."""
    connection = database.connection()
    connection.fetch("SELECT ? + 1", (1,))
    connection.fetch("SELECT ? + 2", (1,))
    _psycopg_deallocates_everything(database)
    assert connection.fetch("SELECT ? + 1", (1,)) == [(2,)]
    with database.snapshot() as snapshot:
        assert snapshot.fetch("SELECT ? + 2", (1,)) == [(3,)]
