"""`numbers_api.testing`, used as its users use it: the `numbers_api` fixture (or `server()`) and
the official `telnyx` SDK."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import telnyx
from telnyx import Telnyx

from numbers_api.demo import SPEC_EXAMPLE
from numbers_api.store.accounts import account_id
from numbers_api.store.webhook_outbox import enqueue_event
from numbers_api.testing import Account, ImportRejected, Servers, server


@pytest.fixture
def client(numbers_api: Account) -> Iterator[Telnyx]:
    with Telnyx(api_key=numbers_api.api_key, base_url=numbers_api.base_url, max_retries=0) as sdk:
        yield sdk


def numbers(client: Telnyx) -> set[str]:
    return {number.phone_number for number in client.phone_numbers.list()}


def test_a_test_starts_with_an_empty_account(numbers_api: Account, client: Telnyx) -> None:
    assert numbers_api.base_url.endswith("/v2")
    assert numbers_api.api_key
    assert numbers(client) == set()


def test_add_numbers_takes_import_records(numbers_api: Account, client: Telnyx) -> None:
    added = numbers_api.add_numbers(
        [
            {"phone_number": "+19705550100", "tags": ["sales"]},
            {"phone_number": "+19705550101", "status": "port-pending"},
        ]
    )
    assert added == 2
    sales = client.phone_numbers.list(filter={"tag": "sales"})
    assert [n.phone_number for n in sales] == ["+19705550100"]


def test_a_bad_record_raises_and_writes_nothing(numbers_api: Account, client: Telnyx) -> None:
    with pytest.raises(ImportRejected, match=r"record 2: status: must be one of"):
        numbers_api.add_numbers(
            [{"phone_number": "+19705550100"}, {"phone_number": "+19705550101", "status": "on"}]
        )
    assert numbers(client) == set()


def test_demo_is_reproducible(numbers_api: Account, client: Telnyx) -> None:
    assert numbers_api.demo(25, seed=7) == 25
    first = numbers(client)
    assert len(first) == 25
    assert SPEC_EXAMPLE["phone_number"] in first
    other = numbers_api.new_account()
    with pytest.raises(ImportRejected, match="already in the database"):
        other.demo(25, seed=7)  # the same numbers: a number belongs to one account


def test_a_second_account_has_its_own_key_and_numbers(numbers_api: Account, client: Telnyx) -> None:
    numbers_api.add_numbers([{"phone_number": "+19705550100"}])
    other = numbers_api.new_account()
    other.add_numbers([{"phone_number": "+19705550101"}])
    assert other.api_key != numbers_api.api_key
    with Telnyx(api_key=other.api_key, base_url=other.base_url, max_retries=0) as theirs:
        assert numbers(theirs) == {"+19705550101"}
    assert numbers(client) == {"+19705550100"}


def test_the_messaging_profile_fault_switches_on_and_off(numbers_api: Account) -> None:
    numbers_api.add_numbers(
        [
            {"phone_number": "+19705550100", "messaging_profile_id": "p1"},
            {"phone_number": "+19705550101"},
        ]
    )
    normal = numbers_api.base_url
    numbers_api.fault_on("messaging_profiles")
    assert numbers_api.base_url != normal
    with Telnyx(api_key=numbers_api.api_key, base_url=numbers_api.base_url, max_retries=0) as sdk:
        with pytest.raises(telnyx.InternalServerError):
            sdk.phone_numbers.list()
        assert len(sdk.phone_numbers.list(handle_messaging_profile_error="true").data) == 2
    numbers_api.fault_off("messaging_profiles")
    assert numbers_api.base_url == normal
    with Telnyx(api_key=numbers_api.api_key, base_url=numbers_api.base_url, max_retries=0) as sdk:
        assert len(sdk.phone_numbers.list().data) == 2


def test_an_unknown_fault_is_refused(numbers_api: Account) -> None:
    with pytest.raises(ValueError, match="unknown fault 'disk_full'"):
        numbers_api.fault_on("disk_full")


def order_completed(account: Account) -> str:
    """A `number_order.complete` event for the account, made as the orders code makes it."""
    with account.servers.database.transaction() as connection:
        event_id = enqueue_event(
            connection,
            account_id(connection, account.name),
            "number_order.complete",
            {"id": str(uuid.uuid4()), "status": "success"},
            int(time.time() * 1000),
        )
    assert event_id is not None
    return event_id


def test_the_fixture_receives_the_accounts_webhooks_signed(numbers_api: Account) -> None:
    event_id = order_completed(numbers_api)
    webhook = numbers_api.wait_for_webhook("number_order.complete")
    assert webhook.event_id == event_id
    assert webhook.verified
    assert webhook.meta == {"attempt": 1, "delivered_to": numbers_api.webhook_url}
    assert numbers_api.webhooks() == [webhook]


def test_failed_webhooks_are_received_again(numbers_api: Account) -> None:
    numbers_api.fail_webhooks(500, 500)
    event_id = order_completed(numbers_api)
    third = numbers_api.wait_for_webhook(count=3)
    assert third.meta["attempt"] == 3
    assert {w.event_id for w in numbers_api.webhooks()} == {event_id}


def test_another_accounts_webhooks_are_not_ours(numbers_api: Account) -> None:
    other = numbers_api.new_account()
    order_completed(other)
    other.wait_for_webhook()
    assert numbers_api.webhooks() == []


def test_waiting_for_a_webhook_that_never_comes_times_out(numbers_api: Account) -> None:
    with pytest.raises(TimeoutError, match="0 of 1 webhook"):
        numbers_api.wait_for_webhook(timeout=0.1)


def test_the_end_of_a_test_frees_its_numbers(numbers_api_servers: Servers) -> None:
    """What the fixture does after each test: the next test may load the same numbers."""
    first = numbers_api_servers.account()
    first.new_account().add_numbers([{"phone_number": "+19705550199"}])
    first.clear()
    again = numbers_api_servers.account()
    assert again.add_numbers([{"phone_number": "+19705550199"}]) == 1
    again.clear()


def test_the_context_manager_serves_other_runners() -> None:
    with server() as api:
        api.add_numbers([{"phone_number": "+19705550100"}])
        with Telnyx(api_key=api.api_key, base_url=api.base_url, max_retries=0) as sdk:
            assert numbers(sdk) == {"+19705550100"}
        url = api.base_url
    with (
        Telnyx(api_key=api.api_key, base_url=url, max_retries=0) as sdk,
        pytest.raises(telnyx.APIConnectionError),
    ):
        sdk.phone_numbers.list()  # stopped
