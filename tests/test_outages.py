"""A real `numbers-api serve` (two workers) whose PostgreSQL goes away under it: stopped,
restarted, frozen (its processes stopped, its connections left open), or down when the server
starts. Each test makes and owns its cluster (`tests/support/private_postgresql.py`), never the
shared one; they run in the suite's PostgreSQL run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from numbers_api.store.database import Database
from numbers_api.testing import stop_server
from tests.conftest import start_server
from tests.support import private_postgresql
from tests.support.databases import ON_POSTGRESQL
from tests.support.factories import Inventory, number_record
from tests.support.private_postgresql import PrivateCluster, private_cluster

pytestmark = pytest.mark.skipif(
    not (ON_POSTGRESQL and private_postgresql.available()),
    reason="a private PostgreSQL cluster, in the suite's PostgreSQL run",
)

LIST = "/v2/phone_numbers"
DEADLINE_SECONDS = 5.0  # docs/deployment.md, "Outages"
# Above the deadline: what a client sees includes the connection and the answer's transfer.
PATIENCE_SECONDS = DEADLINE_SECONDS + 1.5
NUMBERS = 6


@dataclass
class Served:
    cluster: PrivateCluster
    base_url: str
    key: str
    numbers: list[str]  # ids
    acknowledged: dict[str, str]  # number id -> the customer_reference of its last 200 PATCH

    def get(self, path: str, key: str | None = None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return httpx.get(self.base_url + path, headers=headers, params=params, timeout=30)

    def patch(self, number: str, reference: str) -> httpx.Response:
        response = httpx.patch(
            f"{self.base_url}{LIST}/{number}",
            headers={"Authorization": f"Bearer {self.key}"},
            json={"customer_reference": reference},
            timeout=30,
        )
        if response.status_code == 200:
            self.acknowledged[number] = reference
        return response

    def final_references(self) -> dict[str, str]:
        database = Database(self.cluster.url)
        try:
            rows = database.connection().execute("SELECT id, customer_reference FROM phone_numbers")
            return {str(number): reference for number, reference in rows}
        finally:
            database.close()


def _seeded(cluster: PrivateCluster) -> tuple[str, list[str]]:
    database = Database(cluster.url)
    try:
        inventory = Inventory(database)
        key = inventory.account("owner")
        inventory.load("owner", [number_record() for _ in range(NUMBERS)])
    finally:
        database.close()
    return key, []


def _serving(cluster: PrivateCluster) -> Iterator[Served]:
    key, _ = _seeded(cluster)
    process, base_url = start_server(cluster.url, None, "--workers", "2")
    try:
        served = Served(cluster, base_url, key, [], {})
        page = served.get(LIST, **{"page[size]": str(NUMBERS)}).json()
        served.numbers = [number["id"] for number in page["data"]]
        yield served
    finally:
        stop_server(process, timeout=15)


@pytest.fixture
def served() -> Iterator[Served]:
    with private_cluster() as cluster:
        yield from _serving(cluster)


def _requests_needing_the_database(served: Served) -> list[tuple[str, Any]]:
    number = served.numbers[0]
    return [
        ("list", lambda: served.get(LIST, **{"filter[tag]": "red"})),
        ("a cached page", lambda: served.get(LIST, **{"page[size]": str(NUMBERS)})),
        ("retrieve", lambda: served.get(f"{LIST}/{number}")),
        ("voice", lambda: served.get(f"{LIST}/{number}/voice")),
        ("patch", lambda: served.patch(number, "during")),
        ("a wrong key", lambda: served.get(LIST, key="KEYnotakey")),
        ("jobs", lambda: served.get(f"{LIST}/jobs")),
    ]


def _timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _answered_while_down(served: Served) -> dict[str, tuple[httpx.Response, float]]:
    """Each request that needs the database, three times over, all at once."""
    requests = _requests_needing_the_database(served) * 3
    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(lambda request: _timed(request[1]), requests))
    named = zip(requests, answers, strict=True)
    return {f"{name} #{i}": answer for i, ((name, _), answer) in enumerate(named)}


def _assert_all_503_in_time(answers: dict[str, tuple[httpx.Response, float]]) -> None:
    for name, (response, seconds) in answers.items():
        assert response.status_code == 503, (name, response.status_code, response.text)
        assert response.headers["Retry-After"].isdigit(), name
        [error] = response.json()["errors"]
        assert error["code"] == "10008", name
        assert seconds < PATIENCE_SECONDS, (name, seconds)


def _wait_until_every_request_succeeds(served: Served, seconds: float) -> float:
    """How long until 20 requests in a row, over new connections (so over both workers), are
    answered 200; fails past `seconds`."""
    started = time.monotonic()
    in_a_row = 0
    while in_a_row < 20:
        assert time.monotonic() - started < seconds, "the server did not recover in time"
        status = served.get(f"{LIST}/{served.numbers[in_a_row % NUMBERS]}").status_code
        in_a_row = in_a_row + 1 if status == 200 else 0
        if status != 200:
            assert status == 503, status
            time.sleep(0.2)
    return time.monotonic() - started


def test_while_the_database_is_stopped_every_request_needing_it_is_503_in_time(
    served: Served,
) -> None:
    served.cluster.stop()
    _assert_all_503_in_time(_answered_while_down(served))


def test_while_the_database_is_stopped_health_and_the_openapi_document_answer(
    served: Served,
) -> None:
    served.cluster.stop()
    assert httpx.get(served.base_url + "/health", timeout=5).status_code == 200
    assert httpx.get(served.base_url + "/v2/openapi.json", timeout=5).status_code == 200


def test_ready_says_503_while_the_database_is_stopped_and_200_once_it_is_back(
    served: Served,
) -> None:
    assert httpx.get(served.base_url + "/ready", timeout=5).status_code == 200
    served.cluster.stop()
    assert httpx.get(served.base_url + "/ready", timeout=10).status_code == 503
    served.cluster.start()
    _wait_until_every_request_succeeds(served, 15)
    assert httpx.get(served.base_url + "/ready", timeout=5).status_code == 200


def test_after_a_restart_every_request_succeeds_within_seconds_without_a_server_restart(
    served: Served,
) -> None:
    for number in served.numbers:  # every worker's connections in use before the restart
        assert served.get(f"{LIST}/{number}").status_code == 200
    served.cluster.restart()
    assert _wait_until_every_request_succeeds(served, 10) < 10


def test_writes_acknowledged_before_during_and_after_an_outage_are_all_kept(
    served: Served,
) -> None:
    statuses: list[int] = []
    for round_ in range(3):
        for number in served.numbers:
            statuses.append(served.patch(number, f"before-{round_}").status_code)
    served.cluster.stop()
    for number in served.numbers:
        statuses.append(served.patch(number, "during").status_code)
    served.cluster.start()
    _wait_until_every_request_succeeds(served, 15)
    for number in served.numbers[: NUMBERS // 2]:
        statuses.append(served.patch(number, "after").status_code)
    assert set(statuses) <= {200, 503}
    assert statuses.count(200) == 3 * NUMBERS + NUMBERS // 2
    final = served.final_references()
    assert {number: final[number] for number in served.acknowledged} == served.acknowledged


def test_a_frozen_database_is_answered_503_within_the_deadline_and_recovers_once_thawed(
    served: Served,
) -> None:
    served.cluster.freeze()
    try:
        _assert_all_503_in_time(_answered_while_down(served))
        assert httpx.get(served.base_url + "/ready", timeout=10).status_code == 503
        assert httpx.get(served.base_url + "/health", timeout=5).status_code == 200
    finally:
        served.cluster.thaw()
    _wait_until_every_request_succeeds(served, 15)


def test_a_server_started_while_the_database_is_down_becomes_ready_when_it_returns() -> None:
    with private_cluster() as cluster:
        key, _ = _seeded(cluster)
        cluster.stop()
        process, base_url = start_server(cluster.url, None, "--workers", "2")
        try:
            headers = {"Authorization": f"Bearer {key}"}
            assert httpx.get(base_url + "/ready", timeout=10).status_code == 503
            listed = httpx.get(base_url + LIST, headers=headers, timeout=10)
            assert listed.status_code == 503
            cluster.start()
            deadline = time.monotonic() + 15
            while httpx.get(base_url + "/ready", timeout=10).status_code != 200:
                assert time.monotonic() < deadline, "not ready 15 s after the database returned"
                time.sleep(0.2)
            assert httpx.get(base_url + LIST, headers=headers, timeout=10).status_code == 200
        finally:
            stop_server(process)
