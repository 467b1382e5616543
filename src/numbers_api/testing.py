"""numbers-api for other projects' tests: a real `numbers-api serve` on a throwaway SQLite file.

Installing numbers-api registers this module as a pytest plugin (the `pytest11` entry point), which
gives every test the fixture `numbers_api`: an account of its own, with no numbers, on a server
started once per session. Other test runners use `server()`, a context manager that yields the
same object. docs/testing-with-numbers-api.md is the user's guide.

A test's "fresh database" is a fresh account: the server and its file are shared by the session,
but each test gets a new account and key, so through the API it sees an empty inventory. At the
end of the test the numbers of every account it made are deleted, so the next test may load the
same phone numbers again (a number belongs to one account at a time in the whole database).

Every account's webhooks go to a receiver the session runs in this process (`WebhookReceiver`, a
path per account), so a test sees what the server sent it (`Account.webhooks()`) and whether it
verified with the server's key.

Faults (`numbers_api.settings.KNOWN_FAULTS`) are read by the server when it starts, so switching
one on points `base_url` at a second server on the same file, started with that fault the first
time it is asked for; the accounts and numbers are the same on both.

`start_server`, `stop_server` and `kill_server` start and end one `numbers-api serve`, whole (its
workers and their index builders with it), for tests that need a server of their own: this
project's.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from numbers_api.demo import demo_records
from numbers_api.importing.run import import_records
from numbers_api.settings import FAULTS_VARIABLE, KNOWN_FAULTS, RATE_LIMIT_VARIABLE
from numbers_api.store.accounts import create_account, reset_account
from numbers_api.store.database import Database
from numbers_api.store.webhook_settings import set_webhook_urls
from numbers_api.webhooks.delivery import RETRY_VARIABLE
from numbers_api.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, public_key

__all__ = [
    "Account",
    "ImportRejected",
    "Servers",
    "Webhook",
    "WebhookReceiver",
    "server",
]

START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10
# The wait after a webhook's first failed attempt on the fixture's servers: a tenth of a
# server's, so a test sees the retries (0.1, 0.2, 0.4 s ...) and the failover within a second.
WEBHOOK_RETRY_SECONDS = "0.1"


class ImportRejected(ValueError):
    """`add_numbers` was given a bad record; nothing was written. The message lists each problem
    as the import command prints it (docs/import.md)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# How far a webhook's timestamp may be from the receiver's clock, as the Telnyx SDKs allow.
TIMESTAMP_TOLERANCE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Webhook:
    """One POST the receiver got: its body as sent (`raw`) and parsed (`body`), its headers
    (names in lower case), and whether its signature verified with the server's public key and
    its timestamp was within 5 minutes (what `client.webhooks.unwrap` checks)."""

    raw: str
    body: Any
    headers: dict[str, str]
    verified: bool
    path: str

    @property
    def event_type(self) -> str | None:
        """`data.event_type`, e.g. `number_order.complete`."""
        return _data(self.body).get("event_type")

    @property
    def event_id(self) -> str | None:
        """`data.id`: the same on every attempt at one event."""
        return _data(self.body).get("id")

    @property
    def payload(self) -> Any:
        """`data.payload`: the order, for `number_order.*` events."""
        return _data(self.body).get("payload")

    @property
    def meta(self) -> dict[str, Any]:
        """`meta`: `attempt` (1-based) and `delivered_to` (the URL)."""
        meta = self.body.get("meta") if isinstance(self.body, dict) else None
        return meta if isinstance(meta, dict) else {}


def _data(body: Any) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def verified(raw: bytes, headers: dict[str, str], key: str) -> bool:
    """Whether a webhook's signature verifies with `key` (base64) and its timestamp is recent."""
    try:
        timestamp = headers[TIMESTAMP_HEADER]
        signature = base64.b64decode(headers[SIGNATURE_HEADER], validate=True)
        if abs(time.time() - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
            return False
        VerifyKey(base64.b64decode(key)).verify(timestamp.encode() + b"|" + raw, signature)
    except (KeyError, ValueError, BadSignatureError):
        return False
    return True


class WebhookReceiver:
    """A small HTTP server on 127.0.0.1, in a thread, that keeps every POST it gets (by path) and
    answers each with the next of `answers` (status, seconds to wait first) given to
    `answer_next`, else 200 at once. `url(path)` is where to send webhooks; `close()` stops it."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._received: list[Webhook] = []
        self._answers: dict[str, list[tuple[int, float]]] = {}
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver._keep(self.path, raw, headers)  # kept even if the answer comes late
                status, wait = receiver._answer(self.path)
                time.sleep(wait)
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:  # the sender gave up waiting
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: a test's output is its own

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="numbers-api-webhook-receiver", daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def answer_next(self, path: str, *answers: tuple[int, float]) -> None:
        """The next POSTs to `path` are answered so, in turn: (status, seconds to wait first)."""
        with self._arrived:
            self._answers.setdefault(path, []).extend(answers)

    def received(self, path: str | None = None) -> list[Webhook]:
        """What was received so far (at `path`, if given), in the order it arrived."""
        with self._arrived:
            return [w for w in self._received if path is None or w.path == path]

    def wait_for(
        self, path: str | None, event_type: str | None, count: int, timeout: float
    ) -> list[Webhook]:
        """The first `count` webhooks at `path` of `event_type` (any if None), once they have
        arrived; TimeoutError if they have not within `timeout` seconds."""

        def matching() -> list[Webhook]:
            return [
                w
                for w in self._received
                if (path is None or w.path == path)
                and (event_type is None or w.event_type == event_type)
            ]

        with self._arrived:
            if not self._arrived.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(
                    f"{len(matching())} of {count} webhook(s) of type {event_type or 'any'} "
                    f"arrived within {timeout:g} s"
                )
            return matching()[:count]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _answer(self, path: str) -> tuple[int, float]:
        with self._arrived:
            answers = self._answers.get(path)
            return answers.pop(0) if answers else (200, 0.0)

    def _keep(self, path: str, raw: bytes, headers: dict[str, str]) -> None:
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        webhook = Webhook(text, body, headers, verified(raw, headers, self.key), path)
        with self._arrived:
            self._received.append(webhook)
            self._arrived.notify_all()


# Servers started by `start_server` and not yet ended, ended when the interpreter exits should a
# test runner not have: a server outlives the run that started it otherwise.
_STARTED: set[subprocess.Popen[bytes]] = set()


def start_server(
    database_url: str,
    *arguments: str,
    environment: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
    stderr: int | IO[bytes] = subprocess.DEVNULL,
) -> tuple[subprocess.Popen[bytes], str]:
    """`numbers-api --database-url URL OPTIONS serve --port PORT ARGUMENTS` on a free port, with
    `environment` added to this process's, without a rate limit unless it or `arguments` set one;
    the process and its root URL (no `/v2`) once it answers `/health`.

    The server runs in a session, so a process group, of its own: uvicorn's supervisor, its
    workers and their index builders. `stop_server` or `kill_server` ends the whole group; ending
    the supervisor alone leaves its workers running, orphaned."""
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 (this interpreter, our module)
        [
            *(sys.executable, "-m", "numbers_api", "--database-url", database_url, *options),
            *("serve", "--port", str(port), *arguments),
        ],
        env={**os.environ, RATE_LIMIT_VARIABLE: "0", **(environment or {})},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )
    _STARTED.add(process)
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if _exited(process):
            kill_server(process)  # its workers may be running
            raise RuntimeError(f"numbers-api serve exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{root}/health", timeout=1) as answer:  # noqa: S310
                if answer.status == 200:
                    return process, root
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    kill_server(process)
    raise RuntimeError(f"numbers-api serve did not answer within {START_TIMEOUT_SECONDS} s")


def stop_server(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """End a server `start_server` started, as a process manager does: SIGTERM to its supervisor,
    which stops its workers (they finish their requests and end their index builders). Whatever
    of its process group is left once the supervisor has ended, or after `timeout` seconds,
    is killed (SIGKILL). Returns once the supervisor is reaped."""
    if not _exited(process):
        os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not _exited(process) and time.monotonic() < deadline:
            time.sleep(0.05)
    kill_server(process)


def kill_server(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to every process of a server `start_server` started, all at once (as when its
    host dies), and the supervisor reaped; nothing if it was ended so already."""
    if process not in _STARTED:
        return
    # Until the supervisor is reaped its id is still its group's, whichever of the group is left:
    # no other process can have taken it. (macOS says EPERM of a group left with zombies alone.)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    _STARTED.discard(process)


def _exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether the process has ended, without reaping it (see `kill_server`)."""
    if process.returncode is not None:
        return True
    if not hasattr(os, "waitid"):  # macOS before Python 3.13: this reaps it
        return process.poll() is not None
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped elsewhere
        return True


@atexit.register
def _kill_servers_left() -> None:
    for process in list(_STARTED):
        kill_server(process)


class Servers:
    """One database and the servers on it: one without faults, one per set of faults asked for,
    each started on first use. `close()` stops them; the database is left as it is."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.database = Database(database_url)  # creates the schema before any server
        self._running: dict[frozenset[str], tuple[subprocess.Popen[bytes], str]] = {}
        self._receiver: WebhookReceiver | None = None

    def base_url(self, faults: frozenset[str] = frozenset()) -> str:
        """The `/v2` address of the server with exactly these faults, started if need be."""
        if faults not in self._running:
            environment = {
                FAULTS_VARIABLE: ",".join(faults),
                RETRY_VARIABLE: os.environ.get(RETRY_VARIABLE, WEBHOOK_RETRY_SECONDS),
            }
            self._running[faults] = start_server(self.database_url, environment=environment)
        return self._running[faults][1] + "/v2"

    def account(self) -> Account:
        """A new, empty account with a key of its own."""
        return Account(self, f"test-{uuid.uuid4().hex}")

    @property
    def receiver(self) -> WebhookReceiver:
        """The webhook receiver every account's webhooks go to (each to a path of its own),
        started with the first account."""
        if self._receiver is None:
            self._receiver = WebhookReceiver(public_key(self.database))
        return self._receiver

    def close(self) -> None:
        if self._receiver is not None:
            self._receiver.close()
            self._receiver = None
        for process, _ in self._running.values():
            stop_server(process)
        self._running.clear()
        self.database.close()


class Account:
    """What a test sees: an account on the servers, its key, and ways to seed it.

    `base_url` ends in `/v2`, ready for `Telnyx(api_key=..., base_url=...)`."""

    def __init__(self, servers: Servers, name: str) -> None:
        self.servers = servers
        self.name = name
        self.webhook_path = f"/webhooks/{name}"
        self.api_key = create_account(
            servers.database, name, webhook_url=servers.receiver.url(self.webhook_path)
        )
        self.faults: frozenset[str] = frozenset()
        self._others: list[Account] = []

    @property
    def base_url(self) -> str:
        """The server with this account's faults on; read it again after `fault_on`."""
        return self.servers.base_url(self.faults)

    def add_numbers(self, records: Iterable[dict[str, Any]]) -> int:
        """Import `records` (the import's record form, docs/import.md) into this account, all or
        nothing, as `numbers-api import` does; returns how many were imported. The server sees
        them at once. A bad record raises `ImportRejected` and writes nothing."""
        problems: list[str] = []
        report = import_records(
            self.servers.database,
            self.name,
            enumerate(records, start=1),
            lambda line, field, reason: problems.append(f"record {line}: {field}: {reason}"),
        )
        if not report.ok:
            raise ImportRejected("\n".join(problems))
        return report.imported

    def demo(self, n: int = 100, seed: int = 0) -> int:
        """`n` realistic numbers, as `numbers-api demo --numbers N --seed S` makes (the same seed
        gives the same numbers); returns how many were imported. Numbers are unique in the whole
        database, so two accounts of one test need different seeds."""
        return self.add_numbers(demo_records(n, seed))

    def new_account(self) -> Account:
        """A second account, with its own key and no numbers; removed with this one."""
        other = self.servers.account()
        other.faults = self.faults
        self._others.append(other)
        return other

    def fault_on(self, fault: str) -> None:
        """Make the component fail (`messaging_profiles`) or slow (`slow_jobs`,
        `slow_csv_downloads`) for clients made from `base_url` after this call."""
        if fault not in KNOWN_FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(sorted(KNOWN_FAULTS))}")
        self.faults = self.faults | {fault}

    def fault_off(self, fault: str) -> None:
        """Undo `fault_on`, for clients made from `base_url` after this call."""
        self.faults = self.faults - {fault}

    @property
    def webhook_public_key(self) -> str:
        """The base64 key webhooks verify with: `client.webhooks.unwrap(..., key=...)`."""
        return self.servers.receiver.key

    @property
    def webhook_url(self) -> str:
        """Where the fixture receives this account's webhooks (set when the account was made)."""
        return self.servers.receiver.url(self.webhook_path)

    def webhooks(self) -> list[Webhook]:
        """The webhooks received so far for this account, in the order they arrived (each
        attempt at an event is one). Each has `body` (parsed), `raw`, `headers`, `verified`, and
        `event_type`, `event_id`, `payload`, `meta` from its body."""
        return self.servers.receiver.received(self.webhook_path)

    def wait_for_webhook(
        self, event_type: str | None = None, *, count: int = 1, timeout: float = 10.0
    ) -> Webhook:
        """The `count`-th webhook of `event_type` (any if None) received for this account, once
        it has arrived; TimeoutError after `timeout` seconds."""
        receiver = self.servers.receiver
        return receiver.wait_for(self.webhook_path, event_type, count, timeout)[-1]

    def fail_webhooks(self, *statuses: int, delay: float = 0.0) -> None:
        """Answer the next webhooks with these statuses in turn (e.g. 500, 500: the third
        attempt succeeds), each after `delay` seconds; then 200 again."""
        self.servers.receiver.answer_next(self.webhook_path, *((s, delay) for s in statuses))

    def set_webhook_url(self, url: str | None, failover_url: str | None = None) -> None:
        """Send this account's webhooks to your own receiver instead (None: nowhere), as
        `numbers-api webhooks set` does."""
        set_webhook_urls(self.servers.database, self.name, url, failover_url)

    def clear(self) -> None:
        """Delete the numbers of this account and of the accounts `new_account` made."""
        for other in self._others:
            other.clear()
        reset_account(self.servers.database, self.name)


@contextmanager
def server() -> Iterator[Account]:
    """Servers on a new SQLite file in a temporary directory, and an account on them; everything
    is stopped and removed on leaving. For test runners other than pytest."""
    directory = Path(tempfile.mkdtemp(prefix="numbers-api-"))
    servers = Servers(sqlite_url(directory))
    try:
        yield servers.account()
    finally:
        servers.close()
        shutil.rmtree(directory, ignore_errors=True)


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'numbers.db'}"


try:
    import pytest
except ImportError:  # `server()` needs no pytest; the fixtures do
    pass
else:

    @pytest.fixture(scope="session")
    def numbers_api_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
        """The session's servers; `numbers_api` is what tests use. A conftest.py may override
        it to serve another database (this project's own runs it on PostgreSQL too)."""
        servers = Servers(sqlite_url(tmp_path_factory.mktemp("numbers-api")))
        servers.base_url()  # started with the first test's setup, not within a test
        yield servers
        servers.close()

    @pytest.fixture
    def numbers_api(numbers_api_servers: Servers) -> Iterator[Account]:
        """A new account of its own on the session's server, emptied at the end of the test."""
        account = numbers_api_servers.account()
        yield account
        account.clear()
