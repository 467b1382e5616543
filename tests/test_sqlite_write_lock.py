"""A real `numbers-api serve` on SQLite while another process holds the write lock, as an import
does for a minute: writes are answered 503 with Retry-After after a short wait, and reads go on
meanwhile."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from numbers_api.store.database import Database, sqlite_path
from numbers_api.testing import stop_server
from tests.conftest import start_server
from tests.support.databases import ON_POSTGRESQL
from tests.support.factories import Inventory, number_record

pytestmark = pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite's write lock")

LIST = "/v2/phone_numbers"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, str, list[str]]]:
    """The server's base URL, an API key, the database file and the account's number ids."""
    url = f"sqlite:///{tmp_path / 'numbers.db'}"
    database = Database(url)
    inventory = Inventory(database)
    key = inventory.account("owner")
    inventory.load("owner", [number_record() for _ in range(4)])
    database.close()
    process, base_url = start_server(url, None, "--workers", "1")
    try:
        headers = {"Authorization": f"Bearer {key}"}
        numbers = [n["id"] for n in httpx.get(base_url + LIST, headers=headers).json()["data"]]
        yield base_url, key, sqlite_path(url), numbers
    finally:
        stop_server(process)


def _timed(call: httpx.Request) -> tuple[int, str | None, float]:
    started = time.monotonic()
    with httpx.Client(timeout=30) as client:
        response = client.send(call)
    return response.status_code, response.headers.get("Retry-After"), time.monotonic() - started


def test_while_another_process_holds_the_write_lock_writes_are_503_and_reads_go_on(
    server: tuple[str, str, str, list[str]],
) -> None:
    base_url, key, path, numbers = server
    headers = {"Authorization": f"Bearer {key}"}
    patches = [
        httpx.Request(
            "PATCH", f"{base_url}{LIST}/{numbers[i % 4]}", headers=headers, json={"tags": ["x"]}
        )
        for i in range(8)
    ]
    reads = [
        httpx.Request("GET", f"{base_url}{LIST}/{numbers[i % 4]}", headers=headers)
        for i in range(24)
    ]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # what an import holds while it writes
    try:
        with ThreadPoolExecutor(len(patches) + 4) as pool:
            written = [pool.submit(_timed, request) for request in patches]
            time.sleep(0.3)  # the writes are waiting for the lock
            read = list(pool.map(_timed, reads))
            written_answers = [future.result() for future in written]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [status for status, _, _ in read] == [200] * len(reads)
    assert max(seconds for _, _, seconds in read) < 1.5
    assert {status for status, _, _ in written_answers} == {503}
    assert {retry for _, retry, _ in written_answers} <= {"1", "2"}
    assert max(seconds for _, _, seconds in written_answers) < 4
    after = httpx.patch(f"{base_url}{LIST}/{numbers[0]}", headers=headers, json={"tags": ["y"]})
    assert after.status_code == 200
