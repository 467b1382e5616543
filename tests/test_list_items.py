"""Property test: a list's items, which the database renders as JSON, are each number exactly as
`GET /v2/phone_numbers/{id}` shows it, which Python makes: every property, its value and its
place, over numbers with random values in every field."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numbers_api.domain import (
    BOOLEAN_FIELDS,
    EMERGENCY_STATUSES,
    INBOUND_CALL_SCREENING,
    SOURCE_TYPES,
    STATUSES,
    TIMESTAMP_FIELDS,
    USAGE_PAYMENT_METHODS,
)
from numbers_api.serialisation import format_timestamp
from tests.conftest import ApiClient
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"
_accounts = itertools.count()

# Any text a user may store: quotes, backslashes, control characters, any script (not NUL, which
# PostgreSQL's text does not hold, nor lone surrogates, which no JSON text carries).
TEXT = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters=["\x00"]),
    min_size=1,
    max_size=12,
)
OPTIONAL_TEXT = st.none() | TEXT
# Import's range: the years 1 to 9999.
MILLISECONDS = st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    record = number_record(
        status=draw(st.sampled_from(STATUSES)),
        tags=draw(st.lists(TEXT, max_size=3)),
        external_pin=draw(OPTIONAL_TEXT),
        customer_reference=draw(OPTIONAL_TEXT),
        billing_group_id=draw(OPTIONAL_TEXT),
        emergency_address_id=draw(OPTIONAL_TEXT),
        emergency_status=draw(st.sampled_from(EMERGENCY_STATUSES)),
        inbound_call_screening=draw(st.sampled_from(INBOUND_CALL_SCREENING)),
        usage_payment_method=draw(st.sampled_from(USAGE_PAYMENT_METHODS)),
        source_type=draw(st.none() | st.sampled_from(SOURCE_TYPES)),
        **{name: draw(st.booleans()) for name in BOOLEAN_FIELDS},
        **{name: format_timestamp(draw(MILLISECONDS)) for name in TIMESTAMP_FIELDS},
    )
    # Names belong to ids: a few ids, so that numbers share them, each with one name.
    for kind in ("connection", "messaging_profile"):
        if draw(st.booleans()):
            record[f"{kind}_id"] = draw(st.sampled_from(["1", "2"]))
            record[f"{kind}_name"] = draw(OPTIONAL_TEXT) if record[f"{kind}_id"] == "1" else "two"
    return record


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(records(), min_size=1, max_size=6))
def test_a_listed_number_is_the_number_as_its_own_get_shows_it(
    api: ApiClient, inventory: Inventory, batch: list[dict[str, Any]]
) -> None:
    account = f"account-{next(_accounts)}"
    key = inventory.account(account)
    inventory.load(account, batch)
    listed = api.get(LIST, key, "page[size]=250").json()["data"]
    assert len(listed) == len(batch)
    for item in listed:
        shown = api.get(f"{LIST}/{item['id']}", key).json()["data"]
        assert list(item.items()) == list(shown.items())
