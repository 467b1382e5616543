"""Authentication, error envelopes and the messaging-profile component of GET /v2/phone_numbers."""

from __future__ import annotations

import pytest

from numbers_api.store.accounts import create_key, revoke_key
from numbers_api.store.database import Database
from tests.conftest import ApiClient, make_client
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"
AUTH_FAILED = {
    "errors": [
        {
            "code": "10009",
            "title": "Authentication failed",
            "detail": "Could not understand the provided credentials.",
            "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10009"},
        }
    ]
}


@pytest.fixture
def key(inventory: Inventory) -> str:
    key = inventory.account("owner")
    inventory.load("owner", [number_record(tags=["a"]), number_record()])
    return key


def parameters(response_json: dict[str, list[dict[str, dict[str, str]]]]) -> list[str]:
    return [error["source"]["parameter"] for error in response_json["errors"]]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer KEYnot-a-key"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
        {"Authorization": ""},
    ],
)
def test_missing_or_unknown_credentials_are_rejected(
    api: ApiClient, key: str, headers: dict[str, str]
) -> None:
    response = api.client.get(LIST, headers=headers)
    api.check(response)
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED


def test_revoked_key_stops_working_at_once(
    api: ApiClient, database: Database, inventory: Inventory
) -> None:
    inventory.account("owner")
    second = create_key(database, "owner")
    assert api.get(LIST, second).status_code == 200
    revoke_key(database, second)
    assert api.get(LIST, second).status_code == 401


def test_authentication_is_checked_before_parameters(api: ApiClient, key: str) -> None:
    response = api.get(LIST, "KEYwrong", "filter[status]=nonsense")
    assert response.status_code == 401


def test_unknown_path_is_401_without_credentials_and_404_with_them(
    api: ApiClient, key: str
) -> None:
    assert api.get("/v2/numbers", None).status_code == 401
    response = api.get("/v2/numbers", key)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "10005"


def test_path_outside_the_api_is_404(api: ApiClient) -> None:
    response = api.get("/nothing/here", None)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "10005"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405_in_the_error_envelope(api: ApiClient, key: str, method: str) -> None:
    response = api.request(method, LIST, key)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["errors"][0]["title"] == "Method Not Allowed"


def test_health_needs_no_key(api: ApiClient) -> None:
    response = api.get("/health", None)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_document_needs_no_key(api: ApiClient) -> None:
    response = api.get("/v2/openapi.json", None)
    assert response.status_code == 200
    assert "/phone_numbers" in response.json()["paths"]


def test_every_bad_parameter_is_reported_at_once(api: ApiClient, key: str) -> None:
    query = "filter[status]=bad&page[size]=0&sort=nope&filter[phone_number]=12"
    response = api.get(LIST, key, query)
    assert response.status_code == 400
    assert sorted(parameters(response.json())) == sorted(
        ["filter[status]", "page[size]", "sort", "filter[phone_number]"]
    )
    for error in response.json()["errors"]:
        assert error["code"] == "10015"
        assert error["title"] == "Bad Request"
        assert error["meta"] == {"url": "https://developers.telnyx.com/docs/overview/errors/10015"}


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("filter[status]=active&filter[status]=deleted", "filter[status]"),
        ("sort=phone_number&sort=phone_number", "sort"),
        ("page[size]=5&page[size]=5", "page[size]"),
        ("filter[tag]=", "filter[tag]"),
        ("filter[customer_reference]=", "filter[customer_reference]"),
        ("filter[connection_id]=", "filter[connection_id]"),
        ("filter[status]=", "filter[status]"),
        ("handle_messaging_profile_error=", "handle_messaging_profile_error"),
        ("handle_messaging_profile_error=yes", "handle_messaging_profile_error"),
        ("filter[color]=red", "filter[color]"),
        ("filter[number_type][eq][x]=local", "filter[number_type][eq][x]"),
        ("page[offset]=3", "page[offset]"),
        ("page=3", "page"),
        ("filter=active", "filter"),
        ("filter[status=active", "filter[status"),
        ("filter]status[=active", "filter]status["),
        ("filter[status][=active", "filter[status]["),
        ("filter[status][]=active", "filter[status][]"),
        ("sort[x]=phone_number", "sort[x]"),
        ("filter[without_tags]=yes", "filter[without_tags]"),
        ("filter[source]=bought", "filter[source]"),
        ("filter[voice.usage_payment_method]=free", "filter[voice.usage_payment_method]"),
        # No stored text holds a NUL (PostgreSQL's cannot), so no filter may ask for one.
        ("filter[tag]=a%00", "filter[tag]"),
        ("filter[customer_reference]=%00", "filter[customer_reference]"),
        ("filter[connection_id]=1%00", "filter[connection_id]"),
        ("filter[billing_group_id]=%00x", "filter[billing_group_id]"),
        ("filter[voice.connection_name][eq]=%00", "filter[voice.connection_name][eq]"),
        (
            "filter[voice.connection_name][starts_with]=%00ab",
            "filter[voice.connection_name][starts_with]",
        ),
    ],
)
def test_bad_parameter_is_400_naming_it(
    api: ApiClient, key: str, query: str, parameter: str
) -> None:
    response = api.get(LIST, key, query)
    assert response.status_code == 400, response.text
    assert parameters(response.json()) == [parameter]


def test_unknown_top_level_parameters_are_ignored(api: ApiClient, key: str) -> None:
    response = api.get(LIST, key, "foo=bar&include[x]=1")
    assert response.status_code == 200
    assert response.json()["meta"]["total_results"] == 2


def test_messaging_profile_name_is_shown_on_every_number_pointing_at_it(
    api: ApiClient, inventory: Inventory
) -> None:
    key = inventory.account("owner")
    inventory.load(
        "owner",
        [
            number_record(messaging_profile_id="p1", messaging_profile_name="alerts"),
            number_record(messaging_profile_id="p1"),
            number_record(),
        ],
    )
    items = api.get(LIST, key).json()["data"]
    assert sorted(
        (i["messaging_profile_id"] or "", i["messaging_profile_name"] or "") for i in items
    ) == [("", ""), ("p1", "alerts"), ("p1", "alerts")]


@pytest.fixture
def failing_api(database_url: str, key: str) -> ApiClient:
    return make_client(database_url, faults=frozenset({"messaging_profiles"}))


@pytest.mark.parametrize("query", ["", "handle_messaging_profile_error=false"])
def test_failing_messaging_profiles_answer_503_by_default(
    failing_api: ApiClient, key: str, query: str
) -> None:
    response = failing_api.get(LIST, key, query)
    assert response.status_code == 503
    [error] = response.json()["errors"]
    assert "handle_messaging_profile_error=true" in error["detail"]


def test_failing_messaging_profiles_with_handling_leave_the_fields_out(
    failing_api: ApiClient, key: str
) -> None:
    response = failing_api.get(LIST, key, "handle_messaging_profile_error=true")
    assert response.status_code == 200
    body = response.json()
    assert len(body["data"]) == 2
    for item in body["data"]:
        assert "messaging_profile_id" not in item
        assert "messaging_profile_name" not in item
    assert body["errors"][0]["title"] == "Messaging profile information unavailable"


def test_failing_messaging_profiles_do_not_affect_an_empty_page(
    failing_api: ApiClient, key: str
) -> None:
    response = failing_api.get(LIST, key, "filter[tag]=none")
    assert response.status_code == 200
    assert response.json()["data"] == []


def test_timestamps_are_utc_with_milliseconds(api: ApiClient, inventory: Inventory) -> None:
    key = inventory.account("owner")
    inventory.load(
        "owner",
        [
            number_record(
                created_at="2019-10-23T20:10:00.5+02:00",
                purchased_at="2019-10-23T18:10:00Z",
                updated_at="2019-10-24T18:10:00.123456Z",
            )
        ],
    )
    [item] = api.get(LIST, key).json()["data"]
    assert item["created_at"] == "2019-10-23T18:10:00.500Z"
    assert item["purchased_at"] == "2019-10-23T18:10:00.000Z"
    assert item["updated_at"] == "2019-10-24T18:10:00.123Z"
