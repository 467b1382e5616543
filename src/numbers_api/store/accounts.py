"""Accounts and their API keys. Keys are stored only as SHA-256 hashes.

A key is 32 random bytes, so a fast hash is enough: there is nothing to guess that a slow one
would protect.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from numbers_api.store.database import Connection, Database
from numbers_api.store.plans import Plan

KEY_PREFIX = "KEY"
# Data versions whose changes stay logged: an index further behind than this is built again.
KEPT_CHANGES = 1_000


class AccountError(Exception):
    """A command-line mistake about accounts or keys; its message is for the user."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)


def account_id(connection: Connection, name: str) -> int:
    row = connection.execute("SELECT id FROM accounts WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise AccountError(f"no account named {name!r}")
    return int(row[0])


def create_account(database: Database, name: str, *, webhook_url: str | None = None) -> str:
    """A new account and its first key, returned (the only time it is ever shown); its webhooks
    sent to `webhook_url`, if given."""
    if not name.strip():
        raise AccountError("an account name must not be empty")
    with database.transaction() as connection:
        try:
            connection.execute(
                "INSERT INTO accounts (name, created_at, webhook_url) VALUES (?, ?, ?)",
                (name, _now_ms(), webhook_url),
            )
        except connection.dialect.integrity_errors:
            raise AccountError(f"an account named {name!r} already exists") from None
        return _add_key(connection, account_id(connection, name))


def create_key(database: Database, name: str) -> str:
    with database.transaction() as connection:
        return _add_key(connection, account_id(connection, name))


def _add_key(connection: Connection, account: int) -> str:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    connection.execute(
        "INSERT INTO api_keys (account_id, key_hash, created_at) VALUES (?, ?, ?)",
        (account, _hash(key), _now_ms()),
    )
    return key


def revoke_key(database: Database, key: str) -> None:
    with database.transaction() as connection:
        revoked = connection.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_hash = ? AND revoked_at IS NULL",
            (_now_ms(), _hash(key)),
        ).rowcount
    if not revoked:
        raise AccountError("no active key matches; it is unknown or already revoked")


@dataclass(frozen=True, slots=True)
class Caller:
    account_id: int
    # Changes with every write to the account's numbers: what was read at one version can be
    # served again for as long as the version stays the same.
    data_version: int


_CALLER_OF_KEY = (
    "SELECT a.id, a.data_version FROM api_keys k JOIN accounts a ON a.id = k.account_id "
    "WHERE k.key_hash = ? AND k.revoked_at IS NULL"
)


def authentication(key: str | None) -> Plan[Caller | None]:
    """The account a live key belongs to, or None."""
    if key is None:
        return Plan.known(None)
    return Plan(_CALLER_OF_KEY, (_hash(key),), _caller)


def _caller(rows: list[tuple[Any, ...]]) -> Caller | None:
    return Caller(int(rows[0][0]), int(rows[0][1])) if rows else None


def lock_account(connection: Connection, account: int) -> None:
    """Take the account's row lock until the transaction ends (PostgreSQL; SQLite has one writer
    at a time), so that two concurrent writers checking one of its quotas cannot both pass it."""
    connection.execute("UPDATE accounts SET data_version = data_version WHERE id = ?", (account,))


def data_version(connection: Connection, account: int) -> int:
    """The account's data version, as `connection`'s snapshot sees it."""
    row = connection.execute(
        "SELECT data_version FROM accounts WHERE id = ?", (account,)
    ).fetchone()
    return int(row[0])


def current_caller(connection: Connection, caller: Caller) -> Caller:
    """The caller at the data version `connection`'s snapshot sees."""
    return Caller(caller.account_id, data_version(connection, caller.account_id))


def bump_data_version(
    connection: Connection, account: int, changed: Collection[int] | None
) -> None:
    """Called by every write to an account's numbers, in the writing transaction, with the ids of
    the numbers it changed or released (None: it may have changed any of them, or added some).

    The account's row stays locked until the write commits, so versions are given out in the
    order writes commit, and each version's changes are logged under it."""
    (version,) = connection.execute(
        "UPDATE accounts SET data_version = data_version + 1 WHERE id = ? RETURNING data_version",
        (account,),
    ).fetchone()
    # Id 0 names no number: a write that changed none still logs that its version is known.
    ids: Collection[int | None] = [None] if changed is None else (changed or [0])
    connection.copy_rows(
        "number_changes",
        ("account_id", "data_version", "phone_number_id"),
        [(account, version, number_id) for number_id in ids],
    )
    connection.execute(
        "DELETE FROM number_changes WHERE account_id = ? AND data_version <= ?",
        (account, version - KEPT_CHANGES),
    )


def logged_changes(connection: Connection, account: int, since: int, until: int) -> set[int] | None:
    """The ids of the numbers changed after data version `since` up to `until`, as the
    connection's snapshot sees them; None if that is not known (a write that may have changed any
    of them, or a version whose log is no longer kept)."""
    rows = connection.execute(
        "SELECT data_version, phone_number_id FROM number_changes "
        "WHERE account_id = ? AND data_version > ? AND data_version <= ?",
        (account, since, until),
    ).fetchall()
    if len({version for version, _ in rows}) != until - since:
        return None
    ids = {number_id for _, number_id in rows}
    return None if None in ids else ids - {0}


def reset_account(database: Database, name: str) -> bool:
    """Remove every number of the account, if it exists; False if there is no such account."""
    with database.transaction() as connection:
        try:
            account = account_id(connection, name)
        except AccountError:
            return False
        for table in (
            "phone_number_tags",
            "phone_numbers",
            "connections",
            "messaging_profiles",
            "billing_groups",
        ):
            connection.execute(f"DELETE FROM {table} WHERE account_id = ?", (account,))
        bump_data_version(connection, account, None)  # every number of the account
        return True
