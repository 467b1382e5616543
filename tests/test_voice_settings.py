"""GET /v2/phone_numbers/voice and GET, PATCH /v2/phone_numbers/{id}/voice.

Every answer is checked against the contract by the test client. Tests that look at the lists
after a write use the `api` fixture, so they run on both query paths (index and SQL), and ask the
list once before the write so that its caches and the index are warm and must not go stale.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from numbers_api.domain import VOICE_SETTINGS
from numbers_api.http.openapi import load_openapi_document
from numbers_api.query.filters import VOICE_FILTERS
from numbers_api.store.database import Database
from tests.conftest import ApiClient, make_client
from tests.support.contract import API_CONTRACT_URI, documents
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"
VOICE_LIST = "/v2/phone_numbers/voice"
MINE = "1001"
FRESH = "1002"
THEIRS = "2001"


def voice(number_id: str) -> str:
    return f"{LIST}/{number_id}/voice"


@pytest.fixture
def client(database_url: str, database: Database) -> ApiClient:
    """For the tests that do not look at the lists: one query path is enough."""
    return make_client(database_url)


@pytest.fixture
def key(inventory: Inventory) -> str:
    """The key of account `mine`, holding MINE (its list columns set) and FRESH (all defaults);
    account `theirs` holds THEIRS."""
    mine = inventory.account("mine")
    inventory.load(
        "mine",
        [
            number_record(
                id=MINE,
                connection_id="c1",
                connection_name="Front Desk",
                customer_reference="ref-1",
                call_forwarding_enabled=False,
                cnam_listing_enabled=True,
                caller_id_name_enabled=True,
                call_recording_enabled=True,
                t38_fax_gateway_enabled=True,
                hd_voice_enabled=True,
                inbound_call_screening="flag_calls",
                usage_payment_method="channel",
                emergency_enabled=True,
                emergency_address_id="ea-1",
                emergency_status="active",
                updated_at="2020-01-01T00:00:00.000Z",
            ),
            number_record(id=FRESH, connection_id="c2", connection_name="Back Office"),
        ],
    )
    inventory.account("theirs")
    inventory.load("theirs", [number_record(id=THEIRS, connection_id="c9")])
    return mine


def data(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["data"]
    return item


def patch(api: ApiClient, key: str, number_id: str, body: Any) -> httpx.Response:
    return api.request("PATCH", voice(number_id), key, json=body)


def pointers(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["source"]["pointer"] for error in response.json()["errors"]]


def listed(api: ApiClient, key: str, query: str = "", path: str = LIST) -> list[dict[str, Any]]:
    response = api.get(path, key, query)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]
    return items


def ids(api: ApiClient, key: str, query: str = "", path: str = LIST) -> list[str]:
    return [item["id"] for item in listed(api, key, query, path)]


# GET ----------------------------------------------------------------------------------------------


def test_a_fresh_number_shows_what_telnyx_shows_for_one(client: ApiClient, key: str) -> None:
    item = data(client.get(voice(FRESH), key))
    phone_number = item.pop("phone_number")
    assert phone_number.startswith("+1720")
    assert item == {
        "id": FRESH,
        "record_type": "voice_settings",
        "connection_id": "c2",
        "tech_prefix_enabled": False,
        "translated_number": "",
        "call_forwarding": {
            "call_forwarding_enabled": True,
            "forwards_to": "",
            "forwarding_type": "always",
        },
        "cnam_listing": {"cnam_listing_enabled": False, "cnam_listing_details": ""},
        "usage_payment_method": "pay-per-minute",
        "media_features": {
            "rtp_auto_adjust_enabled": True,
            "accept_any_rtp_packets_enabled": False,
            "t38_fax_gateway_enabled": False,
        },
        "call_recording": {
            "inbound_call_recording_enabled": False,
            "inbound_call_recording_format": "wav",
            "inbound_call_recording_channels": "single",
        },
        "inbound_call_screening": "disabled",
        "caller_id_name_enabled": False,
        "hd_voice_enabled": False,
        "emergency": {"emergency_enabled": False, "emergency_status": "disabled"},
    }


def test_the_settings_the_list_shows_are_the_lists_values(client: ApiClient, key: str) -> None:
    item = data(client.get(voice(MINE), key))
    number = data(client.get(f"{LIST}/{MINE}", key))
    assert item["call_forwarding"]["call_forwarding_enabled"] is number["call_forwarding_enabled"]
    assert item["cnam_listing"]["cnam_listing_enabled"] is number["cnam_listing_enabled"]
    assert item["media_features"]["t38_fax_gateway_enabled"] is number["t38_fax_gateway_enabled"]
    recording = item["call_recording"]["inbound_call_recording_enabled"]
    assert recording is number["call_recording_enabled"]
    for name in (
        "caller_id_name_enabled",
        "hd_voice_enabled",
        "inbound_call_screening",
        "connection_id",
        "customer_reference",
    ):
        assert item[name] == number[name], name
    assert item["usage_payment_method"] == "channel"
    assert item["emergency"] == {
        "emergency_enabled": True,
        "emergency_address_id": "ea-1",
        "emergency_status": "active",
    }


def test_another_accounts_number_answers_as_one_that_does_not_exist(
    client: ApiClient, key: str
) -> None:
    theirs = client.get(voice(THEIRS), key)
    missing = client.get(voice("3001"), key)
    assert theirs.status_code == missing.status_code == 404
    assert [e["code"] for e in theirs.json()["errors"]] == ["10005"]


@pytest.mark.parametrize("method", ["GET", "PATCH"])
@pytest.mark.parametrize("number_id", ["abc", "01", "0", "-1"])
def test_a_malformed_id_is_400_invalid_id(
    client: ApiClient, key: str, method: str, number_id: str
) -> None:
    response = client.request(method, voice(number_id), key, json={})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["source"]) == ("10006", {"parameter": "id"})


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_other_methods_are_405(client: ApiClient, key: str, method: str) -> None:
    response = client.request(method, voice(MINE), key)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PATCH"


def test_authentication_comes_before_the_id(client: ApiClient, key: str) -> None:
    assert client.get(voice("abc"), "wrong-key").status_code == 401


# PATCH --------------------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_given(client: ApiClient, key: str) -> None:
    before = data(client.get(voice(MINE), key))
    after = data(patch(client, key, MINE, {"tech_prefix_enabled": True}))
    assert after == {**before, "tech_prefix_enabled": True}


def test_patch_of_a_nested_object_changes_only_the_keys_given(client: ApiClient, key: str) -> None:
    before = data(client.get(voice(MINE), key))
    body = {"call_forwarding": {"forwards_to": "+13035559123"}}
    after = data(patch(client, key, MINE, body))
    assert after["call_forwarding"] == {**before["call_forwarding"], "forwards_to": "+13035559123"}
    assert {**after, "call_forwarding": before["call_forwarding"]} == before


EVERY_SETTING = {
    "tech_prefix_enabled": True,
    "translated_number": "+13035559999",
    "call_forwarding": {
        "call_forwarding_enabled": True,
        "forwards_to": "+13035559123",
        "forwarding_type": "on-failure",
    },
    "cnam_listing": {"cnam_listing_enabled": True, "cnam_listing_details": "Acme 42"},
    "usage_payment_method": "pay-per-minute",
    "media_features": {
        "rtp_auto_adjust_enabled": False,
        "accept_any_rtp_packets_enabled": True,
        "t38_fax_gateway_enabled": False,
    },
    "call_recording": {
        "inbound_call_recording_enabled": False,
        "inbound_call_recording_format": "mp3",
        "inbound_call_recording_channels": "dual",
    },
    "inbound_call_screening": "reject_calls",
    "caller_id_name_enabled": False,
    "hd_voice_enabled": False,
}


def test_patch_answers_the_whole_object_as_get_then_shows_it(client: ApiClient, key: str) -> None:
    answered = data(patch(client, key, MINE, EVERY_SETTING))
    assert {name: answered[name] for name in EVERY_SETTING} == EVERY_SETTING
    assert data(client.get(voice(MINE), key)) == answered


def test_patch_moves_updated_at_on(client: ApiClient, key: str) -> None:
    data(patch(client, key, MINE, {"translated_number": "12345"}))
    assert data(client.get(f"{LIST}/{MINE}", key))["updated_at"] > "2020-01-01T00:00:00.000Z"


def test_patch_connection_id_moves_the_number_to_that_connection(
    client: ApiClient, key: str
) -> None:
    assert data(patch(client, key, MINE, {"connection_id": "c2"}))["connection_id"] == "c2"
    assert data(client.get(f"{LIST}/{MINE}", key))["connection_name"] == "Back Office"


def test_patch_connection_id_empty_removes_the_connection(client: ApiClient, key: str) -> None:
    assert "connection_id" not in data(patch(client, key, MINE, {"connection_id": ""}))
    assert data(client.get(f"{LIST}/{MINE}", key))["connection_name"] is None


def test_an_unknown_connection_is_422_and_changes_nothing(client: ApiClient, key: str) -> None:
    before = data(client.get(voice(MINE), key))
    response = patch(client, key, MINE, {"connection_id": "c9", "tech_prefix_enabled": True})
    assert pointers(response) == ["/connection_id"]
    assert [e["code"] for e in response.json()["errors"]] == ["10013"]
    assert data(client.get(voice(MINE), key)) == before


def test_enabling_a_cnam_listing_without_details_is_422(client: ApiClient, key: str) -> None:
    response = patch(client, key, FRESH, {"cnam_listing": {"cnam_listing_enabled": True}})
    assert pointers(response) == ["/cnam_listing/cnam_listing_details"]
    assert data(client.get(voice(FRESH), key))["cnam_listing"]["cnam_listing_enabled"] is False


def test_a_cnam_listing_keeps_its_details_when_disabled(client: ApiClient, key: str) -> None:
    listing = {"cnam_listing_enabled": True, "cnam_listing_details": "ACME"}
    data(patch(client, key, FRESH, {"cnam_listing": listing}))
    after = data(patch(client, key, FRESH, {"cnam_listing": {"cnam_listing_enabled": False}}))
    assert after["cnam_listing"] == {"cnam_listing_enabled": False, "cnam_listing_details": "ACME"}


def test_another_accounts_number_is_not_changed(client: ApiClient, key: str) -> None:
    assert patch(client, key, THEIRS, {"tech_prefix_enabled": True}).status_code == 404


def test_an_invalid_body_is_checked_before_the_number(client: ApiClient, key: str) -> None:
    assert pointers(patch(client, key, "3001", {"tech_prefix_enabled": 1})) == [
        "/tech_prefix_enabled"
    ]
    assert patch(client, key, "3001", {"tech_prefix_enabled": True}).status_code == 404


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"tech_prefix_enabled": "true"}, "/tech_prefix_enabled"),
        ({"translated_number": None}, "/translated_number"),
        ({"translated_number": "+1 303"}, "/translated_number"),
        ({"usage_payment_method": "free"}, "/usage_payment_method"),
        ({"inbound_call_screening": "block"}, "/inbound_call_screening"),
        ({"caller_id_name_enabled": 0}, "/caller_id_name_enabled"),
        ({"connection_id": 12}, "/connection_id"),
        ({"connection_id": "a\x00b"}, "/connection_id"),
        ({"call_forwarding": []}, "/call_forwarding"),
        ({"call_forwarding": {"forwards_to": "3035559123"}}, "/call_forwarding/forwards_to"),
        ({"call_forwarding": {"forwarding_type": "never"}}, "/call_forwarding/forwarding_type"),
        ({"call_forwarding": {"enabled": True}}, "/call_forwarding/enabled"),
        (
            {"cnam_listing": {"cnam_listing_details": "x" * 16}},
            "/cnam_listing/cnam_listing_details",
        ),
        ({"cnam_listing": {"cnam_listing_details": "a-b"}}, "/cnam_listing/cnam_listing_details"),
        (
            {"media_features": {"rtp_auto_adjust_enabled": None}},
            "/media_features/rtp_auto_adjust_enabled",
        ),
        (
            {"call_recording": {"inbound_call_recording_format": "ogg"}},
            "/call_recording/inbound_call_recording_format",
        ),
        ({"emergency": {"emergency_enabled": True}}, "/emergency"),
        ({"customer_reference": "x"}, "/customer_reference"),
        ({"id": MINE}, "/id"),
        ({"record_type": "voice_settings"}, "/record_type"),
        ({"phone_number": "+13035551234"}, "/phone_number"),
        ({"tags": []}, "/tags"),
        ({"a/b": 1}, "/a~1b"),
    ],
)
def test_an_invalid_field_is_422_naming_it(
    client: ApiClient, key: str, body: dict[str, Any], pointer: str
) -> None:
    response = patch(client, key, MINE, body)
    assert pointers(response) == [pointer]
    assert [e["code"] for e in response.json()["errors"]] == ["10015"]


def test_every_invalid_field_is_reported_at_once(client: ApiClient, key: str) -> None:
    body = {"tech_prefix_enabled": 1, "call_forwarding": {"forwards_to": 1, "x": 2}, "id": "1"}
    assert set(pointers(patch(client, key, MINE, body))) == {
        "/tech_prefix_enabled",
        "/call_forwarding/forwards_to",
        "/call_forwarding/x",
        "/id",
    }


def test_a_body_that_is_not_an_object_is_422(client: ApiClient, key: str) -> None:
    assert pointers(patch(client, key, MINE, ["tech_prefix_enabled"])) == [""]


def test_malformed_json_is_400(client: ApiClient, key: str) -> None:
    response = client.request("PATCH", voice(MINE), key, content=b"{tech")
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["errors"]] == ["10023"]


# The lists after a PATCH --------------------------------------------------------------------------


def test_call_forwarding_shows_in_the_list_and_its_item(api: ApiClient, key: str) -> None:
    assert listed(api, key)  # warm the caches and the index
    data(patch(api, key, FRESH, {"call_forwarding": {"call_forwarding_enabled": False}}))
    shown = {item["id"]: item["call_forwarding_enabled"] for item in listed(api, key)}
    assert shown == {MINE: False, FRESH: False}


def test_usage_payment_method_is_found_by_the_lists_filter_and_sort(
    api: ApiClient, key: str
) -> None:
    query = "filter[voice.usage_payment_method]=channel"
    assert ids(api, key, query) == [MINE]
    data(patch(api, key, MINE, {"usage_payment_method": "pay-per-minute"}))
    data(patch(api, key, FRESH, {"usage_payment_method": "channel"}))
    assert ids(api, key, query) == [FRESH]
    assert ids(api, key, query, VOICE_LIST) == [FRESH]
    assert ids(api, key, "sort=usage_payment_method") == [FRESH, MINE]


def test_connection_id_is_found_by_the_lists_filters(api: ApiClient, key: str) -> None:
    assert ids(api, key, "filter[connection_id]=c2") == [FRESH]
    data(patch(api, key, MINE, {"connection_id": "c2"}))
    assert sorted(ids(api, key, "filter[connection_id]=c2")) == [MINE, FRESH]
    query = "filter[connection_name][contains]=front"
    assert ids(api, key, query, VOICE_LIST) == []


# GET /v2/phone_numbers/voice ----------------------------------------------------------------------


def test_each_item_is_the_numbers_voice_settings(api: ApiClient, key: str) -> None:
    data(patch(api, key, FRESH, {"translated_number": "abc"}))
    for item in listed(api, key, path=VOICE_LIST):
        assert item == data(api.get(voice(item["id"]), key))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("filter[connection_name][contains]=DESK", [MINE]),
        ("filter[connection_name][contains]=offic", [FRESH]),
        ("filter[customer_reference]=ref-1", [MINE]),
        ("filter[voice.usage_payment_method]=pay-per-minute", [FRESH]),
        ("filter[phone_number]=1720", [FRESH, MINE]),
        ("filter[phone_number]=555-", []),
    ],
)
def test_a_filter_finds_the_numbers_it_names(
    api: ApiClient, key: str, query: str, expected: list[str]
) -> None:
    assert ids(api, key, query, VOICE_LIST) == expected


@pytest.mark.parametrize("sort", ["", "sort=phone_number", "sort=connection_name"])
def test_sorts_and_pages_are_the_lists(api: ApiClient, key: str, sort: str) -> None:
    pages = [ids(api, key, f"{sort}&page[size]=1&page[number]={n}", VOICE_LIST) for n in (1, 2)]
    assert [i for page in pages for i in page] == ids(api, key, sort)
    meta = api.get(VOICE_LIST, key, f"{sort}&page[size]=1").json()["meta"]
    assert meta == {"total_pages": 2, "total_results": 2, "page_number": 1, "page_size": 1}


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("filter[connection_name][contains]=de", "filter[connection_name][contains]"),
        ("filter[connection_name][eq]=Front Desk", "filter[connection_name][eq]"),
        ("filter[voice.connection_name][contains]=desk", "filter[voice.connection_name][contains]"),
        ("filter[tag]=a", "filter[tag]"),
        ("filter[phone_number]=17", "filter[phone_number]"),
        ("page[size]=0", "page[size]"),
        ("sort=created_at", "sort"),
    ],
)
def test_an_invalid_parameter_is_400_naming_it(
    api: ApiClient, key: str, query: str, parameter: str
) -> None:
    response = api.get(VOICE_LIST, key, query)
    assert response.status_code == 400
    assert [e["source"]["parameter"] for e in response.json()["errors"]] == [parameter]


# The served document ------------------------------------------------------------------------------


def test_filter_table_has_the_contracts_filters() -> None:
    operation = documents()[API_CONTRACT_URI]["paths"]["/phone_numbers/voice"]["get"]
    [contract] = [p for p in operation["parameters"] if p.get("name") == "filter"]
    assert set(VOICE_FILTERS.filters) == set(contract["schema"]["properties"])


def test_served_request_schema_has_every_voice_setting_as_the_server_checks_it() -> None:
    schemas = load_openapi_document()["components"]["schemas"]
    request = schemas["UpdatePhoneNumberVoiceSettingsRequest"]["properties"]
    for setting in VOICE_SETTINGS:
        if setting.group is None:
            schema = request[setting.name]
        else:
            group = schemas[request[setting.group]["$ref"].rsplit("/", 1)[-1]]
            assert group["additionalProperties"] is False
            schema = group["properties"][setting.name]
        assert schema["type"] == ("boolean" if setting.is_boolean else "string"), setting.name
        assert schema.get("enum", []) == list(setting.choices), setting.name
        assert schema.get("pattern") == setting.pattern, setting.name


def test_the_settings_are_the_contracts_request_fields_with_its_values() -> None:
    schemas = documents()[API_CONTRACT_URI]["components"]["schemas"]
    request = schemas["UpdatePhoneNumberVoiceSettingsRequest"]["properties"]
    taken = {setting.group or setting.name for setting in VOICE_SETTINGS}
    assert set(request) <= taken
    for setting in VOICE_SETTINGS:
        if setting.group is None:
            holder = request.get(setting.name)
        else:
            holder = schemas[request[setting.group]["$ref"].rsplit("/", 1)[-1]]["properties"]
            holder = holder[setting.name]
        if holder is not None:  # hd_voice_enabled is this server's addition
            assert holder.get("enum", []) == list(setting.choices), setting.name
