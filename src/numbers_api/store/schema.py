"""The schema, as numbered migrations: a database from an older version is brought forward."""

from __future__ import annotations

import sqlite3
import time

MIGRATIONS: list[str] = [
    # 1: accounts, keys, connections, messaging profiles and phone numbers.
    """
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        key_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    CREATE TABLE connections (
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        id TEXT NOT NULL,
        name TEXT,
        name_folded TEXT,
        PRIMARY KEY (account_id, id)
    );
    CREATE TABLE messaging_profiles (
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        id TEXT NOT NULL,
        name TEXT,
        PRIMARY KEY (account_id, id)
    );
    CREATE TABLE phone_numbers (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        phone_number TEXT NOT NULL UNIQUE,
        country_iso_alpha2 TEXT NOT NULL,
        status TEXT NOT NULL,
        tags TEXT NOT NULL,
        external_pin TEXT,
        connection_id TEXT,
        customer_reference TEXT,
        messaging_profile_id TEXT,
        billing_group_id TEXT,
        emergency_enabled INTEGER NOT NULL,
        emergency_address_id TEXT,
        emergency_status TEXT NOT NULL,
        call_forwarding_enabled INTEGER NOT NULL,
        cnam_listing_enabled INTEGER NOT NULL,
        caller_id_name_enabled INTEGER NOT NULL,
        call_recording_enabled INTEGER NOT NULL,
        t38_fax_gateway_enabled INTEGER NOT NULL,
        phone_number_type TEXT NOT NULL,
        inbound_call_screening TEXT NOT NULL,
        usage_payment_method TEXT NOT NULL,
        hd_voice_enabled INTEGER NOT NULL,
        source_type TEXT,
        deletion_lock_enabled INTEGER NOT NULL,
        purchased_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        FOREIGN KEY (account_id, connection_id) REFERENCES connections(account_id, id),
        FOREIGN KEY (account_id, messaging_profile_id) REFERENCES messaging_profiles(account_id, id)
    );
    CREATE TABLE phone_number_tags (
        account_id INTEGER NOT NULL,
        tag TEXT NOT NULL,
        phone_number_id INTEGER NOT NULL REFERENCES phone_numbers(id) ON DELETE CASCADE,
        PRIMARY KEY (account_id, tag, phone_number_id)
    ) WITHOUT ROWID;
    CREATE INDEX phone_number_tags_number ON phone_number_tags(phone_number_id);
    CREATE INDEX phone_numbers_created ON phone_numbers(account_id, created_at DESC, id DESC);
    CREATE INDEX phone_numbers_purchased ON phone_numbers(account_id, purchased_at, id);
    CREATE INDEX phone_numbers_number ON phone_numbers(account_id, phone_number);
    CREATE INDEX phone_numbers_payment ON phone_numbers(account_id, usage_payment_method, id);
    CREATE INDEX phone_numbers_status ON phone_numbers(account_id, status);
    CREATE INDEX phone_numbers_connection ON phone_numbers(account_id, connection_id);
    CREATE INDEX phone_numbers_reference ON phone_numbers(account_id, customer_reference);
    CREATE INDEX phone_numbers_messaging ON phone_numbers(account_id, messaging_profile_id);
    CREATE INDEX connections_name ON connections(account_id, name_folded);
    """,
]


def migrate(connection: sqlite3.Connection) -> None:
    """Apply every migration the database has not seen yet, inside the caller's transaction."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
    )
    applied = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
    for version, script in enumerate(MIGRATIONS, start=1):
        if version in applied:
            continue
        for statement in script.split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
            (version, int(time.time() * 1000)),
        )
