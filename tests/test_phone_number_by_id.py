"""`GET`, `PATCH` and `DELETE /v2/phone_numbers/{id}`: one number of the caller's account.

Every answer is checked against the contract by the test client. Tests that look at the list
after a write use the `api` fixture, so they run on both query paths (index and SQL), and ask the
list once before the write so that its caches and the index are warm and must not go stale.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from numbers_api.domain import MAX_TEXT_LENGTH
from numbers_api.store.accounts import account_id
from numbers_api.store.database import Database
from numbers_api.store.phone_number import update_number
from tests.conftest import ApiClient, make_client
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"
MINE = "1001"
THEIRS = "2001"


def path(number_id: str) -> str:
    return f"{LIST}/{number_id}"


@pytest.fixture
def client(database_url: str, database: Database) -> ApiClient:
    """For the tests that do not look at the list: one query path is enough."""
    return make_client(database_url)


@pytest.fixture
def key(inventory: Inventory) -> str:
    """The key of account `mine`, holding number MINE; account `theirs` holds THEIRS."""
    mine = inventory.account("mine")
    inventory.load(
        "mine",
        [
            number_record(
                id=MINE,
                tags=["old"],
                customer_reference="ref-1",
                external_pin="1234",
                connection_id="c1",
                connection_name="Front Desk",
                updated_at="2020-01-01T00:00:00.000Z",
            ),
            number_record(
                connection_id="c2", connection_name="Back Office", billing_group_id="bg-1"
            ),
        ],
    )
    inventory.account("theirs")
    inventory.load(
        "theirs",
        [number_record(id=THEIRS, connection_id="c9", tags=["old"], billing_group_id="bg-9")],
    )
    return mine


def patch(api: ApiClient, key: str, number_id: str, body: Any) -> httpx.Response:
    return api.request("PATCH", path(number_id), key, json=body)


def data(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["data"]
    return item


def pointers(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["source"]["pointer"] for error in response.json()["errors"]]


def listed_ids(api: ApiClient, key: str, query: str = "") -> list[str]:
    return [item["id"] for item in api.get(LIST, key, query).json()["data"]]


# GET ----------------------------------------------------------------------------------------------


def test_get_answers_the_number_as_the_list_shows_it(client: ApiClient, key: str) -> None:
    listed = next(i for i in client.get(LIST, key).json()["data"] if i["id"] == MINE)
    assert data(client.get(path(MINE), key)) == listed


def test_another_accounts_number_answers_as_one_that_does_not_exist(
    client: ApiClient, key: str
) -> None:
    theirs = client.get(path(THEIRS), key)
    missing = client.get(path("3001"), key)
    assert theirs.status_code == missing.status_code == 404
    assert [e["code"] for e in theirs.json()["errors"]] == ["10005"]
    assert theirs.json()["errors"][0]["title"] == missing.json()["errors"][0]["title"]


def test_a_well_formed_id_beyond_the_largest_stored_is_not_found(
    client: ApiClient, key: str
) -> None:
    assert client.get(path("9999999999999999999"), key).status_code == 404


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("number_id", ["abc", "01", "0", "-1", "1.0", "+1", "12345678901234567890"])
def test_a_malformed_id_is_400_invalid_id(
    client: ApiClient, key: str, method: str, number_id: str
) -> None:
    response = client.request(method, path(number_id), key, json={})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["source"]) == ("10006", {"parameter": "id"})


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_authentication_comes_before_the_id(client: ApiClient, key: str, method: str) -> None:
    response = client.request(method, path("abc"), "wrong-key", json={})
    assert response.status_code == 401


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_other_methods_are_405(client: ApiClient, key: str, method: str) -> None:
    response = client.request(method, path(MINE), key)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PATCH, DELETE"


def test_messaging_profile_failure_leaves_the_profile_fields_out(
    database_url: str, key: str
) -> None:
    faulty = make_client(database_url, faults=frozenset({"messaging_profiles"}))
    response = faulty.get(path(MINE), key)
    item = data(response)
    assert "messaging_profile_id" not in item
    assert "messaging_profile_name" not in item
    assert [e["code"] for e in response.json()["errors"]] == ["10007"]


# PATCH --------------------------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields(client: ApiClient, key: str) -> None:
    before = data(client.get(path(MINE), key))
    after = data(patch(client, key, MINE, {"customer_reference": "ref-2"}))
    assert after["customer_reference"] == "ref-2"
    unchanged = {k: v for k, v in after.items() if k not in ("customer_reference", "updated_at")}
    assert unchanged == {k: v for k, v in before.items() if k in unchanged}


def test_patch_answers_with_what_a_get_then_shows(client: ApiClient, key: str) -> None:
    answered = data(patch(client, key, MINE, {"hd_voice_enabled": True, "external_pin": "9876"}))
    assert (answered["hd_voice_enabled"], answered["external_pin"]) == (True, "9876")
    assert data(client.get(path(MINE), key)) == answered


def test_patch_bumps_updated_at(client: ApiClient, key: str) -> None:
    item = data(patch(client, key, MINE, {"tags": ["new"]}))
    assert item["updated_at"] > "2020-01-01T00:00:00.000Z"


def test_an_empty_patch_changes_nothing_but_updated_at(client: ApiClient, key: str) -> None:
    before = data(client.get(path(MINE), key))
    after = data(patch(client, key, MINE, {}))
    assert {**after, "updated_at": None} == {**before, "updated_at": None}
    assert after["updated_at"] > before["updated_at"]


def test_patched_tags_are_found_by_filter_tag(api: ApiClient, key: str) -> None:
    assert listed_ids(api, key, "filter[tag]=sales") == []
    patch(api, key, MINE, {"tags": ["sales", "vip"]})
    assert listed_ids(api, key, "filter[tag]=sales") == [MINE]
    assert listed_ids(api, key, "filter[tag]=old") == []


def test_patched_fields_are_found_by_their_filters(api: ApiClient, key: str) -> None:
    assert listed_ids(api, key, "filter[customer_reference]=ref-2") == []
    patch(api, key, MINE, {"customer_reference": "ref-2", "connection_id": "c2"})
    assert listed_ids(api, key, "filter[customer_reference]=ref-2") == [MINE]
    assert MINE in listed_ids(api, key, "filter[voice.connection_name][eq]=back office")


def test_a_repeated_tag_is_kept_once(client: ApiClient, key: str) -> None:
    assert data(patch(client, key, MINE, {"tags": ["a", "b", "a"]}))["tags"] == ["a", "b"]


def test_patch_connection_id_shows_that_connections_name(client: ApiClient, key: str) -> None:
    item = data(patch(client, key, MINE, {"connection_id": "c2"}))
    assert (item["connection_id"], item["connection_name"]) == ("c2", "Back Office")


@pytest.mark.parametrize("field", ["connection_id", "billing_group_id"])
def test_an_empty_string_removes_the_reference(client: ApiClient, key: str, field: str) -> None:
    patch(client, key, MINE, {"billing_group_id": "bg-1"})
    item = data(patch(client, key, MINE, {field: ""}))
    assert item[field] is None


def test_a_billing_group_of_the_account_can_be_given_to_another_number(
    client: ApiClient, key: str
) -> None:
    item = data(patch(client, key, MINE, {"billing_group_id": "bg-1"}))
    assert item["billing_group_id"] == "bg-1"


@pytest.mark.parametrize("group", ["nope", "bg-9"], ids=["unknown", "another-accounts"])
def test_a_billing_group_the_account_does_not_have_is_422_and_changes_nothing(
    client: ApiClient, key: str, group: str
) -> None:
    response = patch(client, key, MINE, {"billing_group_id": group, "tags": ["x"]})
    assert pointers(response) == ["/billing_group_id"]
    assert response.json()["errors"][0]["code"] == "10013"
    assert data(client.get(path(MINE), key))["tags"] == ["old"]


@pytest.mark.parametrize("connection_id", ["nope", "c9"], ids=["unknown", "another-accounts"])
def test_a_connection_the_account_does_not_have_is_422(
    client: ApiClient, key: str, connection_id: str
) -> None:
    response = patch(client, key, MINE, {"connection_id": connection_id, "tags": ["x"]})
    assert pointers(response) == ["/connection_id"]
    assert response.json()["errors"][0]["code"] == "10013"
    assert data(client.get(path(MINE), key))["tags"] == ["old"]  # nothing was written


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"tags": "sales"}, "/tags"),
        ({"tags": ["ok", 1]}, "/tags"),
        ({"tags": [""]}, "/tags"),
        ({"tags": None}, "/tags"),
        ({"external_pin": 1234}, "/external_pin"),
        ({"customer_reference": None}, "/customer_reference"),
        ({"connection_id": 7}, "/connection_id"),
        ({"billing_group_id": ["x"]}, "/billing_group_id"),
        ({"hd_voice_enabled": "true"}, "/hd_voice_enabled"),
        ({"hd_voice_enabled": 1}, "/hd_voice_enabled"),
        ({"customer_reference": "a\x00b"}, "/customer_reference"),
        ({"customer_reference": "x" * (MAX_TEXT_LENGTH + 1)}, "/customer_reference"),
        ({"tags": ["ok", "x" * (MAX_TEXT_LENGTH + 1)]}, "/tags"),
    ],
)
def test_a_wrong_type_is_422_naming_the_field(
    client: ApiClient, key: str, body: dict[str, Any], pointer: str
) -> None:
    response = patch(client, key, MINE, body)
    assert pointers(response) == [pointer]
    assert response.json()["errors"][0]["code"] == "10015"


def test_the_longest_text_is_stored_on_either_engine(client: ApiClient, key: str) -> None:
    longest = "\U0001f600" * MAX_TEXT_LENGTH  # four bytes a character in UTF-8: the most
    response = patch(client, key, MINE, {"customer_reference": longest, "tags": [longest]})
    assert response.status_code == 200, response.text
    shown = data(client.get(path(MINE), key))
    assert (shown["customer_reference"], shown["tags"]) == (longest, [longest])


@pytest.mark.parametrize(
    ("field", "pointer"),
    [
        ("id", "/id"),
        ("phone_number", "/phone_number"),
        ("status", "/status"),
        ("address_id", "/address_id"),
        ("a/b~c", "/a~1b~0c"),
    ],
)
def test_a_read_only_or_unknown_field_is_422_naming_it(
    client: ApiClient, key: str, field: str, pointer: str
) -> None:
    assert pointers(patch(client, key, MINE, {field: "x"})) == [pointer]


def test_every_invalid_field_is_reported_at_once(client: ApiClient, key: str) -> None:
    response = patch(client, key, MINE, {"tags": 1, "id": "1", "external_pin": False})
    assert pointers(response) == ["/tags", "/id", "/external_pin"]


@pytest.mark.parametrize("body", [b"{", b"", b"\xff", b"{'tags': []}"])
def test_malformed_json_is_400(client: ApiClient, key: str, body: bytes) -> None:
    response = client.request("PATCH", path(MINE), key, content=body)
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["errors"]] == ["10023"]


@pytest.mark.parametrize("body", [b"[]", b'"tags"', b"null", b"1"])
def test_a_body_that_is_not_an_object_is_422(client: ApiClient, key: str, body: bytes) -> None:
    assert pointers(client.request("PATCH", path(MINE), key, content=body)) == [""]


def test_patching_another_accounts_number_is_404_and_changes_nothing(
    client: ApiClient, key: str, database: Database
) -> None:
    assert patch(client, key, THEIRS, {"tags": ["mine-now"]}).status_code == 404
    with database.snapshot() as connection:
        tags = connection.execute("SELECT tags FROM phone_numbers WHERE id = ?", (int(THEIRS),))
        assert tags.fetchone()[0] == '["old"]'


def test_concurrent_patches_of_different_fields_keep_both(
    client: ApiClient, database: Database, database_url: str, key: str
) -> None:
    with database.snapshot() as connection:
        mine = account_id(connection, "mine")

    def write(field: str, rounds: int) -> None:
        writer = Database(database_url)  # a connection of its own, as each server thread has
        try:
            for i in range(rounds):
                with writer.transaction() as connection:
                    update_number(connection, mine, int(MINE), {field: f"{field}-{i}"}, 0)
        finally:
            writer.close()

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(write, f, 20) for f in ("customer_reference", "external_pin")]:
            future.result()
    item = data(client.get(path(MINE), key))
    assert (item["customer_reference"], item["external_pin"]) == (
        "customer_reference-19",
        "external_pin-19",
    )


# DELETE -------------------------------------------------------------------------------------------


def test_delete_answers_the_number_as_deleted(client: ApiClient, key: str) -> None:
    before = data(client.get(path(MINE), key))
    deleted = data(client.request("DELETE", path(MINE), key))
    assert deleted["status"] == "deleted"
    assert deleted["updated_at"] > before["updated_at"]
    # The rest as it was, but for the properties without a value, which are left out.
    kept = {k: v for k, v in before.items() if v is not None and k not in ("status", "updated_at")}
    assert {k: v for k, v in deleted.items() if k not in ("status", "updated_at")} == kept


@pytest.mark.parametrize(
    ("stored", "answered"), [("tollfree", "toll_free"), ("shortcode", None), ("mobile", "mobile")]
)
def test_delete_answers_a_legacy_number_type_as_the_deleted_schema_allows(
    client: ApiClient, inventory: Inventory, stored: str, answered: str | None
) -> None:
    key = inventory.account("legacy")
    inventory.load("legacy", [number_record(id="3001", phone_number_type=stored)])
    deleted = data(client.request("DELETE", path("3001"), key))
    assert deleted.get("phone_number_type") == answered


def test_a_deleted_number_is_gone_from_every_list_and_lookup(api: ApiClient, key: str) -> None:
    assert api.get(LIST, key).json()["meta"]["total_results"] == 2
    assert listed_ids(api, key, "filter[tag]=old") == [MINE]
    data(api.request("DELETE", path(MINE), key))
    assert api.get(LIST, key).json()["meta"]["total_results"] == 1
    assert listed_ids(api, key, "filter[tag]=old") == []
    assert listed_ids(api, key, "filter[connection_id]=c1") == []
    assert api.get(path(MINE), key).status_code == 404


def test_deleting_twice_is_404(client: ApiClient, key: str) -> None:
    data(client.request("DELETE", path(MINE), key))
    assert client.request("DELETE", path(MINE), key).status_code == 404


def test_a_number_with_deletion_lock_is_not_deleted(
    client: ApiClient, inventory: Inventory
) -> None:
    key = inventory.account("locked")
    inventory.load("locked", [number_record(id="4001", deletion_lock_enabled=True)])
    response = client.request("DELETE", path("4001"), key)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["code"], error["title"]) == ("10015", "Deletion lock enabled")
    assert data(client.get(path("4001"), key))["status"] == "active"


def test_deleting_another_accounts_number_is_404_and_keeps_it(
    client: ApiClient, key: str, database: Database
) -> None:
    assert client.request("DELETE", path(THEIRS), key).status_code == 404
    with database.snapshot() as connection:
        row = connection.execute("SELECT 1 FROM phone_numbers WHERE id = ?", (int(THEIRS),))
        assert row.fetchone() is not None
