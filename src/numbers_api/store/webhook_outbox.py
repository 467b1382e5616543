"""The webhook outbox: an event is written in the same transaction as the change it tells of,
so that a change is never made without its event nor an event sent for a change that was rolled
back. The delivery runner (`webhooks/`) sends what the outbox holds; docs/ordering.md says how."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from numbers_api.serialisation import format_timestamp
from numbers_api.store.database import Connection

WAITING = "waiting"  # a delivery not yet made; the others are "delivered" and "failed"


def enqueue_event(
    connection: Connection,
    account_id: int,
    event_type: str,
    payload: dict[str, Any],
    now_ms: int,
) -> str | None:
    """The id of the event made for the account, to be delivered at once; None when the account
    has no webhook URL (nothing is kept: an event is sent only to the URL set when it happened)."""
    row = connection.execute(
        "SELECT webhook_url FROM accounts WHERE id = ?", (account_id,)
    ).fetchone()
    if row is None or not row[0]:
        return None
    event_id = str(uuid.uuid4())
    data = {
        "event_type": event_type,
        "id": event_id,
        "occurred_at": format_timestamp(now_ms),
        "payload": payload,
        "record_type": "event",
    }
    connection.execute(
        "INSERT INTO webhook_deliveries (id, account_id, event_type, data, occurred_at, status, "
        "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event_id,
            account_id,
            event_type,
            orjson.dumps(data).decode(),
            now_ms,
            WAITING,
            now_ms,
            now_ms,
        ),
    )
    return event_id
