"""A server killed with SIGKILL (the uvicorn process, its workers and their index builders, all at
once) in the middle of a bulk job and of a CSV download, and started again: the job ends with
every number done exactly once and none acknowledged lost, and the download completes with every
number. The servers run `numbers-api serve --workers 2` as users start it, slowed down
(NUMBERS_API_FAULTS) so that the kill lands mid-way, with a 2 s lease (NUMBERS_API_LEASE_SECONDS)
so that the restarted server takes the work up without waiting 30 s."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from numbers_api.background import LEASE_VARIABLE
from numbers_api.settings import FAULTS_VARIABLE
from numbers_api.store.accounts import account_id, data_version
from numbers_api.store.database import Database
from numbers_api.testing import kill_server, start_server
from tests.support.factories import Inventory, number_record

NUMBERS = 20


class Server:
    """`numbers-api serve --workers 2` in a process group of its own, answering `/health`."""

    def __init__(self, database_url: str, fault: str) -> None:
        environment = {FAULTS_VARIABLE: fault, LEASE_VARIABLE: "2"}
        self.process, self.base_url = start_server(
            database_url, "--workers", "2", environment=environment
        )

    def kill(self) -> None:
        """SIGKILL to every process of the server at once."""
        kill_server(self.process)


@contextmanager
def serving(database_url: str, fault: str) -> Iterator[Server]:
    server = Server(database_url, fault)
    try:
        yield server
    finally:
        server.kill()


def until(ready: Callable[[], Any], failure: str, seconds: float = 40) -> Any:
    """`ready()` once it is truthy, asked every 50 ms for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while not (value := ready()):
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)
    return value


def get(server: Server, key: str, path: str) -> httpx.Response:
    response = httpx.get(
        f"{server.base_url}/v2/phone_numbers{path}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response


def post(server: Server, key: str, path: str, body: Any = None) -> Any:
    """The `data` of a POST's answer."""
    response = httpx.post(
        f"{server.base_url}/v2/phone_numbers{path}",
        headers={"Authorization": f"Bearer {key}"},
        json=body,
        timeout=10,
    )
    assert response.status_code in (200, 202), response.text
    return response.json()["data"]


def ended(server: Server, key: str, path: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    """The job or download at `path` once its status is one of `statuses`."""

    def current() -> dict[str, Any] | None:
        data = get(server, key, path).json()["data"]
        item: dict[str, Any] = data[0] if isinstance(data, list) else data
        return item if item["status"] in statuses else None

    found: dict[str, Any] = until(current, f"{path} did not end after the restart")
    return found


def numbers_of(inventory: Inventory) -> tuple[str, list[str]]:
    """Account `mine` with NUMBERS numbers: its key and the numbers."""
    key = inventory.account("mine")
    records = [number_record() for _ in range(NUMBERS)]
    inventory.load("mine", records)
    return key, [record["phone_number"] for record in records]


def version(database: Database) -> int:
    connection = database.connection()
    return data_version(connection, account_id(connection, "mine"))


def test_a_job_whose_server_was_killed_mid_way_does_each_number_once_after_a_restart(
    database_url: str, database: Database, inventory: Inventory
) -> None:
    key, numbers = numbers_of(inventory)
    before = version(database)
    body = {"phone_numbers": numbers, "customer_reference": "after"}
    with serving(database_url, "slow_jobs") as first:
        job_id = post(first, key, "/jobs/update_phone_numbers", body)["id"]

        def progressed() -> bool:
            job = get(first, key, f"/jobs/{job_id}").json()["data"]
            return len(job["successful_operations"]) >= 3

        until(progressed, "the job did not progress")
        first.kill()
    assert version(database) < before + NUMBERS  # killed mid-way
    with serving(database_url, "slow_jobs") as second:
        job = ended(second, key, f"/jobs/{job_id}", ("completed", "failed"))
        changed = get(second, key, "?filter[customer_reference]=after&page[size]=250").json()
    assert job["status"] == "completed"
    assert (len(job["successful_operations"]), job["failed_operations"]) == (NUMBERS, [])
    assert version(database) == before + NUMBERS  # each number's change made once
    assert {n["phone_number"] for n in changed["data"]} == set(numbers)  # none lost


def test_a_download_whose_server_was_killed_mid_way_completes_after_a_restart(
    database_url: str, database: Database, inventory: Inventory
) -> None:
    key, numbers = numbers_of(inventory)

    def state(download_id: str) -> tuple[str, str | None]:
        status, claim = (
            database.connection()
            .execute("SELECT status, claim FROM csv_downloads WHERE id = ?", (download_id,))
            .fetchone()
        )
        return status, claim

    with serving(database_url, "slow_csv_downloads") as first:
        [download] = post(first, key, "/csv_downloads")
        until(lambda: state(download["id"])[1], "the download was not taken up")
        first.kill()  # while its export waits after its batch
    assert state(download["id"])[0] == "pending"  # killed mid-way
    with serving(database_url, "slow_csv_downloads") as second:
        done = ended(second, key, f"/csv_downloads/{download['id']}", ("complete", "failed"))
        assert done["status"] == "complete"
        response = httpx.get(done["url"], headers={"Authorization": f"Bearer {key}"}, timeout=10)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(row["phone_number"] for row in rows) == sorted(numbers)
