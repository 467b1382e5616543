"""`GET /v2/phone_numbers/messaging` and `GET`, `PATCH /v2/phone_numbers/{id}/messaging`.

Every answer is checked against the contract and the served document by the test client. The
`api` fixture runs each test on both query paths (index and SQL); tests that look at a list after
a write ask it once before, so that its caches and index are warm and must not go stale.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from numbers_api.http.openapi import load_openapi_document
from numbers_api.store.database import Database
from tests.conftest import ApiClient, make_client
from tests.support.contract import API_CONTRACT_URI, documents
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"
MESSAGING = "/v2/phone_numbers/messaging"
ALERTS = "abc85f64-5717-4562-b3fc-2c9600000001"
SUPPORT = "abc85f64-5717-4562-b3fc-2c9600000002"
THEIR_PROFILE = "abc85f64-5717-4562-b3fc-2c9600000003"
# Account `mine` holds these ids, in this order; account `theirs` holds THEIRS.
LOCAL, TOLL_FREE, MOBILE, LEGACY_TOLL_FREE, SHORT_CODE = "1001", "1002", "1003", "1004", "1005"
THEIRS = "2001"
A2P_FEATURES = {
    "sms": {
        "domestic_two_way": True,
        "international_inbound": True,
        "international_outbound": False,
    },
    "mms": {
        "domestic_two_way": True,
        "international_inbound": False,
        "international_outbound": False,
    },
}
P2P_FEATURES = {
    "sms": {
        "domestic_two_way": True,
        "international_inbound": True,
        "international_outbound": True,
    },
    "mms": None,
}


def one(number_id: str) -> str:
    return f"/v2/phone_numbers/{number_id}/messaging"


@pytest.fixture
def numbers(inventory: Inventory) -> dict[str, str]:
    """The key of account `mine` under "key", and each of its numbers by id."""
    records = [
        number_record(
            id=LOCAL,
            tags=["a"],
            phone_number_type="local",
            messaging_profile_id=ALERTS,
            messaging_profile_name="Alerts",
            customer_reference="ref-1",
            created_at="2020-01-05T00:00:00.000Z",
            updated_at="2020-01-05T00:00:00.000Z",
        ),
        number_record(
            id=TOLL_FREE, phone_number_type="toll_free", created_at="2020-01-04T00:00:00.000Z"
        ),
        number_record(
            id=MOBILE,
            phone_number_type="mobile",
            messaging_profile_id=SUPPORT,
            messaging_profile_name="Support",
            created_at="2020-01-03T00:00:00.000Z",
        ),
        number_record(
            id=LEGACY_TOLL_FREE,
            phone_number_type="tollfree",
            created_at="2020-01-02T00:00:00.000Z",
        ),
        number_record(
            id=SHORT_CODE, phone_number_type="shortcode", created_at="2020-01-01T00:00:00.000Z"
        ),
    ]
    key = inventory.account("mine")
    inventory.load("mine", records)
    inventory.account("theirs")
    inventory.load(
        "theirs",
        [
            number_record(
                id=THEIRS, messaging_profile_id=THEIR_PROFILE, messaging_profile_name="Theirs"
            )
        ],
    )
    return {"key": key, **{r["id"]: r["phone_number"] for r in records}}


@pytest.fixture
def key(numbers: dict[str, str]) -> str:
    return numbers["key"]


@pytest.fixture
def client(database_url: str, database: Database) -> ApiClient:
    """For the tests of one number, which do not look at a list: one query path is enough."""
    return make_client(database_url)


def ids(
    api: ApiClient, key: str, query: str | dict[str, Any] = "", path: str = MESSAGING
) -> list[str]:
    response = api.get(path, key, query)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


def data(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["data"]
    return item


def main_item(api: ApiClient, key: str, number_id: str) -> dict[str, Any]:
    return next(i for i in api.get(LIST, key).json()["data"] if i["id"] == number_id)


def patch(api: ApiClient, key: str, number_id: str, body: Any) -> httpx.Response:
    return api.request("PATCH", one(number_id), key, json=body)


def single_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    return dict(error)


# The list -----------------------------------------------------------------------------------------


def test_a_fresh_number_shows_what_telnyx_shows_for_one(api: ApiClient, key: str) -> None:
    item = next(i for i in api.get(MESSAGING, key).json()["data"] if i["id"] == LOCAL)
    main = main_item(api, key, LOCAL)
    assert item == {
        "record_type": "messaging_settings",
        "id": LOCAL,
        "phone_number": main["phone_number"],
        "messaging_profile_id": ALERTS,
        "messaging_product": "A2P",
        "traffic_type": "A2P",
        "eligible_messaging_products": ["A2P"],
        "features": A2P_FEATURES,
        "health": {
            "message_count": 0,
            "inbound_outbound_ratio": 0.0,
            "success_ratio": 0.0,
            "spam_ratio": 0.0,
        },
        "country_code": main["country_iso_alpha2"],
        "type": "longcode",
        "tags": ["a"],
        "created_at": main["created_at"],
        "updated_at": main["updated_at"],
    }


@pytest.mark.parametrize(
    ("number_id", "expected"),
    [
        (LOCAL, "longcode"),
        (TOLL_FREE, "tollfree"),
        (MOBILE, "longcode"),
        (LEGACY_TOLL_FREE, "tollfree"),
        (SHORT_CODE, "shortcode"),
    ],
)
def test_type_follows_the_phone_number_type(
    api: ApiClient, key: str, number_id: str, expected: str
) -> None:
    assert data(api.get(one(number_id), key))["type"] == expected


def test_measured_settings_are_shown_as_stored(
    api: ApiClient, inventory: Inventory, key: str
) -> None:
    inventory.measure_messaging(
        MOBILE,
        eligible_messaging_products=["A2P", "P2P"],
        message_count=122,
        inbound_outbound_ratio=0.43,
        success_ratio=0.94,
        spam_ratio=0.06,
    )
    item = data(api.get(one(MOBILE), key))
    assert item["eligible_messaging_products"] == ["A2P", "P2P"]
    assert item["health"] == {
        "message_count": 122,
        "inbound_outbound_ratio": 0.43,
        "success_ratio": 0.94,
        "spam_ratio": 0.06,
    }


def test_pages_order_and_totals_are_the_main_lists(api: ApiClient, key: str) -> None:
    query = "page[number]=2&page[size]=2"
    listed = api.get(MESSAGING, key, query).json()
    main = api.get(LIST, key, query).json()
    assert [i["id"] for i in listed["data"]] == [i["id"] for i in main["data"]]
    assert (
        listed["meta"]
        == main["meta"]
        == {
            "total_pages": 3,
            "total_results": 5,
            "page_number": 2,
            "page_size": 2,
        }
    )


def test_a_page_past_the_end_is_empty(api: ApiClient, key: str) -> None:
    response = api.get(MESSAGING, key, "page[number]=4&page[size]=2")
    assert response.json()["data"] == []
    assert response.json()["meta"]["total_results"] == 5


def test_another_accounts_numbers_never_appear(api: ApiClient, key: str) -> None:
    assert THEIRS not in ids(api, key)
    assert ids(api, key, f"filter[messaging_profile_id]={THEIR_PROFILE}") == []


def test_filter_messaging_profile_id(api: ApiClient, key: str) -> None:
    assert ids(api, key, f"filter[messaging_profile_id]={ALERTS}") == [LOCAL]
    assert ids(api, key, "filter[messaging_profile_id]=abc85f64-0000-0000-0000-000000000000") == []


def test_filter_phone_number_is_exact(api: ApiClient, numbers: dict[str, str]) -> None:
    key, number = numbers["key"], numbers[MOBILE]
    assert ids(api, key, {"filter[phone_number]": number}) == [MOBILE]
    assert ids(api, key, {"filter[phone_number]": number[:-1]}) == []


def test_filter_phone_number_takes_a_comma_separated_list(
    api: ApiClient, numbers: dict[str, str]
) -> None:
    both = f"{numbers[LOCAL]},{numbers[SHORT_CODE]}"
    assert ids(api, numbers["key"], {"filter[phone_number]": both}) == [LOCAL, SHORT_CODE]


@pytest.mark.parametrize("form", ["without-plus", "unencoded-plus"])
def test_filter_phone_number_reads_a_missing_or_unencoded_plus(
    api: ApiClient, numbers: dict[str, str], form: str
) -> None:
    digits = numbers[TOLL_FREE][1:]
    value = digits if form == "without-plus" else f"+{digits}"  # `+` unencoded is a space
    assert ids(api, numbers["key"], f"filter[phone_number]={value}") == [TOLL_FREE]


def test_filter_phone_number_contains(api: ApiClient, numbers: dict[str, str]) -> None:
    key, number = numbers["key"], numbers[MOBILE]
    assert ids(api, key, {"filter[phone_number][contains]": number[-7:]}) == [MOBILE]
    assert ids(api, key, {"filter[phone_number][contains]": "+1720"}) == ids(api, key)


def test_exact_and_contains_combine_with_and(api: ApiClient, numbers: dict[str, str]) -> None:
    key = numbers["key"]
    query = {"filter[phone_number]": numbers[LOCAL], "filter[phone_number][contains]": "720"}
    assert ids(api, key, query) == [LOCAL]
    query["filter[phone_number][contains]"] = numbers[MOBILE][-7:]
    assert ids(api, key, query) == []


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("longcode", [LOCAL, MOBILE]),
        ("tollfree", [TOLL_FREE, LEGACY_TOLL_FREE]),
        ("shortcode", [SHORT_CODE]),
    ],
)
def test_filter_type(api: ApiClient, key: str, kind: str, expected: list[str]) -> None:
    assert ids(api, key, f"filter[type]={kind}") == expected


def test_filters_combine_with_and(api: ApiClient, key: str) -> None:
    assert ids(api, key, f"filter[type]=longcode&filter[messaging_profile_id]={SUPPORT}") == [
        MOBILE
    ]
    assert ids(api, key, f"filter[type]=tollfree&filter[messaging_profile_id]={SUPPORT}") == []


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sort_phone_number(api: ApiClient, numbers: dict[str, str], direction: str) -> None:
    key = numbers.pop("key")
    expected = sorted(numbers, key=numbers.__getitem__, reverse=direction == "desc")
    assert ids(api, key, f"sort[phone_number]={direction}") == expected


def test_sort_and_pages_cover_every_number_once(api: ApiClient, key: str) -> None:
    pages = [
        ids(api, key, f"sort[phone_number]=desc&page[size]=2&page[number]={n}") for n in (1, 2, 3)
    ]
    assert sorted(i for page in pages for i in page) == sorted(ids(api, key))


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("filter[messaging_profile_id]=abc", "filter[messaging_profile_id]"),
        ("filter[phone_number]=%2B1720abc", "filter[phone_number]"),
        ("filter[phone_number]=", "filter[phone_number]"),
        ("filter[phone_number][contains]=12", "filter[phone_number][contains]"),
        ("filter[phone_number][starts_with]=123", "filter[phone_number][starts_with]"),
        ("filter[type]=local", "filter[type]"),
        ("filter[type]=tollfree&filter[type]=longcode", "filter[type]"),
        ("filter[status]=active", "filter[status]"),
        ("sort[phone_number]=up", "sort[phone_number]"),
        ("sort=phone_number", "sort"),
        ("sort[purchased_at]=asc", "sort[purchased_at]"),
        ("page[size]=251", "page[size]"),
    ],
)
def test_an_invalid_parameter_is_400_naming_it(
    api: ApiClient, key: str, query: str, parameter: str
) -> None:
    error = single_error(api.get(MESSAGING, key, query), 400)
    assert (error["code"], error["source"]) == ("10015", {"parameter": parameter})


def test_every_invalid_parameter_is_reported(api: ApiClient, key: str) -> None:
    response = api.get(MESSAGING, key, "filter[type]=x&sort[phone_number]=y&page[number]=0")
    assert response.status_code == 400
    assert [e["source"]["parameter"] for e in response.json()["errors"]] == [
        "filter[type]",
        "page[number]",
        "sort[phone_number]",
    ]


def test_handle_messaging_profile_error_changes_nothing(api: ApiClient, key: str) -> None:
    assert ids(api, key, "handle_messaging_profile_error=true") == ids(api, key)


def test_the_list_needs_a_key_and_takes_only_get(api: ApiClient, key: str) -> None:
    assert api.get(MESSAGING, "wrong-key").status_code == 401
    response = api.request("POST", MESSAGING, key)
    assert (response.status_code, response.headers["allow"]) == (405, "GET")


# One number ---------------------------------------------------------------------------------------


def test_get_answers_the_number_as_the_list_shows_it(client: ApiClient, key: str) -> None:
    listed = next(i for i in client.get(MESSAGING, key).json()["data"] if i["id"] == MOBILE)
    assert data(client.get(one(MOBILE), key)) == listed


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_another_accounts_number_is_not_found(client: ApiClient, key: str, method: str) -> None:
    response = client.request(method, one(THEIRS), key, json={"tags": ["x"]})
    assert single_error(response, 404)["code"] == "10005"
    assert single_error(client.request(method, one("3001"), key, json={}), 404)["code"] == "10005"


@pytest.mark.parametrize("method", ["GET", "PATCH"])
@pytest.mark.parametrize("number_id", ["abc", "01", "0", "-1"])
def test_a_malformed_id_is_400_invalid_id(
    client: ApiClient, key: str, method: str, number_id: str
) -> None:
    error = single_error(client.request(method, one(number_id), key, json={}), 400)
    assert (error["code"], error["source"]) == ("10006", {"parameter": "id"})


def test_one_number_needs_a_key_and_takes_get_and_patch(client: ApiClient, key: str) -> None:
    assert client.request("PATCH", one(LOCAL), "wrong-key", json={}).status_code == 401
    response = client.request("DELETE", one(LOCAL), key)
    assert (response.status_code, response.headers["allow"]) == (405, "GET, PATCH")


# PATCH --------------------------------------------------------------------------------------------


def test_assigning_a_profile_shows_in_every_list(api: ApiClient, key: str) -> None:
    ids(api, key, f"filter[messaging_profile_id]={ALERTS}")  # warm the caches and the index
    main_item(api, key, TOLL_FREE)
    item = data(patch(api, key, TOLL_FREE, {"messaging_profile_id": ALERTS}))
    assert item["messaging_profile_id"] == ALERTS
    assert ids(api, key, f"filter[messaging_profile_id]={ALERTS}") == [LOCAL, TOLL_FREE]
    main = main_item(api, key, TOLL_FREE)
    assert (main["messaging_profile_id"], main["messaging_profile_name"]) == (ALERTS, "Alerts")
    assert data(api.get(f"{LIST}/{TOLL_FREE}", key))["messaging_profile_name"] == "Alerts"


def test_an_empty_profile_id_detaches_the_profile(api: ApiClient, key: str) -> None:
    ids(api, key, f"filter[messaging_profile_id]={ALERTS}")
    assert (
        data(patch(api, key, LOCAL, {"messaging_profile_id": ""}))["messaging_profile_id"] is None
    )
    assert ids(api, key, f"filter[messaging_profile_id]={ALERTS}") == []
    main = main_item(api, key, LOCAL)
    assert (main["messaging_profile_id"], main["messaging_profile_name"]) == (None, None)


def test_null_keeps_the_current_value(client: ApiClient, key: str) -> None:
    before = data(client.get(one(LOCAL), key))
    body = {"messaging_profile_id": None, "messaging_product": None, "tags": None}
    after = data(patch(client, key, LOCAL, body))
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }


def test_a_profile_the_account_lacks_is_422_naming_it(client: ApiClient, key: str) -> None:
    before = data(client.get(one(TOLL_FREE), key))
    response = patch(client, key, TOLL_FREE, {"messaging_profile_id": THEIR_PROFILE, "tags": ["x"]})
    error = single_error(response, 422)
    assert (error["code"], error["source"]) == ("10013", {"pointer": "/messaging_profile_id"})
    assert data(client.get(one(TOLL_FREE), key)) == before


def test_a_product_the_number_is_not_eligible_for_is_422_naming_it(
    client: ApiClient, key: str
) -> None:
    error = single_error(patch(client, key, LOCAL, {"messaging_product": "P2P"}), 422)
    assert (error["code"], error["source"]) == ("10015", {"pointer": "/messaging_product"})
    assert data(client.get(one(LOCAL), key))["messaging_product"] == "A2P"


def test_an_eligible_product_changes_traffic_type_and_features(
    client: ApiClient, inventory: Inventory, key: str
) -> None:
    inventory.measure_messaging(LOCAL, eligible_messaging_products=["A2P", "P2P"])
    item = data(patch(client, key, LOCAL, {"messaging_product": "P2P"}))
    assert (item["messaging_product"], item["traffic_type"]) == ("P2P", "P2P")
    assert item["features"] == P2P_FEATURES
    assert data(client.get(one(LOCAL), key)) == item


def test_tags_replace_the_numbers_tags_for_every_list(api: ApiClient, key: str) -> None:
    ids(api, key, "filter[tag]=b", path=LIST)
    item = data(patch(api, key, LOCAL, {"tags": ["b", "c", "b"]}))
    assert item["tags"] == ["b", "c"]
    assert ids(api, key, "filter[tag]=b", path=LIST) == [LOCAL]
    assert ids(api, key, "filter[tag]=a", path=LIST) == []


def test_patch_changes_only_the_given_fields_and_updated_at(client: ApiClient, key: str) -> None:
    before = main_item(client, key, LOCAL)
    item = data(patch(client, key, LOCAL, {"messaging_profile_id": SUPPORT}))
    after = main_item(client, key, LOCAL)
    assert after["updated_at"] == item["updated_at"] > before["updated_at"]
    changed = {"messaging_profile_id", "messaging_profile_name", "updated_at"}
    assert {k: v for k, v in after.items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed
    }


def test_an_invalid_body_is_422_naming_every_field(client: ApiClient, key: str) -> None:
    body = {
        "messaging_product": 5,
        "messaging_profile_id": ["x"],
        "tags": ["", "ok"],
        "traffic_type": "P2P",
        "organization_id": "x",
    }
    response = patch(client, key, LOCAL, body)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["code"], e["source"]["pointer"]) for e in errors] == [
        ("10015", "/messaging_product"),
        ("10015", "/messaging_profile_id"),
        ("10015", "/tags"),
        ("10015", "/traffic_type"),
        ("10015", "/organization_id"),
    ]
    assert "read-only" in errors[3]["detail"]


def test_an_invalid_body_of_a_missing_number_is_422(client: ApiClient, key: str) -> None:
    assert patch(client, key, "3001", {"tags": "x"}).status_code == 422


@pytest.mark.parametrize("body", [b"{", b"", b"\xff"])
def test_malformed_json_is_400(client: ApiClient, key: str, body: bytes) -> None:
    response = client.request("PATCH", one(LOCAL), key, content=body)
    assert single_error(response, 400)["code"] == "10023"


def test_a_body_that_is_not_an_object_is_422(client: ApiClient, key: str) -> None:
    error = single_error(patch(client, key, LOCAL, ["tags"]), 422)
    assert error["source"] == {"pointer": ""}


def test_when_profiles_cannot_be_looked_up_assigning_one_is_503_and_changes_nothing(
    database_url: str, key: str
) -> None:
    faulty = make_client(database_url, faults=frozenset({"messaging_profiles"}))
    before = data(faulty.get(one(TOLL_FREE), key))
    response = patch(faulty, key, TOLL_FREE, {"messaging_profile_id": ALERTS, "tags": ["x"]})
    assert single_error(response, 503)["code"] == "10007"
    assert data(faulty.get(one(TOLL_FREE), key)) == before
    assert data(patch(faulty, key, TOLL_FREE, {"tags": ["x"]}))["tags"] == ["x"]


# The served document ------------------------------------------------------------------------------


def parameters(document: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    found = {}
    for given in document["paths"][path]["get"]["parameters"]:
        parameter = (
            document["components"]["parameters"][given["$ref"].rsplit("/", 1)[1]]
            if "$ref" in given
            else given
        )
        found[parameter["name"]] = parameter
    return found


def test_served_filter_schemas_keep_every_keyword_of_the_contracts() -> None:
    contract = parameters(documents()[API_CONTRACT_URI], "/phone_numbers/messaging")
    served = parameters(load_openapi_document(), "/phone_numbers/messaging")
    for name, parameter in contract.items():
        if name.startswith("filter["):
            assert parameter["schema"].items() <= served[name]["schema"].items(), name


def test_served_parameters_are_the_contracts() -> None:
    contract = parameters(documents()[API_CONTRACT_URI], "/phone_numbers/messaging")
    served = parameters(load_openapi_document(), "/phone_numbers/messaging")
    assert list(served) == list(contract)
    assert served["filter[type]"]["schema"]["enum"] == contract["filter[type]"]["schema"]["enum"]
    assert (
        served["sort[phone_number]"]["schema"]["enum"]
        == contract["sort[phone_number]"]["schema"]["enum"]
    )
