"""The search of available numbers through the official `telnyx` SDK,
`client.available_phone_numbers.list(filter={...})`, against a real `numbers-api serve`."""

from __future__ import annotations

import pytest
import telnyx
from telnyx.types.available_phone_number_list_params import Filter

from tests.e2e.test_sdk import Accounts, accounts  # noqa: F401 (the fixture)
from tests.support.contract import validate_response

SEARCH = "/available_phone_numbers"


def test_a_search_with_several_filters_finds_matching_numbers_and_counts_them(
    accounts: Accounts,  # noqa: F811
) -> None:
    client, _ = accounts.new()
    response = client.available_phone_numbers.with_raw_response.list(
        filter={
            "country_code": "US",
            "phone_number_type": "local",
            "administrative_area": "CO",
            "features": ["sms", "voice"],
            "phone_number": {"starts_with": "970"},
            "limit": 5,
        }
    )
    validate_response(SEARCH, "GET", response.status_code, response.json())
    page = response.parse()
    assert page.data
    assert len(page.data) <= 5
    for number in page.data:
        assert (number.phone_number or "").startswith("+1970")
        regions = {r.region_type: r.region_name for r in number.region_information or []}
        assert (regions["country_code"], regions["state"]) == ("US", "CO")
        assert {"sms", "voice"} <= {feature.name for feature in number.features or []}
        assert number.best_effort is False
    assert page.meta is not None
    assert page.meta.total_results is not None
    assert page.meta.total_results >= len(page.data)
    assert page.meta.best_effort_results == 0
    assert page.metadata == page.meta


def test_a_number_another_account_owns_is_no_longer_found(
    accounts: Accounts,  # noqa: F811
) -> None:
    client, _ = accounts.new()
    search: Filter = {"country_code": "US", "phone_number": {"starts_with": "303"}, "limit": 3}
    first = client.available_phone_numbers.list(filter=search).data or []
    taken = first[0].phone_number
    assert taken is not None
    accounts.new({"phone_number": taken})
    again = client.available_phone_numbers.list(filter=search).data or []
    assert taken not in [number.phone_number for number in again]


def test_a_bad_filter_is_a_bad_request_naming_it(accounts: Accounts) -> None:  # noqa: F811
    client, _ = accounts.new()
    with pytest.raises(telnyx.BadRequestError) as raised:
        client.available_phone_numbers.list(filter={"limit": 0})
    body = raised.value.response.json()
    validate_response(SEARCH, "GET", 400, body)
    assert [e["source"]["parameter"] for e in body["errors"]] == ["filter[limit]"]
