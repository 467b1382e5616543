"""Limits on what a client sends (bodies, query strings, filter values, page numbers) and on how
often it may ask (rate limits): each refused with Telnyx's envelope, before it costs anything."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
import telnyx

from numbers_api.domain import MAX_TAGS
from numbers_api.http.app import REQUESTS_IN_FLIGHT
from numbers_api.http.limits import MAX_BODY_BYTES, MAX_QUERY_STRING_BYTES
from numbers_api.store.database import Database
from numbers_api.store.executors import QUEUE_DEADLINE_SECONDS, THREADS_PER_WORKER
from numbers_api.testing import stop_server
from tests.conftest import ApiClient, make_client, start_server
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"
LISTS = [
    LIST,
    f"{LIST}/slim",
    f"{LIST}/voice",
    f"{LIST}/messaging",
    f"{LIST}/jobs",
    f"{LIST}/csv_downloads",
]


@pytest.fixture
def key(inventory: Inventory) -> str:
    key = inventory.account("owner")
    inventory.load("owner", [number_record(tags=["a"])])
    return key


def first_number(api: ApiClient, key: str) -> str:
    number: str = api.get(LIST, key).json()["data"][0]["id"]
    return number


def only_error(response: httpx.Response) -> dict[str, Any]:
    errors: list[dict[str, Any]] = response.json()["errors"]
    assert len(errors) == 1, errors
    return errors[0]


def test_a_body_over_the_limit_is_refused_with_413(api: ApiClient, key: str) -> None:
    number = first_number(api, key)
    response = api.request("PATCH", f"{LIST}/{number}", key, content=b" " * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert only_error(response)["code"] == "10015"
    assert "longer than 1,048,576 bytes" in only_error(response)["detail"]


def test_a_chunked_body_over_the_limit_is_refused_with_413(api: ApiClient, key: str) -> None:
    number = first_number(api, key)
    chunks = (b" " * 65_536 for _ in range(MAX_BODY_BYTES // 65_536 + 1))
    response = api.client.patch(
        f"{LIST}/{number}", content=chunks, headers={"Authorization": f"Bearer {key}"}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


def test_a_body_at_the_limit_is_read(api: ApiClient, key: str) -> None:
    number = first_number(api, key)
    body = b'{"tags": ["b"]}'
    padded = body + b" " * (MAX_BODY_BYTES - len(body))
    response = api.request("PATCH", f"{LIST}/{number}", key, content=padded)
    assert response.status_code == 200
    assert response.json()["data"]["tags"] == ["b"]


def test_a_body_is_not_read_before_the_caller_is_known(api: ApiClient, key: str) -> None:
    number = first_number(api, key)
    path = f"{LIST}/{number}"
    reads: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        reads.append(1)
        return {"type": "http.request", "body": b" " * 65_536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PATCH",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-length", str(300 * 1024 * 1024).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    app: Any = api.client.app
    portal: Any = api.client.portal
    portal.call(app, scope, receive, send)
    assert sent[0]["status"] == 401
    assert reads == []


def test_a_query_string_over_the_limit_is_414_naming_its_longest_parameter(
    api: ApiClient, key: str
) -> None:
    query = f"page[size]=5&filter[tag]={'x' * MAX_QUERY_STRING_BYTES}"
    response = api.get(LIST, key, query)
    assert response.status_code == 414
    assert only_error(response)["code"] == "10003"
    assert only_error(response)["source"] == {"parameter": "filter[tag]"}


@pytest.mark.parametrize(
    "parameter", ["filter[tag]", "filter[customer_reference]", "filter[connection_id]"]
)
def test_a_text_filter_over_500_characters_is_400_naming_it(
    api: ApiClient, key: str, parameter: str
) -> None:
    response = api.get(LIST, key, {parameter: "x" * 501})
    assert response.status_code == 400
    error = only_error(response)
    assert error["source"] == {"parameter": parameter}
    assert "at most 500 characters" in error["detail"]
    assert len(error["detail"]) < 200  # the value is not echoed back whole


def test_a_text_filter_of_500_characters_is_taken(api: ApiClient, key: str) -> None:
    response = api.get(LIST, key, {"filter[tag]": "x" * 500})
    assert response.status_code == 200
    assert response.json()["data"] == []


@pytest.mark.parametrize("path", LISTS)
def test_a_page_number_of_5000_digits_is_400_naming_it(api: ApiClient, key: str, path: str) -> None:
    response = api.get(path, key, {"page[number]": "9" * 5000})
    assert response.status_code == 400
    error = only_error(response)
    assert error["source"] == {"parameter": "page[number]"}
    assert len(error["detail"]) < 300


def test_a_page_number_with_leading_zeros_is_still_a_page(api: ApiClient, key: str) -> None:
    response = api.get(LIST, key, {"page[number]": "0" * 5000 + "1"})
    assert response.status_code == 200
    assert response.json()["meta"]["page_number"] == 1


@pytest.fixture
def limited(database_url: str, database: Database) -> ApiClient:
    return make_client(database_url, rate_limit=3)


def test_requests_past_the_rate_limit_are_429_with_retry_after(
    limited: ApiClient, key: str
) -> None:
    answers = [limited.get(LIST, key) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    refused = answers[3]
    assert only_error(refused)["code"] == "10011"
    assert only_error(refused)["title"] == "Too many requests"
    assert refused.headers["x-ratelimit-limit"] == "3"
    assert refused.headers["Retry-After"] == "1"
    assert 0 < int(refused.headers["retry-after-ms"]) <= 1000


def test_every_answer_carries_the_rate_limit_headers(limited: ApiClient, key: str) -> None:
    number = first_number(limited, key)
    answers = [
        limited.request("DELETE", LIST, key),  # 405
        limited.get(f"{LIST}/{number}", key),
    ]
    for answer in answers:
        assert answer.headers["x-ratelimit-limit"] == "3"
        assert {"x-ratelimit-remaining", "x-ratelimit-reset"} <= set(answer.headers)


def test_the_allowance_comes_back_with_time(limited: ApiClient, key: str) -> None:
    for _ in range(3):
        limited.get(LIST, key)
    refused = limited.get(LIST, key)
    assert refused.status_code == 429
    time.sleep(int(refused.headers["retry-after-ms"]) / 1000)
    assert limited.get(LIST, key).status_code == 200


def test_each_key_has_its_own_allowance(limited: ApiClient, key: str, inventory: Inventory) -> None:
    other = inventory.account("other")
    for _ in range(4):
        limited.get(LIST, key)
    assert limited.get(LIST, other).status_code == 200


def test_failed_authentications_are_limited_per_client_address(limited: ApiClient) -> None:
    answers = [limited.get(LIST, f"KEYbad-{i}") for i in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[0].headers["x-ratelimit-remaining"] == "2"
    assert answers[3].headers["Retry-After"] == "1"


def test_the_rate_limit_is_exact_across_a_hosts_workers(
    database_url: str, database: Database, key: str
) -> None:
    per_second = 10
    process, base_url = start_server(
        database_url, None, "--workers", "2", "--rate-limit", str(per_second)
    )
    try:
        # A new connection for each request, so that both workers answer.
        no_keepalive = httpx.Limits(max_keepalive_connections=0)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base_url, headers=headers, limits=no_keepalive) as client:
            started = time.monotonic()
            statuses = [client.get(LIST).status_code for _ in range(60)]
            elapsed = time.monotonic() - started
    finally:
        stop_server(process)
    allowed = statuses.count(200)
    assert statuses.count(429) == 60 - allowed
    # The burst, and what came back while the requests were made; one table per worker would
    # have let in about twice the burst.
    assert per_second <= allowed <= per_second + int(elapsed * per_second) + 1


def test_the_official_sdk_waits_out_a_429_and_succeeds(
    database_url: str, database: Database, key: str
) -> None:
    process, base_url = start_server(database_url, None, "--rate-limit", "1")
    try:
        with telnyx.Telnyx(api_key=key, base_url=f"{base_url}/v2", max_retries=2) as client:
            client.phone_numbers.list()
            started = time.monotonic()
            page = client.phone_numbers.list()
            waited = time.monotonic() - started
    finally:
        stop_server(process)
    assert len(page.data) == 1
    assert 0.5 <= waited < 5


def test_requests_past_those_in_flight_are_503_at_once(api: ApiClient, key: str) -> None:
    worker = api.client.app.state.api  # type: ignore[attr-defined]
    worker.in_flight = REQUESTS_IN_FLIGHT  # as if that many were being answered
    try:
        refused = api.get(LIST, key)
        health = api.client.get("/health")
    finally:
        worker.in_flight = 0
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert only_error(refused)["code"] == "10008"
    assert health.status_code == 200


def test_a_request_that_waited_past_the_deadline_for_a_thread_is_503(
    api: ApiClient, key: str
) -> None:
    number = first_number(api, key)
    threads = api.client.app.state.api.executor.threads  # type: ignore[attr-defined]
    release = threading.Event()
    busy = [threads.submit(release.wait) for _ in range(THREADS_PER_WORKER)]
    timer = threading.Timer(QUEUE_DEADLINE_SECONDS + 0.2, release.set)
    timer.start()
    try:
        late = api.get(f"{LIST}/{number}", key)  # answered in a snapshot, in a request thread
    finally:
        release.set()
        timer.cancel()
    assert all(task.result() for task in busy)
    assert late.status_code == 503
    assert late.headers["Retry-After"] == "1"
    assert api.get(f"{LIST}/{number}", key).status_code == 200


def test_a_patch_setting_more_than_100_tags_is_422_naming_them(api: ApiClient, key: str) -> None:
    number = first_number(api, key)
    tags = [f"tag-{i}" for i in range(MAX_TAGS + 1)]
    response = api.request("PATCH", f"{LIST}/{number}", key, json={"tags": tags})
    assert response.status_code == 422
    assert only_error(response)["source"] == {"pointer": "/tags"}
    assert api.get(f"{LIST}/{number}", key).json()["data"]["tags"] == ["a"]


def test_a_patch_setting_100_tags_repeated_is_taken(api: ApiClient, key: str) -> None:
    number = first_number(api, key)
    tags = [f"tag-{i}" for i in range(MAX_TAGS)] * 2
    response = api.request("PATCH", f"{LIST}/{number}", key, json={"tags": tags})
    assert response.status_code == 200
    assert len(response.json()["data"]["tags"]) == MAX_TAGS
