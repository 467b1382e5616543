"""`POST` and `GET /v2/phone_numbers/csv_downloads`, `GET /v2/phone_numbers/csv_downloads/{id}`,
and the file a complete download's `url` names: `GET /v2/phone_numbers/csv_downloads/{id}/file`.

A download is made pending and exported in the background (exporting/downloads.py). Another
account's download answers exactly as one that does not exist: 404.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from numbers_api.exporting.downloads import KEPT_MS
from numbers_api.http.errors import bad_request, error_object, error_response
from numbers_api.http.handlers import Asked
from numbers_api.http.phone_number import now_ms
from numbers_api.query.csv_download_query import parse_csv_download_query, parse_page_query
from numbers_api.query.errors import InvalidQuery
from numbers_api.serialisation import encode, pagination_meta
from numbers_api.store.accounts import Caller
from numbers_api.store.csv_downloads import (
    COMPLETE,
    PART_BYTES,
    CsvDownload,
    DownloadsHeld,
    create_download,
    downloads_held,
    find_download,
    list_downloads,
    read_part,
)
from numbers_api.store.database import Connection, Database

# Download ids are UUIDs, as Telnyx's; accepted in either case, stored in lower case.
ID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
PATH = "v2/phone_numbers/csv_downloads"
# What one account's downloads may hold in the database at once (files stay for 24 hours): a
# file of 1,000,000 numbers is about 330 MB. Loose enough for a test suite that makes a download
# in every test against one long-running server; as many pending as Telnyx allows open jobs.
MAX_PENDING_DOWNLOADS = 20
MAX_KEPT_FILES = 1_000
MAX_KEPT_BYTES = 1024**3
# When to try again past the pending quota: about what a download of 100,000 numbers takes.
PENDING_RETRY_SECONDS = 5


def create_endpoint(asked: Asked) -> Response:
    """The download, made pending; this worker's runner is woken to take it."""
    caller = asked.caller
    try:
        query = parse_csv_download_query(asked.query_string)
    except InvalidQuery as invalid:
        return bad_request(invalid.errors)
    if query.include_managed_accounts:
        return error_response(
            422,
            [
                error_object(
                    "10015",
                    "Bad Request",
                    "This server has no managed accounts: an export holds the caller's own "
                    "numbers only.",
                    parameter="include_managed_accounts",
                )
            ],
        )
    with asked.worker.database.transaction() as connection:
        over = _over_quota(downloads_held(connection, caller.account_id), now_ms())
        if over is not None:
            return over
        download = create_download(
            connection,
            caller.account_id,
            query.csv_format,
            query.filters,
            now_ms(),
        )
    asked.worker.downloads.wake()
    return _response({"data": [download_object(download, asked.base_url)]})


def _over_quota(held: DownloadsHeld, now: int) -> Response | None:
    """429 if the account may not ask for another download now, with when it may; else None.
    The contract's answer for "too many" (its `429`), as for a rate limit."""
    if held.pending >= MAX_PENDING_DOWNLOADS:
        detail = (
            f"You can have at most {MAX_PENDING_DOWNLOADS} pending downloads; "
            "retry once one has completed."
        )
        retry_seconds = PENDING_RETRY_SECONDS
    elif held.files >= MAX_KEPT_FILES or held.file_bytes >= MAX_KEPT_BYTES:
        detail = (
            f"Your completed downloads keep {held.files} files of {held.file_bytes:,} bytes; "
            f"at most {MAX_KEPT_FILES} files or {MAX_KEPT_BYTES:,} bytes are kept at once. "
            "Files expire 24 hours after they complete."
        )
        oldest = now if held.oldest_file_at is None else held.oldest_file_at
        retry_seconds = max(1, (oldest + KEPT_MS - now + 999) // 1000)
    else:
        return None
    return error_response(
        429,
        [error_object("10011", "Too many requests", detail)],
        headers={"Retry-After": str(retry_seconds)},
    )


def list_endpoint(connection: Connection, asked: Asked) -> Response:
    caller = asked.caller
    try:
        page = parse_page_query(asked.query_string)
    except InvalidQuery as invalid:
        return bad_request(invalid.errors)
    total, downloads = list_downloads(connection, caller.account_id, page.offset, page.size)
    return _response(
        {
            "data": [download_object(download, asked.base_url) for download in downloads],
            "meta": pagination_meta(page.number, page.size, total),
        }
    )


def retrieve_endpoint(connection: Connection, asked: Asked) -> Response:
    caller = asked.caller
    raw_id = asked.path()
    found = _find(connection, caller, raw_id)
    if isinstance(found, Response):
        return found
    return _response({"data": [download_object(found, asked.base_url)]})


def file_endpoint(connection: Connection, asked: Asked) -> Response:
    """The CSV file, streamed part by part as stored; 404 until the download is complete, saying
    why a failed one failed."""
    caller = asked.caller
    raw_id = asked.path()
    found = _find(connection, caller, raw_id)
    if isinstance(found, Response):
        return found
    if found.status != COMPLETE or found.size is None:
        detail = f"CSV download {found.id} has no file: its status is {found.status}."
        if found.failure:  # why it failed: the download object has no field for it
            detail = f"{detail} {found.failure}"
        return error_response(404, [error_object("10005", "Resource not found", detail)])
    return StreamingResponse(
        _parts(asked.worker.database, found.id, found.size),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Length": str(found.size),
            "Content-Disposition": f'attachment; filename="phone-numbers-{found.id}.csv"',
        },
    )


def download_object(download: CsvDownload, base_url: str) -> dict[str, Any]:
    """A `CsvDownload`; its `url` (on this server, under the request's base URL) only once the
    file can be fetched."""
    item: dict[str, Any] = {
        "id": download.id,
        "record_type": "csv_download",
        "status": download.status,
    }
    if download.status == COMPLETE:
        item["url"] = f"{base_url.rstrip('/')}/{PATH}/{download.id}/file"
    return item


def _find(connection: Connection, caller: Caller, raw_id: str) -> CsvDownload | Response:
    if ID_PATTERN.fullmatch(raw_id) is None:
        return error_response(
            400,
            [
                error_object(
                    "10006",
                    "Invalid ID",
                    f"{raw_id!r} is not a CSV download id: ids are UUIDs.",
                    parameter="id",
                )
            ],
        )
    download = find_download(connection, caller.account_id, raw_id.lower())
    if download is None:
        return error_response(
            404,
            [error_object("10005", "Resource not found", f"There is no CSV download {raw_id}.")],
        )
    return download


def _parts(database: Database, download_id: str, size: int) -> Iterator[bytes]:
    # Each part is read by whichever thread Starlette gives the next step (each has its own
    # connection); a complete download's parts never change until they expire.
    for part in range(-(-size // PART_BYTES)):
        content = read_part(database.connection(), download_id, part)
        if content is None:  # expired meanwhile: the response ends short of its length
            return
        yield content


def _response(document: dict[str, Any]) -> Response:
    return Response(encode(document), media_type="application/json")
