"""The store's connection: `fetch`, the hot path's reads (prepared statements on PostgreSQL),
reads what `execute` reads, and its failures leave the database usable; so does the event
loop's pipeline (PostgreSQL)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from functools import partial
from typing import Any

import psycopg
import pytest

from numbers_api.store.database import Database, Deadlines, connect_postgresql, redacted
from numbers_api.store.executors import server_database
from numbers_api.store.libpq import PipelinedStatements
from numbers_api.store.plans import Plan
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


def _terminated(database: Database) -> None:
    """This thread's connection ended by the server, as a restart ends it, while it is idle."""
    connection = database.connection()
    assert isinstance(connection.raw, psycopg.Connection)
    with psycopg.connect(database.url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (connection.raw.info.backend_pid,))


@pytest.mark.skipif(not ON_POSTGRESQL, reason="a connection the server ends: PostgreSQL's")
def test_a_read_on_a_connection_that_died_while_idle_is_sent_again_on_a_new_one(
    database: Database,
) -> None:
    _terminated(database)
    assert database.read(Plan("SELECT ? + 1", (1,), lambda rows: rows)) == [(2,)]


@pytest.mark.skipif(not ON_POSTGRESQL, reason="a connection the server ends: PostgreSQL's")
def test_a_transaction_on_a_connection_that_died_while_idle_begins_on_a_new_one(
    database: Database,
) -> None:
    _terminated(database)
    with database.snapshot() as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="statement timeouts: PostgreSQL's")
def test_a_servers_connections_have_a_statement_timeout_and_tcp_keepalives(
    database_url: str,
) -> None:
    database = server_database(database_url)
    try:
        connection = database.connection()
        assert connection.execute("SHOW statement_timeout").fetchone() == ("4s",)
        assert isinstance(connection.raw, psycopg.Connection)
        parameters = connection.raw.info.get_parameters()
        assert parameters["keepalives"] == "1"
        assert parameters["tcp_user_timeout"] == "10000"
    finally:
        database.close()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="statement timeouts: PostgreSQL's")
def test_a_statement_over_a_servers_timeout_is_cancelled(database_url: str) -> None:
    database = server_database(database_url)
    try:
        with pytest.raises(psycopg.errors.QueryCanceled):
            database.connection().execute("SELECT pg_sleep(5)")
    finally:
        database.close()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="a connection cut off: PostgreSQL's")
def test_work_past_its_deadline_has_its_connection_cut_off_and_replaced(
    database: Database,
) -> None:
    deadlines = Deadlines(database, 0.5)
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        deadlines.run(lambda: database.connection().execute("SELECT pg_sleep(10)"))
    assert time.monotonic() - started < 3
    assert deadlines.run(lambda: database.connection().execute("SELECT 1").fetchone()) == (1,)
    deadlines.close()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="a connection cut off: PostgreSQL's")
def test_work_within_its_deadline_keeps_its_connection(database: Database) -> None:
    deadlines = Deadlines(database, 2)
    connection = database.connection()
    for _ in range(3):
        deadlines.run(lambda: connection.execute("SELECT pg_sleep(0.1)"))
    time.sleep(2.5)  # past the deadline of work that has ended: nothing is cut off
    assert database.connection() is connection
    assert connection.execute("SELECT 1").fetchone() == (1,)
    deadlines.close()


@pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite's durability setting")
def test_sqlite_connections_wait_for_the_disk_at_every_commit(database: Database) -> None:
    assert database.connection().execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


@pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite's write lock")
def test_a_servers_sqlite_write_waits_for_the_lock_only_briefly(database_url: str) -> None:
    database = server_database(database_url)
    database.migrate()
    holder = sqlite3.connect(database.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"), database.transaction():
            pass
        assert 1.5 < time.monotonic() - started < 4
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        database.close()


def _prepared_here(database: Database) -> int:
    """How many statements `fetch` has prepared on this thread's connection (PostgreSQL)."""
    sql = "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE ?"
    (count,) = database.connection().execute(sql, ("numbers_api_%",)).fetchone()
    return int(count)


def _what_made_psycopg_deallocate_everything(database: Database) -> None:
    """What made psycopg run DEALLOCATE ALL while it prepared statements of its own (after 5 runs
    of one): a ROLLBACK."""
    connection = database.connection()
    for _ in range(6):
        connection.execute("SELECT count(*) FROM accounts WHERE id > ?", (0,))
    connection.execute("BEGIN")
    connection.execute("ROLLBACK")


@pytest.mark.skipif(not ON_POSTGRESQL, reason="prepared statements: PostgreSQL's")
def test_fetchs_statements_outlive_a_rollback(database: Database) -> None:
    connection = database.connection()
    assert connection.fetch("SELECT ? + 1", (1,)) == [(2,)]
    _what_made_psycopg_deallocate_everything(database)
    assert _prepared_here(database) == 1


@pytest.mark.skipif(not ON_POSTGRESQL, reason="prepared statements: PostgreSQL's")
def test_after_a_rollback_a_request_reads_its_page_in_a_snapshot(database: Database) -> None:
    """As a request does when its key was read from the event loop: the thread's first statement
    in a snapshot, after a write that rolled back on the same connection."""
    connection = database.connection()
    connection.fetch("SELECT ? + 2", (1,))
    _what_made_psycopg_deallocate_everything(database)
    with database.snapshot() as snapshot:
        assert snapshot.fetch("SELECT ? + 2", (1,)) == [(3,)]


def _pipeline(url: str) -> PipelinedStatements:
    return PipelinedStatements(partial(connect_postgresql, url))


on_postgresql = pytest.mark.skipif(not ON_POSTGRESQL, reason="the loop's pipeline: PostgreSQL's")


def _from_loop(database: Database, *statements: tuple[str, tuple[object, ...]]) -> list[object]:
    """Each statement's rows (or its error), all sent at once from one event loop."""

    async def run() -> list[object]:
        pipeline = _pipeline(database.url)
        try:
            answers = await asyncio.gather(
                *(pipeline.fetch(sql, values) for sql, values in statements),
                return_exceptions=True,
            )
            return list(answers)
        finally:
            pipeline.close()

    return asyncio.run(run())


@on_postgresql
def test_the_pipeline_reads_what_fetch_reads(database: Database) -> None:
    parameters = (12, "twelve", None, "a ? and a $1")
    assert _from_loop(database, (VALUES, parameters)) == [
        database.connection().fetch(VALUES, parameters)
    ]


@on_postgresql
def test_statements_sent_together_are_each_answered_with_their_own_rows(
    database: Database,
) -> None:
    statements: list[tuple[str, tuple[object, ...]]]
    statements = [(VALUES, (i, str(i), None, "x" * i)) for i in range(200)]
    statements += [("SELECT ? + 1", (i,)) for i in range(50)]
    expected = [[(i, str(i), True, "x" * i)] for i in range(200)] + [[(i + 1,)] for i in range(50)]
    assert _from_loop(database, *statements) == expected


@on_postgresql
def test_a_failing_statement_fails_alone_in_the_pipeline(database: Database) -> None:
    before, failed, bad_sql, after = _from_loop(
        database,
        ("SELECT ? + 1", (1,)),
        ("SELECT CAST(? AS INTEGER)", ("not a number",)),
        ("SELECT * FROM no_such_table WHERE id = ?", (1,)),
        ("SELECT ? + 1", (2,)),
    )
    assert before == [(2,)]
    assert isinstance(failed, psycopg.errors.InvalidTextRepresentation)
    assert isinstance(bad_sql, psycopg.errors.UndefinedTable)
    assert after == [(3,)]


@on_postgresql
def test_the_pipeline_reads_results_larger_than_one_read_and_sends_large_values(
    database: Database,
) -> None:
    big = "y" * 5_000_000  # more than a socket takes at once: sent in several writes
    (rows, echoed) = _from_loop(
        database,
        ("SELECT i, repeat('z', 100) FROM generate_series(1, ?) AS i", (50_000,)),
        ("SELECT length(?)", (big,)),
    )
    assert rows == [(i, "z" * 100) for i in range(1, 50_001)]
    assert echoed == [(5_000_000,)]


@on_postgresql
def test_a_statement_whose_caller_went_away_leaves_the_next_answers_right(
    database: Database,
) -> None:
    async def run() -> list[tuple[object, ...]]:
        pipeline = _pipeline(database.url)
        try:
            await pipeline.fetch("SELECT 1", ())  # opened
            slow = asyncio.ensure_future(pipeline.fetch("SELECT ?, pg_sleep(0.2)", (1,)))
            await asyncio.sleep(0.05)
            slow.cancel()
            return await pipeline.fetch("SELECT ? + 1", (41,))
        finally:
            pipeline.close()

    assert asyncio.run(run()) == [(42,)]


@on_postgresql
def test_a_statement_sent_when_the_server_dropped_the_pipeline_is_answered_on_a_new_connection(
    database: Database,
) -> None:
    async def run() -> tuple[int, int, list[tuple[object, ...]]]:
        pipeline = _pipeline(database.url)
        try:
            [(pid,)] = await pipeline.fetch("SELECT pg_backend_pid() + ?", (0,))
            with psycopg.connect(database.url, autocommit=True) as other:
                [(terminated,)] = other.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
            assert terminated
            [(new_pid,)] = await pipeline.fetch("SELECT pg_backend_pid() + ?", (0,))
            return pid, new_pid, await pipeline.fetch("SELECT ? + 1", (1,))
        finally:
            pipeline.close()

    pid, new_pid, rows = asyncio.run(run())
    assert new_pid != pid
    assert rows == [(2,)]


@on_postgresql
def test_a_pipeline_that_cannot_connect_raises_operational_error() -> None:
    async def run() -> None:
        pipeline = _pipeline("postgresql://127.0.0.1:1/nothing")
        await pipeline.fetch("SELECT 1", ())

    with pytest.raises(psycopg.OperationalError):
        asyncio.run(run())


@on_postgresql
def test_statements_waiting_for_a_connection_share_one_attempt_and_its_failure() -> None:
    attempts: list[str] = []
    unreachable = "postgresql://127.0.0.1:1/nothing"

    def counted_connect() -> psycopg.Connection[Any]:
        attempts.append(unreachable)
        return connect_postgresql(unreachable)

    async def run() -> list[object]:
        pipeline = PipelinedStatements(counted_connect)
        answers = await asyncio.gather(
            *(pipeline.fetch("SELECT ?", (i,)) for i in range(5)), return_exceptions=True
        )
        return list(answers)

    answers = asyncio.run(run())
    assert all(isinstance(answer, psycopg.OperationalError) for answer in answers)
    assert len(attempts) == 1


@on_postgresql
def test_a_closed_pipeline_sends_nothing_more(database: Database) -> None:
    async def run() -> None:
        pipeline = _pipeline(database.url)
        assert await pipeline.fetch("SELECT ? + 1", (1,)) == [(2,)]
        pipeline.close()
        await pipeline.fetch("SELECT ? + 1", (1,))

    with pytest.raises(psycopg.OperationalError, match="closed"):
        asyncio.run(run())


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@db:5432/n", "postgresql://u:***@db:5432/n"),
        (
            "postgresql://u@db/n?password=pw&sslmode=require",
            "postgresql://u@db/n?password=***&sslmode=require",
        ),
        ("postgresql://db/n", "postgresql://db/n"),
        ("sqlite:////var/lib/numbers.db", "sqlite:////var/lib/numbers.db"),
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redacted(url) == shown
