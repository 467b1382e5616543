"""Webhooks signed as Telnyx signs them: an Ed25519 signature over `timestamp|body` (the Unix
time in seconds, a `|`, and the exact bytes of the body), base64, in the header
`telnyx-signature-ed25519`, the timestamp in `telnyx-timestamp`. A receiver verifies it with the
server's public key (`numbers-api webhooks public-key`), e.g. the Telnyx SDK's
`client.webhooks.unwrap(body, headers=headers, key=public_key)`.

The key pair is made on first use and kept in the database, so every worker and host signs with
the same key, and it stays the same across restarts."""

from __future__ import annotations

import base64
import time

from nacl.signing import SigningKey

from numbers_api.store.database import Database
from numbers_api.store.webhook_settings import keep_signing_key

TIMESTAMP_HEADER = "telnyx-timestamp"
SIGNATURE_HEADER = "telnyx-signature-ed25519"


class Signer:
    """The database's key pair, signing bodies."""

    def __init__(self, key: SigningKey) -> None:
        self._key = key
        self.public_key = base64.b64encode(bytes(key.verify_key)).decode()

    @classmethod
    def of(cls, database: Database) -> Signer:
        """The key pair kept in the database, made and kept now if it has none."""
        candidate = SigningKey.generate()
        public = base64.b64encode(bytes(candidate.verify_key)).decode()
        seed, _ = keep_signing_key(database, bytes(candidate), public, int(time.time() * 1000))
        return cls(SigningKey(seed))

    def headers(self, body: bytes, timestamp: int) -> dict[str, str]:
        """The signature headers of `body` sent at `timestamp` (Unix seconds)."""
        signed = self._key.sign(f"{timestamp}|".encode() + body).signature
        return {
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: base64.b64encode(signed).decode(),
        }


def public_key(database: Database) -> str:
    """The base64 public key receivers verify webhooks with (made now if there is none yet)."""
    return Signer.of(database).public_key
