"""Answers are exact at every moment: a write shows in the very next list, however the same
request was answered before."""

from __future__ import annotations

import time
from typing import Any

import pytest

from numbers_api.store.accounts import Caller, reset_account
from numbers_api.store.database import Database
from numbers_api.store.number_index import AccountIndex, IndexMode
from tests.conftest import ApiClient, make_client
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"


def total(api: ApiClient, key: str, query: str) -> int:
    response = api.get(LIST, key, query)
    assert response.status_code == 200
    count: int = response.json()["meta"]["total_results"]
    return count


def test_an_import_shows_in_the_next_identical_request(
    api: ApiClient, inventory: Inventory
) -> None:
    key = inventory.account("owner")
    inventory.load("owner", [number_record(tags=["x"])])
    assert total(api, key, "filter[tag]=x") == 1
    assert total(api, key, "filter[tag]=x") == 1
    inventory.load("owner", [number_record(tags=["x"])])
    assert total(api, key, "filter[tag]=x") == 2
    assert len(api.get(LIST, key, "filter[tag]=x").json()["data"]) == 2


def test_a_reset_shows_in_the_next_identical_request(
    api: ApiClient, inventory: Inventory, database: Database
) -> None:
    key = inventory.account("owner")
    inventory.load("owner", [number_record(), number_record()])
    assert total(api, key, "") == 2
    reset_account(database, "owner")
    assert total(api, key, "") == 0


def test_another_accounts_import_does_not_change_an_answer(
    api: ApiClient, inventory: Inventory
) -> None:
    key = inventory.account("owner")
    inventory.account("other")
    inventory.load("owner", [number_record()])
    before = api.get(LIST, key, "").json()
    inventory.load("other", [number_record()])
    assert api.get(LIST, key, "").json() == before


def wait_for_index(api: ApiClient, key: str, account_numbers: int) -> None:
    """Until the background build of the account's current index is in place."""
    indexes = api.indexes()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready = [i for i in indexes.ready() if len(i.ids) == account_numbers]
        if ready:
            return
        total(api, key, "")  # a request is what asks for a build
        time.sleep(0.05)
    raise AssertionError("the index was not built within 30 s")


def test_with_background_indexes_a_write_shows_at_once_and_the_index_catches_up(
    database_url: str, inventory: Inventory
) -> None:
    api = make_client(database_url, index_mode=IndexMode.BACKGROUND)
    key = inventory.account("owner")
    inventory.load("owner", [number_record(tags=["x"]) for _ in range(3)])
    wait_for_index(api, key, 3)
    assert total(api, key, "filter[tag]=x&page[size]=1") == 3
    inventory.load("owner", [number_record(tags=["x"])])
    assert total(api, key, "filter[tag]=x&page[size]=2") == 4  # through SQL, while it rebuilds
    wait_for_index(api, key, 4)
    assert total(api, key, "filter[tag]=x&page[size]=3") == 4  # through the new index


@pytest.fixture
def indexed(database_url: str, inventory: Inventory) -> tuple[ApiClient, str]:
    """An app whose index of the account's three numbers tagged `x` is built, and the key."""
    api = make_client(database_url, index_mode=IndexMode.INLINE)
    key = inventory.account("owner")
    inventory.load("owner", [number_record(tags=["x"]) for _ in range(3)])
    assert total(api, key, "filter[tag]=x") == 3  # builds the index
    return api, key


def test_a_write_after_authentication_shows_in_that_requests_page(
    indexed: tuple[ApiClient, str], inventory: Inventory
) -> None:
    # With the index current at authentication, the page is read outside any transaction; a
    # write landing between the two must send the request to a snapshot, not answer the old state.
    api, key = indexed
    indexes = api.indexes()
    found = indexes.current

    def current_then_a_write(caller: Caller) -> AccountIndex | None:
        index = found(caller)
        inventory.load("owner", [number_record(tags=["x"])])
        return index

    indexes.current = current_then_a_write  # type: ignore[method-assign]
    response = api.get(LIST, key, "filter[tag]=x&page[size]=10")
    assert response.json()["meta"]["total_results"] == 4
    assert len(response.json()["data"]) == 4


def test_a_current_index_answers_a_page_outside_any_transaction(
    indexed: tuple[ApiClient, str],
) -> None:
    api, key = indexed
    opened: list[str] = []
    database = api.database()
    snapshot = database.snapshot

    def counted_snapshot() -> Any:
        opened.append("snapshot")
        return snapshot()

    database.snapshot = counted_snapshot  # type: ignore[method-assign]
    response = api.get(LIST, key, "filter[tag]=x&page[size]=2")
    assert response.json()["meta"]["total_results"] == 3
    assert opened == []
