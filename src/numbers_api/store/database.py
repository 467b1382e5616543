"""Opening the database a URL names (SQLite or PostgreSQL), its schema brought up to date on first
use, with one connection per thread and explicit transactions."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from numbers_api.store.dialects import POSTGRESQL, SQLITE, Dialect
from numbers_api.store.faults import DatabaseUnavailable
from numbers_api.store.libpq import PreparedStatements
from numbers_api.store.plans import Plan
from numbers_api.store.schema import migrate

T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite:///numbers.db"
PAGE_CACHE_KIB = 16 * 1024
# An import writes every index of a million rows at once: a page cache this much larger than a
# connection's usual one makes it markedly faster (docs/performance.md).
BULK_LOAD_PAGE_CACHE_KIB = 128 * 1024
# A server that does not answer fails a connection attempt after this long, unless the URL says
# otherwise (`connect_timeout`): well inside a request's deadline (docs/deployment.md).
CONNECT_SECONDS = 3
# TCP keepalives, unless the URL sets its own: a server that went away without closing the
# connection (its host down, a partition) is noticed within about 20 s even by an idle
# connection, and unacknowledged data fails the connection after TCP_USER_TIMEOUT_MS.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}
# How long a SQLite connection waits for the write lock unless told otherwise (a command that
# writes waits for the server's short writes; the server passes its own, shorter wait).
LOCK_WAIT_SECONDS = 30.0
# The tables a bulk write of numbers changes most (`Connection.after_bulk_write`).
NUMBER_TABLES = ("phone_numbers", "phone_number_tags")


class DatabaseUrlError(ValueError):
    pass


class CannotConnect(DatabaseUrlError, DatabaseUnavailable):
    """The URL names a database that cannot be reached now: a command ends with this line; a
    server answers 503 and tries again at the next request."""


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


def connect_postgresql(
    url: str, statement_timeout_ms: int | None = None
) -> psycopg.Connection[Any]:
    """Autocommit: transactions are begun explicitly, so none is left open by a read. psycopg
    prepares nothing of its own: once it has, a ROLLBACK, DROP or ALTER makes it deallocate every
    statement of the connection, those `fetch` prepared too, which a request's statement inside a
    transaction would then not find. `CONNECT_SECONDS` and `KEEPALIVES` unless the URL says
    otherwise; a statement that runs longer than `statement_timeout_ms` is cancelled by the
    server (set with the connection's startup options: no round trip of its own)."""
    parameters: dict[str, Any] = {"connect_timeout": CONNECT_SECONDS, **KEEPALIVES}
    parameters.update(conninfo_to_dict(url))
    if statement_timeout_ms is not None:
        options = f"-c statement_timeout={statement_timeout_ms}"
        parameters["options"] = f"{parameters.get('options', '')} {options}".strip()
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
    """One database, with a connection per thread (connections are never shared).

    `migrate=False` (a server): the schema is brought up to date by `migrate()`, called when the
    database can be reached, rather than at once. `statement_timeout_ms` (PostgreSQL) and
    `lock_wait_seconds` (SQLite) bound how long one statement may take on this database's
    connections."""

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        statement_timeout_ms: int | None = None,
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    ) -> None:
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
        self.statement_timeout_ms = statement_timeout_ms
        self.lock_wait_seconds = lock_wait_seconds
        self.migrated = False
        self._local = threading.local()
        self._connections: dict[int, Connection] = {}  # by thread, for `Deadlines`
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the schema up to date (once it is, at no cost)."""
        if self.migrated:
            return
        with self.transaction() as connection:
            migrate(connection)
        self.migrated = True

    def connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or not connection.usable:
            if connection is not None:
                connection.close()
            connection = Connection(self._connect(), self.dialect)
            self._local.connection = connection
            self._connections[threading.get_ident()] = connection
        return connection

    def read(self, plan: Plan[T]) -> T:
        """A plan's answer on this thread's connection; if that connection turns out dead (the
        server restarted since its last use), once more on a new one."""
        connection = self.connection()
        try:
            return connection.read(plan)
        except psycopg.OperationalError:
            if connection.usable:
                raise  # the server's own answer, not a lost connection
            return self.connection().read(plan)

    def _connect(self) -> sqlite3.Connection | psycopg.Connection[Any]:
        if self.dialect is POSTGRESQL:
            try:
                return connect_postgresql(self.url, self.statement_timeout_ms)
            except psycopg.OperationalError as error:
                raise CannotConnect(f"cannot connect to {redacted(self.url)}: {error}") from None
        # Autocommit mode: transactions are begun explicitly, so none is left open by a read.
        try:
            raw = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.lock_wait_seconds,
            )
            raw.execute("PRAGMA schema_version")  # a file that is not a database fails here
        except sqlite3.DatabaseError as error:
            raise DatabaseUrlError(f"cannot open {redacted(self.url)}: {error}") from None
        for pragma in (
            "journal_mode=WAL",
            # Every commit reaches the disk before it is acknowledged: with NORMAL, WAL mode
            # may lose the last commits on power loss (docs/deployment.md, "Durability").
            "synchronous=FULL",
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
        try:
            connection.execute(begin)
        except psycopg.OperationalError:
            if connection.usable:
                raise
            # The connection died while idle (the server restarted): nothing was done on it yet,
            # so the transaction begins again on a new one.
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
            self._connections.pop(threading.get_ident(), None)

    def cut_off(self, thread: int) -> bool:
        """Shut down the socket of `thread`'s PostgreSQL connection, from any thread: a statement
        it waits on fails at once, as if the server had closed it. Whether there was one."""
        connection = self._connections.get(thread)
        if connection is None or isinstance(connection.raw, sqlite3.Connection):
            return False
        try:
            descriptor = os.dup(connection.raw.pgconn.socket)
        except (OSError, psycopg.OperationalError):
            return False
        with socket.socket(fileno=descriptor) as sock:  # the same socket, closed here as a dup
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                return False
        return True


class Deadlines:
    """Blocking database work with a deadline: work that outlives it has its thread's connection
    cut off (`Database.cut_off`), so that a server that stopped answering without closing its
    connections (frozen, partitioned) cannot hold a request thread. One watcher thread."""

    def __init__(self, database: Database, seconds: float) -> None:
        self.database = database
        self.seconds = seconds
        self._due: dict[int, float] = {}  # thread -> when its work is late
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()

    def run(self, work: Callable[..., T], *arguments: Any) -> T:
        if self.database.dialect is not POSTGRESQL:
            return work(*arguments)  # a local file: its waits are bounded by the lock wait
        thread = threading.get_ident()
        with self._lock:
            self._due[thread] = time.monotonic() + self.seconds
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch, name="numbers-api-deadlines", daemon=True
                )
                self._watcher.start()
        try:
            return work(*arguments)
        finally:
            with self._lock:
                self._due.pop(thread, None)

    def _watch(self) -> None:
        while not self._stopping.wait(min(0.25, self.seconds / 4)):
            now = time.monotonic()
            # Under the lock: a late thread is still inside `run`, on the connection cut.
            with self._lock:
                for thread in [thread for thread, due in self._due.items() if due < now]:
                    del self._due[thread]
                    self.database.cut_off(thread)

    def close(self) -> None:
        self._stopping.set()


def in_chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`values`, `size` at a time: as many as one statement binds as parameters."""
    return (values[start : start + size] for start in range(0, len(values), size))
