"""Signed webhooks (docs/ordering.md, "Webhooks"): the key pair, the delivery runner's attempts,
retries and failover, the outbox's claims, and the `webhooks` commands. The runner is driven here
one attempt at a time, in process, against a receiver on a local port; tests/e2e/
test_sdk_webhooks.py has a real server deliver to the Telnyx SDK's `unwrap`."""

from __future__ import annotations

import base64
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from nacl.signing import VerifyKey
from prometheus_client import REGISTRY
from telnyx import Telnyx

from numbers_api.cli import main
from numbers_api.store.accounts import account_id, create_account
from numbers_api.store.database import Database
from numbers_api.store.webhook_outbox import (
    DELIVERED,
    FAILED,
    WAITING,
    claim_delivery,
    enqueue_event,
)
from numbers_api.store.webhook_settings import WebhookUrls, set_webhook_urls, webhook_urls
from numbers_api.testing import Webhook, WebhookReceiver
from numbers_api.webhooks.delivery import (
    DeliveryRunner,
    Outcome,
    attempt_url,
    next_attempt_at,
    post,
    url_problem,
    wake_runners,
)
from numbers_api.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, Signer, public_key

ORDER = {
    "id": "3a0e9b1c-2f3e-4c5d-8e9f-0a1b2c3d4e5f",
    "status": "success",
    "phone_numbers_count": 1,
}
PRIMARY, FAILOVER = "/primary", "/failover"


@pytest.fixture
def receiver(database: Database) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(public_key(database))
    yield receiver
    receiver.close()


@pytest.fixture
def account(database: Database, receiver: WebhookReceiver) -> str:
    """An account whose webhooks go to the receiver's PRIMARY path."""
    create_account(database, "acme", webhook_url=receiver.url(PRIMARY))
    return "acme"


def runner(database: Database, *, timeout: float = 2.0) -> DeliveryRunner:
    """A runner whose waits between attempts are 1 ms, doubling."""
    return DeliveryRunner(database, first_wait_seconds=0.001, timeout_seconds=timeout)


def event(database: Database, name: str, now_ms: int | None = None) -> str | None:
    """A `number_order.complete` event for account `name`, as the orders code makes it."""
    with database.transaction() as connection:
        return enqueue_event(
            connection,
            account_id(connection, name),
            "number_order.complete",
            ORDER,
            int(time.time() * 1000) if now_ms is None else now_ms,
        )


def deliver(runner: DeliveryRunner, attempts: int) -> None:
    """Let the runner make `attempts` attempts, waiting for each to be due."""
    made = 0
    deadline = time.monotonic() + 30
    while made < attempts:
        assert time.monotonic() < deadline, f"only {made} of {attempts} attempts were due"
        if runner.run_next():
            made += 1
        else:
            time.sleep(0.005)


def delivered_once(database: Database, account: str, receiver: WebhookReceiver) -> Webhook:
    """An event of the account's, delivered on its first attempt: the webhook received."""
    event(database, account)
    deliver(runner(database), 1)
    (webhook,) = receiver.received()
    return webhook


def delivery(database: Database, event_id: str) -> dict[str, Any]:
    row = (
        database.connection()
        .execute(
            "SELECT status, attempts, delivered_to, delivered_at, last_error "
            "FROM webhook_deliveries WHERE id = ?",
            (event_id,),
        )
        .fetchone()
    )
    return dict(
        zip(("status", "attempts", "delivered_to", "delivered_at", "last_error"), row, strict=True)
    )


def unwrap(webhook: Webhook, key: str, **changed_headers: str) -> Any:
    with Telnyx(api_key="unused", base_url="http://127.0.0.1:9/v2") as client:
        return client.webhooks.unwrap(
            webhook.raw, headers={**webhook.headers, **changed_headers}, key=key
        )


def attempts_counted(outcome: str) -> float:
    value = REGISTRY.get_sample_value("numbers_api_webhook_attempts_total", {"outcome": outcome})
    return value or 0.0


# The key pair


def test_the_key_pair_is_made_once_and_kept_for_every_database_object(database_url: str) -> None:
    first, second = Database(database_url), Database(database_url)
    try:
        assert public_key(first) == public_key(second) == public_key(first)
    finally:
        first.close()
        second.close()


def test_concurrent_first_uses_agree_on_one_key(database_url: str) -> None:
    keys: list[str] = []
    start = threading.Barrier(4)

    def first_use() -> None:
        database = Database(database_url)
        try:
            start.wait()
            keys.append(public_key(database))
        finally:
            database.close()

    Database(database_url).close()  # migrated before the race
    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 4
    assert len(set(keys)) == 1
    rows = Database(database_url).connection().execute("SELECT count(*) FROM signing_keys")
    assert rows.fetchone()[0] == 1


def test_the_printed_public_key_verifies_a_signature(
    database: Database, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database-url", database_url, "webhooks", "public-key"]) == 0
    printed = capsys.readouterr().out.strip()
    body = b'{"data":{"id":"1"}}'
    headers = Signer.of(database).headers(body, 1_700_000_000)
    signature = base64.b64decode(headers[SIGNATURE_HEADER])
    VerifyKey(base64.b64decode(printed)).verify(b"1700000000|" + body, signature)
    assert headers[TIMESTAMP_HEADER] == "1700000000"


# Deliveries


def test_a_webhook_carries_the_event_and_its_attempt(
    database: Database, account: str, receiver: WebhookReceiver
) -> None:
    webhook = delivered_once(database, account, receiver)
    event_id = webhook.event_id
    assert webhook.headers["content-type"] == "application/json"
    assert webhook.headers["user-agent"].startswith("numbers-api/")
    assert webhook.body["data"]["id"] == event_id
    assert webhook.body["data"]["event_type"] == "number_order.complete"
    assert webhook.body["data"]["record_type"] == "event"
    assert webhook.body["data"]["payload"] == ORDER
    assert webhook.body["meta"] == {"attempt": 1, "delivered_to": receiver.url(PRIMARY)}
    assert webhook.verified
    assert event_id is not None
    found = delivery(database, event_id)
    assert found["status"] == DELIVERED
    assert found["delivered_to"] == receiver.url(PRIMARY)
    assert found["delivered_at"] is not None


def test_the_sdk_unwraps_a_delivered_webhook(
    database: Database, account: str, receiver: WebhookReceiver
) -> None:
    webhook = delivered_once(database, account, receiver)
    unwrapped = unwrap(webhook, public_key(database))
    assert unwrapped.data is not None
    assert unwrapped.data.id == webhook.event_id


def test_the_sdk_rejects_a_tampered_body(
    database: Database, account: str, receiver: WebhookReceiver
) -> None:
    webhook = delivered_once(database, account, receiver)
    tampered = Webhook(
        webhook.raw.replace('"success"', '"failure"'),
        None,
        webhook.headers,
        verified=False,
        path=webhook.path,
    )
    assert tampered.raw != webhook.raw
    with pytest.raises(ValueError, match="Signature verification failed"):
        unwrap(tampered, public_key(database))


def test_the_sdk_rejects_a_tampered_timestamp(
    database: Database, account: str, receiver: WebhookReceiver
) -> None:
    webhook = delivered_once(database, account, receiver)
    later = str(int(webhook.headers[TIMESTAMP_HEADER]) + 1)
    with pytest.raises(ValueError, match="Signature verification failed"):
        unwrap(webhook, public_key(database), **{TIMESTAMP_HEADER: later})


def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt(
    database: Database, account: str, receiver: WebhookReceiver
) -> None:
    receiver.answer_next(PRIMARY, (500, 0.0), (503, 0.0))
    event_id = event(database, account)
    deliver(runner(database), 3)
    received = receiver.received()
    assert [w.meta["attempt"] for w in received] == [1, 2, 3]
    assert {w.event_id for w in received} == {event_id}
    assert {w.meta["delivered_to"] for w in received} == {receiver.url(PRIMARY)}
    assert all(w.verified for w in received)
    assert event_id is not None
    assert delivery(database, event_id)["status"] == DELIVERED


def test_a_receiver_that_always_fails_is_failed_over(
    database: Database, account: str, receiver: WebhookReceiver
) -> None:
    set_webhook_urls(database, account, receiver.url(PRIMARY), receiver.url(FAILOVER))
    receiver.answer_next(PRIMARY, *[(500, 0.0)] * 10)
    event_id = event(database, account)
    deliver(runner(database), 4)
    assert [w.meta["attempt"] for w in receiver.received(PRIMARY)] == [1, 2, 3]
    (failed_over,) = receiver.received(FAILOVER)
    assert failed_over.meta == {"attempt": 4, "delivered_to": receiver.url(FAILOVER)}
    assert failed_over.event_id == event_id
    assert event_id is not None
    found = delivery(database, event_id)
    assert found["status"] == DELIVERED
    assert found["delivered_to"] == receiver.url(FAILOVER)


def test_a_receiver_that_times_out_is_a_failed_attempt(
    database: Database, account: str, receiver: WebhookReceiver
) -> None:
    receiver.answer_next(PRIMARY, (200, 1.0))
    event_id = event(database, account)
    before = attempts_counted("timeout")
    deliver(runner(database, timeout=0.2), 2)
    assert [w.meta["attempt"] for w in receiver.received()] == [1, 2]
    assert attempts_counted("timeout") == before + 1
    assert event_id is not None
    assert delivery(database, event_id)["status"] == DELIVERED


def test_an_answer_dripped_past_the_timeout_is_cut_off() -> None:
    """Each header comes within the timeout, but the whole answer would not: a timeout."""
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def drip() -> None:
            peer, _ = listener.accept()
            with peer:
                peer.recv(65536)
                peer.sendall(b"HTTP/1.1 200 OK\r\n")
                with contextlib.suppress(OSError):
                    for _ in range(30):
                        time.sleep(0.1)
                        peer.sendall(b"x-drip: 1\r\n")
                    peer.sendall(b"content-length: 0\r\n\r\n")

        dripping = threading.Thread(target=drip)
        dripping.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        outcome = post(url, b"{}", {"content-type": "application/json"}, 0.5)
        dripping.join()
    assert outcome == Outcome("timeout", "no answer within 0.5 s")


def test_a_redirect_is_a_failed_attempt_and_not_followed(
    database: Database, account: str, receiver: WebhookReceiver
) -> None:
    receiver.answer_next(PRIMARY, (307, 0.0))
    event_id = event(database, account)
    deliver(runner(database), 1)
    assert event_id is not None
    found = delivery(database, event_id)
    assert (found["status"], found["last_error"]) == (WAITING, "HTTP 307")
    assert len(receiver.received()) == 1


def test_a_refused_connection_is_a_failed_attempt(database: Database) -> None:
    create_account(database, "nobody-listens", webhook_url="http://127.0.0.1:9/hooks")
    event_id = event(database, "nobody-listens")
    before = attempts_counted("connection_error")
    deliver(runner(database), 1)
    assert event_id is not None
    found = delivery(database, event_id)
    assert found["status"] == WAITING
    assert found["last_error"].startswith("ConnectionRefusedError")
    assert attempts_counted("connection_error") == before + 1


def test_the_waiting_deliveries_are_counted_for_the_metrics(database: Database) -> None:
    create_account(database, "nobody-listens", webhook_url="http://127.0.0.1:9/hooks")
    event(database, "nobody-listens")
    event(database, "nobody-listens")
    runner(database).run_next()
    assert REGISTRY.get_sample_value("numbers_api_webhooks_waiting") == 2


def test_each_failed_attempt_is_logged_with_the_event_and_status_without_the_body(
    database: Database,
    account: str,
    receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.answer_next(PRIMARY, (500, 0.0))
    event_id = event(database, account)
    with caplog.at_level(logging.WARNING, logger="numbers_api.webhooks"):
        deliver(runner(database), 2)
    (line,) = [r.getMessage() for r in caplog.records]
    assert f"webhook {event_id} attempt 1 failed: HTTP 500" in line
    assert "success" not in line  # the order's status, from the body


def test_an_event_whose_window_ran_out_fails_with_its_last_error(
    database: Database, account: str, receiver: WebhookReceiver
) -> None:
    receiver.answer_next(PRIMARY, (500, 0.0))
    day_ago = int(time.time() * 1000) - 86_400 * 1000
    event_id = event(database, account, now_ms=day_ago)
    deliver(DeliveryRunner(database, first_wait_seconds=1.0), 1)
    assert event_id is not None
    found = delivery(database, event_id)
    assert (found["status"], found["last_error"]) == (FAILED, "HTTP 500")
    assert not runner(database).run_next()


def test_an_account_without_a_url_makes_no_event(database: Database) -> None:
    create_account(database, "quiet")
    assert event(database, "quiet") is None
    count = database.connection().execute("SELECT count(*) FROM webhook_deliveries")
    assert count.fetchone()[0] == 0


def test_a_waiting_delivery_fails_once_its_account_has_no_url(
    database: Database, account: str, receiver: WebhookReceiver
) -> None:
    event_id = event(database, account)
    set_webhook_urls(database, account, None, None)
    deliver(runner(database), 1)
    assert receiver.received() == []
    assert event_id is not None
    assert delivery(database, event_id)["status"] == FAILED


def test_a_woken_runner_sends_at_once_rather_than_at_its_next_poll(
    database: Database, account: str, receiver: WebhookReceiver
) -> None:
    idle = DeliveryRunner(database, poll_seconds=600, first_wait_seconds=0.001)
    idle.start()
    try:
        time.sleep(0.2)  # it has looked once, found nothing, and waits for its next poll
        event_id = event(database, account)
        wake_runners()
        (webhook,) = receiver.wait_for(PRIMARY, None, 1, timeout=30)
    finally:
        idle.stop()
    assert webhook.event_id == event_id


def test_two_runners_deliver_each_event_once(
    database: Database, account: str, receiver: WebhookReceiver, database_url: str
) -> None:
    ids = {event(database, account) for _ in range(20)}

    def run() -> None:
        other = Database(database_url)
        try:
            each = runner(other)
            while each.run_next():
                pass
        finally:
            other.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    received = receiver.received()
    assert sorted(w.event_id or "" for w in received) == sorted(i or "" for i in ids)
    assert {w.meta["attempt"] for w in received} == {1}


def test_a_claim_is_taken_over_once_its_lease_has_run_out(database: Database, account: str) -> None:
    now = int(time.time() * 1000)
    event(database, account, now_ms=now)
    with database.transaction() as connection:
        held = claim_delivery(connection, "killed", now, 1_000)
        assert held is not None
        assert held.attempt == 1
        assert claim_delivery(connection, "other", now + 999, 1_000) is None
        taken = claim_delivery(connection, "other", now + 1_001, 1_000)
    assert taken is not None
    assert (taken.id, taken.attempt) == (held.id, 2)


# The retry schedule


def test_attempts_go_to_the_url_then_the_failover_url_then_alternate() -> None:
    urls = [attempt_url(n, "p", "f") for n in range(1, 11)]
    assert urls == ["p", "p", "p", "f", "f", "f", "p", "f", "p", "f"]
    assert {attempt_url(n, "p", None) for n in range(1, 11)} == {"p"}


def test_waits_double_up_to_ten_minutes_within_a_day() -> None:
    waits = [next_attempt_at(n, 0, 0, 1.0) for n in range(1, 13)]
    assert [wait // 1000 for wait in waits if wait is not None] == [
        *(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        *(600, 600),
    ]
    assert next_attempt_at(5, 0, 86_400_000 - 16_000, 1.0) == 86_400_000
    assert next_attempt_at(5, 0, 86_400_000 - 15_999, 1.0) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/hooks", "must be an http:// or https:// URL"),
        ("example.com/hooks", "must be an http:// or https:// URL"),
        ("https:///hooks", "must name a host"),
        ("https://example.com:99999/hooks", "has a bad port"),
        ("https://example.com/a b", "must not hold spaces or control characters"),
        ("https://example.com/" + "a" * 2048, "must be at most 2048 characters"),
    ],
)
def test_a_bad_webhook_url_is_refused(url: str, problem: str) -> None:
    assert url_problem(url) == problem


def test_http_and_https_urls_are_taken() -> None:
    assert url_problem("http://127.0.0.1:8080/hooks?x=1") is None
    assert url_problem("https://user:secret@[::1]/hooks") is None


# The commands


def cli(database_url: str, *arguments: str) -> int:
    return main(["--database-url", database_url, "webhooks", *arguments])


def test_set_then_show_then_unset(
    database: Database, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    create_account(database, "acme")
    url, failover = "https://hooks.example.com/a", "https://backup.example.com/a"
    assert cli(database_url, "set", "--account", "acme", url, "--failover-url", failover) == 0
    assert webhook_urls(database.connection(), "acme") == WebhookUrls(url, failover)
    capsys.readouterr()
    assert cli(database_url, "show", "--account", "acme") == 0
    assert capsys.readouterr().out == f"url: {url}\nfailover_url: {failover}\n"
    assert cli(database_url, "unset", "--account", "acme") == 0
    assert webhook_urls(database.connection(), "acme") == WebhookUrls(None, None)


def test_set_without_a_failover_url_removes_the_old_one(
    database: Database, database_url: str
) -> None:
    create_account(database, "acme")
    cli(
        database_url,
        "set",
        "--account",
        "acme",
        "https://a.example",
        "--failover-url",
        "https://b.example",
    )
    assert cli(database_url, "set", "--account", "acme", "https://c.example") == 0
    assert webhook_urls(database.connection(), "acme") == WebhookUrls("https://c.example", None)


def test_set_refuses_a_url_that_is_not_http(
    database: Database, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    create_account(database, "acme")
    with pytest.raises(SystemExit) as exit_:
        cli(database_url, "set", "--account", "acme", "ftp://example.com")
    assert exit_.value.code == 2
    assert "must be an http:// or https:// URL" in capsys.readouterr().err
    assert webhook_urls(database.connection(), "acme") == WebhookUrls(None, None)


def test_set_for_an_unknown_account_fails(
    database: Database, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(database_url, "set", "--account", "ghost", "https://example.com") == 1
    assert "no account named 'ghost'" in capsys.readouterr().err


def test_public_key_prints_the_same_key_every_time(
    database: Database, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(database_url, "public-key")
    cli(database_url, "public-key")
    first, second = capsys.readouterr().out.split()
    assert first == second
    assert len(base64.b64decode(first)) == 32
