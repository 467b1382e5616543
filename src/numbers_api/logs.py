"""Log lines on standard error, the same in the command and in every server worker process
(uvicorn starts workers afresh, so each one sets this up itself, as does each index builder).

Two forms (docs/deployment.md, "Logs"): JSON lines, one object a line, for a service's log
collector (the default), or text for a terminal (`--log-format text`). A line logged while a
request is answered carries the request's id and, once it is known, its account's id: `REQUEST`,
a context variable set by `http/observability.py` for each request and carried into the request
threads that run its steps (`store/executors.py`)."""

from __future__ import annotations

import logging
import os
import sys
import time
from contextvars import ContextVar

import orjson

# How `serve` tells its workers (and they their index builders) the form chosen.
LOG_FORMAT_VARIABLE = "NUMBERS_API_LOG_FORMAT"
LOG_FORMATS = ("json", "text")
DEFAULT_LOG_FORMAT = "json"


class LogFormatError(ValueError):
    pass


class RequestContext:
    """The request being answered, as its log lines name it."""

    __slots__ = ("account_id", "request_id")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.account_id: int | None = None  # known once the caller is authenticated


REQUEST: ContextVar[RequestContext | None] = ContextVar("numbers_api_request", default=None)


def note_account(account_id: int) -> None:
    """The request being answered is the account's: its lines from now on say so."""
    request = REQUEST.get()
    if request is not None:
        request.account_id = account_id


def log_format_from_environment() -> str:
    chosen = os.environ.get(LOG_FORMAT_VARIABLE, "").strip() or DEFAULT_LOG_FORMAT
    if chosen not in LOG_FORMATS:
        raise LogFormatError(
            f"{LOG_FORMAT_VARIABLE}: unknown log format {chosen!r}; known: {', '.join(LOG_FORMATS)}"
        )
    return chosen


def configure_logging(log_format: str | None = None) -> None:
    """Lines at INFO and above on standard error, in `log_format` (by default, the one the
    environment names, else JSON lines). Once per process: later calls change nothing."""
    handler = logging.StreamHandler(sys.stderr)
    chosen = log_format or log_format_from_environment()
    handler.setFormatter(JsonLines() if chosen == "json" else TextLines())
    logging.basicConfig(level=logging.INFO, handlers=[handler])


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the request's id and account
    when the line is about a request, the `fields` a line was given (`extra={"fields": {...}}`),
    and any exception's traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": _utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = REQUEST.get()
        if request is not None:
            line["request_id"] = request.request_id
            if request.account_id is not None:
                line["account_id"] = request.account_id
        fields = record.__dict__.get("fields")
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line).decode()


class TextLines(logging.Formatter):
    """`TIME LEVEL LOGGER: MESSAGE`, and `[request ID, account N]` after a request's lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        text = super().formatMessage(record)
        request = REQUEST.get()
        if request is None:
            return text
        if request.account_id is None:
            return f"{text} [request {request.request_id}]"
        return f"{text} [request {request.request_id}, account {request.account_id}]"


class _Seconds:
    """The last whole second written, and its text: made once a second, not once a line."""

    def __init__(self) -> None:
        self.last: tuple[int, str] = (-1, "")  # replaced whole: threads read it unlocked

    def text(self, created: float) -> str:
        """`2026-12-06T07:12:29.123Z`."""
        whole = int(created)
        second, text = self.last
        if whole != second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            self.last = (whole, text)
        return f"{text}.{int((created - whole) * 1000):03d}Z"


_utc_timestamp = _Seconds().text
