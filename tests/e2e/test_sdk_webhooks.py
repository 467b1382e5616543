"""Webhooks from a real `numbers-api serve`, set up with the commands an operator runs, verified
by the official `telnyx` SDK's `client.webhooks.unwrap` with the key `numbers-api webhooks
public-key` prints; and a delivery cut off by a killed server, made after its restart."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from telnyx import Telnyx

from numbers_api.store.accounts import account_id, create_account
from numbers_api.store.database import Database
from numbers_api.store.webhook_outbox import DELIVERED, enqueue_event
from numbers_api.testing import Webhook, WebhookReceiver, stop_server
from numbers_api.webhooks.delivery import RETRY_VARIABLE
from numbers_api.webhooks.signing import TIMESTAMP_HEADER
from tests.conftest import start_server
from tests.test_killed_servers import serving, until
from tests.test_webhooks import receiver  # noqa: F401 (the fixture)

HOOKS = "/hooks"


def command(database_url: str, *arguments: str) -> str:
    """What `numbers-api ARGUMENTS` prints, once it has succeeded."""
    return subprocess.run(
        [sys.executable, "-m", "numbers_api", "--database-url", database_url, *arguments],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def order_completed(database: Database, name: str) -> str:
    """A `number_order.complete` event for account `name`, made as the orders code makes it."""
    with database.transaction() as connection:
        event_id = enqueue_event(
            connection,
            account_id(connection, name),
            "number_order.complete",
            {"id": "0d3b4a5e-6f70-4182-93a4-b5c6d7e8f901", "status": "success"},
            int(time.time() * 1000),
        )
    assert event_id is not None
    return event_id


@pytest.fixture
def sdk() -> Iterator[Telnyx]:
    with Telnyx(api_key="unused", base_url="http://127.0.0.1:9/v2") as client:
        yield client


@pytest.fixture
def served_webhook(
    database: Database,
    database_url: str,
    receiver: WebhookReceiver,  # noqa: F811
) -> Webhook:
    """An event delivered by a real server to the URL `webhooks set` gave the account."""
    create_account(database, "acme")
    command(database_url, "webhooks", "set", "--account", "acme", receiver.url(HOOKS))
    process, _ = start_server(database_url, {RETRY_VARIABLE: "0.05"})
    try:
        event_id = order_completed(database, "acme")
        (webhook,) = receiver.wait_for(HOOKS, "number_order.complete", 1, timeout=30)
    finally:
        stop_server(process)
    assert webhook.event_id == event_id
    return webhook


def test_the_sdk_unwraps_a_served_webhook_with_the_printed_key(
    database_url: str,
    served_webhook: Webhook,
    sdk: Telnyx,
    receiver: WebhookReceiver,  # noqa: F811
) -> None:
    key = command(database_url, "webhooks", "public-key").strip()
    # A union of the SDK's ~80 event types, none of them the number order's: read it as such.
    event: Any = sdk.webhooks.unwrap(served_webhook.raw, headers=served_webhook.headers, key=key)
    assert event.data.id == served_webhook.event_id
    assert event.data.event_type == "number_order.complete"
    assert served_webhook.meta == {"attempt": 1, "delivered_to": receiver.url(HOOKS)}


def test_the_sdk_rejects_a_served_webhook_whose_body_was_changed(
    database_url: str, served_webhook: Webhook, sdk: Telnyx
) -> None:
    key = command(database_url, "webhooks", "public-key").strip()
    changed = served_webhook.raw.replace('"success"', '"failure"')
    assert changed != served_webhook.raw
    with pytest.raises(ValueError, match="Signature verification failed"):
        sdk.webhooks.unwrap(changed, headers=served_webhook.headers, key=key)


def test_the_sdk_rejects_a_served_webhook_whose_timestamp_was_changed(
    database_url: str, served_webhook: Webhook, sdk: Telnyx
) -> None:
    key = command(database_url, "webhooks", "public-key").strip()
    headers = dict(served_webhook.headers)
    headers[TIMESTAMP_HEADER] = str(int(headers[TIMESTAMP_HEADER]) - 1)
    with pytest.raises(ValueError, match="Signature verification failed"):
        sdk.webhooks.unwrap(served_webhook.raw, headers=headers, key=key)


def test_a_delivery_cut_off_by_a_killed_server_is_made_after_the_restart(
    database: Database,
    database_url: str,
    receiver: WebhookReceiver,  # noqa: F811
) -> None:
    create_account(database, "acme", webhook_url=receiver.url(HOOKS))
    receiver.answer_next(HOOKS, (200, 20.0))  # the first attempt waits for its answer
    with serving(database_url, "") as server:
        event_id = order_completed(database, "acme")
        receiver.wait_for(HOOKS, None, 1, timeout=30)
        server.kill()  # mid-attempt: the answer never reaches it
    with serving(database_url, ""):
        first, second = receiver.wait_for(HOOKS, None, 2, timeout=60)

        def delivered() -> bool:
            row = database.connection().execute(
                "SELECT status FROM webhook_deliveries WHERE id = ?", (event_id,)
            )
            return bool(row.fetchone()[0] == DELIVERED)

        until(delivered, "the delivery was not marked delivered after the restart")
    assert first.event_id == second.event_id == event_id
    assert (first.meta["attempt"], second.meta["attempt"]) == (1, 2)
    assert second.verified
