"""Where a request's steps run: on SQLite the whole request in one request thread; on PostgreSQL
on the event loop, its plans' statements (authentication, a page from a current index) sent down
the loop's pipeline with no thread involved. The tests' apps are run as `numbers-api serve` runs
them (`make_client` runs the lifespan), so every other test answers through the same executors."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from numbers_api.http.app import Api
from numbers_api.store.accounts import Caller, create_key, revoke_key
from numbers_api.store.database import Database
from numbers_api.store.executors import (
    LoopPipeline,
    PastDeadline,
    RequestDeadlines,
    RequestThreads,
    unless_late,
)
from numbers_api.store.number_index import AccountIndex
from tests.conftest import ApiClient, make_client
from tests.support.databases import ON_POSTGRESQL
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"


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
def served(database_url: str, database: Database) -> ApiClient:
    return make_client(database_url)


def _api(served: ApiClient) -> Api:
    api: Api = served.client.app.state.api  # type: ignore[attr-defined]
    return api


def _pipeline(served: ApiClient) -> LoopPipeline:
    executor = _api(served).executor
    assert isinstance(executor, LoopPipeline)
    return executor


def _count_loop_statements(served: ApiClient) -> list[str]:
    """The statements the served app's loop sends from now on (PostgreSQL)."""
    statements = _pipeline(served).statements
    sent: list[str] = []
    fetch = statements.fetch

    async def counted(sql: str, parameters: Any = ()) -> list[tuple[Any, ...]]:
        sent.append(sql)
        return await fetch(sql, parameters)

    statements.fetch = counted  # type: ignore[method-assign]
    return sent


def _in_context(work: Callable[..., Any]) -> bool:
    return isinstance(getattr(work, "__self__", None), contextvars.Context)


def _count_thread_handovers(served: ApiClient) -> list[str]:
    """The work handed to the app's request threads from now on."""
    threads = _api(served).executor.threads
    deadlines = getattr(getattr(_api(served).executor, "deadlines", None), "run", None)
    handed: list[str] = []
    submit = threads.submit

    def counted(work: Callable[..., Any], /, *arguments: Any) -> Any:
        # What is handed over, in the request's context (`Context.run`), inside the check of
        # how long it waited for a thread and the deadline of its database work.
        run, *given = arguments if _in_context(work) else (work, *arguments)
        handed_over = given[1:] if run is unless_late else [run]
        named = handed_over[1] if handed_over[0] == deadlines else handed_over[0]
        handed.append(getattr(named, "__name__", repr(named)))
        return submit(work, *arguments)

    threads.submit = counted  # type: ignore[method-assign, assignment]
    return handed


def test_the_executor_is_the_loop_pipeline_on_postgresql_and_request_threads_on_sqlite(
    served: ApiClient,
) -> None:
    expected = LoopPipeline if ON_POSTGRESQL else RequestThreads
    assert type(_api(served).executor) is expected


@pytest.mark.skipif(ON_POSTGRESQL, reason="request threads: SQLite's")
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", LIST + "?filter[tag]=red", None),
        ("GET", LIST + "/slim?page[size]=2", None),
        ("GET", LIST + "/voice", None),
        ("GET", LIST + "/jobs", None),
        ("GET", "/v2/nowhere", None),
        ("POST", LIST + "/jobs/delete_phone_numbers", {"phone_numbers": ["+15555550100"]}),
    ],
    ids=["list", "slim list", "voice list", "jobs", "unknown path", "write"],
)
def test_on_sqlite_a_request_is_handed_to_one_request_thread_once(
    served: ApiClient, key: str, method: str, path: str, body: Any
) -> None:
    served.get(LIST, key, "page[size]=1")  # the index is built
    handed = _count_thread_handovers(served)
    served.request(method, path, key, json=body)
    assert handed == ["_run_to_end"]


def test_a_step_that_waits_on_the_event_loop_in_a_request_thread_fails_loudly(
    database: Database,
) -> None:
    threads = RequestThreads(database)

    async def waits_on_the_loop() -> None:
        await asyncio.sleep(0)

    try:
        with pytest.raises(RuntimeError, match="waited on the event loop"):
            asyncio.run(threads.answer(waits_on_the_loop()))
    finally:
        threads.close()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the loop's pipeline: PostgreSQL's")
def test_on_postgresql_a_list_from_a_current_index_is_read_from_the_loop_with_no_thread(
    served: ApiClient, key: str
) -> None:
    served.get(LIST, key, "page[size]=1")  # the index is built
    sent = _count_loop_statements(served)
    handed = _count_thread_handovers(served)
    assert served.get(LIST, key, "filter[tag]=red").status_code == 200
    assert len(sent) == 2  # the key, and the page's rows
    assert served.get(LIST, key, "filter[tag]=red").status_code == 200
    assert len(sent) == 3  # the key: the page is cached
    assert served.get(LIST, key, "filter[tag]=red&page[number]=99").status_code == 200
    assert len(sent) == 4  # the key: a page past the end reads no rows
    assert served.get(LIST, key + "x").status_code == 401
    assert len(sent) == 5
    assert handed == []


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the loop's pipeline: PostgreSQL's")
def test_on_postgresql_a_snapshot_and_a_write_are_each_handed_to_a_request_thread(
    served: ApiClient, key: str
) -> None:
    number = served.get(LIST, key, "page[size]=1").json()["data"][0]["id"]
    handed = _count_thread_handovers(served)
    assert served.get(f"{LIST}/{number}", key).status_code == 200
    assert handed == ["_in_snapshot"]
    assert served.request("PATCH", f"{LIST}/{number}", key, json={"tags": []}).status_code == 200
    assert handed == ["_in_snapshot", "update_endpoint"]


def test_a_write_shows_in_the_next_list(served: ApiClient, key: str) -> None:
    served.get(LIST, key, "page[size]=1")
    before = served.get(LIST, key, "filter[tag]=green").json()["meta"]["total_results"]
    number = served.get(LIST, key, "filter[tag]=red&page[size]=1").json()["data"][0]["id"]
    patched = served.request("PATCH", f"{LIST}/{number}", key, json={"tags": ["green"]})
    assert patched.status_code == 200
    after = served.get(LIST, key, "filter[tag]=green").json()["meta"]["total_results"]
    assert (before, after) == (0, 1)


def test_a_revoked_key_is_refused_at_once(served: ApiClient, database: Database, key: str) -> None:
    second = create_key(database, "owner")
    assert served.get(LIST, second).status_code == 200
    revoke_key(database, second)
    assert served.get(LIST, second).status_code == 401


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the loop's pipeline: PostgreSQL's")
def test_a_dropped_loop_connection_is_replaced_for_the_next_request(
    served: ApiClient, key: str
) -> None:
    assert served.get(LIST, key).status_code == 200
    statements = _pipeline(served).statements
    portal = served.client.portal  # the served app's own loop
    assert portal is not None
    [(pid,)] = portal.call(statements.fetch, "SELECT pg_backend_pid() + ?", (0,))
    with psycopg.connect(served.database().url, autocommit=True) as other:
        [(terminated,)] = other.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    assert terminated
    assert served.get(LIST, key, "page[size]=2").status_code == 200


def test_a_write_after_authentication_shows_in_that_requests_page(
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


def test_a_request_past_its_deadline_is_cut_off_and_said_to_be() -> None:
    deadlines = RequestDeadlines(0.5)

    async def late() -> float:
        started = time.monotonic()
        with pytest.raises(PastDeadline):
            await deadlines.run(asyncio.sleep(10))
        return time.monotonic() - started

    assert 0.2 < asyncio.run(late()) < 1.0


def test_a_request_within_its_deadline_is_answered() -> None:
    deadlines = RequestDeadlines(1.0)

    async def answered() -> str:
        await asyncio.sleep(0.3)
        return "answer"

    async def both() -> list[str]:
        return [await deadlines.run(answered()), await deadlines.run(answered())]

    assert asyncio.run(both()) == ["answer", "answer"]


def test_a_request_its_client_gave_up_on_stays_cancelled() -> None:
    deadlines = RequestDeadlines(5.0)

    async def given_up() -> None:
        task = asyncio.create_task(deadlines.run(asyncio.sleep(10)))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(given_up())
