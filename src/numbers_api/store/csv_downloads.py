"""CSV downloads: what was asked, how far it got, and the finished file, in the database.

A pending download is run by one runner at a time: a runner claims it with an atomic UPDATE that
only succeeds while nobody holds an unexpired lease on it, and keeps the lease up while it works.
If the runner's server stops, the lease is released (or, after a crash, runs out) and another
runner, on any worker or host, claims the download again. A file is written in the same
transaction that marks its download complete, so a download is never seen complete with half a
file. Each claim counts as a try (`attempts`), except one given back by a server stopping, so
that a download whose export kills its worker each time is given up after a bounded number.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from numbers_api.store.accounts import lock_account
from numbers_api.store.database import Connection

PENDING = "pending"
COMPLETE = "complete"
FAILED = "failed"
EXPIRED = "expired"
PART_BYTES = 1 << 20  # a stored file's parts: small enough to stream, large enough to be few

_COLUMNS = (
    "id, account_id, csv_format, filters, status, created_at, completed_at, numbers, size, "
    "attempts, failure"
)


@dataclass(frozen=True, slots=True)
class CsvDownload:
    id: str
    account_id: int
    csv_format: str
    filters: str  # the filter parameters, as a query string
    status: str
    created_at: int  # milliseconds since the epoch, as every timestamp here
    completed_at: int | None
    numbers: int | None  # how many numbers the file holds, once complete
    size: int | None  # the file's size in bytes, once complete
    attempts: int = 0  # how many times it was claimed (tried), not counting claims given back
    failure: str | None = None  # why it failed, once failed


def _download(row: Iterable[object]) -> CsvDownload:
    return CsvDownload(*row)  # type: ignore[arg-type]


def create_download(
    connection: Connection, account_id: int, csv_format: str, filters: str, now_ms: int
) -> CsvDownload:
    download = CsvDownload(
        str(uuid.uuid4()), account_id, csv_format, filters, PENDING, now_ms, None, None, None
    )
    connection.execute(
        "INSERT INTO csv_downloads (id, account_id, csv_format, filters, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (download.id, account_id, csv_format, filters, PENDING, now_ms),
    )
    return download


@dataclass(frozen=True, slots=True)
class DownloadsHeld:
    """What an account's downloads hold now: those still to make, and the files kept."""

    pending: int
    files: int
    file_bytes: int
    oldest_file_at: int | None  # when the oldest kept file was completed (ms)


def downloads_held(connection: Connection, account_id: int) -> DownloadsHeld:
    """The account locked first (`lock_account`)."""
    lock_account(connection, account_id)
    pending, files, file_bytes, oldest = connection.execute(
        "SELECT count(*) FILTER (WHERE status = ?), count(*) FILTER (WHERE status = ?), "
        "coalesce(sum(size) FILTER (WHERE status = ?), 0), "
        "min(completed_at) FILTER (WHERE status = ?) "
        "FROM csv_downloads WHERE account_id = ? AND status IN (?, ?)",
        (PENDING, COMPLETE, COMPLETE, COMPLETE, account_id, PENDING, COMPLETE),
    ).fetchone()
    return DownloadsHeld(
        int(pending), int(files), int(file_bytes), None if oldest is None else int(oldest)
    )


def find_download(connection: Connection, account_id: int, download_id: str) -> CsvDownload | None:
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM csv_downloads WHERE id = ? AND account_id = ?",
        (download_id, account_id),
    ).fetchone()
    return None if row is None else _download(row)


def list_downloads(
    connection: Connection, account_id: int, offset: int, limit: int
) -> tuple[int, list[CsvDownload]]:
    """The account's downloads, newest first, and how many it has."""
    (total,) = connection.execute(
        "SELECT count(*) FROM csv_downloads WHERE account_id = ?", (account_id,)
    ).fetchone()
    if offset >= total:  # also keeps an offset beyond 64 bits out of the statement
        return int(total), []
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM csv_downloads WHERE account_id = ? "
        "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        (account_id, limit, offset),
    ).fetchall()
    return int(total), [_download(row) for row in rows]


def claimable_downloads(connection: Connection, now_ms: int, claim: str = "") -> list[str]:
    """The oldest pending downloads nobody holds (or held under `claim`: its runner could not
    give them back, the database failed), those of the account whose downloads were claimed
    longest ago first (so that one account's backlog delays no other's). A plain read: a runner
    with nothing to do takes no write lock (on SQLite, that would wait behind every import)."""
    rows = connection.execute(
        "SELECT d.id FROM csv_downloads d WHERE d.status = ? "
        "AND (d.claimed_until IS NULL OR d.claimed_until < ? OR d.claim = ?) "
        "ORDER BY coalesce((SELECT a.download_claimed_at FROM accounts a "
        "WHERE a.id = d.account_id), 0), d.created_at, d.id LIMIT 10",
        (PENDING, now_ms, claim),
    ).fetchall()
    return [download_id for (download_id,) in rows]


def claim_download(
    connection: Connection, download_id: str, claim: str, now_ms: int, lease_ms: int
) -> CsvDownload | None:
    """The download, now held under `claim` until `now_ms + lease_ms`, one more try counted, if
    it is pending and nobody else holds it; else None. Two runners never both win it: the UPDATE
    checks the lease again on the row it changes (under SQLite's write lock, or PostgreSQL's row
    lock)."""
    claimed = connection.execute(
        "UPDATE csv_downloads SET claim = ?, claimed_until = ?, attempts = attempts + 1 "
        "WHERE id = ? AND status = ? "
        "AND (claimed_until IS NULL OR claimed_until < ? OR claim = ?)",
        (claim, now_ms + lease_ms, download_id, PENDING, now_ms, claim),
    ).rowcount
    if not claimed:
        return None
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM csv_downloads WHERE id = ?", (download_id,)
    ).fetchone()
    download = _download(row)
    connection.execute(
        "UPDATE accounts SET download_claimed_at = ? WHERE id = ?", (now_ms, download.account_id)
    )
    return download


def extend_claim(connection: Connection, download_id: str, claim: str, until_ms: int) -> bool:
    """Keeps the lease up; False if the claim was lost (its lease ran out and another took it)."""
    return bool(
        connection.execute(
            "UPDATE csv_downloads SET claimed_until = ? WHERE id = ? AND claim = ? AND status = ?",
            (until_ms, download_id, claim, PENDING),
        ).rowcount
    )


def release_claim(
    connection: Connection, download_id: str, claim: str, *, retry_at_ms: int | None = None
) -> None:
    """Gives a pending download back: its runner is stopping (`retry_at_ms` None), and the next
    runner claims it at once, this try not counted; or its try failed, and it may be claimed
    again once `retry_at_ms` has passed."""
    connection.execute(
        "UPDATE csv_downloads SET claim = NULL, claimed_until = ?, "
        "attempts = attempts - CASE WHEN ? THEN 1 ELSE 0 END "
        "WHERE id = ? AND claim = ? AND status = ?",
        (retry_at_ms, retry_at_ms is None, download_id, claim, PENDING),
    )


def complete_download(
    connection: Connection,
    download_id: str,
    claim: str,
    *,
    parts: Iterable[bytes],
    numbers: int,
    now_ms: int,
) -> bool:
    """Stores the file and marks the download complete, if `claim` still holds it (False, and
    nothing written, if not)."""
    if not _still_held(connection, download_id, claim):
        return False
    size = 0
    for index, content in enumerate(parts):
        connection.execute(
            "INSERT INTO csv_download_parts (download_id, part, content) VALUES (?, ?, ?)",
            (download_id, index, content),
        )
        size += len(content)
    connection.execute(
        "UPDATE csv_downloads SET status = ?, completed_at = ?, numbers = ?, size = ?, "
        "claim = NULL, claimed_until = NULL WHERE id = ?",
        (COMPLETE, now_ms, numbers, size, download_id),
    )
    return True


def fail_download(
    connection: Connection, download_id: str, claim: str, now_ms: int, failure: str
) -> bool:
    """Failed for good, `failure` saying why, if `claim` still holds it (False if not)."""
    if not _still_held(connection, download_id, claim):
        return False
    connection.execute(
        "UPDATE csv_downloads SET status = ?, completed_at = ?, failure = ?, claim = NULL, "
        "claimed_until = NULL WHERE id = ?",
        (FAILED, now_ms, failure, download_id),
    )
    return True


def _still_held(connection: Connection, download_id: str, claim: str) -> bool:
    # An UPDATE, not a SELECT: on PostgreSQL it locks the row until the transaction ends.
    return bool(
        connection.execute(
            "UPDATE csv_downloads SET claim = claim WHERE id = ? AND claim = ? AND status = ?",
            (download_id, claim, PENDING),
        ).rowcount
    )


def has_expired_files(connection: Connection, completed_before_ms: int) -> bool:
    row = connection.execute(
        "SELECT 1 FROM csv_downloads WHERE status = ? AND completed_at < ? LIMIT 1",
        (COMPLETE, completed_before_ms),
    ).fetchone()
    return row is not None


def expire_downloads(connection: Connection, completed_before_ms: int) -> int:
    """Removes the files of downloads completed before the given time; they show `expired`."""
    old = (COMPLETE, completed_before_ms)
    connection.execute(
        "DELETE FROM csv_download_parts WHERE download_id IN "
        "(SELECT id FROM csv_downloads WHERE status = ? AND completed_at < ?)",
        old,
    )
    expired: int = connection.execute(
        "UPDATE csv_downloads SET status = ? WHERE status = ? AND completed_at < ?",
        (EXPIRED, *old),
    ).rowcount
    return expired


def read_part(connection: Connection, download_id: str, part: int) -> bytes | None:
    row = connection.execute(
        "SELECT content FROM csv_download_parts WHERE download_id = ? AND part = ?",
        (download_id, part),
    ).fetchone()
    return None if row is None else bytes(row[0])
