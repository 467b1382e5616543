"""The official `telnyx` SDK's `client.phone_numbers.slim_list` and `client.phone_numbers.voice`
against a real `numbers-api serve` (the session's live server, each test with its own account).

Each raw answer is checked against the contract before the SDK's parsed one is looked at.
"""

from __future__ import annotations

from typing import Any

import pytest
import telnyx

from tests.e2e.test_sdk import Accounts, accounts, number_ids
from tests.support.contract import validate_response
from tests.support.factories import number_record

__all__ = ["accounts"]  # the fixture, shared with test_sdk

SLIM = "/phone_numbers/slim"
VOICE_LIST = "/phone_numbers/voice"
VOICE = "/phone_numbers/{id}/voice"


def checked(path: str, response: telnyx.APIResponse[Any]) -> Any:
    """The parsed answer of a raw SDK response, after checking its body against the contract."""
    validate_response(path, response.http_request.method, response.status_code, response.json())
    return response.parse()


def error_body(path: str, error: telnyx.APIStatusError) -> Any:
    body = error.response.json()
    validate_response(path, error.response.request.method, error.status_code, body)
    return body


# slim_list ----------------------------------------------------------------------------------------


def test_slim_list_auto_paginates_every_number(accounts: Accounts) -> None:
    client, numbers = accounts.new(*(number_record() for _ in range(7)))
    listed = [n.phone_number for n in client.phone_numbers.slim_list(page_size=3)]
    assert len(listed) == len(numbers)
    assert set(listed) == set(numbers)


def test_slim_list_shows_tags_and_connection_only_when_asked(accounts: Accounts) -> None:
    client, _ = accounts.new(
        number_record(tags=["vip"], connection_id="c1", connection_name="Front Desk")
    )
    plain = checked(SLIM, client.phone_numbers.with_raw_response.slim_list())
    [item] = plain.data
    assert item.connection_id == "c1"
    assert "tags" not in item.model_dump(exclude_unset=True)
    response = client.phone_numbers.with_raw_response.slim_list(
        include_tags=True, include_connection=True
    )
    assert "include_tags=true" in str(response.http_request.url)
    [full] = checked(SLIM, response).data
    assert full.model_extra == {"tags": ["vip"], "connection_name": "Front Desk"}


def test_slim_list_filters_as_the_list_does(accounts: Accounts) -> None:
    client, numbers = accounts.new(
        number_record(tags=["sales"], status="port-pending"),
        number_record(tags=["sales"]),
        number_record(),
    )
    found = client.phone_numbers.slim_list(filter={"tag": "sales", "status": "port_pending"})
    assert [n.phone_number for n in found] == [numbers[0]]
    listed = client.phone_numbers.slim_list(filter={"tag": "sales"}, sort="phone_number")
    assert [n.phone_number for n in listed] == sorted(numbers[:2])


def test_slim_list_invalid_filter_raises_bad_request(accounts: Accounts) -> None:
    client, _ = accounts.new(number_record())
    with pytest.raises(telnyx.BadRequestError) as raised:
        client.phone_numbers.slim_list(filter={"phone_number": "72"})
    errors = error_body(SLIM, raised.value)["errors"]
    assert [e["source"]["parameter"] for e in errors] == ["filter[phone_number]"]


# voice.retrieve and voice.update -----------------------------------------------------------------


def test_voice_retrieve_answers_the_numbers_settings(accounts: Accounts) -> None:
    client, numbers = accounts.new(
        number_record(connection_id="c1", usage_payment_method="channel")
    )
    number_id = number_ids(client)[numbers[0]]
    settings = checked(VOICE, client.phone_numbers.voice.with_raw_response.retrieve(number_id)).data
    assert (settings.id, settings.phone_number, settings.connection_id) == (
        number_id,
        numbers[0],
        "c1",
    )
    assert settings.usage_payment_method == "channel"
    assert settings.call_forwarding.call_forwarding_enabled is True
    assert settings.media_features.rtp_auto_adjust_enabled is True
    assert settings.call_recording.inbound_call_recording_format == "wav"


def test_voice_update_changes_only_what_it_is_given(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record())
    number_id = number_ids(client)[numbers[0]]
    response = client.phone_numbers.voice.with_raw_response.update(
        number_id,
        call_forwarding={"forwards_to": "+13035559123", "forwarding_type": "on-failure"},
        cnam_listing={"cnam_listing_enabled": True, "cnam_listing_details": "ACME"},
        tech_prefix_enabled=True,
        translated_number="+13035559999",
    )
    updated = checked(VOICE, response).data
    assert updated.call_forwarding.model_dump() == {
        "call_forwarding_enabled": True,
        "forwards_to": "+13035559123",
        "forwarding_type": "on-failure",
    }
    assert updated.cnam_listing.cnam_listing_details == "ACME"
    assert (updated.tech_prefix_enabled, updated.translated_number) == (True, "+13035559999")
    retrieved = client.phone_numbers.voice.retrieve(number_id).data
    assert retrieved == updated


@pytest.mark.parametrize("call", ["retrieve", "update"])
def test_another_accounts_number_raises_not_found(accounts: Accounts, call: str) -> None:
    mine, _ = accounts.new(number_record())
    theirs, their_numbers = accounts.new(number_record())
    their_id = number_ids(theirs)[their_numbers[0]]
    voice = mine.phone_numbers.voice
    with pytest.raises(telnyx.NotFoundError) as raised:
        voice.update(their_id, tech_prefix_enabled=True) if call == "update" else voice.retrieve(
            their_id
        )
    error_body(VOICE, raised.value)
    assert theirs.phone_numbers.voice.retrieve(their_id).data.tech_prefix_enabled is False  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("arguments", "pointer", "code"),
    [
        ({"call_forwarding": {"forwards_to": "nope"}}, "/call_forwarding/forwards_to", "10015"),
        ({"usage_payment_method": "free"}, "/usage_payment_method", "10015"),
        ({"extra_body": {"connection_id": "not-mine"}}, "/connection_id", "10013"),
    ],
)
def test_voice_update_raises_unprocessable_entity_naming_the_field(
    accounts: Accounts, arguments: dict[str, Any], pointer: str, code: str
) -> None:
    client, numbers = accounts.new(number_record())
    number_id = number_ids(client)[numbers[0]]
    with pytest.raises(telnyx.UnprocessableEntityError) as raised:
        client.phone_numbers.voice.update(number_id, **arguments)
    errors = error_body(VOICE, raised.value)["errors"]
    assert [(e["source"]["pointer"], e["code"]) for e in errors] == [(pointer, code)]


# voice.list ---------------------------------------------------------------------------------------


def test_voice_list_auto_paginates_with_its_filters(accounts: Accounts) -> None:
    client, numbers = accounts.new(
        *(number_record(connection_id="c1", connection_name="Front Desk") for _ in range(5)),
        number_record(connection_id="c2", connection_name="Back Office"),
    )
    response = client.phone_numbers.voice.with_raw_response.list(
        filter={"connection_name": {"contains": "desk"}}, page_size=2
    )
    assert checked(VOICE_LIST, response).meta.total_results == 5
    found = client.phone_numbers.voice.list(
        filter={"connection_name": {"contains": "desk"}}, page_size=2
    )
    assert {n.phone_number for n in found} == set(numbers[:5])


# Consistency with the main list -------------------------------------------------------------------


def test_voice_call_forwarding_shows_in_the_main_list(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record(), number_record())
    number_id = number_ids(client)[numbers[0]]
    client.phone_numbers.voice.update(number_id, call_forwarding={"call_forwarding_enabled": False})
    shown = {n.phone_number: n.call_forwarding_enabled for n in client.phone_numbers.list()}
    assert shown == {numbers[0]: False, numbers[1]: True}
    [item] = client.phone_numbers.voice.list(filter={"phone_number": numbers[0]})
    assert item.call_forwarding.call_forwarding_enabled is False  # type: ignore[union-attr]


def test_voice_usage_payment_method_agrees_with_the_lists_filter_and_sort(
    accounts: Accounts,
) -> None:
    client, numbers = accounts.new(number_record(), number_record(), number_record())
    ids = number_ids(client)
    client.phone_numbers.voice.update(ids[numbers[1]], usage_payment_method="channel")
    by_filter = client.phone_numbers.list(filter={"voice_usage_payment_method": "channel"})
    assert [n.phone_number for n in by_filter] == [numbers[1]]
    by_voice = client.phone_numbers.voice.list(filter={"voice_usage_payment_method": "channel"})
    assert [n.phone_number for n in by_voice] == [numbers[1]]
    by_sort = client.phone_numbers.list(sort="usage_payment_method")
    assert next(iter(by_sort)).phone_number == numbers[1]  # channel before pay-per-minute
