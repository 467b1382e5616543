"""Messaging settings through the official `telnyx` SDK (`client.phone_numbers.messaging`), against
a real `numbers-api serve`: the SDK's own parameters, auto-pagination, models and error mapping.
"""

from __future__ import annotations

from typing import Any

import pytest
import telnyx
from telnyx import Telnyx

from tests.e2e.test_sdk import Accounts, accounts, number_ids
from tests.support.contract import validate_response
from tests.support.factories import number_record

__all__ = ["accounts"]  # the fixture, used by name

ALERTS = "abc85f64-5717-4562-b3fc-2c9600000001"
SUPPORT = "abc85f64-5717-4562-b3fc-2c9600000002"


def profile(profile_id: str, name: str) -> dict[str, Any]:
    return {"messaging_profile_id": profile_id, "messaging_profile_name": name}


def messaging_listed(client: Telnyx, **arguments: Any) -> list[str]:
    """The numbers the messaging list finds, in its order, through auto-pagination."""
    return [n.phone_number or "" for n in client.phone_numbers.messaging.list(**arguments)]


def error_body(error: telnyx.APIStatusError, path: str) -> Any:
    body = error.response.json()
    validate_response(path, error.response.request.method, error.status_code, body)
    return body


def test_list_auto_paginates_over_every_number_once(accounts: Accounts) -> None:
    client, numbers = accounts.new(*(number_record() for _ in range(5)))
    assert sorted(messaging_listed(client, page_size=2)) == sorted(numbers)


def test_list_items_parse_into_the_sdks_model(accounts: Accounts) -> None:
    client, numbers = accounts.new(
        number_record(phone_number_type="toll_free", tags=["a"], **profile(ALERTS, "Alerts"))
    )
    response = client.phone_numbers.messaging.with_raw_response.list()
    validate_response("/phone_numbers/messaging", "GET", response.status_code, response.json())
    [item] = response.parse().data
    assert (item.phone_number, item.messaging_profile_id, item.tags) == (numbers[0], ALERTS, ["a"])
    assert (item.record_type, item.type, item.messaging_product) == (
        "messaging_settings",
        "tollfree",
        "A2P",
    )
    assert item.features is not None
    assert item.features.sms is not None
    assert item.features.sms.domestic_two_way is True
    assert item.health is not None
    assert item.health.message_count == 0


def test_list_filters(accounts: Accounts) -> None:
    client, numbers = accounts.new(
        number_record(phone_number_type="local", **profile(ALERTS, "Alerts")),
        number_record(phone_number_type="toll_free", **profile(SUPPORT, "Support")),
        number_record(phone_number_type="mobile"),
    )

    def found(**arguments: Any) -> set[str]:
        return set(messaging_listed(client, **arguments))

    assert found(filter_messaging_profile_id=SUPPORT) == {numbers[1]}
    assert found(filter_phone_number=f"{numbers[0]},{numbers[2]}") == {numbers[0], numbers[2]}
    assert found(filter_phone_number_contains=numbers[1][-7:]) == {numbers[1]}
    assert found(filter_type="longcode") == {numbers[0], numbers[2]}
    assert found(filter_type="tollfree") == {numbers[1]}
    assert found(filter_type="longcode", filter_messaging_profile_id=ALERTS) == {numbers[0]}


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_list_sort_phone_number(accounts: Accounts, direction: Any) -> None:
    client, numbers = accounts.new(*(number_record() for _ in range(4)))
    expected = sorted(numbers, reverse=direction == "desc")
    assert messaging_listed(client, sort_phone_number=direction, page_size=3) == expected


def test_an_invalid_filter_raises_bad_request_naming_it(accounts: Accounts) -> None:
    client, _ = accounts.new(number_record())
    with pytest.raises(telnyx.BadRequestError) as raised:
        client.phone_numbers.messaging.list(filter_messaging_profile_id="not-a-uuid")
    body = error_body(raised.value, "/phone_numbers/messaging")
    assert [e["source"]["parameter"] for e in body["errors"]] == ["filter[messaging_profile_id]"]


def test_retrieve_answers_the_number_as_the_list_shows_it(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record(**profile(ALERTS, "Alerts")))
    number_id = number_ids(client)[numbers[0]]
    response = client.phone_numbers.messaging.with_raw_response.retrieve(number_id)
    validate_response("/phone_numbers/{id}/messaging", "GET", 200, response.json())
    number = response.parse().data
    assert number is not None
    [listed] = client.phone_numbers.messaging.list().data
    assert number == listed
    assert (number.id, number.messaging_profile_id) == (number_id, ALERTS)


def test_assigning_a_profile_shows_its_id_and_name_everywhere(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record(**profile(ALERTS, "Alerts")), number_record())
    number_id = number_ids(client)[numbers[1]]
    assert messaging_listed(client, filter_messaging_profile_id=ALERTS) == [numbers[0]]
    response = client.phone_numbers.messaging.with_raw_response.update(
        number_id, messaging_profile_id=ALERTS
    )
    validate_response("/phone_numbers/{id}/messaging", "PATCH", 200, response.json())
    updated = response.parse().data
    assert updated is not None
    assert updated.messaging_profile_id == ALERTS
    assert sorted(messaging_listed(client, filter_messaging_profile_id=ALERTS)) == sorted(numbers)
    shown = {
        n.phone_number: (n.messaging_profile_id, n.messaging_profile_name)
        for n in client.phone_numbers.list()
    }
    assert shown[numbers[1]] == (ALERTS, "Alerts")
    number = client.phone_numbers.retrieve(number_id).data
    assert number is not None
    assert number.messaging_profile_name == "Alerts"


def test_an_empty_profile_id_detaches_the_profile(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record(**profile(ALERTS, "Alerts")))
    number_id = number_ids(client)[numbers[0]]
    updated = client.phone_numbers.messaging.update(number_id, messaging_profile_id="").data
    assert updated is not None
    assert updated.messaging_profile_id is None
    [number] = client.phone_numbers.list()
    assert (number.messaging_profile_id, number.messaging_profile_name) == (None, None)
    assert messaging_listed(client, filter_messaging_profile_id=ALERTS) == []


def test_update_tags_is_found_by_the_main_lists_filter_tag(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record(tags=["old"]))
    number_id = number_ids(client)[numbers[0]]
    updated = client.phone_numbers.messaging.update(number_id, tags=["sales"]).data
    assert updated is not None
    assert updated.tags == ["sales"]
    assert [n.phone_number for n in client.phone_numbers.list(filter={"tag": "sales"})] == numbers


@pytest.mark.parametrize(
    ("arguments", "pointer"),
    [
        ({"messaging_profile_id": SUPPORT}, "/messaging_profile_id"),
        ({"messaging_product": "P2P"}, "/messaging_product"),
        ({"extra_body": {"traffic_type": "P2P"}}, "/traffic_type"),
    ],
)
def test_an_unacceptable_update_raises_unprocessable_entity_naming_the_field(
    accounts: Accounts, arguments: dict[str, Any], pointer: str
) -> None:
    client, numbers = accounts.new(number_record(**profile(ALERTS, "Alerts")))
    number_id = number_ids(client)[numbers[0]]
    with pytest.raises(telnyx.UnprocessableEntityError) as raised:
        client.phone_numbers.messaging.update(number_id, **arguments)
    body = error_body(raised.value, "/phone_numbers/{id}/messaging")
    assert [e["source"]["pointer"] for e in body["errors"]] == [pointer]
    unchanged = client.phone_numbers.messaging.retrieve(number_id).data
    assert unchanged is not None
    assert (unchanged.messaging_profile_id, unchanged.messaging_product) == (ALERTS, "A2P")


@pytest.mark.parametrize("call", ["retrieve", "update"])
def test_another_accounts_number_raises_not_found(accounts: Accounts, call: str) -> None:
    mine, _ = accounts.new(number_record())
    theirs, their_numbers = accounts.new(number_record(tags=["theirs"]))
    their_id = number_ids(theirs)[their_numbers[0]]
    method = getattr(mine.phone_numbers.messaging, call)
    with pytest.raises(telnyx.NotFoundError) as raised:
        method(their_id, tags=["x"]) if call == "update" else method(their_id)
    assert error_body(raised.value, "/phone_numbers/{id}/messaging")["errors"][0]["code"] == "10005"
    [number] = theirs.phone_numbers.list()
    assert number.tags == ["theirs"]
