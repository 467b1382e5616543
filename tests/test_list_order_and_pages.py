"""Sort orders and pagination of GET /v2/phone_numbers."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"


def page(api: ApiClient, key: str, query: str = "") -> dict[str, Any]:
    response = api.get(LIST, key, query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["data"]]


def test_default_order_is_newest_created_first_then_larger_id(
    api: ApiClient, inventory: Inventory
) -> None:
    key = inventory.account("owner")
    inventory.load(
        "owner",
        [
            number_record(id="10", created_at="2020-01-01T00:00:00Z"),
            number_record(id="30", created_at="2021-01-01T00:00:00Z"),
            number_record(id="9", created_at="2021-01-01T00:00:00Z"),
            number_record(id="100", created_at="2019-01-01T00:00:00Z"),
        ],
    )
    assert ids(page(api, key)) == ["30", "9", "10", "100"]


def test_sort_purchased_at_is_oldest_first_ties_by_id_as_integers(
    api: ApiClient, inventory: Inventory
) -> None:
    key = inventory.account("owner")
    inventory.load(
        "owner",
        [
            number_record(id="100", purchased_at="2020-01-01T00:00:00Z"),
            number_record(id="20", purchased_at="2020-01-01T00:00:00Z"),
            number_record(id="3", purchased_at="2021-01-01T00:00:00Z"),
        ],
    )
    assert ids(page(api, key, "sort=purchased_at")) == ["20", "100", "3"]


def test_sort_phone_number_orders_the_e164_string(api: ApiClient, inventory: Inventory) -> None:
    key = inventory.account("owner")
    numbers = ["+447400123456", "+14165550123", "+18005550100", "+33612345678"]
    inventory.load("owner", [number_record(phone_number=n) for n in numbers])
    body = page(api, key, "sort=phone_number")
    assert [item["phone_number"] for item in body["data"]] == sorted(numbers)


def test_sort_connection_name_ignores_case_and_puts_numbers_without_one_last(
    api: ApiClient, inventory: Inventory
) -> None:
    key = inventory.account("owner")
    inventory.load(
        "owner",
        [
            number_record(id="1"),
            number_record(id="2", connection_id="c", connection_name="beta"),
            number_record(id="3", connection_id="a", connection_name="Alpha"),
            number_record(id="4", connection_id="b", connection_name="BETA two"),
            number_record(id="5", connection_id="n"),  # a connection without a name
            number_record(id="6", connection_id="c"),
        ],
    )
    assert ids(page(api, key, "sort=connection_name")) == ["3", "2", "6", "4", "1", "5"]


def test_sort_connection_name_orders_numbers_without_a_name_by_id_alone(
    api: ApiClient, inventory: Inventory
) -> None:
    """No connection, or a connection without a name: the same (null) name, whichever it is."""
    key = inventory.account("owner")
    inventory.load(
        "owner",
        [
            number_record(id="1"),
            number_record(id="2", connection_id="n"),
            number_record(id="3"),
            number_record(id="4", connection_id="m"),
        ],
    )
    assert ids(page(api, key, "sort=connection_name")) == ["1", "2", "3", "4"]


def test_sort_usage_payment_method_puts_channel_first(api: ApiClient, inventory: Inventory) -> None:
    key = inventory.account("owner")
    inventory.load(
        "owner",
        [
            number_record(id="1", usage_payment_method="pay-per-minute"),
            number_record(id="2", usage_payment_method="channel"),
            number_record(id="3", usage_payment_method="channel"),
        ],
    )
    assert ids(page(api, key, "sort=usage_payment_method")) == ["2", "3", "1"]


@pytest.mark.parametrize("value", ["created_at", "-purchased_at", "PHONE_NUMBER", ""])
def test_unknown_sort_is_rejected(api: ApiClient, inventory: Inventory, value: str) -> None:
    key = inventory.account("owner")
    response = api.get(LIST, key, {"sort": value})
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"parameter": "sort"}


@pytest.fixture
def twenty_five(inventory: Inventory) -> str:
    key = inventory.account("owner")
    inventory.load("owner", [number_record() for _ in range(25)])
    return key


def test_default_page_is_the_first_twenty(api: ApiClient, twenty_five: str) -> None:
    body = page(api, twenty_five)
    assert len(body["data"]) == 20
    assert body["meta"] == {
        "page_number": 1,
        "page_size": 20,
        "total_results": 25,
        "total_pages": 2,
    }


def test_last_page_holds_the_rest(api: ApiClient, twenty_five: str) -> None:
    body = page(api, twenty_five, "page[number]=3&page[size]=10")
    assert len(body["data"]) == 5
    assert body["meta"] == {
        "page_number": 3,
        "page_size": 10,
        "total_results": 25,
        "total_pages": 3,
    }


def test_pages_cover_every_number_once(api: ApiClient, twenty_five: str) -> None:
    for sort in ["", "&sort=purchased_at", "&sort=connection_name", "&sort=usage_payment_method"]:
        seen = []
        for number in range(1, 5):
            seen += ids(page(api, twenty_five, f"page[size]=7&page[number]={number}{sort}"))
        assert len(seen) == 25
        assert len(set(seen)) == 25


def test_page_past_the_end_is_empty_with_exact_meta(api: ApiClient, twenty_five: str) -> None:
    body = page(api, twenty_five, "page[number]=4&page[size]=10")
    assert body["data"] == []
    assert body["meta"] == {
        "page_number": 4,
        "page_size": 10,
        "total_results": 25,
        "total_pages": 3,
    }


def test_largest_page_number_is_answered(api: ApiClient, twenty_five: str) -> None:
    body = page(api, twenty_five, f"page[number]={2**63 - 1}&page[size]=250")
    assert body["data"] == []
    assert body["meta"]["page_number"] == 2**63 - 1


def test_page_size_250_is_allowed(api: ApiClient, twenty_five: str) -> None:
    assert page(api, twenty_five, "page[size]=250")["meta"]["total_pages"] == 1


def test_empty_account_has_zero_pages(api: ApiClient, inventory: Inventory) -> None:
    key = inventory.account("empty")
    body = page(api, key)
    assert body == {
        "data": [],
        "meta": {"page_number": 1, "page_size": 20, "total_results": 0, "total_pages": 0},
    }


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("page[size]", "0"),
        ("page[size]", "251"),
        ("page[size]", "-1"),
        ("page[size]", "ten"),
        ("page[size]", "1.5"),
        ("page[size]", ""),
        ("page[number]", "0"),
        ("page[number]", str(2**63)),
        ("page[number]", "+1"),
        ("page[number]", " 1"),
    ],
)
def test_page_values_outside_their_range_are_rejected(
    api: ApiClient, twenty_five: str, parameter: str, value: str
) -> None:
    response = api.get(LIST, twenty_five, {parameter: value})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["source"] == {"parameter": parameter}
    assert error["code"] == "10015"


def test_every_page_of_a_filtered_sort_follows_the_sort_through_a_large_match_set(
    api: ApiClient, inventory: Inventory
) -> None:
    """Large enough that a partial sort of the matches would show if it were left unfinished."""
    rng = random.Random(5)
    key = inventory.account("owner")
    records = [
        number_record(
            purchased_at=f"20{rng.randrange(10, 25)}-0{rng.randrange(1, 10)}-01T00:00:00Z",
            status=rng.choice(["active", "port-pending"]),
        )
        for _ in range(600)
    ]
    inventory.load("owner", records)
    active = sum(r["status"] == "active" for r in records)
    seen: list[tuple[str, int]] = []
    for number in range(1, active // 25 + 2):
        body = page(
            api, key, f"filter[status]=active&sort=purchased_at&page[size]=25&page[number]={number}"
        )
        seen += [(item["purchased_at"], int(item["id"])) for item in body["data"]]
    assert len({i for _, i in seen}) == active
    assert seen == sorted(seen)
