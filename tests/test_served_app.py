"""The app as it is served (its lifespan run). On PostgreSQL it authenticates every request, and
answers a list from a current index, from the event loop (`PipelinedStatements`); in process
without its lifespan, as the other tests run it, it does both in its threads. Either way, every
answer is the same."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from numbers_api.http.app import Api, create_app
from numbers_api.settings import Settings
from numbers_api.store.accounts import Caller, create_key, revoke_key
from numbers_api.store.database import Connection, Database, PipelinedStatements
from numbers_api.store.number_index import AccountIndex, IndexMode
from tests.conftest import ApiClient
from tests.support.databases import ON_POSTGRESQL
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"
QUERIES = [
    "",
    "page[size]=3",
    "page[size]=3&page[number]=2",
    "page[size]=3&page[number]=400",
    "filter[tag]=red",
    "filter[tag]=red&filter[status]=active",
    "filter[phone_number]=720",
    "filter[voice.connection_name][contains]=desk",
    "sort=phone_number&page[size]=5",
    "sort=-purchased_at&page[size]=5&page[number]=3",
    "sort=connection_name",
    "filter[customer_reference]=nobody",
    "filter[status]=nonsense&page[size]=0",
]


@pytest.fixture
def key(inventory: Inventory) -> str:
    key = inventory.account("owner")
    inventory.account("neighbour")
    records = [
        number_record(
            tags=["red"] if i % 3 == 0 else ["blue"],
            status="active" if i % 2 else "deleted",
            connection_id=f"conn-{i % 4}" if i % 5 else None,
            connection_name=f"desk-{i % 4}" if i % 5 else None,
            customer_reference=f"ref-{i}",
        )
        for i in range(40)
    ]
    inventory.load("owner", records)
    inventory.load("neighbour", [number_record(tags=["red"]) for _ in range(5)])
    return key


@pytest.fixture
def served(database_url: str, database: Database) -> Iterator[ApiClient]:
    settings = Settings(database_url=database_url, faults=frozenset(), index_mode=IndexMode.INLINE)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:  # lifespan
        yield ApiClient(client)


def _loop_statements(served: ApiClient) -> PipelinedStatements | None:
    api: Api = served.client.app.state.api  # type: ignore[attr-defined]
    return api.loop_statements


def _count_loop_statements(served: ApiClient) -> list[str]:
    """The statements the served app's loop sends from now on (PostgreSQL)."""
    statements = _loop_statements(served)
    assert statements is not None
    sent: list[str] = []
    fetch = statements.fetch

    async def counted(sql: str, parameters: Any = ()) -> list[tuple[Any, ...]]:
        sent.append(sql)
        return await fetch(sql, parameters)

    statements.fetch = counted  # type: ignore[method-assign]
    return sent


def test_the_served_app_has_a_loop_pipeline_on_postgresql_only(served: ApiClient) -> None:
    assert (_loop_statements(served) is not None) == ON_POSTGRESQL


@pytest.mark.parametrize("query", QUERIES)
def test_a_served_list_answers_as_the_app_in_process_does(
    served: ApiClient, api: ApiClient, key: str, query: str
) -> None:
    served.get(LIST, key, "page[size]=1")  # the index is built
    first = served.get(LIST, key, query)
    again = served.get(LIST, key, query)  # from the response cache
    expected = api.get(LIST, key, query)
    assert first.status_code == again.status_code == expected.status_code
    assert first.json() == again.json() == expected.json()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the loop's pipeline: PostgreSQL's")
def test_a_served_list_from_a_current_index_is_read_from_the_loop(
    served: ApiClient, key: str
) -> None:
    served.get(LIST, key, "page[size]=1")  # the index is built
    sent = _count_loop_statements(served)
    database = served.database()
    threads_connection = database.connection
    connections_asked: list[str] = []

    def counted_connection() -> Connection:
        connections_asked.append("thread")
        return threads_connection()

    database.connection = counted_connection  # type: ignore[method-assign]
    assert served.get(LIST, key, "filter[tag]=red").status_code == 200
    assert len(sent) == 2  # the key, and the page's rows
    assert served.get(LIST, key, "filter[tag]=red").status_code == 200
    assert len(sent) == 3  # the key: the page is cached
    assert served.get(LIST, key, "filter[tag]=red&page[number]=99").status_code == 200
    assert len(sent) == 4  # the key: a page past the end reads no rows
    assert connections_asked == []  # no thread read anything


def test_a_write_shows_in_the_next_served_list(served: ApiClient, key: str) -> None:
    served.get(LIST, key, "page[size]=1")
    before = served.get(LIST, key, "filter[tag]=green").json()["meta"]["total_results"]
    number = served.get(LIST, key, "filter[tag]=red&page[size]=1").json()["data"][0]["id"]
    patched = served.request("PATCH", f"{LIST}/{number}", key, json={"tags": ["green"]})
    assert patched.status_code == 200
    after = served.get(LIST, key, "filter[tag]=green").json()["meta"]["total_results"]
    assert (before, after) == (0, 1)


def test_a_revoked_key_is_refused_by_the_served_app_at_once(
    served: ApiClient, database: Database, key: str
) -> None:
    second = create_key(database, "owner")
    assert served.get(LIST, second).status_code == 200
    revoke_key(database, second)
    assert served.get(LIST, second).status_code == 401


@pytest.mark.parametrize(
    "request_and_status",
    [("GET", LIST, False, 401), ("GET", "/v2/numbers", True, 404), ("PUT", LIST, True, 405)],
    ids=["unknown key", "unknown path", "wrong method"],
)
def test_served_errors_are_as_in_process(
    served: ApiClient, api: ApiClient, key: str, request_and_status: tuple[str, str, bool, int]
) -> None:
    method, path, with_key, status = request_and_status
    answer = served.request(method, path, key if with_key else "KEYunknown")
    expected = api.request(method, path, key if with_key else "KEYunknown")
    assert answer.status_code == expected.status_code == status
    assert answer.json() == expected.json()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the loop's pipeline: PostgreSQL's")
def test_a_served_app_whose_loop_connection_was_dropped_answers_the_next_request(
    served: ApiClient, key: str
) -> None:
    assert served.get(LIST, key).status_code == 200
    statements = _loop_statements(served)
    assert statements is not None
    portal = served.client.portal  # the served app's own loop
    assert portal is not None
    [(pid,)] = portal.call(statements.fetch, "SELECT pg_backend_pid() + ?", (0,))
    with psycopg.connect(served.database().url, autocommit=True) as other:
        [(terminated,)] = other.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    assert terminated
    assert served.get(LIST, key, "page[size]=2").status_code == 200


def test_a_write_after_authentication_shows_in_that_served_requests_page(
    served: ApiClient, key: str, inventory: Inventory
) -> None:
    # The page read outside any transaction (from the loop on PostgreSQL) must not answer the
    # state before a write that lands between the key's statement and the page's.
    served.get(LIST, key, "page[size]=1")  # the index is built
    indexes = served.indexes()
    found = indexes.current
    writes: list[int] = []

    def current_then_a_write(caller: Caller) -> AccountIndex | None:
        index = found(caller)
        if not writes:
            inventory.load("owner", [number_record(tags=["red"])])
            writes.append(1)
        return index

    indexes.current = current_then_a_write  # type: ignore[method-assign]
    response = served.get(LIST, key, "filter[tag]=red&page[size]=50")
    assert response.json()["meta"]["total_results"] == 15
    assert len(response.json()["data"]) == 15
