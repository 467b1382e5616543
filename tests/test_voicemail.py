"""`GET`, `POST` and `PATCH /v2/phone_numbers/{phone_number_id}/voicemail`.

Every answer is checked against the contract by the test client.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from numbers_api.store.database import Database
from tests.conftest import ApiClient, make_client
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"
MINE = "1001"
THEIRS = "2001"


def path(number_id: str) -> str:
    return f"{LIST}/{number_id}/voicemail"


@pytest.fixture
def client(database_url: str, database: Database) -> ApiClient:
    return make_client(database_url)


@pytest.fixture
def key(inventory: Inventory) -> str:
    """The key of account `mine`, holding MINE; account `theirs` holds THEIRS."""
    mine = inventory.account("mine")
    inventory.load("mine", [number_record(id=MINE, updated_at="2020-01-01T00:00:00.000Z")])
    inventory.account("theirs")
    inventory.load("theirs", [number_record(id=THEIRS)])
    return mine


def create(client: ApiClient, key: str, body: Any, number_id: str = MINE) -> httpx.Response:
    return client.request("POST", path(number_id), key, json=body)


def update(client: ApiClient, key: str, body: Any, number_id: str = MINE) -> httpx.Response:
    return client.request("PATCH", path(number_id), key, json=body)


def data(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["data"]
    return item


def pointers(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["source"]["pointer"] for error in response.json()["errors"]]


def voicemail_rows(database: Database) -> int:
    with database.snapshot() as connection:
        (count,) = connection.execute("SELECT count(*) FROM phone_number_voicemail").fetchone()
    return int(count)


def test_a_number_without_voicemail_settings_is_404(client: ApiClient, key: str) -> None:
    response = client.get(path(MINE), key)
    assert response.status_code == 404
    [error] = response.json()["errors"]
    assert error["code"] == "10005"
    assert "no voicemail settings" in error["detail"]


def test_create_answers_the_settings_and_get_then_shows_them(client: ApiClient, key: str) -> None:
    created = data(create(client, key, {"enabled": True, "pin": "1234"}))
    assert created == {"enabled": True, "pin": "1234"}
    assert data(client.get(path(MINE), key)) == created


def test_create_without_fields_makes_disabled_settings_without_a_pin(
    client: ApiClient, key: str
) -> None:
    assert data(create(client, key, {})) == {"enabled": False}


def test_creating_twice_is_422_and_keeps_the_first(client: ApiClient, key: str) -> None:
    data(create(client, key, {"enabled": True, "pin": "1234"}))
    response = create(client, key, {"enabled": False})
    assert response.status_code == 422
    assert [e["code"] for e in response.json()["errors"]] == ["10015"]
    assert data(client.get(path(MINE), key)) == {"enabled": True, "pin": "1234"}


def test_update_changes_only_the_given_fields(client: ApiClient, key: str) -> None:
    data(create(client, key, {"enabled": True, "pin": "1234"}))
    assert data(update(client, key, {"pin": "98765"})) == {"enabled": True, "pin": "98765"}
    assert data(update(client, key, {"enabled": False})) == {"enabled": False, "pin": "98765"}
    assert data(client.get(path(MINE), key)) == {"enabled": False, "pin": "98765"}


def test_an_empty_update_changes_nothing(client: ApiClient, key: str) -> None:
    data(create(client, key, {"enabled": True, "pin": "1234"}))
    assert data(update(client, key, {})) == {"enabled": True, "pin": "1234"}


def test_updating_settings_not_yet_created_is_404(client: ApiClient, key: str) -> None:
    response = update(client, key, {"enabled": True})
    assert response.status_code == 404
    assert "no voicemail settings" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
@pytest.mark.parametrize("number_id", [THEIRS, "9001"], ids=["another-accounts", "unknown"])
def test_a_number_the_account_does_not_have_is_404(
    client: ApiClient, key: str, database: Database, method: str, number_id: str
) -> None:
    response = client.request(method, path(number_id), key, json={"enabled": True})
    assert response.status_code == 404
    assert "There is no phone number" in response.json()["errors"][0]["detail"]
    assert voicemail_rows(database) == 0


def test_voicemail_settings_leave_the_number_unchanged(client: ApiClient, key: str) -> None:
    before = data(client.get(f"{LIST}/{MINE}", key))
    data(create(client, key, {"enabled": True}))
    data(update(client, key, {"pin": "1234"}))
    assert data(client.get(f"{LIST}/{MINE}", key)) == before


def test_deleting_the_number_deletes_its_voicemail_settings(
    client: ApiClient, key: str, database: Database
) -> None:
    data(create(client, key, {"enabled": True}))
    assert voicemail_rows(database) == 1
    data(client.request("DELETE", f"{LIST}/{MINE}", key))
    assert voicemail_rows(database) == 0


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"pin": "123"}, ["/pin"]),
        ({"pin": "12345678901"}, ["/pin"]),
        ({"pin": "12a4"}, ["/pin"]),
        ({"pin": "１２３４"}, ["/pin"]),  # fullwidth digits  # noqa: RUF001
        ({"pin": 1234}, ["/pin"]),
        ({"pin": None}, ["/pin"]),
        ({"enabled": "true"}, ["/enabled"]),
        ({"enabled": None}, ["/enabled"]),
        ({"greeting": {"mode": "default"}}, ["/greeting"]),
        ({"voicemail": True}, ["/voicemail"]),
        ({"enabled": 1, "pin": "", "extra": 0}, ["/enabled", "/pin", "/extra"]),
    ],
)
def test_an_invalid_field_is_422_naming_it(
    client: ApiClient, key: str, method: str, body: dict[str, Any], expected: list[str]
) -> None:
    if method == "PATCH":
        data(create(client, key, {"enabled": True, "pin": "1234"}))
    response = client.request(method, path(MINE), key, json=body)
    assert pointers(response) == expected
    assert {e["code"] for e in response.json()["errors"]} == {"10015"}


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("body", [b"{", b"", b"\xff"])
def test_malformed_json_is_422_invalid_json(
    client: ApiClient, key: str, method: str, body: bytes
) -> None:
    response = client.request(method, path(MINE), key, content=body)
    assert response.status_code == 422
    assert [e["code"] for e in response.json()["errors"]] == ["10023"]


@pytest.mark.parametrize(("method", "status"), [("GET", 400), ("POST", 422), ("PATCH", 422)])
@pytest.mark.parametrize("number_id", ["abc", "01", "0", "-1"])
def test_a_malformed_id_is_invalid_id(
    client: ApiClient, key: str, method: str, status: int, number_id: str
) -> None:
    response = client.request(method, path(number_id), key, json={})
    assert response.status_code == status
    [error] = response.json()["errors"]
    assert (error["code"], error["source"]) == ("10006", {"parameter": "phone_number_id"})


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_other_methods_are_405(client: ApiClient, key: str, method: str) -> None:
    response = client.request(method, path(MINE), key)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, PATCH"


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
def test_authentication_comes_first(client: ApiClient, key: str, method: str) -> None:
    assert client.request(method, path("abc"), "wrong-key", json={}).status_code == 401
