"""Every `filter[...]` of GET /v2/phone_numbers, on the real app and a real SQLite file."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"


def listed(api: ApiClient, key: str, query: str | dict[str, Any]) -> set[str]:
    response = api.get(LIST, key, query)
    assert response.status_code == 200, response.text
    return {item["phone_number"] for item in response.json()["data"]}


def load(inventory: Inventory, *records: dict[str, Any]) -> tuple[str, list[str]]:
    """A new account holding `records`; returns its key and the numbers in order."""
    key = inventory.account("owner")
    inventory.load("owner", records)
    return key, [r["phone_number"] for r in records]


def test_tag_matches_numbers_carrying_that_exact_tag(api: ApiClient, inventory: Inventory) -> None:
    key, (sales, both, _other, _none) = load(
        inventory,
        number_record(tags=["sales"]),
        number_record(tags=["support", "sales"]),
        number_record(tags=["Sales", "salesforce"]),
        number_record(),
    )
    assert listed(api, key, "filter[tag]=sales") == {sales, both}


def test_without_tags_true_finds_untagged_numbers(api: ApiClient, inventory: Inventory) -> None:
    key, (_tagged, untagged) = load(inventory, number_record(tags=["a"]), number_record())
    assert listed(api, key, "filter[without_tags]=true") == {untagged}


def test_without_tags_false_does_not_filter(api: ApiClient, inventory: Inventory) -> None:
    key, numbers = load(inventory, number_record(tags=["a"]), number_record())
    assert listed(api, key, "filter[without_tags]=false") == set(numbers)


@pytest.mark.parametrize(
    "query", ["filter[phone_number]=720200", "filter[phone_number]=%2B1720200"]
)
def test_phone_number_matches_a_digit_substring(
    api: ApiClient, inventory: Inventory, query: str
) -> None:
    key, numbers = load(
        inventory,
        number_record(phone_number="+17202001234"),
        number_record(phone_number="+13037201999"),
        number_record(phone_number="+13035550100"),
    )
    assert listed(api, key, query) == {numbers[0]}


def test_phone_number_finds_digits_anywhere_in_the_number(
    api: ApiClient, inventory: Inventory
) -> None:
    key, numbers = load(
        inventory,
        number_record(phone_number="+17202001234"),
        number_record(phone_number="+13037202000"),
    )
    assert listed(api, key, "filter[phone_number]=720") == set(numbers)


def test_phone_number_with_a_non_digit_matches_nothing(
    api: ApiClient, inventory: Inventory
) -> None:
    key, _ = load(inventory, number_record(phone_number="+17202001234"))
    response = api.get(LIST, key, "filter[phone_number]=720-200")
    assert response.status_code == 200
    assert response.json()["data"] == []
    assert response.json()["meta"]["total_results"] == 0


@pytest.mark.parametrize("value", ["12", "%2B12", "%2B"])
def test_phone_number_with_fewer_than_three_digits_is_rejected(
    api: ApiClient, inventory: Inventory, value: str
) -> None:
    key, _ = load(inventory, number_record())
    response = api.get(LIST, key, f"filter[phone_number]={value}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"parameter": "filter[phone_number]"}


@pytest.mark.parametrize(
    "status",
    [
        "purchase-pending",
        "purchase-failed",
        "port-pending",
        "active",
        "deleted",
        "port-failed",
        "emergency-only",
        "ported-out",
        "port-out-pending",
    ],
)
def test_status_matches_exactly(api: ApiClient, inventory: Inventory, status: str) -> None:
    other = "active" if status != "active" else "deleted"
    key, (match, _) = load(inventory, number_record(status=status), number_record(status=other))
    assert listed(api, key, {"filter[status]": status}) == {match}


def test_status_outside_the_filter_enum_is_rejected(api: ApiClient, inventory: Inventory) -> None:
    key, _ = load(inventory, number_record(status="provision-pending"))
    response = api.get(LIST, key, "filter[status]=provision-pending")
    assert response.status_code == 400
    assert "port-out-pending" in response.json()["errors"][0]["detail"]


@pytest.fixture
def countries(inventory: Inventory) -> tuple[str, dict[str, str]]:
    records = {
        "US": number_record(),
        "CA": number_record(phone_number="+14165550123"),
        "GB": number_record(phone_number="+447400123456", country_iso_alpha2="GB"),
    }
    key, _ = load(inventory, *records.values())
    return key, {country: r["phone_number"] for country, r in records.items()}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("filter[country_iso_alpha2]=US", {"US"}),
        ("filter[country_iso_alpha2]=us", {"US"}),
        ("filter[country_iso_alpha2]=US%2CCA", {"US", "CA"}),
        ("filter[country_iso_alpha2]=US,gb", {"US", "GB"}),
        ("filter[country_iso_alpha2]=US&filter[country_iso_alpha2]=CA", {"US", "CA"}),
        ("filter[country_iso_alpha2][]=GB&filter[country_iso_alpha2][]=CA", {"GB", "CA"}),
        ("filter[country_iso_alpha2]=FR", set()),
    ],
)
def test_country_takes_one_or_several_codes(
    api: ApiClient, countries: tuple[str, dict[str, str]], query: str, expected: set[str]
) -> None:
    key, numbers = countries
    assert listed(api, key, query) == {numbers[c] for c in expected}


@pytest.mark.parametrize("value", ["USA", "U", "US,", "1S", ""])
def test_country_that_is_not_two_letters_is_rejected(
    api: ApiClient, countries: tuple[str, dict[str, str]], value: str
) -> None:
    key, _ = countries
    response = api.get(LIST, key, {"filter[country_iso_alpha2]": value})
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["parameter"] == "filter[country_iso_alpha2]"


def test_connection_id_matches_exactly(api: ApiClient, inventory: Inventory) -> None:
    key, (match, _, _) = load(
        inventory,
        number_record(connection_id="111", connection_name="A"),
        number_record(connection_id="1112", connection_name="B"),
        number_record(),
    )
    assert listed(api, key, "filter[connection_id]=111") == {match}


@pytest.fixture
def connections(inventory: Inventory) -> tuple[str, dict[str, str]]:
    records = {
        "Main SIP Trunk": number_record(connection_id="1", connection_name="Main SIP Trunk"),
        "Support Trunk": number_record(connection_id="2", connection_name="Support Trunk"),
        "sip-main": number_record(connection_id="3", connection_name="sip-main"),
        "Ünïcode Straße": number_record(connection_id="4", connection_name="Ünïcode Straße"),
        None: number_record(),
    }
    key, _ = load(inventory, *records.values())
    return key, {str(name): r["phone_number"] for name, r in records.items()}


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("contains", "trunk", {"Main SIP Trunk", "Support Trunk"}),
        ("contains", "SIP", {"Main SIP Trunk", "sip-main"}),
        ("starts_with", "main", {"Main SIP Trunk"}),
        ("starts_with", "SIP", {"sip-main"}),
        ("ends_with", "MAIN", {"sip-main"}),
        ("ends_with", "trunk", {"Main SIP Trunk", "Support Trunk"}),
        ("eq", "support trunk", {"Support Trunk"}),
        ("eq", "Support", set()),
        ("contains", "STRASSE", {"Ünïcode Straße"}),
        ("eq", "ÜNÏCODE STRASSE", {"Ünïcode Straße"}),
    ],
)
def test_connection_name_operators_are_case_insensitive(
    api: ApiClient,
    connections: tuple[str, dict[str, str]],
    operator: str,
    value: str,
    expected: set[str],
) -> None:
    key, numbers = connections
    query = {f"filter[voice.connection_name][{operator}]": value}
    assert listed(api, key, query) == {numbers[name] for name in expected}


def test_connection_name_operators_combine(
    api: ApiClient, connections: tuple[str, dict[str, str]]
) -> None:
    key, numbers = connections
    query = (
        "filter[voice.connection_name][contains]=sip&filter[voice.connection_name][ends_with]=trunk"
    )
    assert listed(api, key, query) == {numbers["Main SIP Trunk"]}


@pytest.mark.parametrize("operator", ["contains", "starts_with", "ends_with"])
def test_connection_name_partial_match_needs_three_characters(
    api: ApiClient, connections: tuple[str, dict[str, str]], operator: str
) -> None:
    key, _ = connections
    response = api.get(LIST, key, {f"filter[voice.connection_name][{operator}]": "ma"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["source"]["parameter"] == f"filter[voice.connection_name][{operator}]"
    assert "3" in error["detail"]


def test_connection_name_eq_accepts_short_names(api: ApiClient, inventory: Inventory) -> None:
    key, (match, _) = load(
        inventory,
        number_record(connection_id="9", connection_name="QA"),
        number_record(connection_id="8", connection_name="QAB"),
    )
    assert listed(api, key, "filter[voice.connection_name][eq]=qa") == {match}


def test_numbers_without_a_connection_never_match_a_connection_name(
    api: ApiClient, inventory: Inventory
) -> None:
    key, _ = load(inventory, number_record(), number_record(connection_id="5"))
    assert listed(api, key, "filter[voice.connection_name][contains]=non") == set()


@pytest.mark.parametrize(
    "query",
    [
        "filter[voice.connection_name]=main",
        "filter[voice.connection_name][like]=main",
        "filter[voice.connection_name][contains][x]=main",
    ],
)
def test_connection_name_without_a_known_operator_is_rejected(
    api: ApiClient, connections: tuple[str, dict[str, str]], query: str
) -> None:
    key, _ = connections
    response = api.get(LIST, key, query)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["parameter"] == query.split("=", maxsplit=1)[0]


@pytest.mark.parametrize("method", ["pay-per-minute", "channel"])
def test_usage_payment_method_matches_exactly(
    api: ApiClient, inventory: Inventory, method: str
) -> None:
    key, (per_minute, channel) = load(
        inventory,
        number_record(usage_payment_method="pay-per-minute"),
        number_record(usage_payment_method="channel"),
    )
    expected = per_minute if method == "pay-per-minute" else channel
    assert listed(api, key, f"filter[voice.usage_payment_method]={method}") == {expected}


@pytest.mark.parametrize("field", ["billing_group_id", "emergency_address_id"])
def test_id_filters_match_exactly(api: ApiClient, inventory: Inventory, field: str) -> None:
    key, (match, _, _) = load(
        inventory, number_record(**{field: "42"}), number_record(**{field: "420"}), number_record()
    )
    assert listed(api, key, f"filter[{field}]=42") == {match}


@pytest.mark.parametrize("field", ["billing_group_id", "emergency_address_id"])
def test_id_filters_given_null_find_numbers_without_one(
    api: ApiClient, inventory: Inventory, field: str
) -> None:
    key, (_, without) = load(inventory, number_record(**{field: "42"}), number_record())
    assert listed(api, key, f"filter[{field}]=null") == {without}


def test_customer_reference_is_exact_and_case_sensitive(
    api: ApiClient, inventory: Inventory
) -> None:
    key, (match, _, _) = load(
        inventory,
        number_record(customer_reference="MY REF 001"),
        number_record(customer_reference="my ref 001"),
        number_record(customer_reference="MY REF 0012"),
    )
    assert listed(api, key, {"filter[customer_reference]": "MY REF 001"}) == {match}


@pytest.mark.parametrize("number_type", ["local", "national", "mobile", "shared_cost"])
def test_number_type_eq_matches_exactly(
    api: ApiClient, inventory: Inventory, number_type: str
) -> None:
    other = "mobile" if number_type != "mobile" else "local"
    key, (match, _) = load(
        inventory,
        number_record(phone_number_type=number_type),
        number_record(phone_number_type=other),
    )
    assert listed(api, key, f"filter[number_type][eq]={number_type}") == {match}


def test_number_type_toll_free_also_finds_legacy_tollfree(
    api: ApiClient, inventory: Inventory
) -> None:
    key, (current, legacy, _) = load(
        inventory,
        number_record(phone_number="+18005550100"),
        number_record(phone_number="+18885550100", phone_number_type="tollfree"),
        number_record(phone_number_type="local"),
    )
    assert listed(api, key, "filter[number_type][eq]=toll_free") == {current, legacy}


@pytest.mark.parametrize(
    "query",
    [
        "filter[number_type]=local",
        "filter[number_type][ne]=local",
        "filter[number_type][eq]=tollfree",
        "filter[number_type][eq]=landline",
    ],
)
def test_number_type_needs_eq_and_a_filter_enum_value(
    api: ApiClient, inventory: Inventory, query: str
) -> None:
    key, _ = load(inventory, number_record())
    response = api.get(LIST, key, query)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["parameter"] == query.split("=", maxsplit=1)[0]


@pytest.mark.parametrize(
    ("source", "source_type"), [("ported", "port_request"), ("purchased", "number_order")]
)
def test_source_maps_to_source_type(
    api: ApiClient, inventory: Inventory, source: str, source_type: str
) -> None:
    key, numbers = load(
        inventory,
        number_record(source_type="port_request"),
        number_record(source_type="number_order"),
        number_record(),
    )
    expected = numbers[0] if source_type == "port_request" else numbers[1]
    assert listed(api, key, f"filter[source]={source}") == {expected}


def test_filters_combine_with_and(api: ApiClient, inventory: Inventory) -> None:
    key, (both, _, _) = load(
        inventory,
        number_record(status="active", tags=["vip"]),
        number_record(status="active"),
        number_record(status="deleted", tags=["vip"]),
    )
    assert listed(api, key, "filter[status]=active&filter[tag]=vip") == {both}


def test_another_accounts_numbers_are_never_listed(api: ApiClient, inventory: Inventory) -> None:
    mine = inventory.account("mine")
    theirs = inventory.account("theirs")
    inventory.load("mine", [number_record(tags=["x"])])
    other = number_record(tags=["x"])
    inventory.load("theirs", [other])
    digits = other["phone_number"][1:]
    assert other["phone_number"] not in listed(api, mine, "")
    assert listed(api, mine, f"filter[phone_number]={digits}") == set()
    assert listed(api, theirs, "filter[tag]=x") == {other["phone_number"]}
