"""Which engine the suite runs on, and a fresh, empty database of it for each test.

`NUMBERS_API_TEST_DATABASE_URL` unset: SQLite files in temporary folders. Set to a PostgreSQL URL
(`postgresql://127.0.0.1/test`): each test gets a schema of its own in that database, dropped
afterwards, so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from numbers_api.store.schema import MIGRATIONS

POSTGRESQL_URL = os.environ.get("NUMBERS_API_TEST_DATABASE_URL", "")
ON_POSTGRESQL = POSTGRESQL_URL.startswith(("postgresql://", "postgres://"))


@contextmanager
def fresh_database_url(folder: Path) -> Iterator[str]:
    if not ON_POSTGRESQL:
        yield f"sqlite:///{folder / 'numbers.db'}"
        return
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRESQL_URL, autocommit=True) as connection:
        # Extensions are per database: keep pg_trgm in public, where every test schema finds it.
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        connection.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRESQL_URL else "?"
    options = quote(f"-csearch_path={schema},public", safe="")
    try:
        yield f"{POSTGRESQL_URL}{separator}options={options}"
    finally:
        with psycopg.connect(POSTGRESQL_URL, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def migrated_before(version: int) -> Iterator[None]:
    """Databases opened inside are migrated up to the one before migration `version` (numbered
    from 1, as `schema_migrations` numbers them), as a server of that time left them."""
    with pytest.MonkeyPatch.context() as before:
        for engine, migrations in MIGRATIONS.items():
            before.setitem(MIGRATIONS, engine, migrations[: version - 1])
        yield
