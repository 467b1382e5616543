"""The webhook outbox: an event is written in the same transaction as the change it tells of,
so that a change is never made without its event nor an event sent for a change that was rolled
back. The delivery runner (`webhooks/delivery.py`) sends what the outbox holds, one attempt at a
time, each claimed with a lease so that any worker on any host may make it; docs/ordering.md,
"Webhooks", says how."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from numbers_api.serialisation import format_timestamp
from numbers_api.store.database import Connection

WAITING = "waiting"  # a delivery not yet made
DELIVERED = "delivered"  # a receiver answered 2xx
FAILED = "failed"  # given up: its retry window ran out, or the account has no URL any more
# The longest a last error is kept (it may quote a receiver's answer).
ERROR_CHARACTERS = 500


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a runner holds for one attempt: the event's `data` as stored (JSON text), the
    attempt it is making (1-based, counted when claimed) and the account's URLs as they are now."""

    id: str
    account_id: int
    event_type: str
    data: str
    occurred_at: int
    attempt: int
    webhook_url: str | None
    failover_url: str | None


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


def any_due(connection: Connection, now_ms: int) -> bool:
    """Whether a waiting delivery may be due (a read: an idle runner takes no write lock). Run
    every second by every worker: prepared once on PostgreSQL (`fetch`)."""
    due = "SELECT 1 FROM webhook_deliveries WHERE status = ? AND next_attempt_at <= ? LIMIT 1"
    return bool(connection.fetch(due, (WAITING, now_ms)))


def claim_delivery(
    connection: Connection, runner: str, now_ms: int, lease_ms: int
) -> ClaimedDelivery | None:
    """The waiting delivery due longest ago (its next attempt's time passed, and no live claim
    on it: none, or one whose lease ran out, its runner killed), now held by `runner` for one
    attempt, that attempt counted; None if none is due. One statement, so two runners never
    hold the same delivery (on PostgreSQL a row another runner is claiming is passed over)."""
    claimable = (
        "(status = ? AND next_attempt_at <= ? AND (claimed_by IS NULL OR lease_expires_at < ?))"
    )
    row = connection.execute(
        "UPDATE webhook_deliveries SET claimed_by = ?, lease_expires_at = ?, "
        f"attempts = attempts + 1 WHERE {claimable} AND id = (SELECT d.id FROM "
        f"webhook_deliveries d WHERE {claimable} ORDER BY d.next_attempt_at, d.id "
        f"LIMIT 1{connection.dialect.skip_locked}) "
        "RETURNING id, account_id, event_type, data, occurred_at, attempts",
        (runner, now_ms + lease_ms, *(WAITING, now_ms, now_ms) * 2),
    ).fetchone()
    if row is None:
        return None
    delivery_id, account_id, event_type, data, occurred_at, attempt = row
    urls = connection.execute(
        "SELECT webhook_url, webhook_failover_url FROM accounts WHERE id = ?", (account_id,)
    ).fetchone()
    return ClaimedDelivery(
        delivery_id,
        int(account_id),
        event_type,
        data,
        int(occurred_at),
        int(attempt),
        urls[0] or None,
        urls[1] or None,
    )


def mark_delivered(connection: Connection, delivery_id: str, url: str, now_ms: int) -> None:
    """A receiver answered 2xx: the delivery is done, whoever holds it now (a runner that took it
    over meanwhile sends it once more, which at-least-once allows)."""
    connection.execute(
        "UPDATE webhook_deliveries SET status = ?, delivered_to = ?, delivered_at = ?, "
        "claimed_by = NULL, lease_expires_at = NULL, last_error = NULL "
        "WHERE id = ? AND status = ?",
        (DELIVERED, url, now_ms, delivery_id, WAITING),
    )


def mark_attempt_failed(
    connection: Connection,
    delivery_id: str,
    runner: str,
    error: str,
    next_attempt_at: int | None,
) -> None:
    """An attempt failed: tried again at `next_attempt_at` by any runner, or, if None, failed
    for good; `error` kept either way. Nothing changes if `runner` no longer holds it."""
    status = WAITING if next_attempt_at is not None else FAILED
    connection.execute(
        "UPDATE webhook_deliveries SET status = ?, next_attempt_at = coalesce(?, next_attempt_at), "
        "last_error = ?, "
        "claimed_by = NULL, lease_expires_at = NULL "
        "WHERE id = ? AND claimed_by = ? AND status = ?",
        (
            status,
            next_attempt_at,
            error[:ERROR_CHARACTERS],
            delivery_id,
            runner,
            WAITING,
        ),
    )


def deliveries_waiting(connection: Connection) -> int:
    """How many deliveries are waiting (due or not), every account's."""
    row = connection.execute(
        "SELECT count(*) FROM webhook_deliveries WHERE status = ?", (WAITING,)
    ).fetchone()
    return int(row[0])
