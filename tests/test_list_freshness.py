"""Answers are exact at every moment: a write shows in the very next list, however the same
request was answered before."""

from __future__ import annotations

from numbers_api.store.accounts import reset_account
from numbers_api.store.database import Database
from tests.conftest import ApiClient
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
