"""Rate limits: N requests per second per API key, with a burst of N, as Telnyx answers them (429,
code 10011, `x-ratelimit-*` and `Retry-After`).

Each identity (an API key, or a client address for requests that fail authentication) has one
slot in a table of fixed size: the theoretical arrival time of its next request (GCRA, the
generic cell rate algorithm; a token bucket kept as one number). `numbers-api serve` makes the
table a file in shared memory that every worker maps, so the limit is exact across one host's
workers; an app made on its own keeps its table in its own memory. Each host counts its own
requests: behind a load balancer over H hosts, a key may make up to H times N requests a second.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import threading
import time
from pathlib import Path

from starlette.responses import Response

from numbers_api.http.errors import error_object, error_response

# 16 bytes a slot (the identity's hash, its arrival time): 1 MiB. More identities than this
# active at once share slots by eviction of the least limited (see `_slot`).
TABLE_SLOTS = 65_536
_SLOT = struct.Struct("<Qd")
# Slots looked at for an identity, from the one its hash names: an identity is found, or takes
# a free one, within this many.
_PROBES = 8
# Identities whose table key this process keeps rather than hashes again (a dict of this many
# entries is a few megabytes at most; it is emptied when full).
_KEYS_REMEMBERED = 10_000


class Verdict:
    """One request's verdict: allowed or not, and what its headers say."""

    __slots__ = ("allowed", "limit", "remaining", "reset_seconds", "retry_after")

    def __init__(
        self, allowed: bool, limit: int, remaining: int, reset_seconds: int, retry_after: float
    ) -> None:
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.reset_seconds = reset_seconds  # until the identity's allowance is whole again
        self.retry_after = retry_after  # seconds until its next request is allowed (0: now)

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The `x-ratelimit-*` headers as ASGI has them, added to every answer."""
        if self.limit == 0:
            return []
        return [
            (b"x-ratelimit-limit", b"%d" % self.limit),
            (b"x-ratelimit-remaining", b"%d" % self.remaining),
            (b"x-ratelimit-reset", b"%d" % self.reset_seconds),
        ]

    def refusal_headers(self) -> dict[str, str]:
        """A 429's headers: when to retry, in whole seconds as HTTP has it, and in milliseconds,
        which the official SDKs prefer."""
        return {
            **{name.decode(): value.decode() for name, value in self.raw_headers()},
            "Retry-After": str(self.retry_after_seconds),
            "retry-after-ms": str(math.ceil(self.retry_after * 1000)),
        }

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self.retry_after))


UNLIMITED = Verdict(allowed=True, limit=0, remaining=0, reset_seconds=0, retry_after=0.0)


class Unlimited:
    """No rate limit (`--rate-limit 0`): every request allowed, no headers."""

    def take(self, identity: str) -> Verdict:
        return UNLIMITED

    def failed(self, identity: str) -> Verdict:
        return UNLIMITED

    def refuses(self, identity: str) -> Verdict | None:
        return None

    def close(self) -> None:
        pass


class RateLimiter:
    """`per_second` requests a second per identity, a burst of as many, over a table at `path`
    (a file every worker maps) or in this process's memory (no path)."""

    def __init__(self, per_second: int, path: Path | None = None) -> None:
        self.per_second = per_second
        self._interval = 1.0 / per_second
        self._tolerance = per_second * self._interval  # the burst, in seconds of allowance
        size = TABLE_SLOTS * _SLOT.size
        if path is None:
            self._file: int | None = None
            self._table = mmap.mmap(-1, size)
        else:
            self._file = os.open(path, os.O_RDWR)
            self._table = mmap.mmap(self._file, size)
        self._lock = threading.Lock()  # the file lock excludes other processes, not threads
        self._keys: dict[str, int] = {}  # each identity's key in the table, hashed once
        self._failures: dict[str, float] = {}  # when each identity last failed here

    @staticmethod
    def make_table(path: Path) -> None:
        """The shared table's file, zeroed: made once by `serve`, before the workers start."""
        with path.open("wb") as table:
            table.truncate(TABLE_SLOTS * _SLOT.size)

    def take(self, identity: str) -> Verdict:
        """One request by `identity`: allowed (and counted) or refused."""
        return self._decide(identity, count=True)

    def failed(self, identity: str) -> Verdict:
        """A failed request by `identity` (an address whose key was refused), counted: its
        next requests are checked (`refuses`) before they cost anything."""
        self._failures[identity] = time.monotonic()
        if len(self._failures) >= _KEYS_REMEMBERED:
            self._failures.clear()
        return self._decide(identity, count=True)

    def refuses(self, identity: str) -> Verdict | None:
        """The refusal `identity`'s next request would get, without counting it; None if it
        would be allowed. Only an identity that failed in this process in the last second can
        be refused: any other is allowed without a look at the table (what every request by a
        good key costs)."""
        failed_at = self._failures.get(identity)
        if failed_at is None or time.monotonic() - failed_at > 1.0:
            return None
        verdict = self._decide(identity, count=False)
        return None if verdict.allowed else verdict

    def _key(self, identity: str) -> int:
        key = self._keys.get(identity)
        if key is None:
            digest = hashlib.blake2b(identity.encode(), digest_size=8).digest()
            key = int.from_bytes(digest, "little") or 1  # 0 marks a free slot
            if len(self._keys) >= _KEYS_REMEMBERED:
                self._keys.clear()
            self._keys[identity] = key
        return key

    def _decide(self, identity: str, *, count: bool) -> Verdict:
        key = self._key(identity)
        file = self._file
        with self._lock:
            if file is not None:
                fcntl.flock(file, fcntl.LOCK_EX)
            try:
                now = time.monotonic()  # one clock for every process of the host
                offset, arrival = self._slot(key, now)
                arrival = max(arrival, now)
                after = arrival + self._interval
                allowed = after - now <= self._tolerance
                if allowed and count:
                    _SLOT.pack_into(self._table, offset, key, after)
            finally:
                if file is not None:
                    fcntl.flock(file, fcntl.LOCK_UN)
        used = (after if allowed else arrival) - now
        remaining = int((self._tolerance - used) * self.per_second + 1e-9)
        return Verdict(
            allowed,
            self.per_second,
            remaining if remaining > 0 else 0,
            -int(-used // 1),  # whole seconds, rounded up
            0.0 if allowed else after - now - self._tolerance,
        )

    def _slot(self, key: int, now: float) -> tuple[int, float]:
        """The offset of `key`'s slot and its arrival time. A key not in the table takes a free
        slot, or one whose allowance is whole again (nothing to remember), else the one nearest
        to whole: under more active identities than slots, the least limited lose their count."""
        start = key % TABLE_SLOTS
        taken: tuple[int, float] | None = None
        for probe in range(_PROBES):
            offset = ((start + probe) % TABLE_SLOTS) * _SLOT.size
            slot_key, arrival = _SLOT.unpack_from(self._table, offset)
            if slot_key == key:
                return offset, arrival
            if slot_key == 0 or arrival <= now:
                arrival = 0.0
            if taken is None or arrival < taken[1]:
                taken = (offset, arrival)
        assert taken is not None
        return taken[0], 0.0

    def close(self) -> None:
        self._table.close()
        if self._file is not None:
            os.close(self._file)


def too_many_requests(verdict: Verdict) -> Response:
    return error_response(
        429,
        [
            error_object(
                "10011",
                "Too many requests",
                f"More than {verdict.limit} requests a second; retry after "
                f"{verdict.retry_after_seconds} s.",
            )
        ],
        headers=verdict.refusal_headers(),
    )


def rate_limiter(per_second: int, path: Path | None) -> RateLimiter | Unlimited:
    return RateLimiter(per_second, path) if per_second else Unlimited()
