"""Number orders: made from numbers an account found or holds, in its inventory at once as
`purchase-pending`, completed in the background, held back by regulatory requirements until
they are met, cancelled; listed and shown; another account's never seen (docs/ordering.md)."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from numbers_api.cli import main
from numbers_api.ordering import runner as runner_module
from numbers_api.ordering.orders import ORDER_SECONDS_VARIABLE
from numbers_api.ordering.requirements import REQUIREMENTS
from numbers_api.query.filters import FilterSet
from numbers_api.query.order_query import (
    NUMBER_ORDER_FILTERS,
    ORDER_PHONE_NUMBER_FILTERS,
    SUB_NUMBER_ORDER_FILTERS,
    SUB_NUMBER_ORDER_RETRIEVE_FILTERS,
)
from numbers_api.store.database import Database
from numbers_api.store.faults import DatabaseUnavailable
from numbers_api.store.number_index import IndexMode
from numbers_api.store.pool import POOL_RETURN_VARIABLE
from tests.conftest import ApiClient, make_client
from tests.support.contract import ORDERING_CONTRACT_URI, documents
from tests.support.factories import Inventory, number_record
from tests.support.ordering import HOUR_MS, Pool, now_ms
from tests.test_openapi_document import list_parameters

CONNECTION, PROFILE, GROUP = "1293384261075731499", "abc85f64-5717-4562-b3fc-2c9600000000", "bg-1"
DE_ADDRESS, DE_PROOF = (r.requirement_id for r in REQUIREMENTS[("DE", "local")])


@pytest.fixture
def pool(database: Database) -> Pool:
    return Pool(database)


@pytest.fixture
def key(inventory: Inventory) -> str:
    """The key of an account that has a connection, a messaging profile and a billing group."""
    key = inventory.account("orders")
    inventory.load(
        "orders",
        [
            number_record(
                connection_id=CONNECTION,
                messaging_profile_id=PROFILE,
                billing_group_id=GROUP,
            )
        ],
    )
    return key


@pytest.fixture
def idle(database_url: str, database: Database, index_mode: IndexMode) -> ApiClient:
    """The app with no runner: orders stay pending. Lists answered from the account's index or
    by SQL alone."""
    return make_client(database_url, index_mode=index_mode, runners=False)


@pytest.fixture
def running(
    database_url: str, database: Database, monkeypatch: pytest.MonkeyPatch, index_mode: IndexMode
) -> ApiClient:
    """The app with its runners, and orders due at once."""
    monkeypatch.setenv(ORDER_SECONDS_VARIABLE, "0")
    return make_client(database_url, index_mode=index_mode)


def order(api: ApiClient, key: str, *numbers: str, **fields: Any) -> Any:
    body = {"phone_numbers": [{"phone_number": n} for n in numbers], **fields}
    return api.request("POST", "/v2/number_orders", key, json=body)


def made(api: ApiClient, key: str, *numbers: str, **fields: Any) -> dict[str, Any]:
    response = order(api, key, *numbers, **fields)
    assert response.status_code == 200, response.json()
    data: dict[str, Any] = response.json()["data"]
    return data


def completed(api: ApiClient, key: str, order_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data: dict[str, Any] = api.get(f"/v2/number_orders/{order_id}", key).json()["data"]
        if data["status"] != "pending":
            return data
        time.sleep(0.05)
    raise AssertionError(f"order {order_id} did not complete within {timeout} s")


def inventory_numbers(api: ApiClient, key: str, path: str = "/v2/phone_numbers") -> dict[str, Any]:
    items = api.get(path, key, "page[size]=250").json()["data"]
    return {item["phone_number"]: item for item in items}


def count(database: Database, table: str) -> int:
    with database.snapshot() as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# Making an order ----------------------------------------------------------------------------------


def test_an_order_answers_pending_with_its_numbers_and_settings(
    idle: ApiClient, key: str, pool: Pool
) -> None:
    numbers = pool.found("orders", 2)
    data = made(idle, key, *numbers, connection_id=CONNECTION, customer_reference="ref-1")
    assert data["status"] == "pending"
    assert data["record_type"] == "number_order"
    assert data["phone_numbers_count"] == 2
    assert data["requirements_met"] is True
    assert data["connection_id"] == CONNECTION
    assert data["customer_reference"] == "ref-1"
    assert len(data["sub_number_orders_ids"]) == 1
    assert [n["phone_number"] for n in data["phone_numbers"]] == numbers
    assert {n["status"] for n in data["phone_numbers"]} == {"pending"}


def test_ordered_numbers_are_in_the_inventory_purchase_pending_with_the_orders_settings(
    idle: ApiClient, key: str, pool: Pool
) -> None:
    [number] = pool.found("orders")
    made(
        idle,
        key,
        number,
        connection_id=CONNECTION,
        messaging_profile_id=PROFILE,
        billing_group_id=GROUP,
        customer_reference="ref-2",
    )
    listed = inventory_numbers(idle, key)[number]
    assert listed["status"] == "purchase-pending"
    assert listed["source_type"] == "number_order"
    assert listed["connection_id"] == CONNECTION
    assert listed["messaging_profile_id"] == PROFILE
    assert listed["billing_group_id"] == GROUP
    assert listed["customer_reference"] == "ref-2"
    assert listed["country_iso_alpha2"] == "US"
    assert inventory_numbers(idle, key, "/v2/phone_numbers/slim")[number]["status"] == (
        "purchase-pending"
    )
    shown = idle.get(f"/v2/phone_numbers/{listed['id']}", key).json()["data"]
    assert shown["status"] == "purchase-pending"


def test_every_view_shows_ordered_numbers(idle: ApiClient, key: str, pool: Pool) -> None:
    [number] = pool.found("orders")
    made(idle, key, number)
    for view in ("/v2/phone_numbers/voice", "/v2/phone_numbers/messaging"):
        assert number in inventory_numbers(idle, key, view)


def test_a_list_read_before_completion_shows_the_number_active_after_it(
    idle: ApiClient, key: str, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ORDER_SECONDS_VARIABLE, "0")
    [number] = pool.found("orders")
    made(idle, key, number)
    assert inventory_numbers(idle, key)[number]["status"] == "purchase-pending"  # now cached
    runner = idle.client.app.state.api.worker.orders  # type: ignore[attr-defined]
    assert runner.run_next()
    assert inventory_numbers(idle, key)[number]["status"] == "active"
    assert inventory_numbers(idle, key, "/v2/phone_numbers/slim")[number]["status"] == "active"


def test_the_list_filters_find_ordered_numbers_as_purchased(
    idle: ApiClient, key: str, pool: Pool
) -> None:
    [number] = pool.found("orders")
    made(idle, key, number)
    purchased = idle.get("/v2/phone_numbers", key, "filter[source]=purchased").json()["data"]
    assert [n["phone_number"] for n in purchased] == [number]


def test_an_order_completes_in_the_background_and_its_numbers_become_active(
    running: ApiClient, key: str, pool: Pool
) -> None:
    numbers = pool.found("orders", 2)
    order_id = made(running, key, *numbers)["id"]
    data = completed(running, key, order_id)
    assert data["status"] == "success"
    assert {n["status"] for n in data["phone_numbers"]} == {"success"}
    listed = inventory_numbers(running, key)
    assert {listed[n]["status"] for n in numbers} == {"active"}
    sub = running.get(f"/v2/sub_number_orders/{data['sub_number_orders_ids'][0]}", key)
    assert sub.json()["data"]["status"] == "success"


def test_a_completed_order_leaves_its_event_in_the_outbox(
    running: ApiClient, key: str, pool: Pool, database: Database
) -> None:
    with database.transaction() as connection:
        connection.execute("UPDATE accounts SET webhook_url = 'http://127.0.0.1:9/hook'")
    [number] = pool.found("orders")
    order_id = made(running, key, number)["id"]
    data = completed(running, key, order_id)
    with database.snapshot() as connection:
        rows = connection.execute(
            "SELECT event_type, data FROM webhook_deliveries ORDER BY created_at"
        ).fetchall()
    assert [row[0] for row in rows] == ["number_order.complete"]
    event = orjson.loads(rows[0][1])
    assert event["event_type"] == "number_order.complete"
    assert event["record_type"] == "event"
    assert event["payload"] == data


def test_an_account_without_a_webhook_url_gets_no_event(
    running: ApiClient, key: str, pool: Pool, database: Database
) -> None:
    [number] = pool.found("orders")
    completed(running, key, made(running, key, number)["id"])
    assert count(database, "webhook_deliveries") == 0


def test_a_number_the_account_holds_reserved_can_be_ordered_and_its_hold_ends(
    idle: ApiClient, key: str, pool: Pool, database: Database
) -> None:
    number = pool.add()
    pool.reserve("orders", number)
    made(idle, key, number)
    with database.snapshot() as connection:
        (expires_at,) = connection.execute(
            "SELECT expires_at FROM reserved_phone_numbers WHERE phone_number = ?", (number,)
        ).fetchone()
    assert expires_at <= now_ms()


# Numbers that cannot be ordered -------------------------------------------------------------------


def refused(api: ApiClient, key: str, *numbers: str) -> list[dict[str, Any]]:
    response = order(api, key, *numbers)
    assert response.status_code == 422, response.json()
    errors: list[dict[str, Any]] = response.json()["errors"]
    return errors


def nothing_written(database: Database) -> bool:
    return (
        all(
            count(database, table) == 0
            for table in ("number_orders", "sub_number_orders", "number_order_phone_numbers")
        )
        and count(database, "phone_numbers") == 1
    )  # the fixture's own number


def test_a_number_never_searched_is_refused_by_name_and_nothing_is_written(
    idle: ApiClient, key: str, pool: Pool, database: Database
) -> None:
    [found] = pool.found("orders")
    never = pool.add()
    [error] = refused(idle, key, found, never)
    assert error["source"]["pointer"] == "/phone_numbers/1/phone_number"
    assert never in error["detail"]
    assert "search" in error["detail"]
    assert nothing_written(database)


def test_a_number_searched_over_a_day_ago_is_refused(idle: ApiClient, key: str, pool: Pool) -> None:
    number = pool.add()
    pool.searched("orders", number, at_ms=now_ms() - 25 * HOUR_MS)
    [error] = refused(idle, key, number)
    assert "search" in error["detail"]


def test_a_number_in_another_inventory_is_refused_as_no_longer_available(
    idle: ApiClient, key: str, pool: Pool, inventory: Inventory, database: Database
) -> None:
    inventory.account("other")
    record = number_record()
    inventory.load("other", [record])
    pool.add(record["phone_number"])
    pool.searched("orders", record["phone_number"])
    [error] = refused(idle, key, record["phone_number"])
    assert "no longer available" in error["detail"]
    assert count(database, "number_orders") == 0


def test_a_number_held_by_another_account_is_refused(
    idle: ApiClient, key: str, pool: Pool, inventory: Inventory, database: Database
) -> None:
    inventory.account("other")
    [number] = pool.found("orders")
    pool.reserve("other", number)
    [error] = refused(idle, key, number)
    assert "reserved by another account" in error["detail"]
    assert nothing_written(database)


def test_a_number_not_yet_back_in_the_pool_is_refused(
    idle: ApiClient, key: str, pool: Pool
) -> None:
    number = pool.add(available_from=now_ms() + HOUR_MS)
    pool.searched("orders", number)
    [error] = refused(idle, key, number)
    assert "no longer available" in error["detail"]


def test_an_ordered_number_cannot_be_ordered_again(idle: ApiClient, key: str, pool: Pool) -> None:
    [number] = pool.found("orders")
    made(idle, key, number)
    [error] = refused(idle, key, number)
    assert "no longer available" in error["detail"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/phone_numbers"),
        ({"phone_numbers": []}, "/phone_numbers"),
        ({"phone_numbers": [{"phone_number": "19705555098"}]}, "/phone_numbers"),
        (
            {"phone_numbers": [{"phone_number": "+19705555098"}, {"phone_number": "+19705555098"}]},
            "/phone_numbers",
        ),
        (
            {"phone_numbers": [{"phone_number": f"+1970555{i:04d}"} for i in range(101)]},
            "/phone_numbers",
        ),
        ({"phone_numbers": [{"phone_number": "+19705555098"}], "color": "red"}, "/color"),
        (
            {"phone_numbers": [{"phone_number": "+19705555098"}], "customer_reference": ""},
            "/customer_reference",
        ),
    ],
    ids=[
        "missing",
        "empty",
        "not-e164",
        "repeated",
        "too-many",
        "unknown-field",
        "empty-reference",
    ],
)
def test_a_bad_body_is_refused_naming_its_field(
    idle: ApiClient, key: str, body: dict[str, Any], pointer: str
) -> None:
    response = idle.request("POST", "/v2/number_orders", key, json=body)
    assert response.status_code == 422
    assert [e["source"]["pointer"] for e in response.json()["errors"]] == [pointer]


@pytest.mark.parametrize("field", ["connection_id", "messaging_profile_id", "billing_group_id"])
def test_a_reference_the_account_lacks_is_a_missing_association(
    idle: ApiClient, key: str, pool: Pool, database: Database, field: str
) -> None:
    [number] = pool.found("orders")
    response = order(idle, key, number, **{field: "not-mine"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["code"] == "10013"
    assert error["source"]["pointer"] == f"/{field}"
    assert count(database, "number_orders") == 0


# Regulatory requirements --------------------------------------------------------------------------


def german(pool: Pool, account: str, last: int) -> str:
    number = pool.add(f"+4930123456{last:02d}", country_code="DE", locality="Berlin")
    pool.searched(account, number)
    return number


def test_numbers_needing_requirements_wait_in_a_pending_sub_order(
    running: ApiClient, key: str, pool: Pool
) -> None:
    [us] = pool.found("orders")
    de = german(pool, "orders", 1)
    data = made(running, key, us, de)
    assert data["requirements_met"] is False
    by_number = {n["phone_number"]: n for n in data["phone_numbers"]}
    assert by_number[de]["requirements_status"] == "requirement-info-pending"
    assert [r["requirement_id"] for r in by_number[de]["regulatory_requirements"]] == [
        DE_ADDRESS,
        DE_PROOF,
    ]
    deadline = time.monotonic() + 20
    while inventory_numbers(running, key)[us]["status"] != "active":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    shown = running.get(f"/v2/number_orders/{data['id']}", key).json()["data"]
    assert shown["status"] == "pending"
    assert inventory_numbers(running, key)[de]["status"] == "purchase-pending"


VALUES = {
    "regulatory_requirements": [
        {"requirement_id": DE_ADDRESS, "field_value": "address-1"},
        {"requirement_id": DE_PROOF, "field_value": "document-1"},
    ]
}
GROUP_ID = {"requirement_group_id": "dbbd94ee-9079-488f-80ba-f566b247fd79"}
# Each way of meeting requirements: the method, the path (of the order, its sub order or its
# number) and the body.
WAYS = {
    "order": ("PATCH", "/v2/number_orders/{order}", VALUES),
    "sub-order": ("PATCH", "/v2/sub_number_orders/{sub}", VALUES),
    "number": ("PATCH", "/v2/number_order_phone_numbers/{number}", VALUES),
    "sub-order-group": ("POST", "/v2/sub_number_orders/{sub}/requirement_group", GROUP_ID),
    "number-group": ("POST", "/v2/number_order_phone_numbers/{number}/requirement_group", GROUP_ID),
}


@pytest.mark.parametrize("way", WAYS)
def test_an_order_completes_once_its_requirements_are_met(
    running: ApiClient, key: str, pool: Pool, way: str
) -> None:
    de = german(pool, "orders", 2)
    data = made(running, key, de)
    method, path, body = WAYS[way]
    ids = {"order": data["id"], "sub": data["sub_number_orders_ids"][0]}
    ids["number"] = data["phone_numbers"][0]["id"]
    response = running.request(method, path.format(**ids), key, json=body)
    assert response.status_code == 200
    assert response.json()["data"]["requirements_met"] is True
    assert completed(running, key, data["id"])["status"] == "success"
    assert inventory_numbers(running, key)[de]["status"] == "active"


def test_a_partial_update_keeps_the_requirements_pending(
    idle: ApiClient, key: str, pool: Pool
) -> None:
    de = german(pool, "orders", 3)
    data = made(idle, key, de)
    response = idle.request(
        "PATCH",
        f"/v2/number_orders/{data['id']}",
        key,
        json={"regulatory_requirements": [{"requirement_id": DE_ADDRESS, "field_value": "a"}]},
    )
    [number] = response.json()["data"]["phone_numbers"]
    assert number["requirements_status"] == "requirement-info-pending"
    values = {r["requirement_id"]: r.get("field_value") for r in number["regulatory_requirements"]}
    assert values == {DE_ADDRESS: "a", DE_PROOF: None}


def test_an_unknown_requirement_is_refused_by_name(idle: ApiClient, key: str, pool: Pool) -> None:
    de = german(pool, "orders", 5)
    [number] = made(idle, key, de)["phone_numbers"]
    unknown = "00000000-0000-4000-8000-000000000000"
    response = idle.request(
        "PATCH",
        f"/v2/number_order_phone_numbers/{number['id']}",
        key,
        json={"regulatory_requirements": [{"requirement_id": unknown, "field_value": "x"}]},
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["source"]["pointer"] == "/regulatory_requirements/0/requirement_id"
    assert unknown in error["detail"]


def test_an_orders_customer_reference_can_be_changed(idle: ApiClient, key: str, pool: Pool) -> None:
    [number] = pool.found("orders")
    order_id = made(idle, key, number)["id"]
    response = idle.request(
        "PATCH", f"/v2/number_orders/{order_id}", key, json={"customer_reference": "new-ref"}
    )
    assert response.json()["data"]["customer_reference"] == "new-ref"
    [sub_id] = response.json()["data"]["sub_number_orders_ids"]
    sub = idle.get(f"/v2/sub_number_orders/{sub_id}", key).json()["data"]
    assert sub["customer_reference"] == "new-ref"


def test_values_given_to_numbers_already_done_are_ignored(
    running: ApiClient, key: str, pool: Pool
) -> None:
    data = made(running, key, german(pool, "orders", 9))
    [number] = data["phone_numbers"]
    path = f"/v2/number_order_phone_numbers/{number['id']}/requirement_group"
    running.request("POST", path, key, json=GROUP_ID)
    completed(running, key, data["id"])
    response = running.request("PATCH", f"/v2/number_orders/{data['id']}", key, json=VALUES)
    assert response.status_code == 200
    [number] = response.json()["data"]["phone_numbers"]
    values = {r["field_value"] for r in number["regulatory_requirements"]}
    assert values == {GROUP_ID["requirement_group_id"]}


# Cancelling ---------------------------------------------------------------------------------------


def test_a_cancelled_sub_order_fails_and_its_numbers_leave_the_inventory(
    idle: ApiClient, key: str, pool: Pool
) -> None:
    [number] = pool.found("orders")
    data = made(idle, key, number)
    [sub_id] = data["sub_number_orders_ids"]
    response = idle.request("PATCH", f"/v2/sub_number_orders/{sub_id}/cancel", key)
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "failure"
    assert number not in inventory_numbers(idle, key)
    assert idle.get(f"/v2/number_orders/{data['id']}", key).json()["data"]["status"] == "failure"


def test_only_a_pending_sub_order_can_be_cancelled(
    running: ApiClient, key: str, pool: Pool
) -> None:
    [number] = pool.found("orders")
    data = completed(running, key, made(running, key, number)["id"])
    [sub_id] = data["sub_number_orders_ids"]
    response = running.request("PATCH", f"/v2/sub_number_orders/{sub_id}/cancel", key)
    assert response.status_code == 422
    assert number in inventory_numbers(running, key)


# Deleting an ordered number -----------------------------------------------------------------------


def test_a_deleted_number_returns_to_the_pool_after_a_day(
    idle: ApiClient, key: str, pool: Pool, database: Database
) -> None:
    [number] = pool.found("orders")
    made(idle, key, number)
    number_id = inventory_numbers(idle, key)[number]["id"]
    before = now_ms()
    assert idle.request("DELETE", f"/v2/phone_numbers/{number_id}", key).status_code == 200
    with database.snapshot() as connection:
        (available_from,) = connection.execute(
            "SELECT available_from FROM available_numbers WHERE phone_number = ?", (number,)
        ).fetchone()
    assert available_from >= before + 24 * HOUR_MS


def test_the_pools_delay_is_set_by_the_environment(
    idle: ApiClient, key: str, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POOL_RETURN_VARIABLE, "0")
    [number] = pool.found("orders")
    made(idle, key, number)
    number_id = inventory_numbers(idle, key)[number]["id"]
    idle.request("DELETE", f"/v2/phone_numbers/{number_id}", key)
    made(idle, key, number)  # found again within the window, and back in the pool at once
    assert inventory_numbers(idle, key)[number]["status"] == "purchase-pending"


# Lists, and other accounts ------------------------------------------------------------------------


def test_orders_are_listed_newest_first_with_pages(idle: ApiClient, key: str, pool: Pool) -> None:
    ids = [made(idle, key, *pool.found("orders"))["id"] for _ in range(3)]
    first = idle.get("/v2/number_orders", key, "page[size]=2").json()
    assert [o["id"] for o in first["data"]] == ids[::-1][:2]
    assert first["meta"] == {"total_pages": 2, "total_results": 3, "page_number": 1, "page_size": 2}
    second = idle.get("/v2/number_orders", key, "page[size]=2&page[number]=2").json()
    assert [o["id"] for o in second["data"]] == [ids[0]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("filter[customer_reference]=b", [1]),
        ("filter[phone_numbers_count]=2", [1]),
        ("filter[status]=pending", [0, 1]),
        ("filter[status]=success", []),
        ("filter[requirements_met]=false", [0]),
        ("filter[requirements_met]=true", [1]),
        ("filter[created_at][gt]=2000-01-01T00:00:00Z", [0, 1]),
        ("filter[created_at][lt]=2000-01-01T00:00:00Z", []),
    ],
)
def test_the_orders_list_filters(
    idle: ApiClient, key: str, pool: Pool, query: str, expected: list[int]
) -> None:
    ids = [
        made(idle, key, german(pool, "orders", 6), customer_reference="a")["id"],
        made(idle, key, *pool.found("orders", 2), customer_reference="b")["id"],
    ]
    listed = idle.get("/v2/number_orders", key, query).json()["data"]
    assert sorted(o["id"] for o in listed) == sorted(ids[i] for i in expected)


@pytest.mark.parametrize(
    "query",
    ["filter[status]=done", "filter[phone_numbers_count]=x", "filter[created_at][gt]=yesterday"],
)
def test_a_bad_filter_is_a_400_naming_it(idle: ApiClient, key: str, query: str) -> None:
    response = idle.get("/v2/number_orders", key, query)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["parameter"] == query.partition("=")[0]


def test_sub_orders_are_listed_and_filtered(idle: ApiClient, key: str, pool: Pool) -> None:
    data = made(idle, key, german(pool, "orders", 7), *pool.found("orders"))
    listed = idle.get("/v2/sub_number_orders", key, f"filter[order_request_id]={data['id']}")
    assert {s["country_code"] for s in listed.json()["data"]} == {"DE", "US"}
    german_only = idle.get("/v2/sub_number_orders", key, "filter[country_code]=de").json()
    assert [s["country_code"] for s in german_only["data"]] == ["DE"]
    assert german_only["data"][0]["regulatory_requirements"][0]["requirement_id"] == DE_ADDRESS


def test_a_sub_order_shows_its_numbers_when_asked(idle: ApiClient, key: str, pool: Pool) -> None:
    numbers = pool.found("orders", 2)
    [sub_id] = made(idle, key, *numbers)["sub_number_orders_ids"]
    plain = idle.get(f"/v2/sub_number_orders/{sub_id}", key).json()["data"]
    assert "phone_numbers" not in plain
    assert plain["phone_numbers_count"] == 2
    shown = idle.get(
        f"/v2/sub_number_orders/{sub_id}", key, "filter[include_phone_numbers]=true"
    ).json()["data"]
    assert [n["phone_number"] for n in shown["phone_numbers"]] == numbers


def test_ordered_numbers_are_listed_and_filtered_by_country(
    idle: ApiClient, key: str, pool: Pool
) -> None:
    de = german(pool, "orders", 8)
    [us] = pool.found("orders")
    made(idle, key, de, us)
    listed = idle.get("/v2/number_order_phone_numbers", key, "filter[country_code]=US").json()
    assert [n["phone_number"] for n in listed["data"]] == [us]
    number = listed["data"][0]
    shown = idle.get(f"/v2/number_order_phone_numbers/{number['id']}", key).json()["data"]
    assert shown == number


def test_another_accounts_orders_are_not_found(
    idle: ApiClient, key: str, pool: Pool, inventory: Inventory
) -> None:
    other = inventory.account("other")
    data = made(idle, key, *pool.found("orders"))
    [number] = data["phone_numbers"]
    [sub_id] = data["sub_number_orders_ids"]
    for path in (
        f"/v2/number_orders/{data['id']}",
        f"/v2/sub_number_orders/{sub_id}",
        f"/v2/number_order_phone_numbers/{number['id']}",
    ):
        assert idle.get(path, other).status_code == 404
    assert idle.request("PATCH", f"/v2/sub_number_orders/{sub_id}/cancel", other).status_code == 404
    assert idle.get("/v2/number_orders", other).json()["data"] == []
    assert idle.get("/v2/number_order_phone_numbers", other).json()["data"] == []


@pytest.mark.parametrize(
    ("path", "filters"),
    [
        ("/number_orders", NUMBER_ORDER_FILTERS),
        ("/sub_number_orders", SUB_NUMBER_ORDER_FILTERS),
        ("/sub_number_orders/{sub_number_order_id}", SUB_NUMBER_ORDER_RETRIEVE_FILTERS),
        ("/number_order_phone_numbers", ORDER_PHONE_NUMBER_FILTERS),
    ],
)
def test_each_filter_table_has_every_filter_of_the_contract(
    path: str, filters: FilterSet[Any]
) -> None:
    contract = list_parameters(documents()[ORDERING_CONTRACT_URI], path)["filter"]["schema"]
    assert set(filters.filters) == set(contract["properties"])


@pytest.mark.parametrize("variable", [ORDER_SECONDS_VARIABLE, POOL_RETURN_VARIABLE])
def test_a_bad_timing_variable_stops_the_server_from_starting(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
) -> None:
    monkeypatch.setenv(variable, "soon")
    assert main(["--database-url", database_url, "serve"]) == 2
    assert variable in capsys.readouterr().err


def failing_attempt(
    api: ApiClient, key: str, pool: Pool, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> tuple[str, str, Any]:
    """An order due at once, and its runner's attempt at it failing with `error`: the order's
    id, its number and the runner."""
    monkeypatch.setenv(ORDER_SECONDS_VARIABLE, "0")
    [number] = pool.found("orders")
    order_id = made(api, key, number)["id"]

    def failing(*arguments: object) -> str:
        raise error

    monkeypatch.setattr(runner_module, "complete_order", failing)
    runner = api.client.app.state.api.worker.orders  # type: ignore[attr-defined]
    assert runner.run_next()
    return order_id, number, runner


def test_an_order_whose_completion_fails_for_good_fails_its_numbers(
    idle: ApiClient, key: str, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id, number, _ = failing_attempt(idle, key, pool, monkeypatch, RuntimeError("a defect"))
    data = idle.get(f"/v2/number_orders/{order_id}", key).json()["data"]
    assert data["status"] == "failure"
    assert {n["status"] for n in data["phone_numbers"]} == {"failure"}
    assert inventory_numbers(idle, key)[number]["status"] == "purchase-failed"


def test_an_order_whose_completion_meets_a_transient_fault_is_tried_again_later(
    idle: ApiClient,
    key: str,
    pool: Pool,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = now_ms()
    order_id, _, runner = failing_attempt(
        idle, key, pool, monkeypatch, DatabaseUnavailable("the database is restarting")
    )
    with database.snapshot() as connection:
        due, claimed_by, attempts = connection.execute(
            "SELECT complete_after, claimed_by, attempts FROM number_orders WHERE id = ?",
            (order_id,),
        ).fetchone()
    assert due >= before + 1000  # the first retry waits 2 s
    assert claimed_by is None
    assert attempts == 1
    assert idle.get(f"/v2/number_orders/{order_id}", key).json()["data"]["status"] == "pending"
    monkeypatch.undo()
    assert not runner.run_next()  # not due yet
