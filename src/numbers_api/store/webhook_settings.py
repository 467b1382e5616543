"""Where each account's webhooks go, and the one key pair every worker and host signs them with
(docs/ordering.md, "Webhooks")."""

from __future__ import annotations

from dataclasses import dataclass

from numbers_api.store.accounts import account_id
from numbers_api.store.database import Connection, Database

# The only row of `signing_keys`: one key pair for the whole database.
SIGNING_KEY_ID = 1


@dataclass(frozen=True, slots=True)
class WebhookUrls:
    url: str | None
    failover_url: str | None


def set_webhook_urls(
    database: Database, name: str, url: str | None, failover_url: str | None
) -> None:
    """Account NAME's webhooks go to `url` (and to `failover_url` when it fails) from now on;
    None for both: nowhere (no event is made for it any more). AccountError if there is no such
    account."""
    with database.transaction() as connection:
        connection.execute(
            "UPDATE accounts SET webhook_url = ?, webhook_failover_url = ? WHERE id = ?",
            (url, failover_url, account_id(connection, name)),
        )


def webhook_urls(connection: Connection, name: str) -> WebhookUrls:
    row = connection.execute(
        "SELECT webhook_url, webhook_failover_url FROM accounts WHERE id = ?",
        (account_id(connection, name),),
    ).fetchone()
    return WebhookUrls(row[0], row[1])


def keep_signing_key(
    database: Database, private_key: bytes, public_key: str, now_ms: int
) -> tuple[bytes, str]:
    """The database's signing key pair (private key's seed, base64 public key): the one kept
    already, else this one, kept now. Whoever inserts first wins; every other caller, on any
    worker or host, reads the winner's."""
    with database.transaction() as connection:
        connection.execute(
            "INSERT INTO signing_keys (id, private_key, public_key, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (SIGNING_KEY_ID, private_key, public_key, now_ms),
        )
        kept, public = connection.execute(
            "SELECT private_key, public_key FROM signing_keys WHERE id = ?", (SIGNING_KEY_ID,)
        ).fetchone()
    return bytes(kept), str(public)
