"""What an operator sees of each request: its `x-request-id`, its log lines (JSON, with no key,
password or query value in them) and the metrics at `GET /metrics`, in process and from a real
`numbers-api serve` whose workers are counted together."""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import psycopg
import pytest
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from numbers_api.http.app import REQUESTS_IN_FLIGHT
from numbers_api.http.observability import MAX_REQUEST_ID_LENGTH, query_names
from numbers_api.logs import LOG_FORMAT_VARIABLE, JsonLines, TextLines
from numbers_api.metrics import MULTIPROCESS_VARIABLE, worker_ended, worker_started
from numbers_api.store.accounts import account_id
from numbers_api.store.database import Database
from numbers_api.testing import start_server, stop_server
from tests.conftest import ApiClient, free_port, make_client
from tests.support.databases import ON_POSTGRESQL, POSTGRESQL_URL
from tests.support.factories import Inventory, fresh_number, number_record

LIST = "/v2/phone_numbers"
CLI = [sys.executable, "-m", "numbers_api"]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def key(inventory: Inventory) -> str:
    key = inventory.account("owner")
    inventory.load("owner", [number_record(tags=["a"]) for _ in range(3)])
    return key


@pytest.fixture
def api(database_url: str, key: str) -> ApiClient:
    return make_client(database_url)  # indexes built inline, by the request that needs one


@contextmanager
def written(formatter: logging.Formatter, name: str = "numbers_api") -> Iterator[io.StringIO]:
    """What the logger `name` (and those below it) writes meanwhile, at INFO and above."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def logged() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the service's loggers write while the test runs, parsed."""
    with written(JsonLines()) as stream:
        yield lambda: [orjson.loads(line) for line in stream.getvalue().splitlines()]


def parsed(exposition: str) -> Samples:
    """Every sample of a scrape, as prometheus-client's own parser reads it."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parsed(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples: Samples, route: str, status: str, method: str = "GET") -> float:
    return value(samples, "numbers_api_requests_total", route=route, method=method, status=status)


def only(lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """The one line that has these fields."""
    found = [line for line in lines if fields.items() <= line.items()]
    assert len(found) == 1, lines
    return found[0]


# --- x-request-id ------------------------------------------------------------------------------


def test_an_answer_to_a_request_without_an_id_carries_a_new_uuid(api: ApiClient) -> None:
    first, second = (api.client.get("/health").headers["x-request-id"] for _ in range(2))
    assert uuid.UUID(first).version == 4
    assert str(uuid.UUID(first)) == first
    assert first != second


@pytest.mark.parametrize(
    "sent",
    [
        "my-request-1",
        "0f8a9c2e-4d1b-4c7e-9a3f-2b6d8e1c5a70",
        "Root=1-67891233-abc:ef/g+h=_.",
        "i" * 128,
    ],
    ids=["word", "uuid", "trace", "longest"],
)
def test_a_callers_sane_request_id_is_echoed(api: ApiClient, sent: str) -> None:
    answer = api.client.get("/health", headers={"x-request-id": sent})
    assert answer.headers["x-request-id"] == sent


@pytest.mark.parametrize(
    "sent",
    [
        b"i" * (MAX_REQUEST_ID_LENGTH + 1),
        b"abc\x01def",
        b"two words",
        b'say"no',
        b"caf\xc3\xa9",
        b"",
    ],
    ids=["too-long", "control", "space", "quote", "non-ascii", "empty"],
)
def test_an_insane_request_id_is_replaced_by_a_uuid(api: ApiClient, sent: bytes) -> None:
    answer = api.client.get("/health", headers=[(b"x-request-id", sent)])
    given = answer.headers["x-request-id"]
    assert given.encode() != sent
    assert uuid.UUID(given).version == 4


def _unauthenticated(api: ApiClient) -> httpx.Response:
    answer: httpx.Response = api.client.get(LIST)
    return answer


def _unknown_path(api: ApiClient) -> httpx.Response:
    answer: httpx.Response = api.client.get("/nowhere")
    return answer


def _overloaded(api: ApiClient) -> httpx.Response:
    worker = api.client.app.state.api  # type: ignore[attr-defined]
    worker.in_flight = REQUESTS_IN_FLIGHT  # as if that many were being answered
    try:
        answer: httpx.Response = api.client.get(LIST)
    finally:
        worker.in_flight = 0
    return answer


def _health(api: ApiClient) -> httpx.Response:
    answer: httpx.Response = api.client.get("/health")
    return answer


@pytest.mark.parametrize(
    ("ask", "status"),
    [(_unauthenticated, 401), (_unknown_path, 404), (_overloaded, 503), (_health, 200)],
    ids=["401", "404", "503-overloaded", "health"],
)
def test_every_kind_of_answer_carries_the_request_id(
    api: ApiClient, ask: Callable[[ApiClient], httpx.Response], status: int
) -> None:
    api.client.headers["x-request-id"] = "kind-of-answer"
    answer = ask(api)
    assert answer.status_code == status
    assert answer.headers["x-request-id"] == "kind-of-answer"


def test_an_unexpected_error_is_answered_and_logged_with_the_request_id(
    api: ApiClient, key: str, logged: Callable[[], list[dict[str, Any]]]
) -> None:
    async def failing(*arguments: Any) -> None:
        raise RuntimeError("a bug")

    api.client.app.state.api._answer_caller = failing  # type: ignore[attr-defined]
    answer = api.client.get(LIST, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 500
    request_id = answer.headers["x-request-id"]
    error = only(logged(), level="ERROR")
    assert error["request_id"] == request_id
    assert "RuntimeError: a bug" in error["exception"]
    assert only(logged(), route=LIST)["status"] == 500


# --- logs --------------------------------------------------------------------------------------


def test_a_requests_line_names_its_id_account_route_status_duration_and_bytes(
    api: ApiClient, key: str, database: Database, logged: Callable[[], list[dict[str, Any]]]
) -> None:
    answer = api.get(f"{LIST}/{api.get(LIST, key).json()['data'][0]['id']}", key)
    line = only(logged(), request_id=answer.headers["x-request-id"])
    assert line["account_id"] == account_id(database.connection(), "owner")
    assert line["method"] == "GET"
    assert line["route"] == f"{LIST}/{{id}}"
    assert line["status"] == 200
    assert line["bytes"] == len(answer.content)
    assert line["duration_ms"] > 0
    assert line["level"] == "INFO"
    assert line["time"].endswith("Z")


def test_a_requests_line_names_its_query_parameters_but_not_their_values(
    api: ApiClient, key: str, logged: Callable[[], list[dict[str, Any]]]
) -> None:
    query = "filter[phone_number]=%2B19705550123&filter[tag]=vip-client&page[size]=5"
    answer = api.get(LIST, key, query)
    (line,) = (line for line in logged() if line.get("route") == LIST)
    assert line["query"] == ["filter[phone_number]", "filter[tag]", "page[size]"]
    assert answer.status_code == 200
    assert "19705550123" not in str(logged())
    assert "vip-client" not in str(logged())


def test_a_query_parameter_name_of_another_form_is_logged_as_a_question_mark() -> None:
    names = b"%2B19705550123&filter%5Btag%5D=x&19705550123&a%20b=1&=v&&" + b"n" * 65
    assert query_names(names) == ["?", "filter[tag]", "?", "?", "?", "?"]


def test_a_line_logged_from_a_request_thread_carries_the_request_id(
    api: ApiClient, key: str, logged: Callable[[], list[dict[str, Any]]]
) -> None:
    answer = api.get(LIST, key)  # builds the account's index, in a request thread
    built = [line for line in logged() if line["logger"] == "numbers_api.index"]
    assert built
    assert {line.get("request_id") for line in built} == {answer.headers["x-request-id"]}
    assert all("account_id" in line for line in built)


def test_text_lines_name_the_request_and_its_account(
    api: ApiClient, key: str, database: Database
) -> None:
    with written(TextLines(), "numbers_api.http") as stream:
        answer = api.get(LIST, key, "page[size]=2")
    (line,) = stream.getvalue().splitlines()
    owner = account_id(database.connection(), "owner")
    assert f"GET {LIST}?page[size] 200 " in line
    assert line.endswith(f" [request {answer.headers['x-request-id']}, account {owner}]")


# --- metrics, in process -----------------------------------------------------------------------


def test_metrics_are_served_in_prometheus_text_without_an_api_key(api: ApiClient) -> None:
    families = {f.name for f in text_string_to_metric_families(api.client.get("/metrics").text)}
    assert {
        "numbers_api_requests",
        "numbers_api_request_duration_seconds",
        "numbers_api_refused_requests",
        "numbers_api_page_cache",
        "numbers_api_index_builds",
        "numbers_api_index_build_duration_seconds",
        "numbers_api_index_memory_bytes",
    } <= families


def test_requests_are_counted_by_route_template_method_and_status(api: ApiClient, key: str) -> None:
    before = scrape(api.client)
    for number in ("1", "2"):  # two paths of one template
        api.get(f"{LIST}/{number}", key)
    api.get(LIST, None)
    after = scrape(api.client)
    route = f"{LIST}/{{id}}"
    assert requests_of(after, route, "404") - requests_of(before, route, "404") == 2
    assert requests_of(after, LIST, "401") - requests_of(before, LIST, "401") == 1


def test_request_durations_are_a_histogram_by_route_template_and_method(
    api: ApiClient, key: str
) -> None:
    name = "numbers_api_request_duration_seconds_count"
    before = value(scrape(api.client), name, route=LIST, method="GET")
    api.get(LIST, key)
    after = scrape(api.client)
    assert value(after, name, route=LIST, method="GET") - before == 1
    below_ten_seconds = value(
        after, "numbers_api_request_duration_seconds_bucket", route=LIST, method="GET", le="10.0"
    )
    assert below_ten_seconds == value(after, name, route=LIST, method="GET")


def test_page_cache_hits_and_misses_are_counted(api: ApiClient, key: str) -> None:
    before = scrape(api.client)
    api.get(LIST, key, "page[size]=1")
    api.get(LIST, key, "page[size]=1")
    after = scrape(api.client)
    for result in ("hit", "miss"):
        name = "numbers_api_page_cache_total"
        assert value(after, name, result=result) - value(before, name, result=result) == 1


def test_rate_limited_requests_are_counted(database_url: str, key: str) -> None:
    limited = make_client(database_url, rate_limit=1)
    name, reason = "numbers_api_refused_requests_total", "rate_limited"
    before = value(scrape(limited.client), name, reason=reason)
    statuses = [limited.get(LIST, key).status_code for _ in range(2)]
    assert statuses == [200, 429]
    assert value(scrape(limited.client), name, reason=reason) - before == 1


def test_overloaded_requests_are_counted(api: ApiClient) -> None:
    name, reason = "numbers_api_refused_requests_total", "overloaded"
    before = value(scrape(api.client), name, reason=reason)
    assert _overloaded(api).status_code == 503
    assert value(scrape(api.client), name, reason=reason) - before == 1


def test_an_index_build_is_counted_with_its_time_and_memory(api: ApiClient, key: str) -> None:
    before = scrape(api.client)
    api.get(LIST, key)  # builds the account's index
    after = scrape(api.client)
    builds = "numbers_api_index_builds_total"
    seconds = "numbers_api_index_build_duration_seconds_count"
    assert value(after, builds, outcome="built") - value(before, builds, outcome="built") == 1
    assert value(after, seconds, outcome="built") - value(before, seconds, outcome="built") == 1
    held = api.indexes().held_bytes
    assert held > 0
    assert value(after, "numbers_api_index_memory_bytes") == held


def test_an_index_brought_forward_after_a_write_is_counted_as_advanced(
    api: ApiClient, key: str
) -> None:
    number = api.get(LIST, key).json()["data"][0]["id"]  # builds the account's index
    api.request("PATCH", f"{LIST}/{number}", key, json={"tags": ["b"]})
    name = "numbers_api_index_builds_total"
    before = scrape(api.client)
    api.get(LIST, key, "filter[tag]=b")
    after = scrape(api.client)
    assert value(after, name, outcome="advanced") - value(before, name, outcome="advanced") == 1
    assert value(after, name, outcome="built") == value(before, name, outcome="built")


def test_a_worker_ending_takes_its_gauges_out_of_the_live_sums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROCESS_VARIABLE, str(tmp_path))
    mine = tmp_path / f"gauge_livesum_{os.getpid()}.db"
    counter = tmp_path / f"counter_{os.getpid()}.db"
    for file in (mine, counter):
        file.touch()
    worker_ended()
    assert sorted(tmp_path.iterdir()) == [counter]


def test_a_worker_starting_takes_killed_workers_gauges_out_of_the_live_sums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROCESS_VARIABLE, str(tmp_path))
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    dead = tmp_path / f"gauge_livesum_{killed.pid}.db"
    alive = tmp_path / f"gauge_livesum_{os.getpid()}.db"
    counter = tmp_path / f"counter_{killed.pid}.db"
    for file in (dead, alive, counter):
        file.touch()
    worker_started()
    assert sorted(tmp_path.iterdir()) == sorted([alive, counter])


# --- a real server -----------------------------------------------------------------------------


def _per_worker_requests(shared: Path, route: str, status: str) -> dict[str, float]:
    """Each worker's own count of a route's requests, read from its own files alone."""
    (counts,) = shared.glob("numbers-api-*/metrics")
    found = {}
    for file in counts.glob("counter_*.db"):
        alone = shared / f"worker-{file.stem}"
        alone.mkdir(exist_ok=True)
        shutil.copy(file, alone / file.name)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, str(alone))  # type: ignore[no-untyped-call]
        own = requests_of(parsed(generate_latest(registry).decode()), route, status)
        found[file.stem.partition("_")[2]] = own
    return found


def _scraped_until(url: str, done: Callable[[Samples], bool]) -> Samples:
    """A scrape that shows `done`, or the last one after 5 s: a worker counts a request just
    after answering it."""
    deadline = time.monotonic() + 5
    while True:
        answer = httpx.get(url)
        assert answer.status_code == 200
        samples = parsed(answer.text)
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def test_one_scrape_counts_the_requests_of_every_worker(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    # `serve` makes its shared directory in the temporary directory: here, to look into.
    process, base_url = start_server(
        database_url, "--workers", "2", environment={"TMPDIR": str(tmp_path)}
    )
    try:
        made = 0
        no_keepalive = httpx.Limits(max_keepalive_connections=0)  # each worker takes some
        deadline = time.monotonic() + 30  # the second worker may start a while after the first
        with httpx.Client(base_url=base_url, limits=no_keepalive) as client:
            while time.monotonic() < deadline:
                for _ in range(10):
                    assert client.get(LIST).status_code == 401
                    made += 1
                workers = _per_worker_requests(tmp_path, LIST, "401")
                if len(workers) == 2 and all(workers.values()):
                    break
        samples = _scraped_until(
            f"{base_url}/metrics", lambda samples: requests_of(samples, LIST, "401") == made
        )
        workers = _per_worker_requests(tmp_path, LIST, "401")
    finally:
        stop_server(process)
    assert len(workers) == 2
    assert all(workers.values()), workers
    assert requests_of(samples, LIST, "401") == made == sum(workers.values())


def test_metrics_port_serves_them_apart_from_the_api(database_url: str, database: Database) -> None:
    port = free_port()
    process, base_url = start_server(database_url, "--workers", "2", "--metrics-port", str(port))
    try:
        for _ in range(5):
            assert httpx.get(f"{base_url}{LIST}").status_code == 401
        on_the_api_port = httpx.get(f"{base_url}/metrics")
        samples = _scraped_until(
            f"http://127.0.0.1:{port}/metrics",
            lambda samples: requests_of(samples, LIST, "401") == 5,
        )
    finally:
        stop_server(process)
    assert on_the_api_port.status_code == 404
    assert requests_of(samples, LIST, "401") == 5


@contextmanager
def serving(database_url: str, log: Path, *options: str) -> Iterator[str]:
    """`numbers-api OPTIONS serve` on a free port, its standard error to `log`; its base URL
    once it answers. Its lines are all written once this ends."""
    with log.open("wb") as output:
        process, base_url = start_server(database_url, options=options, stderr=output)
    try:
        yield base_url
    finally:
        stop_server(process)


def with_password(url: str, password: str) -> str:
    """The test's database URL, with a password the server does not check: in the URL's
    authority on PostgreSQL (trust authentication takes any), as a parameter on SQLite (the
    path is all it reads)."""
    if not ON_POSTGRESQL:
        return f"{url}?password={password}"
    with psycopg.connect(POSTGRESQL_URL) as connection:
        user = connection.info.user
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}"))


def test_a_servers_logs_hold_no_key_password_or_query_value(
    database_url: str, inventory: Inventory, tmp_path: Path
) -> None:
    key = inventory.account("owner")
    number = fresh_number()
    inventory.load("owner", [number_record(phone_number=number)])
    owner = account_id(inventory.database.connection(), "owner")
    password = "pw-" + uuid.uuid4().hex
    log = tmp_path / "server.log"
    with serving(with_password(database_url, password), log) as base_url:
        answer = httpx.get(
            f"{base_url}{LIST}",
            params={"filter[phone_number]": number},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert [n["phone_number"] for n in answer.json()["data"]] == [number]
    text = log.read_text()
    for secret in (key, password, number.removeprefix("+")):
        assert secret not in text
    lines = [orjson.loads(line) for line in text.splitlines()]
    line = only(lines, request_id=answer.headers["x-request-id"])
    assert line["account_id"] == owner
    assert line["route"] == LIST
    assert line["status"] == 200
    assert line["query"] == ["filter[phone_number]"]


def test_log_format_text_reaches_the_servers_workers(database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with serving(database_url, log, "--log-format", "text") as base_url:
        answer = httpx.get(f"{base_url}/health")
    lines = log.read_text().splitlines()
    request_id = answer.headers["x-request-id"]
    (line,) = (line for line in lines if request_id in line)
    assert " INFO numbers_api.http: GET /health 200 " in line
    assert not [line for line in lines if line.startswith("{")]


def test_an_unknown_log_format_in_the_environment_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "serve"],
        env={**os.environ, LOG_FORMAT_VARIABLE: "xml"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"numbers-api: {LOG_FORMAT_VARIABLE}: unknown log format 'xml'; known: json, text\n"
    )
