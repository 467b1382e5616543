"""Opening the database a URL names (SQLite or PostgreSQL), its schema brought up to date on first
use, with one connection per thread and explicit transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from numbers_api.store.dialects import POSTGRESQL, SQLITE, Dialect
from numbers_api.store.libpq import PreparedStatements
from numbers_api.store.plans import Plan
from numbers_api.store.schema import migrate

T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite:///numbers.db"
PAGE_CACHE_KIB = 16 * 1024
# An import writes every index of a million rows at once: a page cache this much larger than a
# connection's usual one makes it markedly faster (docs/performance.md).
BULK_LOAD_PAGE_CACHE_KIB = 128 * 1024
CONNECT_SECONDS = 10
# The tables a bulk write of numbers changes most (`Connection.after_bulk_write`).
NUMBER_TABLES = ("phone_numbers", "phone_number_tags")


class DatabaseUrlError(ValueError):
    pass


_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


def redacted(url: str) -> str:
    """The URL as it may be shown or logged: any password (in the authority, or as a
    `password=` parameter) replaced by `***`; the rest as written."""
    parts = urlsplit(url)
    shown = url
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        shown = shown.replace(parts.netloc, f"{user.partition(':')[0]}:***@{host}", 1)
    if parts.query:
        query = "&".join(
            f"{pair.partition('=')[0]}=***"
            if pair.partition("=")[0].lower() in _SECRET_PARAMETERS
            else pair
            for pair in parts.query.split("&")
        )
        shown = shown.replace(f"?{parts.query}", f"?{query}", 1)
    return shown


def sqlite_path(url: str) -> str:
    """`sqlite:///relative.db`, `sqlite:////absolute.db` or `sqlite:///:memory:`."""
    parts = urlsplit(url)
    if parts.netloc or not parts.path.startswith("/"):
        raise DatabaseUrlError(
            f"unsupported database URL {redacted(url)!r}: use sqlite:///PATH (relative) or "
            "sqlite:////PATH"
        )
    return unquote(parts.path[1:])


@lru_cache(maxsize=512)
def _psycopg_sql(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (no statement here contains a literal `%` or `?`)."""
    return sql.replace("?", "%s")


def connect_postgresql(url: str) -> psycopg.Connection[Any]:
    """Autocommit: transactions are begun explicitly, so none is left open by a read. psycopg
    prepares nothing of its own: once it has, a ROLLBACK, DROP or ALTER makes it deallocate every
    statement of the connection, those `fetch` prepared too, which a request's statement inside a
    transaction would then not find. A server that does not answer fails the attempt after
    `CONNECT_SECONDS`, unless the URL says otherwise (`connect_timeout`)."""
    parameters: dict[str, Any] = {"connect_timeout": CONNECT_SECONDS}
    parameters.update(conninfo_to_dict(url))
    return psycopg.connect(**parameters, autocommit=True, prepare_threshold=None)


class Connection:
    """One connection of either engine, taking `?` placeholders and bound parameters only."""

    def __init__(self, raw: sqlite3.Connection | psycopg.Connection[Any], dialect: Dialect) -> None:
        self.raw = raw
        self.dialect = dialect
        self._prepared: PreparedStatements | None = None  # made on a PostgreSQL one's first use

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        """A cursor: `fetchone()`, `fetchall()`, iteration and `rowcount` work on both engines."""
        if isinstance(self.raw, sqlite3.Connection):
            return self.raw.execute(sql, parameters)
        return self.raw.execute(_psycopg_sql(sql), parameters)

    def fetch(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All the rows of a statement run on every request, its text one of a few (its values
        all parameters): on PostgreSQL, prepared once on this connection."""
        if isinstance(self.raw, sqlite3.Connection):
            return self.raw.execute(sql, parameters).fetchall()
        if self._prepared is None:
            self._prepared = PreparedStatements(self.raw)
        return self._prepared.fetch(sql, parameters)

    def read(self, plan: Plan[T]) -> T:
        """A plan's answer, its statement run here (see `fetch`)."""
        if plan.sql is None:
            return plan.answer([])
        return plan.answer(self.fetch(plan.sql, plan.parameters))

    def after_bulk_write(self, tables: Sequence[str], changed_rows: int) -> None:
        """PostgreSQL: the planner's statistics of `tables` brought up to date when a write
        changed more than autovacuum's default share of them (50 rows and a tenth), in the
        writer's transaction. Autovacuum may be off or late, and without statistics a page's
        statement is planned for an empty table: a scan where the primary key would do."""
        if self.dialect is not POSTGRESQL:
            return  # SQLite plans from its indexes alone until ANALYZE is run on purpose
        for table in tables:
            (rows,) = self.execute(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass(?)", (table,)
            ).fetchone()
            if changed_rows > 50 + 0.1 * max(rows, 0):
                self.execute(f"ANALYZE {table}")

    def batches(self, sql: str, parameters: Sequence[Any], size: int) -> Iterator[list[Any]]:
        """The rows of a large result, `size` at a time, never all in memory: on PostgreSQL
        through a server-side cursor (a plain one receives the whole result first), so the
        connection must be inside a transaction."""
        if isinstance(self.raw, sqlite3.Connection):
            cursor: Any = self.raw.execute(sql, parameters)
        else:
            cursor = self.raw.cursor(name="numbers_api_batches")
            cursor.itersize = size
            cursor.execute(_psycopg_sql(sql), parameters)
        try:
            while batch := cursor.fetchmany(size):
                yield batch
        finally:
            cursor.close()

    def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Many rows into a table: COPY on PostgreSQL, a prepared INSERT on SQLite."""
        if isinstance(self.raw, sqlite3.Connection):
            placeholders = ", ".join("?" * len(columns))
            self.raw.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows
            )
            return
        with self.raw.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    @property
    def usable(self) -> bool:
        return isinstance(self.raw, sqlite3.Connection) or not self.raw.broken

    def close(self) -> None:
        self.raw.close()


class Database:
    """One database, with a connection per thread (connections are never shared)."""

    def __init__(self, url: str) -> None:
        scheme = urlsplit(url).scheme
        if scheme == "sqlite":
            self.dialect = SQLITE
            self.path = sqlite_path(url)
            if self.path != ":memory:":
                try:
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    raise DatabaseUrlError(f"cannot open {redacted(url)}: {error}") from None
        elif scheme in ("postgresql", "postgres"):
            self.dialect = POSTGRESQL
        else:
            raise DatabaseUrlError(
                f"unsupported database URL {redacted(url)!r}: use sqlite:///PATH or "
                "postgresql://HOST/NAME"
            )
        self.url = url
        self._local = threading.local()
        with self.transaction() as connection:
            migrate(connection)

    def connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or not connection.usable:
            connection = Connection(self._connect(), self.dialect)
            self._local.connection = connection
        return connection

    def _connect(self) -> sqlite3.Connection | psycopg.Connection[Any]:
        if self.dialect is POSTGRESQL:
            try:
                return connect_postgresql(self.url)
            except psycopg.OperationalError as error:
                raise DatabaseUrlError(f"cannot connect to {redacted(self.url)}: {error}") from None
        # Autocommit mode: transactions are begun explicitly, so none is left open by a read.
        try:
            raw = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            raw.execute("PRAGMA schema_version")  # a file that is not a database fails here
        except sqlite3.DatabaseError as error:
            raise DatabaseUrlError(f"cannot open {redacted(self.url)}: {error}") from None
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            f"cache_size=-{PAGE_CACHE_KIB}",  # per connection, and there is one per thread
            "mmap_size=268435456",  # reads through the OS page cache, shared by all processes
        ):
            raw.execute(f"PRAGMA {pragma}")
        return raw

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction: committed if the block finishes, rolled back if it raises."""
        with self._transaction(self.dialect.begin_write) as connection:
            yield connection

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """A larger page cache for this thread's connection while a large write runs (SQLite;
        PostgreSQL sizes its own buffers)."""
        if self.dialect is not SQLITE:
            yield
            return
        connection = self.connection()
        connection.execute(f"PRAGMA cache_size=-{BULK_LOAD_PAGE_CACHE_KIB}")
        try:
            yield
        finally:
            connection.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only transaction: every read inside it sees the same state."""
        with self._transaction(self.dialect.begin_read) as connection:
            yield connection

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Connection]:
        connection = self.connection()
        connection.execute(begin)
        try:
            yield connection
        except BaseException:
            if connection.usable:
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
