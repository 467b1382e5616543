"""GET /v2/phone_numbers/slim: the list's numbers, filters, sorts and pages, shown slim.

Every answer is checked against the contract by the test client; the `api` fixture runs each test
on both query paths (the in-memory index and SQL).
"""

from __future__ import annotations

from typing import Any

import pytest

from numbers_api.query.filters import SLIM_FILTERS
from numbers_api.serialisation import SLIM_PROPERTIES
from tests.conftest import ApiClient
from tests.support.contract import API_CONTRACT_URI, documents
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"
SLIM = "/v2/phone_numbers/slim"


def load(inventory: Inventory, *records: dict[str, Any]) -> tuple[str, list[str]]:
    """A new account holding `records`; returns its key and the numbers in order."""
    key = inventory.account("owner")
    inventory.load("owner", records)
    return key, [r["phone_number"] for r in records]


def items(api: ApiClient, key: str, query: str = "", path: str = SLIM) -> list[dict[str, Any]]:
    response = api.get(path, key, query)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def numbers(api: ApiClient, key: str, query: str = "", path: str = SLIM) -> list[str]:
    return [item["phone_number"] for item in items(api, key, query, path)]


def parameters(response: Any) -> list[str]:
    assert response.status_code == 400, response.text
    return [error["source"]["parameter"] for error in response.json()["errors"]]


FULL = number_record(
    tags=["sales"],
    external_pin="1234",
    connection_id="c1",
    connection_name="Front Desk",
    customer_reference="ref-1",
    billing_group_id="bg-1",
    emergency_address_id="ea-1",
)


# What it shows --------------------------------------------------------------------------------


def test_an_item_has_the_slim_properties_with_the_lists_values(
    api: ApiClient, inventory: Inventory
) -> None:
    key, _ = load(inventory, FULL)
    [slim] = items(api, key)
    [full] = items(api, key, path=LIST)
    assert slim == {name: full[name] for name in SLIM_PROPERTIES}


def test_tags_and_connection_name_are_left_out_unless_asked_for(
    api: ApiClient, inventory: Inventory
) -> None:
    key, _ = load(inventory, FULL)
    [item] = items(api, key, "include_tags=false&include_connection=false")
    assert "tags" not in item
    assert "connection_name" not in item


def test_include_tags_shows_the_tags(api: ApiClient, inventory: Inventory) -> None:
    key, _ = load(inventory, FULL)
    [item] = items(api, key, "include_tags=true")
    assert item["tags"] == ["sales"]
    assert "connection_name" not in item


def test_include_connection_shows_the_connection_name(api: ApiClient, inventory: Inventory) -> None:
    key, _ = load(inventory, FULL)
    [item] = items(api, key, "include_connection=true")
    assert (item["connection_id"], item["connection_name"]) == ("c1", "Front Desk")
    assert "tags" not in item


def test_properties_without_a_value_are_left_out(api: ApiClient, inventory: Inventory) -> None:
    key, _ = load(inventory, number_record())
    [item] = items(api, key, "include_connection=true&include_tags=true")
    for name in (
        "external_pin",
        "connection_id",
        "connection_name",
        "customer_reference",
        "billing_group_id",
        "emergency_address_id",
    ):
        assert name not in item
    assert item["tags"] == []


# Filters, sorts and pages ---------------------------------------------------------------------

FILTER_RECORDS = (
    number_record(
        tags=["sales"], status="port-pending", connection_id="c1", connection_name="Desk"
    ),
    number_record(tags=["support"], usage_payment_method="channel", country_iso_alpha2="CA"),
    number_record(customer_reference="ref-1", billing_group_id="bg-1", source_type="port_request"),
    number_record(phone_number_type="toll_free", emergency_address_id="ea-1"),
)


@pytest.mark.parametrize(
    "query",
    [
        "filter[tag]=sales",
        "filter[phone_number]=720",
        "filter[status]=port-pending",
        "filter[country_iso_alpha2]=US,CA",
        "filter[connection_id]=c1",
        "filter[voice.connection_name][starts_with]=des",
        "filter[voice.usage_payment_method]=channel",
        "filter[billing_group_id]=null",
        "filter[emergency_address_id]=ea-1",
        "filter[customer_reference]=ref-1",
        "filter[number_type][eq]=toll_free",
        "filter[source]=ported",
    ],
)
def test_a_filter_finds_what_it_finds_in_the_list(
    api: ApiClient, inventory: Inventory, query: str
) -> None:
    key, _ = load(inventory, *FILTER_RECORDS)
    assert numbers(api, key, query) == numbers(api, key, query, path=LIST)


def test_filters_need_no_include_parameter(api: ApiClient, inventory: Inventory) -> None:
    key, loaded = load(inventory, *FILTER_RECORDS)
    query = "filter[tag]=sales&filter[voice.connection_name][eq]=desk"
    assert numbers(api, key, query) == [loaded[0]]


@pytest.mark.parametrize("status", ["port_pending", "port-pending"])
def test_status_port_pending_is_taken_in_both_spellings(
    api: ApiClient, inventory: Inventory, status: str
) -> None:
    key, loaded = load(inventory, *FILTER_RECORDS)
    assert numbers(api, key, f"filter[status]={status}") == [loaded[0]]


def test_without_tags_is_not_a_slim_filter(api: ApiClient, inventory: Inventory) -> None:
    key, _ = load(inventory, *FILTER_RECORDS)
    response = api.get(SLIM, key, "filter[without_tags]=true")
    assert parameters(response) == ["filter[without_tags]"]


@pytest.mark.parametrize(
    "sort", ["", "sort=purchased_at", "sort=phone_number", "sort=connection_name"]
)
def test_pages_follow_the_lists_order(api: ApiClient, inventory: Inventory, sort: str) -> None:
    key, _ = load(inventory, *(number_record() for _ in range(5)), *FILTER_RECORDS)
    pages = [numbers(api, key, f"{sort}&page[size]=3&page[number]={n}") for n in (1, 2, 3)]
    assert [n for page in pages for n in page] == numbers(
        api, key, f"{sort}&page[size]=9", path=LIST
    )


def test_meta_counts_every_match(api: ApiClient, inventory: Inventory) -> None:
    key, _ = load(inventory, *(number_record(tags=["a"]) for _ in range(5)), number_record())
    meta = api.get(SLIM, key, "filter[tag]=a&page[size]=2&page[number]=3").json()["meta"]
    assert meta == {"total_pages": 3, "total_results": 5, "page_number": 3, "page_size": 2}


def test_another_accounts_numbers_never_appear(api: ApiClient, inventory: Inventory) -> None:
    key, mine = load(inventory, number_record(tags=["shared"]))
    inventory.account("theirs")
    inventory.load("theirs", [number_record(tags=["shared"])])
    assert numbers(api, key, "filter[tag]=shared") == mine


# Invalid parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("include_tags=yes", "include_tags"),
        ("include_connection=", "include_connection"),
        ("include_tags=true&include_tags=false", "include_tags"),
        ("include_tags[x]=true", "include_tags[x]"),
        ("filter[status]=port_failed", "filter[status]"),
        ("page[size]=251", "page[size]"),
        ("sort=created_at", "sort"),
    ],
)
def test_an_invalid_parameter_is_400_naming_it(
    api: ApiClient, inventory: Inventory, query: str, parameter: str
) -> None:
    key, _ = load(inventory, number_record())
    assert parameters(api.get(SLIM, key, query)) == [parameter]


def test_every_invalid_parameter_is_reported_at_once(api: ApiClient, inventory: Inventory) -> None:
    key, _ = load(inventory, number_record())
    response = api.get(SLIM, key, "include_tags=1&page[number]=0&filter[tag]=")
    assert set(parameters(response)) == {"include_tags", "page[number]", "filter[tag]"}


def test_authentication_comes_first(api: ApiClient, inventory: Inventory) -> None:
    load(inventory, number_record())
    assert api.get(SLIM, "wrong-key", "include_tags=yes").status_code == 401


# Caches and writes -----------------------------------------------------------------------------


def test_the_slim_list_and_the_list_are_cached_apart(api: ApiClient, inventory: Inventory) -> None:
    key, _ = load(inventory, FULL)
    [full] = items(api, key, "page[size]=5", path=LIST)
    [slim] = items(api, key, "page[size]=5")
    assert "tags" in full
    assert "tags" not in slim


def test_a_write_shows_at_once(api: ApiClient, inventory: Inventory) -> None:
    key, _ = load(inventory, FULL)
    [before] = items(api, key, "include_tags=true")
    response = api.request("PATCH", f"{LIST}/{before['id']}", key, json={"tags": ["vip"]})
    assert response.status_code == 200, response.text
    [after] = items(api, key, "include_tags=true")
    assert after["tags"] == ["vip"]
    assert numbers(api, key, "filter[tag]=vip") == [after["phone_number"]]


# The served document ---------------------------------------------------------------------------


def test_filter_table_has_the_contracts_filters() -> None:
    operation = documents()[API_CONTRACT_URI]["paths"]["/phone_numbers/slim"]["get"]
    [contract] = [p for p in operation["parameters"] if p.get("name") == "filter"]
    assert set(SLIM_FILTERS.filters) == set(contract["schema"]["properties"])
