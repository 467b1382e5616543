"""Statements over libpq, below psycopg's cursors: prepared once per connection and run
directly, blocking (`PreparedStatements`, in a request thread) or pipelined from an asyncio event
loop (`PipelinedStatements`). Opening connections and transactions are `database`'s."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import psycopg.abc
from psycopg.adapt import PyFormat, Transformer

# The event loop's pipeline gives up on a connection that has not answered a statement in this
# long (every request of the worker waits on it): the statement fails, the others go on anew.
# Inside a request's deadline (`executors.REQUEST_DEADLINE_SECONDS`), so that a server that
# stopped answering has its connection replaced rather than waited on.
ANSWER_SECONDS = 4.5


def _numbered_sql(sql: str) -> str:
    """`?` placeholders as PostgreSQL's own `$1`, `$2`..."""
    pieces = sql.split("?")
    return pieces[0] + "".join(f"${i}{piece}" for i, piece in enumerate(pieces[1:], start=1))


def _dumped(transformer: psycopg.abc.Transformer, parameters: Sequence[Any]) -> Sequence[Any]:
    """The parameters as PostgreSQL's text, by psycopg's own dumpers (None stays SQL's NULL)."""
    return transformer.dump_sequence(parameters, [PyFormat.TEXT] * len(parameters))


def _loaded(
    transformer: psycopg.abc.Transformer, result: psycopg.pq.abc.PGresult
) -> list[tuple[Any, ...]]:
    """A result's rows, by psycopg's own loaders."""
    transformer.set_pgresult(result)
    return transformer.load_rows(0, result.ntuples, tuple)


class PreparedStatements:
    """Statements of fixed text prepared once on one PostgreSQL connection and run through libpq
    directly. psycopg's cursor costs the server's Python more than such a statement costs it to
    send and read, with the GIL held, on the hot path of every request (docs/performance.md);
    libpq lets go of the GIL while it waits."""

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

    connect: Callable[[], psycopg.Connection[Any]]  # blocks: run in a thread
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
            raw = await loop.run_in_executor(None, self.connect)
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
