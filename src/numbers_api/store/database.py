"""Opening the database a URL names (SQLite or PostgreSQL), its schema brought up to date on first
use, with one connection per thread and explicit transactions."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import psycopg.abc
from psycopg.adapt import PyFormat, Transformer
from psycopg.conninfo import conninfo_to_dict

from numbers_api.store.dialects import POSTGRESQL, SQLITE, Dialect
from numbers_api.store.schema import migrate

DEFAULT_DATABASE_URL = "sqlite:///numbers.db"
PAGE_CACHE_KIB = 16 * 1024
# An import writes every index of a million rows at once: with 128 MiB of page cache instead of
# 16, a million-number import took 63 s instead of 76 s (peak 226 MB).
BULK_LOAD_PAGE_CACHE_KIB = 128 * 1024
CONNECT_SECONDS = 10
# The event loop's pipeline gives up on a connection that has not answered a statement in this
# long (every request of the worker waits on it): the statement fails, the others go on anew.
ANSWER_SECONDS = 30.0


class DatabaseUrlError(ValueError):
    pass


def sqlite_path(url: str) -> str:
    """`sqlite:///relative.db`, `sqlite:////absolute.db` or `sqlite:///:memory:`."""
    parts = urlsplit(url)
    if parts.netloc or not parts.path.startswith("/"):
        raise DatabaseUrlError(
            f"unsupported database URL {url!r}: use sqlite:///PATH (relative) or sqlite:////PATH"
        )
    return unquote(parts.path[1:])


@lru_cache(maxsize=512)
def _psycopg_sql(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (no statement here contains a literal `%` or `?`)."""
    return sql.replace("?", "%s")


def _numbered_sql(sql: str) -> str:
    """`?` placeholders as PostgreSQL's own `$1`, `$2`..."""
    pieces = sql.split("?")
    return pieces[0] + "".join(f"${i}{piece}" for i, piece in enumerate(pieces[1:], start=1))


def _connect_postgresql(url: str) -> psycopg.Connection[Any]:
    """Autocommit: transactions are begun explicitly, so none is left open by a read. psycopg
    prepares nothing of its own: once it has, a ROLLBACK, DROP or ALTER makes it deallocate every
    statement of the connection, those `fetch` prepared too, which a request's statement inside a
    transaction would then not find. A server that does not answer fails the attempt after
    `CONNECT_SECONDS`, unless the URL says otherwise (`connect_timeout`)."""
    parameters: dict[str, Any] = {"connect_timeout": CONNECT_SECONDS}
    parameters.update(conninfo_to_dict(url))
    return psycopg.connect(**parameters, autocommit=True, prepare_threshold=None)


def _dumped(transformer: psycopg.abc.Transformer, parameters: Sequence[Any]) -> Sequence[Any]:
    """The parameters as PostgreSQL's text, by psycopg's own dumpers (None stays SQL's NULL)."""
    return transformer.dump_sequence(parameters, [PyFormat.TEXT] * len(parameters))


def _loaded(
    transformer: psycopg.abc.Transformer, result: psycopg.pq.abc.PGresult
) -> list[tuple[Any, ...]]:
    """A result's rows, by psycopg's own loaders."""
    transformer.set_pgresult(result)
    return transformer.load_rows(0, result.ntuples, tuple)


class _PreparedStatements:
    """Statements of fixed text prepared once on one PostgreSQL connection and run through libpq
    directly. psycopg's cursor costs the server's Python more than such a statement costs it to
    send and read (about 45 of 65 µs of processor time, with the GIL held), on the hot path of
    every request; libpq lets go of the GIL while it waits."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self._raw = raw
        self._names: dict[str, bytes] = {}
        self._transformer = Transformer(raw)

    def fetch(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        pgconn = self._raw.pgconn
        name = self._names.get(sql)
        if name is None:
            name = f"numbers_api_{len(self._names)}".encode()
            self._check(pgconn.prepare(name, _numbered_sql(sql).encode()))
            self._names[sql] = name
        result = pgconn.exec_prepared(name, _dumped(self._transformer, parameters))
        self._check(result)
        return _loaded(self._transformer, result)

    def _check(self, result: psycopg.pq.abc.PGresult) -> None:
        """psycopg's own errors, as its cursor raises them: a lost connection's too."""
        if result.status in (psycopg.pq.ExecStatus.TUPLES_OK, psycopg.pq.ExecStatus.COMMAND_OK):
            return
        encoding = self._raw.info.encoding
        if self._raw.pgconn.status == psycopg.pq.ConnStatus.BAD:
            raise psycopg.OperationalError(result.get_error_message(encoding))
        raise psycopg.errors.error_from_result(result, encoding=encoding)


@dataclass(eq=False, slots=True)
class _Sent:
    """A statement sent down the pipeline, and what has come back for it so far."""

    sql: str
    answer: asyncio.Future[list[tuple[Any, ...]]]
    rows: psycopg.pq.abc.PGresult | None = None
    error: psycopg.pq.abc.PGresult | None = None


_FAILED = (psycopg.pq.ExecStatus.FATAL_ERROR, psycopg.pq.ExecStatus.PIPELINE_ABORTED)


class _ConnectionLost(psycopg.OperationalError):
    """The pipeline's connection went away before it answered a statement."""


@dataclass(eq=False)
class PipelinedStatements:
    """Statements sent from an asyncio event loop without blocking it, on one PostgreSQL
    connection of the loop's own in libpq's pipeline mode: each is sent as it comes, prepared on
    first use, and answered in the order sent, so that a worker's concurrent requests share the
    connection and none waits for another's round trip. For statements that only read; used
    from the loop that first used it only."""

    url: str
    _raw: psycopg.Connection[Any] | None = None
    _sent: deque[_Sent] = field(default_factory=deque)
    _names: dict[str, bytes] = field(default_factory=dict)
    _numbers: Iterator[int] = field(default_factory=itertools.count)
    _socket: int = -1
    _writing: bool = False
    _connecting: asyncio.Future[psycopg.Connection[Any]] | None = None
    _closed: bool = False

    async def fetch(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of a statement that only reads: one whose connection was lost before it was
        answered (the server restarted, say) is sent once more, on a new connection."""
        try:
            return await self._fetch(sql, parameters)
        except _ConnectionLost:
            return await self._fetch(sql, parameters)

    async def _fetch(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        raw = self._raw or await self._open()
        pgconn = raw.pgconn
        sent = _Sent(sql, asyncio.get_running_loop().create_future())
        try:
            name = self._names.get(sql)
            if name is None:
                name = f"numbers_api_{next(self._numbers)}".encode()
                pgconn.send_prepare(name, _numbered_sql(sql).encode())
                self._names[sql] = name
            pgconn.send_query_prepared(name, _dumped(self._transformer, parameters))
            pgconn.pipeline_sync()
            self._flush()
        except psycopg.OperationalError as error:
            self._lose(error)
            raise _ConnectionLost(str(error)) from error
        self._sent.append(sent)  # after the sending: only what was sent is answered
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                return await sent.answer
        except TimeoutError:
            message = f"PostgreSQL gave no answer in {ANSWER_SECONDS:.0f} s"
            self._lose(psycopg.OperationalError(message))
            raise psycopg.OperationalError(message) from None

    async def _open(self) -> psycopg.Connection[Any]:
        """The connection, opened once however many statements wait for it: a failure to connect
        fails them all at once. Shielded: a request that goes away leaves the opening to finish."""
        if self._closed:
            raise psycopg.OperationalError("the pipeline is closed")
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> psycopg.Connection[Any]:
        try:
            loop = asyncio.get_running_loop()
            # Connecting blocks: not on the loop.
            raw = await loop.run_in_executor(None, partial(_connect_postgresql, self.url))
            if self._closed:
                raw.close()
                raise psycopg.OperationalError("the pipeline is closed")
            raw.pgconn.nonblocking = 1
            raw.pgconn.enter_pipeline_mode()
            self._transformer = Transformer(raw)
            self._socket = raw.pgconn.socket
            loop.add_reader(self._socket, self._read)
            self._raw = raw
            return raw
        finally:
            self._connecting = None

    def _flush(self) -> None:
        assert self._raw is not None
        if self._raw.pgconn.flush() == 1 and not self._writing:  # the socket took only a part
            asyncio.get_running_loop().add_writer(self._socket, self._write)
            self._writing = True

    def _write(self) -> None:
        assert self._raw is not None
        try:
            if self._raw.pgconn.flush() == 0:
                asyncio.get_running_loop().remove_writer(self._socket)
                self._writing = False
        except psycopg.OperationalError as error:
            self._lose(error)

    def _read(self) -> None:
        assert self._raw is not None
        pgconn = self._raw.pgconn
        try:
            pgconn.consume_input()
            while self._sent and not pgconn.is_busy():
                if pgconn.status == psycopg.pq.ConnStatus.BAD:  # libpq gave up on it
                    raise psycopg.OperationalError("the connection to PostgreSQL is broken")
                result = pgconn.get_result()
                if result is None:  # the end of one statement's results (a prepare's too)
                    continue
                sent = self._sent[0]
                if result.status == psycopg.pq.ExecStatus.PIPELINE_SYNC:
                    self._sent.popleft()
                    self._answer(sent)
                elif result.status in _FAILED:
                    sent.error = sent.error or result  # the first error is the cause
                elif result.status == psycopg.pq.ExecStatus.TUPLES_OK:
                    sent.rows = result
        except psycopg.OperationalError as error:
            self._lose(error)

    def _answer(self, sent: _Sent) -> None:
        if sent.error is not None:
            self._names.pop(sent.sql, None)  # prepared again next time, in case that failed
        if sent.answer.done():  # its request went away
            return
        try:
            sent.answer.set_result(self._rows(sent))
        except Exception as error:  # the request's, never the loop's: it would wait forever
            sent.answer.set_exception(error)

    def _rows(self, sent: _Sent) -> list[tuple[Any, ...]]:
        assert self._raw is not None
        if sent.error is not None:
            if sent.error.status == psycopg.pq.ExecStatus.FATAL_ERROR:
                encoding = self._raw.info.encoding
                raise psycopg.errors.error_from_result(sent.error, encoding=encoding)
            raise psycopg.OperationalError("the pipeline was aborted")
        assert sent.rows is not None, "every statement sent returns rows"
        return _loaded(self._transformer, sent.rows)

    def _lose(self, error: psycopg.OperationalError) -> None:
        """The connection is gone: what was sent fails, and the next statement opens another."""
        raw, self._raw = self._raw, None
        if raw is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self._socket)
            if self._writing:
                loop.remove_writer(self._socket)
            raw.close()
        self._writing = False
        self._names.clear()
        while self._sent:
            sent = self._sent.popleft()
            if not sent.answer.done():
                sent.answer.set_exception(_ConnectionLost(str(error)))

    def close(self) -> None:
        """For good: a statement sent after this fails."""
        self._closed = True
        if self._raw is not None:
            self._lose(psycopg.OperationalError("the pipeline is closed"))


class Connection:
    """One connection of either engine, taking `?` placeholders and bound parameters only."""

    def __init__(self, raw: sqlite3.Connection | psycopg.Connection[Any], dialect: Dialect) -> None:
        self.raw = raw
        self.dialect = dialect
        self._prepared: _PreparedStatements | None = None  # made on a PostgreSQL one's first use

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
            self._prepared = _PreparedStatements(self.raw)
        return self._prepared.fetch(sql, parameters)

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
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        elif scheme in ("postgresql", "postgres"):
            self.dialect = POSTGRESQL
        else:
            raise DatabaseUrlError(
                f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://HOST/NAME"
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
                return _connect_postgresql(self.url)
            except psycopg.OperationalError as error:
                raise DatabaseUrlError(f"cannot connect to {self.url}: {error}") from None
        # Autocommit mode: transactions are begun explicitly, so none is left open by a read.
        raw = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
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
