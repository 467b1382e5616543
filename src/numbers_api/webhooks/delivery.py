"""The webhook delivery runner: a thread in each server worker that takes a due delivery from the
outbox (store/webhook_outbox.py), POSTs it, signed, to the account's URL, and records the outcome.

Any number of runners, in any number of processes and hosts, may share one database: a delivery
is claimed by one of them for one attempt, with a lease that outlasts the attempt's timeout, so a
runner killed mid-attempt leaves it to the next runner once the lease has run out. Every state is
in the database: a delivery waiting when the server stops is sent once it is back.

Delivery is at least once: a delivery is marked delivered only after the receiver's 2xx, in a
transaction of its own, so a runner that stops between the two (killed, or the database away)
sends the event again; the event's `id` is the same on every attempt, and receivers deduplicate
by it. docs/ordering.md, "Webhooks", has the retry schedule (`attempt_url`, `next_attempt_at`).

One attempt at a time per worker: a slow receiver holds its runner for at most `TIMEOUT_SECONDS`
an attempt (and its failed attempts wait longer and longer), while the other workers' runners
carry on with other accounts' deliveries."""

from __future__ import annotations

import base64
import contextlib
import http.client
import logging
import os
import socket
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Unpack
from urllib.parse import unquote, urlsplit

import orjson

from numbers_api import __version__
from numbers_api.background import BackgroundRunner, RunnerOptions
from numbers_api.metrics import WEBHOOK_ATTEMPTS, WEBHOOKS_WAITING
from numbers_api.settings import seconds_from_environment
from numbers_api.store.database import Database
from numbers_api.store.webhook_outbox import (
    ClaimedDelivery,
    any_due,
    claim_delivery,
    deliveries_waiting,
    mark_attempt_failed,
    mark_delivered,
)
from numbers_api.webhooks.signing import Signer

log = logging.getLogger("numbers_api.webhooks")

# The wait after a first failed attempt, in seconds; every wait, the longest wait and the window
# scale with it. Other than 1 s for tests that watch retries (checked when `serve` starts).
RETRY_VARIABLE = "NUMBERS_API_WEBHOOK_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 1.0
# Attempts 1-3 go to the webhook URL; 4-6 to the failover URL when there is one; from the 7th on
# they alternate, the URL first (attempts to the URL only, without a failover URL).
PRIMARY_ATTEMPTS = 3
FAILOVER_ATTEMPTS = 3
# Waits double from the first (1, 2, 4, 8 ... s) up to 600 first waits (10 min); the event is
# failed when its next attempt would be more than 86,400 first waits (24 h) after it occurred.
LONGEST_WAIT = 600
WINDOW = 86_400
# The longest one attempt may take, from connecting to the answer's headers.
TIMEOUT_SECONDS = 5.0
# How often the `numbers_api_webhooks_waiting` gauge is counted again, at most.
GAUGE_SECONDS = 5.0
MAX_URL_LENGTH = 2048
USER_AGENT = f"numbers-api/{__version__} (webhooks)"


def retry_seconds_from_environment() -> float:
    """The first wait between attempts: NUMBERS_API_WEBHOOK_RETRY_SECONDS, else 1 s."""
    return seconds_from_environment(RETRY_VARIABLE, DEFAULT_RETRY_SECONDS, 0.001, 3_600)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook URL, or None if it can: an absolute http or https URL with
    a host (and a valid port, if any), at most 2,048 characters, no spaces or control
    characters."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "must not hold spaces or control characters"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return "has a bad port"
    if not parts.hostname:
        return "must name a host"
    return None


def attempt_url(attempt: int, url: str, failover_url: str | None) -> str:
    """Where attempt number `attempt` (1-based) goes."""
    if failover_url is None or attempt <= PRIMARY_ATTEMPTS:
        return url
    if attempt <= PRIMARY_ATTEMPTS + FAILOVER_ATTEMPTS:
        return failover_url
    return url if attempt % 2 else failover_url


def next_attempt_at(
    attempt: int, occurred_at_ms: int, now_ms: int, first_wait: float
) -> int | None:
    """When to try again after attempt number `attempt` failed at `now_ms`; None if that would be
    past the event's window (it is failed then)."""
    wait = first_wait * min(2.0 ** (attempt - 1), LONGEST_WAIT)
    at = now_ms + round(wait * 1000)
    return at if at <= occurred_at_ms + round(first_wait * WINDOW * 1000) else None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's outcome: its metric label, and what went wrong (None if delivered)."""

    label: str
    error: str | None = None


DELIVERED = Outcome("delivered")


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    """POST `body` to `url`, following no redirect: delivered on a 2xx, else why not. The whole
    attempt (connecting, sending, the answer's status line and headers) has `timeout` seconds:
    a receiver that answers a byte at a time is cut off then, as one that does not answer."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
    headers = dict(headers)
    if parts.username is not None:  # a receiver behind basic authentication
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = kind(parts.hostname or "", parts.port or (443 if https else 80), timeout=timeout)
    cut_off = threading.Event()

    def cut() -> None:
        cut_off.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # wakes the read it is blocked in, which fails
                sock.shutdown(socket.SHUT_RDWR)

    deadline = threading.Timer(timeout, cut)
    deadline.start()
    try:
        connection.request("POST", target, body, headers)
        status = connection.getresponse().status
        if cut_off.is_set():  # the headers were cut short, which reads as their end
            raise TimeoutError
    except (OSError, http.client.HTTPException) as error:
        if cut_off.is_set() or isinstance(error, TimeoutError):
            return Outcome("timeout", f"no answer within {timeout:g} s")
        return Outcome("connection_error", f"{type(error).__name__}: {error}")
    finally:
        deadline.cancel()
        connection.close()
    if 200 <= status < 300:
        return DELIVERED
    return Outcome("http_error", f"HTTP {status}")


def wake_runners() -> None:
    """Events were just committed to the outbox by this process (the orders' runner, say): its
    delivery runners look now rather than at their next poll, up to a second later."""
    for runner in list(_STARTED):
        runner.wake()


class DeliveryRunner(BackgroundRunner):
    """`first_wait_seconds` is the wait after a delivery's first failed attempt (default: the
    environment's, `retry_seconds_from_environment`); `timeout_seconds` bounds each attempt. The
    other options are every runner's (`BackgroundRunner`)."""

    thread_name = "numbers-api-webhooks"
    kind = "webhook"

    def __init__(
        self,
        database: Database,
        *,
        first_wait_seconds: float | None = None,
        timeout_seconds: float = TIMEOUT_SECONDS,
        **options: Unpack[RunnerOptions],
    ) -> None:
        super().__init__(database, **options)
        self.first_wait = (
            retry_seconds_from_environment() if first_wait_seconds is None else first_wait_seconds
        )
        self.timeout_seconds = timeout_seconds
        self.name = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self._signer: Signer | None = None
        self._counted_at = 0.0  # when the waiting deliveries were last counted (monotonic)

    def start(self) -> None:
        super().start()
        _STARTED.add(self)

    def stop(self) -> None:
        _STARTED.discard(self)
        super().stop()

    def run_next(self) -> bool:
        """Claim a due delivery and make one attempt; False if none was due."""
        self._count_waiting()
        if not any_due(self.database.connection(), _now_ms()):
            return False
        lease_ms = self.lease_ms + round(self.timeout_seconds * 1000)
        with self.database.transaction() as connection:
            delivery = claim_delivery(connection, self.name, _now_ms(), lease_ms)
        if delivery is None:
            return False
        if delivery.webhook_url is None:  # unset since the event was made
            WEBHOOK_ATTEMPTS.labels(outcome="no_url").inc()
            self._failed(delivery, "the account has no webhook URL any more", give_up=True)
            return True
        url = attempt_url(delivery.attempt, delivery.webhook_url, delivery.failover_url)
        body = orjson.dumps(
            {
                "data": orjson.Fragment(delivery.data),
                "meta": {"attempt": delivery.attempt, "delivered_to": url},
            }
        )
        outcome = post(url, body, self._headers(body), self.timeout_seconds)
        WEBHOOK_ATTEMPTS.labels(outcome=outcome.label).inc()
        if outcome.error is None:
            with self.database.transaction() as connection:
                mark_delivered(connection, delivery.id, url, _now_ms())
            log.info("webhook %s delivered on attempt %d", delivery.id, delivery.attempt)
        else:
            self._failed(delivery, outcome.error, give_up=False)
        return True

    def _headers(self, body: bytes) -> dict[str, str]:
        """The body's headers, signed as sent now."""
        if self._signer is None:  # once per runner: the key never changes
            self._signer = Signer.of(self.database)
        return {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **self._signer.headers(body, int(time.time())),
        }

    def _failed(self, delivery: ClaimedDelivery, error: str, *, give_up: bool) -> None:
        now = _now_ms()
        at = None
        if not give_up:
            at = next_attempt_at(delivery.attempt, delivery.occurred_at, now, self.first_wait)
        with self.database.transaction() as connection:
            mark_attempt_failed(connection, delivery.id, self.name, error, at)
        if at is None:
            log.error(
                "webhook %s failed for good after %d attempts: %s",
                delivery.id,
                delivery.attempt,
                error,
            )
        else:
            log.warning(
                "webhook %s attempt %d failed: %s; next attempt in %.1f s",
                delivery.id,
                delivery.attempt,
                error,
                (at - now) / 1000,
            )

    def _count_waiting(self) -> None:
        if time.monotonic() - self._counted_at < GAUGE_SECONDS:
            return
        WEBHOOKS_WAITING.set(deliveries_waiting(self.database.connection()))
        self._counted_at = time.monotonic()


def _now_ms() -> int:
    return int(time.time() * 1000)


# The runners started in this process, which `wake_runners` wakes.
_STARTED: weakref.WeakSet[DeliveryRunner] = weakref.WeakSet()
