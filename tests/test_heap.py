"""A worker of `numbers-api serve` keeps what it holds out of the garbage collector's full passes
(`Worker.keep_out_of_collections`); an app among others in a process (a test's) never does, or
it would keep their garbage, connections included, for good."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from numbers_api.http.app import create_app
from numbers_api.settings import Settings
from tests.conftest import make_client
from tests.support.factories import Inventory

SEARCH = "/v2/available_phone_numbers"


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # what a test froze goes back to the collector


def test_a_served_worker_freezes_what_it_holds_once_started(
    database_url: str, unfrozen: None
) -> None:
    app = create_app(Settings(database_url=database_url, faults=frozenset()), owns_process=True)
    with TestClient(app):
        assert gc.get_freeze_count() > 0


def test_a_served_worker_freezes_a_pool_it_generates(
    database_url: str, inventory: Inventory, unfrozen: None
) -> None:
    key = inventory.account("searcher")
    app = create_app(Settings(database_url=database_url, faults=frozenset()), owns_process=True)
    with TestClient(app) as client:
        gc.unfreeze()
        response = client.get(
            f"{SEARCH}?filter[country_code]=CA", headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200, response.text
        assert gc.get_freeze_count() > 0


def test_an_app_among_others_never_freezes_anything(
    database_url: str, inventory: Inventory, unfrozen: None
) -> None:
    key = inventory.account("searcher")
    client = make_client(database_url)
    assert client.get(SEARCH, key, "filter[country_code]=CA").status_code == 200
    assert gc.get_freeze_count() == 0
