"""The whole ordering flow through the official `telnyx` SDK (4.189.0), as a Telnyx user's
application runs it against a real `numbers-api serve` (the `numbers_api` fixture): search the
available pool, reserve, order, receive the signed `number_order.complete` webhook (verified by
the SDK's own `client.webhooks.unwrap` with the server's public key), then list and use the
numbers; and what another account, or a number never searched, may not do.

Each part has tests of its own (`test_sdk_available_numbers.py`, `test_sdk_number_reservations.py`,
`test_sdk_orders.py`, `test_sdk_webhooks.py`); this file shows that they make one flow."""

from __future__ import annotations

import json
from typing import Any

import pytest
import telnyx
from telnyx import Telnyx

from numbers_api.testing import Account
from tests.e2e.test_sdk import Accounts, accounts  # noqa: F401 (the fixture)
from tests.support.contract import validate_response
from tests.support.factories import number_record

CONNECTION, PROFILE, GROUP = "1293384261075731499", "abc85f64-5717-4562-b3fc-2c9600000000", "bg-1"


def searched(client: Telnyx, count: int, **filters: Any) -> list[str]:
    """`count` US numbers a search of the pool returned to the client's account."""
    search: Any = {"country_code": "US", "limit": count, **filters}
    response = client.available_phone_numbers.with_raw_response.list(filter=search)
    validate_response("/available_phone_numbers", "GET", 200, response.json())
    found = response.parse().data or []
    assert len(found) == count
    return [number.phone_number for number in found if number.phone_number]


def refusal(error: pytest.ExceptionInfo[telnyx.UnprocessableEntityError]) -> dict[str, object]:
    body = error.value.response.json()
    validate_response("/number_orders", "POST", 422, body)
    [only] = body["errors"]
    assert isinstance(only, dict)
    return only


def test_search_reserve_order_then_a_signed_webhook_and_the_numbers_active_with_its_settings(
    numbers_api: Account,
    accounts: Accounts,  # noqa: F811
) -> None:
    # The account's connection, messaging profile and billing group come with a number it had.
    client, _ = accounts.new(
        number_record(
            connection_id=CONNECTION, messaging_profile_id=PROFILE, billing_group_id=GROUP
        )
    )
    held, found = searched(client, 2, features=["sms", "voice"])
    reservation = client.number_reservations.create(phone_numbers=[{"phone_number": held}]).data
    assert reservation is not None
    assert [n.phone_number for n in reservation.phone_numbers or []] == [held]

    response = client.number_orders.with_raw_response.create(
        phone_numbers=[{"phone_number": held}, {"phone_number": found}],
        connection_id=CONNECTION,
        messaging_profile_id=PROFILE,
        billing_group_id=GROUP,
        customer_reference="flow-1",
    )
    validate_response("/number_orders", "POST", 200, response.json())
    order = response.parse().data
    assert order is not None
    assert order.status == "pending"
    pending = client.phone_numbers.list(filter={"customer_reference": "flow-1"}).data
    assert {n.phone_number: n.status for n in pending} == {
        held: "purchase-pending",
        found: "purchase-pending",
    }

    webhook = numbers_api.wait_for_webhook("number_order.complete", timeout=30)
    key = numbers_api.webhook_public_key
    # The SDK's union of every Telnyx event: this one's fields are read as it parsed them.
    event: Any = client.webhooks.unwrap(webhook.raw, headers=webhook.headers, key=key)
    assert event.data.id == webhook.event_id
    assert webhook.payload["id"] == order.id
    assert webhook.payload["status"] == "success"
    assert webhook.meta["attempt"] == 1
    tampered = json.dumps({**webhook.body, "meta": {**webhook.meta, "attempt": 2}})
    with pytest.raises(ValueError, match="Signature verification failed"):
        client.webhooks.unwrap(
            tampered, headers=webhook.headers, key=numbers_api.webhook_public_key
        )

    active = client.phone_numbers.list(filter={"customer_reference": "flow-1"}).data
    assert {n.phone_number for n in active} == {held, found}
    for number in active:
        assert number.status == "active"
        assert number.source_type == "number_order"
        assert (number.connection_id, number.messaging_profile_id, number.billing_group_id) == (
            CONNECTION,
            PROFILE,
            GROUP,
        )
    retrieved = client.number_orders.retrieve(order.id or "").data
    assert retrieved is not None
    assert retrieved.status == "success"
    # Ordered numbers are no longer available to anyone.
    assert held not in searched(accounts.new()[0], 250)


def test_a_number_this_account_never_searched_is_refused_naming_it(
    accounts: Accounts,  # noqa: F811
) -> None:
    searcher, _ = accounts.new()
    orderer, _ = accounts.new()
    [number] = searched(searcher, 1)
    with pytest.raises(telnyx.UnprocessableEntityError) as refused:
        orderer.number_orders.create(phone_numbers=[{"phone_number": number}])
    error = refusal(refused)
    assert error["source"] == {"pointer": "/phone_numbers/0/phone_number"}
    assert number in str(error["detail"])
    assert orderer.phone_numbers.list().data == []


def test_another_account_can_neither_find_nor_order_a_reserved_number(
    accounts: Accounts,  # noqa: F811
) -> None:
    holder, _ = accounts.new()
    other, _ = accounts.new()
    [number] = searched(holder, 1)
    holder.number_reservations.create(phone_numbers=[{"phone_number": number}])
    digits = number.removeprefix("+1")
    seen = other.available_phone_numbers.list(
        filter={"country_code": "US", "phone_number": {"starts_with": digits}}
    ).data
    assert [n.phone_number for n in seen or []] == []
    with pytest.raises(telnyx.UnprocessableEntityError) as refused:
        other.number_orders.create(phone_numbers=[{"phone_number": number}])
    assert refusal(refused)["detail"] == f"{number} is reserved by another account."
    # The holder still may order it.
    order = holder.number_orders.create(phone_numbers=[{"phone_number": number}]).data
    assert order is not None
