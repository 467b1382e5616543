from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from numbers_api.http.app import create_app
from numbers_api.settings import Settings
from numbers_api.store.database import Database
from numbers_api.store.number_index import IndexMode
from numbers_api.store.number_indexes import NumberIndexes
from tests.support.contract import validate_response
from tests.support.databases import ON_POSTGRESQL, POSTGRESQL_URL, fresh_database_url
from tests.support.factories import Inventory

if TYPE_CHECKING:  # loaded by pytest as a plugin first (the `pytest11` entry point), for asserts
    from numbers_api.testing import Servers

# The served paths whose answers are checked against the contract: (pattern, the spec's path).
CONTRACT_PATHS = (
    (re.compile(r"/v2/phone_numbers"), "/phone_numbers"),
    # Before /phone_numbers/{id}, which the first match would take them for.
    (re.compile(r"/v2/phone_numbers/csv_downloads"), "/phone_numbers/csv_downloads"),
    (re.compile(r"/v2/phone_numbers/csv_downloads/[^/]+"), "/phone_numbers/csv_downloads/{id}"),
    (re.compile(r"/v2/phone_numbers/messaging"), "/phone_numbers/messaging"),
    (re.compile(r"/v2/phone_numbers/[^/]+/messaging"), "/phone_numbers/{id}/messaging"),
    *(
        (re.compile(f"/v2/phone_numbers/jobs{kind}"), f"/phone_numbers/jobs{kind}")
        for kind in (
            "",
            "/delete_phone_numbers",
            "/update_phone_numbers",
            "/update_emergency_settings",
        )
    ),
    (re.compile(r"/v2/phone_numbers/jobs/[^/]+"), "/phone_numbers/jobs/{id}"),
    (re.compile(r"/v2/phone_numbers/slim"), "/phone_numbers/slim"),
    (re.compile(r"/v2/phone_numbers/voice"), "/phone_numbers/voice"),
    (re.compile(r"/v2/phone_numbers/[^/]+/voice"), "/phone_numbers/{id}/voice"),
    (re.compile(r"/v2/phone_numbers/[^/]+"), "/phone_numbers/{id}"),
    (
        re.compile(r"/v2/phone_numbers/actions/verify_ownership"),
        "/phone_numbers/actions/verify_ownership",
    ),
    (
        re.compile(r"/v2/phone_numbers/[^/]+/actions/enable_emergency"),
        "/phone_numbers/{id}/actions/enable_emergency",
    ),
    (
        re.compile(r"/v2/phone_numbers/[^/]+/actions/bundle_status_change"),
        "/phone_numbers/{id}/actions/bundle_status_change",
    ),
    (
        re.compile(r"/v2/phone_numbers/[^/]+/voicemail"),
        "/phone_numbers/{phone_number_id}/voicemail",
    ),
    (re.compile(r"/v2/number_reservations"), "/number_reservations"),
    (
        re.compile(r"/v2/number_reservations/[^/]+"),
        "/number_reservations/{number_reservation_id}",
    ),
    (
        re.compile(r"/v2/number_reservations/[^/]+/actions/extend"),
        "/number_reservations/{number_reservation_id}/actions/extend",
    ),
    (re.compile(r"/v2/available_phone_numbers"), "/available_phone_numbers"),
)
CONTRACT_METHODS = {"/phone_numbers": {"GET"}, "/phone_numbers/{id}": {"GET", "PATCH", "DELETE"}}
CONTRACT_METHODS.update(
    {
        "/phone_numbers/actions/verify_ownership": {"POST"},
        "/phone_numbers/{id}/actions/enable_emergency": {"POST"},
        "/phone_numbers/{id}/actions/bundle_status_change": {"PATCH"},
        "/phone_numbers/{phone_number_id}/voicemail": {"GET", "POST", "PATCH"},
        "/phone_numbers/csv_downloads": {"GET", "POST"},
        "/phone_numbers/csv_downloads/{id}": {"GET"},
        "/phone_numbers/messaging": {"GET"},
        "/phone_numbers/{id}/messaging": {"GET", "PATCH"},
        "/phone_numbers/jobs": {"GET"},
        "/phone_numbers/jobs/delete_phone_numbers": {"POST"},
        "/phone_numbers/jobs/update_phone_numbers": {"POST"},
        "/phone_numbers/jobs/update_emergency_settings": {"POST"},
        "/phone_numbers/jobs/{id}": {"GET"},
        "/phone_numbers/slim": {"GET"},
        "/phone_numbers/voice": {"GET"},
        "/phone_numbers/{id}/voice": {"GET", "PATCH"},
        "/number_reservations": {"GET", "POST"},
        "/number_reservations/{number_reservation_id}": {"GET"},
        "/number_reservations/{number_reservation_id}/actions/extend": {"POST"},
        "/available_phone_numbers": {"GET"},
    }
)
# Number orders (the ordering contract): the served path's pattern, the spec's path, its methods.
_ORDER_ID = "[0-9a-f-]+"
ORDERING_PATHS = (
    ("/number_orders", "/number_orders", {"GET", "POST"}),
    (f"/number_orders/{_ORDER_ID}", "/number_orders/{number_order_id}", {"GET", "PATCH"}),
    ("/sub_number_orders", "/sub_number_orders", {"GET"}),
    (
        f"/sub_number_orders/{_ORDER_ID}",
        "/sub_number_orders/{sub_number_order_id}",
        {"GET", "PATCH"},
    ),
    (
        f"/sub_number_orders/{_ORDER_ID}/cancel",
        "/sub_number_orders/{sub_number_order_id}/cancel",
        {"PATCH"},
    ),
    (
        f"/sub_number_orders/{_ORDER_ID}/requirement_group",
        "/sub_number_orders/{id}/requirement_group",
        {"POST"},
    ),
    ("/number_order_phone_numbers", "/number_order_phone_numbers", {"GET"}),
    (
        f"/number_order_phone_numbers/{_ORDER_ID}",
        "/number_order_phone_numbers/{number_order_phone_number_id}",
        {"GET", "PATCH"},
    ),
    (
        f"/number_order_phone_numbers/{_ORDER_ID}/requirement_group",
        "/number_order_phone_numbers/{id}/requirement_group",
        {"POST"},
    ),
)
CONTRACT_PATHS += tuple((re.compile(f"/v2{served}"), spec) for served, spec, _ in ORDERING_PATHS)
CONTRACT_METHODS.update({spec: methods for _, spec, methods in ORDERING_PATHS})


def contract_path(path: str) -> str | None:
    """The spec's path for a served one, or None if the contract does not describe it."""
    return next((spec for pattern, spec in CONTRACT_PATHS if pattern.fullmatch(path)), None)


def pytest_report_header() -> str:
    engine = f"PostgreSQL ({POSTGRESQL_URL})" if ON_POSTGRESQL else "SQLite"
    return f"numbers-api store: {engine}"


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database_url(tmp_path) as url:
        yield url
        _started.close()  # the test's apps stop before their database is dropped


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.close()


@pytest.fixture
def inventory(database: Database) -> Inventory:
    return Inventory(database)


class ApiClient:
    """The real app, in process, on the test's database file; every answer is checked against
    the contract before the test sees it."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def get(self, path: str, key: str | None, query: str | dict[str, Any] = "") -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        # The test client's own annotations name httpx2; its responses are httpx ones here.
        response: httpx.Response
        if isinstance(query, str):
            url = f"{path}?{query}" if query else path
            response = self.client.get(url, headers=headers)
        else:
            response = self.client.get(path, params=query, headers=headers)
        self.check(response)
        return response

    def request(
        self,
        method: str,
        path: str,
        key: str | None,
        *,
        json: Any = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        response: httpx.Response = self.client.request(
            method, path, headers=headers, json=json, content=content
        )
        self.check(response)
        return response

    def indexes(self) -> NumberIndexes:
        """The app's in-memory indexes, to see which are built."""
        indexes: NumberIndexes = self.client.app.state.api.indexes  # type: ignore[attr-defined]
        return indexes

    def database(self) -> Database:
        """The app's database, to watch how it is read."""
        database: Database = self.client.app.state.api.database  # type: ignore[attr-defined]
        return database

    @staticmethod
    def check(response: httpx.Response) -> None:
        assert response.headers["content-type"] == "application/json"
        path = contract_path(urlsplit(str(response.url)).path)
        method = response.request.method
        # Other methods are 405s, which no contract describes.
        if path is not None and method in CONTRACT_METHODS[path]:
            validate_response(path, method, response.status_code, response.json())


@contextmanager
def started(
    database_url: str,
    faults: frozenset[str] = frozenset(),
    index_mode: IndexMode = IndexMode.INLINE,
    *,
    runners: bool = True,
    rate_limit: int = 0,
) -> Iterator[ApiClient]:
    """The app as `numbers-api serve` runs it, its lifespan too (its executor, job and download
    runners); without `runners`, its jobs and downloads stay pending. No rate limit unless
    given: the suite asks far faster than any client should (`test_limits.py` tests the limits)."""
    # Every account indexed, however small: the index's tests use a few numbers.
    settings = Settings(
        database_url=database_url,
        faults=faults,
        index_mode=index_mode,
        index_smallest=0,
        rate_limit=rate_limit,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        if not runners:
            client.app.state.api.worker.jobs.stop()  # type: ignore[attr-defined]
            client.app.state.api.worker.downloads.stop()  # type: ignore[attr-defined]
            client.app.state.api.worker.orders.stop()  # type: ignore[attr-defined]
        yield ApiClient(client)


# The apps `make_client` started, stopped at the end of the test, before its database goes.
_started = ExitStack()


@pytest.fixture(autouse=True)
def _stop_started_apps() -> Iterator[None]:
    yield
    _started.close()


def make_client(
    database_url: str,
    faults: frozenset[str] = frozenset(),
    index_mode: IndexMode = IndexMode.INLINE,
    *,
    runners: bool = True,
    rate_limit: int = 0,
) -> ApiClient:
    """`started`, for the rest of the test."""
    return _started.enter_context(
        started(database_url, faults, index_mode, runners=runners, rate_limit=rate_limit)
    )


# Every list test runs on both query paths: the account's in-memory index (built by the request
# that needs it) and SQL alone.
@pytest.fixture(params=[IndexMode.INLINE, IndexMode.OFF], ids=["index", "sql"])
def index_mode(request: pytest.FixtureRequest) -> IndexMode:
    mode: IndexMode = request.param
    return mode


@pytest.fixture
def api(database_url: str, database: Database, index_mode: IndexMode) -> ApiClient:
    return make_client(database_url, index_mode=index_mode)


@dataclass(frozen=True)
class LiveServer:
    base_url: str  # e.g. http://127.0.0.1:PORT
    database_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    database_url: str, env: dict[str, str] | None = None, *arguments: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`numbers-api serve ARGUMENTS` as a user starts it, on a free port; waits until it
    answers. No rate limit unless `env` or `arguments` set one, as `started`. In a process group
    of its own: end it with `numbers_api.testing.stop_server` (or `kill_server`), which end its
    workers too."""
    from numbers_api import testing  # noqa: PLC0415 (see TYPE_CHECKING above)

    return testing.start_server(database_url, *arguments, environment=env)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for the session, on a real SQLite file; tests add their own accounts."""
    with fresh_database_url(tmp_path_factory.mktemp("live")) as database_url:
        Database(database_url).close()
        process, base_url = start_server(database_url)
        try:
            yield LiveServer(base_url, database_url)
        finally:
            from numbers_api.testing import stop_server  # noqa: PLC0415 (see TYPE_CHECKING above)

            stop_server(process)


@pytest.fixture(scope="session")
def numbers_api_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The plugin's servers (`numbers_api.testing`), on this run's engine: PostgreSQL too."""
    from numbers_api.testing import Servers  # noqa: PLC0415 (see TYPE_CHECKING above)

    with fresh_database_url(tmp_path_factory.mktemp("numbers-api")) as database_url:
        servers = Servers(database_url)
        servers.base_url()
        yield servers
        servers.close()


@pytest.fixture(scope="session")
def live_inventory(live_server: LiveServer) -> Iterator[Inventory]:
    database = Database(live_server.database_url)
    yield Inventory(database)
    database.close()
