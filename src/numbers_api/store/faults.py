"""Which database errors are the database's state rather than the statement's: it cannot be
reached, it restarts, a statement ran out of time, a lock was not had in time. Such an error is
answered 503 with `Retry-After` and background work tries again later; any other is a defect."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg.errors


class DatabaseUnavailable(Exception):
    """The database could not be reached, or stopped answering, in the time a request has."""


def is_statement_timeout(error: BaseException) -> bool:
    """A statement cancelled by its own timeout (or by the deadline of its request)."""
    return isinstance(error, psycopg.errors.QueryCanceled)


def is_lock_timeout(error: BaseException) -> bool:
    """SQLite's write lock was held by another writer (an import, say) past the wait allowed."""
    return isinstance(error, sqlite3.OperationalError) and (
        "locked" in str(error) or "busy" in str(error)
    )


def is_transient(error: BaseException) -> bool:
    """An error that trying again later may not meet: the database unreachable, restarting or
    shutting down, a connection lost, a statement timed out, a serialization conflict, a lock
    not had in time."""
    if isinstance(error, DatabaseUnavailable):
        return True
    if isinstance(error, psycopg.OperationalError):
        # OperationalError covers connection failures, AdminShutdown, CannotConnectNow,
        # QueryCanceled, SerializationFailure and DeadlockDetected; not a statement's own
        # mistakes (ProgrammingError, IntegrityError, DataError).
        return True
    return is_lock_timeout(error)
