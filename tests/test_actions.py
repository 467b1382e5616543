"""The actions on phone numbers: enable_emergency, bundle_status_change and verify_ownership.

Every answer is checked against the contract by the test client. Tests that look at the list
after an action use the `api` fixture, so they run on both query paths (index and SQL), and ask
the list once before it so that its caches and the index are warm and must not go stale.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from numbers_api.store.accounts import account_id
from numbers_api.store.actions import InAnotherBundle, change_bundle
from numbers_api.store.database import Database
from tests.conftest import ApiClient, make_client
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"
VERIFY = "/v2/phone_numbers/actions/verify_ownership"
MINE = "1001"
THEIRS = "2001"
ADDRESS = "1315261609962112019"
BUNDLE = "5194d8fc-87e6-4188-baa9-1c434bbe861b"
OTHER_BUNDLE = "0b5e4f3c-2d1a-4c9b-8e7f-6a5b4c3d2e1f"


def emergency_path(number_id: str) -> str:
    return f"{LIST}/{number_id}/actions/enable_emergency"


def bundle_path(number_id: str) -> str:
    return f"{LIST}/{number_id}/actions/bundle_status_change"


@pytest.fixture
def client(database_url: str, database: Database) -> ApiClient:
    """For the tests that do not look at the list: one query path is enough."""
    return make_client(database_url)


@pytest.fixture
def key(inventory: Inventory) -> str:
    """The key of account `mine`, holding number MINE (emergency disabled) and one more; account
    `theirs` holds THEIRS."""
    mine = inventory.account("mine")
    inventory.load(
        "mine",
        [
            number_record(id=MINE, connection_id="c1", updated_at="2020-01-01T00:00:00.000Z"),
            number_record(id="1002"),
        ],
    )
    inventory.account("theirs")
    inventory.load("theirs", [number_record(id=THEIRS)])
    return mine


def enable(api: ApiClient, key: str, number_id: str, body: Any) -> httpx.Response:
    return api.request("POST", emergency_path(number_id), key, json=body)


def change(api: ApiClient, key: str, number_id: str, body: Any) -> httpx.Response:
    return api.request("PATCH", bundle_path(number_id), key, json=body)


def verify(api: ApiClient, key: str, body: Any) -> httpx.Response:
    return api.request("POST", VERIFY, key, json=body)


def data(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["data"]
    return item


def pointers(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["source"]["pointer"] for error in response.json()["errors"]]


def listed(api: ApiClient, key: str, query: str = "") -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in api.get(LIST, key, query).json()["data"]}


def number(api: ApiClient, key: str, number_id: str) -> dict[str, Any]:
    return data(api.get(f"{LIST}/{number_id}", key))


ENABLED = {"emergency_enabled": True, "emergency_address_id": ADDRESS}
DISABLED = {"emergency_enabled": False, "emergency_address_id": ADDRESS}


# enable_emergency ---------------------------------------------------------------------------------


def test_enable_emergency_answers_the_voice_settings_with_emergency_active(
    client: ApiClient, key: str
) -> None:
    item = data(enable(client, key, MINE, ENABLED))
    assert (item["id"], item["record_type"], item["connection_id"]) == (
        MINE,
        "voice_settings",
        "c1",
    )
    assert item["emergency"] == {
        "emergency_enabled": True,
        "emergency_address_id": ADDRESS,
        "emergency_status": "active",
    }


def test_enabled_emergency_shows_in_the_list_and_its_filter(api: ApiClient, key: str) -> None:
    assert listed(api, key, f"filter[emergency_address_id]={ADDRESS}") == {}
    data(enable(api, key, MINE, ENABLED))
    item = listed(api, key)[MINE]
    assert (item["emergency_enabled"], item["emergency_status"]) == (True, "active")
    assert item["emergency_address_id"] == ADDRESS
    assert list(listed(api, key, f"filter[emergency_address_id]={ADDRESS}")) == [MINE]


def test_disabling_emergency_keeps_no_address(api: ApiClient, key: str) -> None:
    data(enable(api, key, MINE, ENABLED))
    assert list(listed(api, key, f"filter[emergency_address_id]={ADDRESS}")) == [MINE]
    item = data(enable(api, key, MINE, DISABLED))
    assert item["emergency"] == {"emergency_enabled": False, "emergency_status": "disabled"}
    assert listed(api, key, f"filter[emergency_address_id]={ADDRESS}") == {}
    assert MINE in listed(api, key, "filter[emergency_address_id]=null")
    assert listed(api, key)[MINE]["emergency_status"] == "disabled"


def test_enable_emergency_bumps_updated_at(client: ApiClient, key: str) -> None:
    data(enable(client, key, MINE, ENABLED))
    assert number(client, key, MINE)["updated_at"] > "2020-01-01T00:00:00.000Z"


def test_enable_emergency_changes_nothing_else(client: ApiClient, key: str) -> None:
    before = number(client, key, MINE)
    data(enable(client, key, MINE, ENABLED))
    after = number(client, key, MINE)
    changed = ("emergency_enabled", "emergency_address_id", "emergency_status", "updated_at")
    assert {k: v for k, v in after.items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed
    }


def test_enable_emergency_of_another_accounts_number_is_404_and_changes_nothing(
    client: ApiClient, key: str, database: Database
) -> None:
    response = enable(client, key, THEIRS, ENABLED)
    assert response.status_code == 404
    assert [e["code"] for e in response.json()["errors"]] == ["10005"]
    with database.snapshot() as connection:
        theirs = connection.execute(
            "SELECT emergency_enabled, emergency_address_id FROM phone_numbers WHERE id = ?",
            (int(THEIRS),),
        ).fetchone()
    assert tuple(theirs) == (False, None)  # SQLite's 0 equals False


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"emergency_address_id": ADDRESS}, ["/emergency_enabled"]),
        ({"emergency_enabled": True}, ["/emergency_address_id"]),
        ({}, ["/emergency_enabled", "/emergency_address_id"]),
        ({**ENABLED, "emergency_enabled": "true"}, ["/emergency_enabled"]),
        ({**ENABLED, "emergency_enabled": None}, ["/emergency_enabled"]),
        ({**ENABLED, "emergency_address_id": 1315261609962112019}, ["/emergency_address_id"]),
        ({**ENABLED, "emergency_address_id": ""}, ["/emergency_address_id"]),
        ({**ENABLED, "emergency_address_id": None}, ["/emergency_address_id"]),
        ({**ENABLED, "emergency_address_id": "a\x00b"}, ["/emergency_address_id"]),
        ({**ENABLED, "emergency_status": "active"}, ["/emergency_status"]),
    ],
)
def test_an_invalid_enable_emergency_body_is_422_naming_each_field(
    client: ApiClient, key: str, body: dict[str, Any], expected: list[str]
) -> None:
    response = enable(client, key, MINE, body)
    assert pointers(response) == expected
    assert {e["code"] for e in response.json()["errors"]} == {"10015"}
    assert number(client, key, MINE)["emergency_enabled"] is False


def test_the_body_is_checked_before_the_number_is_looked_up(client: ApiClient, key: str) -> None:
    assert pointers(enable(client, key, "9001", {})) == [
        "/emergency_enabled",
        "/emergency_address_id",
    ]
    assert enable(client, key, "9001", ENABLED).status_code == 404


@pytest.mark.parametrize("path", [emergency_path, bundle_path])
@pytest.mark.parametrize("body", [b"{", b"", b"\xff"])
def test_malformed_json_is_400(client: ApiClient, key: str, path: Any, body: bytes) -> None:
    method = "POST" if path is emergency_path else "PATCH"
    response = client.request(method, path(MINE), key, content=body)
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["errors"]] == ["10023"]


@pytest.mark.parametrize("path", [emergency_path, bundle_path])
def test_a_body_that_is_not_an_object_is_422(client: ApiClient, key: str, path: Any) -> None:
    method = "POST" if path is emergency_path else "PATCH"
    assert pointers(client.request(method, path(MINE), key, content=b"[]")) == [""]


@pytest.mark.parametrize(("method", "path"), [("POST", emergency_path), ("PATCH", bundle_path)])
@pytest.mark.parametrize("number_id", ["abc", "01", "0", "-1"])
def test_a_malformed_id_is_400_invalid_id(
    client: ApiClient, key: str, method: str, path: Any, number_id: str
) -> None:
    response = client.request(method, path(number_id), key, json={})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["source"]) == ("10006", {"parameter": "id"})


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (emergency_path(MINE), "POST"),
        (bundle_path(MINE), "PATCH"),
        (VERIFY, "POST"),
    ],
)
def test_other_methods_are_405(client: ApiClient, key: str, path: str, allowed: str) -> None:
    response = client.request("GET", path, key)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize("path", [emergency_path(MINE), bundle_path(MINE), VERIFY])
def test_authentication_comes_first(client: ApiClient, key: str, path: str) -> None:
    assert client.request("POST", path, "wrong-key", json={}).status_code == 401


# bundle_status_change -----------------------------------------------------------------------------


def test_assigning_a_bundle_answers_the_voice_settings_with_the_bundle(
    client: ApiClient, key: str
) -> None:
    item = data(change(client, key, MINE, {"bundle_id": BUNDLE}))
    assert (item["id"], item["record_type"], item["bundle_id"]) == (MINE, "voice_settings", BUNDLE)


def test_a_number_in_a_bundle_is_not_moved_to_another(client: ApiClient, key: str) -> None:
    data(change(client, key, MINE, {"bundle_id": BUNDLE}))
    response = change(client, key, MINE, {"bundle_id": OTHER_BUNDLE})
    assert pointers(response) == ["/bundle_id"]
    assert BUNDLE in response.json()["errors"][0]["detail"]
    # Still in the first: assigning it again is accepted.
    assert data(change(client, key, MINE, {"bundle_id": BUNDLE}))["bundle_id"] == BUNDLE


def test_a_number_removed_from_its_bundle_can_join_another(client: ApiClient, key: str) -> None:
    data(change(client, key, MINE, {"bundle_id": BUNDLE}))
    assert data(change(client, key, MINE, {"bundle_id": None}))["bundle_id"] is None
    assert data(change(client, key, MINE, {"bundle_id": OTHER_BUNDLE}))["bundle_id"] == OTHER_BUNDLE


def test_removing_a_number_in_no_bundle_is_accepted(client: ApiClient, key: str) -> None:
    assert data(change(client, key, MINE, {"bundle_id": None}))["bundle_id"] is None


def test_a_bundle_change_shows_in_the_lists_updated_at(api: ApiClient, key: str) -> None:
    assert listed(api, key)[MINE]["updated_at"] == "2020-01-01T00:00:00.000Z"
    data(change(api, key, MINE, {"bundle_id": BUNDLE}))
    assert listed(api, key)[MINE]["updated_at"] > "2020-01-01T00:00:00.000Z"


def test_a_bundle_change_of_another_accounts_number_is_404(client: ApiClient, key: str) -> None:
    response = change(client, key, THEIRS, {"bundle_id": BUNDLE})
    assert response.status_code == 404
    assert [e["code"] for e in response.json()["errors"]] == ["10005"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, ["/bundle_id"]),
        ({"bundle_id": 7}, ["/bundle_id"]),
        ({"bundle_id": ""}, ["/bundle_id"]),
        ({"bundle_id": [BUNDLE]}, ["/bundle_id"]),
        ({"bundle_id": BUNDLE, "status": "active"}, ["/status"]),
    ],
)
def test_an_invalid_bundle_body_is_422_naming_each_field(
    client: ApiClient, key: str, body: dict[str, Any], expected: list[str]
) -> None:
    assert pointers(change(client, key, MINE, body)) == expected


def test_of_two_concurrent_assignments_one_is_refused(
    database: Database, database_url: str, key: str
) -> None:
    with database.snapshot() as connection:
        mine = account_id(connection, "mine")

    def assign(bundle_id: str) -> str:
        writer = Database(database_url)  # a connection of its own, as each server thread has
        try:
            with writer.transaction() as connection:
                change_bundle(connection, mine, int(MINE), bundle_id, 0)
            return "assigned"
        except InAnotherBundle:
            return "refused"
        finally:
            writer.close()

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(assign, [BUNDLE, OTHER_BUNDLE]))
    assert outcomes == ["assigned", "refused"]


# verify_ownership ---------------------------------------------------------------------------------


@pytest.fixture
def owned(inventory: Inventory) -> tuple[str, list[str], list[str]]:
    """Account `owner`'s key, its numbers, and numbers of account `other`."""
    key = inventory.account("owner")
    mine = [number_record(id="3001"), number_record(id="3002"), number_record(id="3003")]
    inventory.load("owner", mine)
    inventory.account("other")
    theirs = [number_record(id="4001")]
    inventory.load("other", theirs)
    return key, [r["phone_number"] for r in mine], [r["phone_number"] for r in theirs]


def test_verify_ownership_finds_the_accounts_numbers_in_the_order_given(
    client: ApiClient, owned: tuple[str, list[str], list[str]]
) -> None:
    key, mine, _ = owned
    unknown = "+19705550000"
    result = data(verify(client, key, {"phone_numbers": [mine[2], unknown, mine[0]]}))
    assert result == {
        "found": [
            {"id": "3003", "number_val_e164": mine[2]},
            {"id": "3001", "number_val_e164": mine[0]},
        ],
        "not_found": [unknown],
        "record_type": "number_ownership_verification",
    }


def test_another_accounts_number_is_not_found(
    client: ApiClient, owned: tuple[str, list[str], list[str]]
) -> None:
    key, mine, theirs = owned
    result = data(verify(client, key, {"phone_numbers": [theirs[0], mine[1]]}))
    assert result["found"] == [{"id": "3002", "number_val_e164": mine[1]}]
    assert result["not_found"] == theirs


def test_a_repeated_number_is_answered_once(
    client: ApiClient, owned: tuple[str, list[str], list[str]]
) -> None:
    key, mine, _ = owned
    unknown = "+19705550000"
    result = data(verify(client, key, {"phone_numbers": [mine[0], unknown, mine[0], unknown]}))
    assert result["found"] == [{"id": "3001", "number_val_e164": mine[0]}]
    assert result["not_found"] == [unknown]


@pytest.mark.parametrize(
    ("status", "found"),
    [
        ("active", True),
        ("port-pending", True),
        ("deleted", False),
        ("ported-out", False),
        ("purchase-failed", False),
        ("port-failed", False),
    ],
)
def test_only_numbers_in_an_editable_state_are_found(
    client: ApiClient, inventory: Inventory, status: str, found: bool
) -> None:
    key = inventory.account("statuses")
    record = number_record(status=status)
    inventory.load("statuses", [record])
    result = data(verify(client, key, {"phone_numbers": [record["phone_number"]]}))
    assert (len(result["found"]), len(result["not_found"])) == ((1, 0) if found else (0, 1))


def test_a_thousand_numbers_may_be_verified(
    client: ApiClient, owned: tuple[str, list[str], list[str]]
) -> None:
    key, mine, _ = owned
    numbers = [mine[0], *(f"+1970555{i:04d}" for i in range(999))]
    result = data(verify(client, key, {"phone_numbers": numbers}))
    assert (len(result["found"]), len(result["not_found"])) == (1, 999)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"phone_numbers": []},
        {"phone_numbers": [f"+1970555{i:04d}" for i in range(1001)]},
        {"phone_numbers": "+19705550000"},
        {"phone_numbers": None},
        {"phone_numbers": [19705550000]},
        {"phone_numbers": ["19705550000"]},
        {"phone_numbers": ["+0123456"]},
        {"phone_numbers": ["+1970555000012345"]},
        {"phone_numbers": ["+1 970 555 0000"]},
    ],
)
def test_an_invalid_list_is_422_naming_phone_numbers(
    client: ApiClient, key: str, body: dict[str, Any]
) -> None:
    response = verify(client, key, body)
    assert pointers(response) == ["/phone_numbers"]
    assert response.json()["errors"][0]["code"] == "10015"


def test_an_unknown_verify_field_is_422_naming_it(client: ApiClient, key: str) -> None:
    body = {"phone_numbers": ["+19705550000"], "ids": ["1"]}
    assert pointers(verify(client, key, body)) == ["/ids"]


def test_malformed_verify_json_is_400(client: ApiClient, key: str) -> None:
    response = client.request("POST", VERIFY, key, content=b"{")
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["errors"]] == ["10023"]
