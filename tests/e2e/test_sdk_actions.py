"""The official `telnyx` SDK's `client.phone_numbers.actions` and `client.phone_numbers.voicemail`
against a real `numbers-api serve` (the session's live server, each test with its own account).

Each raw answer is checked against the contract before the SDK's parsed one is looked at.
"""

from __future__ import annotations

from typing import Any

import pytest
import telnyx

from tests.e2e.test_sdk import Accounts, accounts, listed, number_ids
from tests.support.contract import validate_response
from tests.support.factories import number_record

__all__ = ["accounts"]  # the fixture, shared with test_sdk

ADDRESS = "1315261609962112019"
BUNDLE = "5194d8fc-87e6-4188-baa9-1c434bbe861b"
OTHER_BUNDLE = "0b5e4f3c-2d1a-4c9b-8e7f-6a5b4c3d2e1f"
EMERGENCY = "/phone_numbers/{id}/actions/enable_emergency"
BUNDLE_CHANGE = "/phone_numbers/{id}/actions/bundle_status_change"
VERIFY = "/phone_numbers/actions/verify_ownership"
VOICEMAIL = "/phone_numbers/{phone_number_id}/voicemail"


def checked(path: str, response: telnyx.APIResponse[Any]) -> Any:
    """The parsed answer of a raw SDK response, after checking its body against the contract."""
    validate_response(path, response.http_request.method, response.status_code, response.json())
    return response.parse()


def error_pointers(path: str, error: telnyx.APIStatusError) -> list[str]:
    body = error.response.json()
    validate_response(path, error.response.request.method, error.status_code, body)
    return [e["source"]["pointer"] for e in body["errors"]]


# enable_emergency ---------------------------------------------------------------------------------


def test_enable_emergency_shows_in_the_list_and_its_filter(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record(), number_record())
    number_id = number_ids(client)[numbers[0]]
    assert listed(client, {"emergency_address_id": ADDRESS}) == set()
    response = client.phone_numbers.actions.with_raw_response.enable_emergency(
        number_id, emergency_address_id=ADDRESS, emergency_enabled=True
    )
    settings = checked(EMERGENCY, response).data
    assert settings.id == number_id
    assert settings.emergency.emergency_enabled is True
    assert settings.emergency.emergency_status == "active"
    assert listed(client, {"emergency_address_id": ADDRESS}) == {numbers[0]}
    shown = {n.phone_number: n for n in client.phone_numbers.list()}
    assert shown[numbers[0]].emergency_enabled is True
    assert shown[numbers[1]].emergency_enabled is False


def test_disable_emergency_takes_the_number_out_of_its_address(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record(emergency_address_id=ADDRESS))
    number_id = number_ids(client)[numbers[0]]
    assert listed(client, {"emergency_address_id": ADDRESS}) == {numbers[0]}
    response = client.phone_numbers.actions.with_raw_response.enable_emergency(
        number_id, emergency_address_id=ADDRESS, emergency_enabled=False
    )
    assert checked(EMERGENCY, response).data.emergency.emergency_status == "disabled"
    assert listed(client, {"emergency_address_id": ADDRESS}) == set()
    assert listed(client, {"emergency_address_id": "null"}) == {numbers[0]}


def test_enable_emergency_of_another_accounts_number_raises_not_found(
    accounts: Accounts,
) -> None:
    mine, _ = accounts.new(number_record())
    theirs, their_numbers = accounts.new(number_record())
    their_id = number_ids(theirs)[their_numbers[0]]
    with pytest.raises(telnyx.NotFoundError) as raised:
        mine.phone_numbers.actions.enable_emergency(
            their_id, emergency_address_id=ADDRESS, emergency_enabled=True
        )
    validate_response(EMERGENCY, "POST", 404, raised.value.response.json())
    assert listed(theirs, {"emergency_address_id": ADDRESS}) == set()


def test_enable_emergency_without_an_address_raises_unprocessable_entity(
    accounts: Accounts,
) -> None:
    client, numbers = accounts.new(number_record())
    with pytest.raises(telnyx.UnprocessableEntityError) as raised:
        client.phone_numbers.actions.enable_emergency(
            number_ids(client)[numbers[0]], emergency_address_id="", emergency_enabled=True
        )
    assert error_pointers(EMERGENCY, raised.value) == ["/emergency_address_id"]


# bundle_status_change -----------------------------------------------------------------------------


def test_change_bundle_status_assigns_and_removes(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record())
    number_id = number_ids(client)[numbers[0]]
    change = client.phone_numbers.actions.with_raw_response.change_bundle_status
    assigned = checked(BUNDLE_CHANGE, change(number_id, bundle_id=BUNDLE)).data
    assert (assigned.id, assigned.bundle_id) == (number_id, BUNDLE)
    assert checked(BUNDLE_CHANGE, change(number_id, bundle_id=None)).data.bundle_id is None
    moved = checked(BUNDLE_CHANGE, change(number_id, bundle_id=OTHER_BUNDLE)).data
    assert moved.bundle_id == OTHER_BUNDLE


def test_moving_a_number_between_bundles_raises_unprocessable_entity(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record())
    number_id = number_ids(client)[numbers[0]]
    client.phone_numbers.actions.change_bundle_status(number_id, bundle_id=BUNDLE)
    with pytest.raises(telnyx.UnprocessableEntityError) as raised:
        client.phone_numbers.actions.change_bundle_status(number_id, bundle_id=OTHER_BUNDLE)
    assert error_pointers(BUNDLE_CHANGE, raised.value) == ["/bundle_id"]


def test_change_bundle_status_of_another_accounts_number_raises_not_found(
    accounts: Accounts,
) -> None:
    mine, _ = accounts.new(number_record())
    theirs, their_numbers = accounts.new(number_record())
    with pytest.raises(telnyx.NotFoundError) as raised:
        mine.phone_numbers.actions.change_bundle_status(
            number_ids(theirs)[their_numbers[0]], bundle_id=BUNDLE
        )
    validate_response(BUNDLE_CHANGE, "PATCH", 404, raised.value.response.json())


# verify_ownership ---------------------------------------------------------------------------------


def test_verify_ownership_tells_owned_numbers_from_others(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record(), number_record())
    _, their_numbers = accounts.new(number_record())
    ids = number_ids(client)
    asked = [numbers[1], their_numbers[0], numbers[0]]
    response = client.phone_numbers.actions.with_raw_response.verify_ownership(phone_numbers=asked)
    result = checked(VERIFY, response).data
    assert [(f.id, f.number_val_e164) for f in result.found] == [
        (ids[numbers[1]], numbers[1]),
        (ids[numbers[0]], numbers[0]),
    ]
    assert result.not_found == [their_numbers[0]]
    assert result.record_type == "number_ownership_verification"


def test_verify_ownership_of_no_numbers_raises_unprocessable_entity(accounts: Accounts) -> None:
    client, _ = accounts.new(number_record())
    with pytest.raises(telnyx.UnprocessableEntityError) as raised:
        client.phone_numbers.actions.verify_ownership(phone_numbers=[])
    assert error_pointers(VERIFY, raised.value) == ["/phone_numbers"]


# voicemail ----------------------------------------------------------------------------------------


def test_voicemail_is_created_updated_and_retrieved(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record())
    number_id = number_ids(client)[numbers[0]]
    voicemail = client.phone_numbers.voicemail.with_raw_response
    with pytest.raises(telnyx.NotFoundError):
        client.phone_numbers.voicemail.retrieve(number_id)
    created = checked(VOICEMAIL, voicemail.create(number_id, enabled=True, pin="1234")).data
    assert (created.enabled, created.pin) == (True, "1234")
    updated = checked(VOICEMAIL, voicemail.update(number_id, pin="4321")).data
    assert (updated.enabled, updated.pin) == (True, "4321")
    retrieved = checked(VOICEMAIL, voicemail.retrieve(number_id)).data
    assert (retrieved.enabled, retrieved.pin) == (True, "4321")


def test_creating_voicemail_twice_raises_unprocessable_entity(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record())
    number_id = number_ids(client)[numbers[0]]
    client.phone_numbers.voicemail.create(number_id, enabled=True)
    with pytest.raises(telnyx.UnprocessableEntityError) as raised:
        client.phone_numbers.voicemail.create(number_id, enabled=False)
    validate_response(VOICEMAIL, "POST", 422, raised.value.response.json())
    retrieved = client.phone_numbers.voicemail.with_raw_response.retrieve(number_id)
    assert checked(VOICEMAIL, retrieved).data.enabled is True


@pytest.mark.parametrize("call", ["create", "update"])
def test_an_invalid_pin_raises_unprocessable_entity_naming_it(
    accounts: Accounts, call: str
) -> None:
    client, numbers = accounts.new(number_record())
    number_id = number_ids(client)[numbers[0]]
    if call == "update":
        client.phone_numbers.voicemail.create(number_id)
    with pytest.raises(telnyx.UnprocessableEntityError) as raised:
        getattr(client.phone_numbers.voicemail, call)(number_id, pin="12")
    assert error_pointers(VOICEMAIL, raised.value) == ["/pin"]


@pytest.mark.parametrize("call", ["retrieve", "create", "update"])
def test_another_accounts_voicemail_raises_not_found(accounts: Accounts, call: str) -> None:
    mine, _ = accounts.new(number_record())
    theirs, their_numbers = accounts.new(number_record())
    their_id = number_ids(theirs)[their_numbers[0]]
    theirs.phone_numbers.voicemail.create(their_id, enabled=True, pin="1234")
    with pytest.raises(telnyx.NotFoundError) as raised:
        getattr(mine.phone_numbers.voicemail, call)(their_id)
    error = raised.value
    validate_response(VOICEMAIL, error.response.request.method, 404, error.response.json())
    retrieved = theirs.phone_numbers.voicemail.with_raw_response.retrieve(their_id)
    assert checked(VOICEMAIL, retrieved).data.pin == "1234"
