"""Number orders through the official `telnyx` SDK (4.189.0) against a real `numbers-api serve`:
`client.number_orders`, `client.sub_number_orders` and `client.number_order_phone_numbers`.

The search and the reservations are other operations: here the pool, what the account's search
returned and its reservations are written straight into the server's database
(`tests/support/ordering.py`), and everything else goes through the SDK."""

from __future__ import annotations

import time

import pytest
import telnyx
from telnyx import Telnyx

from numbers_api.ordering.requirements import REQUIREMENTS
from numbers_api.testing import Account
from tests.e2e.test_sdk import Accounts, accounts  # noqa: F401 (the fixture)
from tests.support.ordering import Pool

DE_ADDRESS, DE_PROOF = (r.requirement_id for r in REQUIREMENTS[("DE", "local")])


@pytest.fixture
def pool(numbers_api: Account) -> Pool:
    return Pool(numbers_api.servers.database)


def completed(client: Telnyx, order_id: str, timeout: float = 30) -> str:
    """The order's status once it is no longer pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = client.number_orders.retrieve(order_id).data
        assert data is not None
        if data.status != "pending":
            assert data.status is not None
            return data.status
        time.sleep(0.1)
    raise AssertionError(f"order {order_id} did not complete within {timeout} s")


def statuses(client: Telnyx, numbers: list[str]) -> dict[str, str | None]:
    found = client.phone_numbers.list(filter={"phone_number": numbers[0][1:]}).data
    return {n.phone_number: n.status for n in found if n.phone_number in numbers}


def test_an_order_made_through_the_sdk_completes_and_its_number_becomes_active(
    accounts: Accounts,  # noqa: F811
    pool: Pool,
) -> None:
    client, _ = accounts.new()
    name = accounts.numbers_api.name
    [number] = pool.found(name)
    order = client.number_orders.create(
        phone_numbers=[{"phone_number": number}], customer_reference="sdk-ref"
    ).data
    assert order is not None
    assert order.id is not None
    assert order.status == "pending"
    assert statuses(client, [number]) == {number: "purchase-pending"}
    assert completed(client, order.id) == "success"
    assert statuses(client, [number]) == {number: "active"}
    listed = client.number_orders.list(filter={"customer_reference": "sdk-ref"}).data
    assert [o.id for o in listed] == [order.id]
    updated = client.number_orders.update(order.id, customer_reference="changed").data
    assert updated is not None
    assert updated.customer_reference == "changed"


def test_an_order_of_a_number_never_searched_is_refused(
    accounts: Accounts,  # noqa: F811
    pool: Pool,
) -> None:
    client, _ = accounts.new()
    number = pool.add()
    with pytest.raises(telnyx.UnprocessableEntityError) as refused:
        client.number_orders.create(phone_numbers=[{"phone_number": number}])
    [error] = refused.value.response.json()["errors"]
    assert error["source"]["pointer"] == "/phone_numbers/0/phone_number"


def test_sub_orders_and_their_numbers_through_the_sdk(
    accounts: Accounts,  # noqa: F811
    pool: Pool,
) -> None:
    client, _ = accounts.new()
    name = accounts.numbers_api.name
    german = pool.found_german(name)
    [american] = pool.found(name)
    order = client.number_orders.create(
        phone_numbers=[{"phone_number": german}, {"phone_number": american}]
    ).data
    assert order is not None
    assert order.id is not None
    subs = client.sub_number_orders.list(filter={"order_request_id": order.id}).data or []
    by_country = {s.country_code: s for s in subs}
    assert set(by_country) == {"DE", "US"}
    german_sub = by_country["DE"]
    assert german_sub.id is not None
    assert german_sub.requirements_met is False
    shown = client.sub_number_orders.retrieve(
        german_sub.id, filter={"include_phone_numbers": True}
    ).data
    assert shown is not None
    [entry] = client.number_order_phone_numbers.list(filter={"country_code": "DE"}).data or []
    assert entry.phone_number == german
    assert entry.id is not None
    one = client.number_order_phone_numbers.retrieve(entry.id).data
    assert one is not None
    assert one.requirements_met is False
    client.number_order_phone_numbers.update_requirements(
        entry.id, regulatory_requirements=[{"requirement_id": DE_ADDRESS, "field_value": "a-1"}]
    )
    client.sub_number_orders.update(
        german_sub.id, regulatory_requirements=[{"requirement_id": DE_PROOF, "field_value": "d-1"}]
    )
    assert completed(client, order.id) == "success"
    assert statuses(client, [german]) == {german: "active"}


def test_a_sub_order_cancelled_and_a_requirement_group_through_the_sdk(
    accounts: Accounts,  # noqa: F811
    pool: Pool,
) -> None:
    client, _ = accounts.new()
    name = accounts.numbers_api.name
    first, second = pool.found_german(name), pool.found_german(name)
    kept = client.number_orders.create(phone_numbers=[{"phone_number": first}]).data
    dropped = client.number_orders.create(phone_numbers=[{"phone_number": second}]).data
    assert kept is not None
    assert kept.id is not None
    assert kept.sub_number_orders_ids is not None
    assert dropped is not None
    assert dropped.id is not None
    assert dropped.sub_number_orders_ids is not None
    client.sub_number_orders.update_requirement_group(
        kept.sub_number_orders_ids[0], requirement_group_id="dbbd94ee-9079-488f-80ba-f566b247fd79"
    )
    cancelled = client.sub_number_orders.cancel(dropped.sub_number_orders_ids[0]).data
    assert cancelled is not None
    assert cancelled.status == "failure"
    assert completed(client, kept.id) == "success"
    assert completed(client, dropped.id) == "failure"
    assert statuses(client, [second]) == {}
