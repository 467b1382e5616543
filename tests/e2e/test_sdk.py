"""The official `telnyx` Python SDK (4.189.0), used as a black box against a real `numbers-api
serve` on a real SQLite file.

Every request goes through the SDK's own parameters (`filter={...}`, `sort=`, `page_size=`), so
these tests show that the SDK's query encoding, auto-pagination and error mapping work against the
server unchanged. Each test makes its own accounts through `numbers_api`, the pytest fixture this
project gives its users (`numbers_api.testing`), so tests share the server but not their data.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal, cast

import pytest
import telnyx
from telnyx import Telnyx
from telnyx.types.phone_number_list_params import Filter, FilterVoiceConnectionName

from numbers_api.store.accounts import create_key, revoke_key
from numbers_api.testing import Account
from tests.support.contract import validate_response
from tests.support.factories import number_record

Record = dict[str, Any]
Sort = Literal["purchased_at", "phone_number", "connection_name", "usage_payment_method"]


class Accounts:
    """New accounts on the `numbers_api` fixture's server, each with its own SDK client; closes
    the clients at the end. The first is the fixture's own account, the others its
    `new_account()`s, so the fixture empties them all after the test."""

    def __init__(self, numbers_api: Account) -> None:
        self.numbers_api = numbers_api
        self.clients: list[Telnyx] = []
        self._first_used = False

    def new(self, *records: Record) -> tuple[Telnyx, list[str]]:
        """A new account holding `records`: its client, and its numbers in the records' order."""
        account = self.account()
        if records:
            account.add_numbers(records)
        return self.client(account.api_key), [record["phone_number"] for record in records]

    def account(self) -> Account:
        if not self._first_used:
            self._first_used = True
            return self.numbers_api
        return self.numbers_api.new_account()

    def client(self, key: str | None) -> Telnyx:
        client = Telnyx(api_key=key, base_url=self.numbers_api.base_url, max_retries=0)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture
def accounts(numbers_api: Account) -> Iterator[Accounts]:
    accounts = Accounts(numbers_api)
    yield accounts
    accounts.close()


def listed(client: Telnyx, filter_: Filter) -> set[str]:
    """Every number the filter finds, through the SDK's auto-pagination."""
    return {number.phone_number for number in client.phone_numbers.list(filter=filter_)}


def pick(numbers: list[str], *indexes: int) -> set[str]:
    return {numbers[i] for i in indexes}


def checked_json(response: telnyx.APIResponse[Any]) -> Any:
    """The raw body of a list response, after checking it against the contract."""
    body = response.json()
    validate_response("/phone_numbers", "GET", response.status_code, body)
    return body


def error_body(error: telnyx.APIStatusError) -> Any:
    """The body of an error response, after checking it against the contract."""
    body = error.response.json()
    validate_response("/phone_numbers", "GET", error.status_code, body)
    return body


# Filters ------------------------------------------------------------------------------------------


def test_filter_tag_finds_numbers_carrying_that_exact_tag(accounts: Accounts) -> None:
    client, numbers = accounts.new(
        number_record(tags=["sales"]),
        number_record(tags=["support", "sales"]),
        number_record(tags=["Sales", "salesforce"]),
        number_record(),
    )
    assert listed(client, {"tag": "sales"}) == pick(numbers, 0, 1)


@pytest.mark.parametrize(("value", "expected"), [("true", {1, 3}), ("false", {0, 1, 2, 3})])
def test_filter_without_tags(
    accounts: Accounts, value: Literal["true", "false"], expected: set[int]
) -> None:
    client, numbers = accounts.new(
        number_record(tags=["a"]),
        number_record(),
        number_record(tags=["a", "b"]),
        number_record(tags=[]),
    )
    assert listed(client, {"without_tags": value}) == pick(numbers, *expected)


@pytest.mark.parametrize(
    ("make_value", "expected"),
    [
        pytest.param(lambda n: n[0][-7:], {0}, id="digit-substring"),
        pytest.param(lambda n: n[2], {2}, id="leading-plus-full-number"),
        pytest.param(lambda n: "+1720", {0, 1, 2}, id="leading-plus-prefix"),
        pytest.param(lambda n: "720", {0, 1, 2}, id="three-digits"),
        pytest.param(lambda n: n[0][-7:-4] + "-" + n[0][-4:], set(), id="non-digit"),
        pytest.param(lambda n: n[0][-7:] + "x", set(), id="trailing-letter"),
    ],
)
def test_filter_phone_number(
    accounts: Accounts, make_value: Callable[[list[str]], str], expected: set[int]
) -> None:
    client, numbers = accounts.new(number_record(), number_record(), number_record())
    assert listed(client, {"phone_number": make_value(numbers)}) == pick(numbers, *expected)


STATUS_RECORDS = ("active", "port-pending", "deleted", "requirement-info-pending", "active")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", {0, 4}),
        ("port-pending", {1}),
        ("deleted", {2}),
        ("purchase-failed", set()),
    ],
)
def test_filter_status(accounts: Accounts, status: Any, expected: set[int]) -> None:
    client, numbers = accounts.new(*(number_record(status=s) for s in STATUS_RECORDS))
    assert listed(client, {"status": status}) == pick(numbers, *expected)


@pytest.mark.parametrize(
    ("countries", "expected"),
    [
        pytest.param("US", {0, 3}, id="single-string"),
        pytest.param("CA", {1}, id="single-string-CA"),
        pytest.param(["US", "CA"], {0, 1, 3}, id="list"),
        pytest.param(["CA", "GB"], {1, 2}, id="list-CA-GB"),
        pytest.param(["FR"], set(), id="list-no-match"),
    ],
)
def test_filter_country_iso_alpha2(
    accounts: Accounts, countries: str | list[str], expected: set[int]
) -> None:
    # The import keeps a given country as given, so one kind of number serves for all three.
    client, numbers = accounts.new(
        number_record(),
        number_record(country_iso_alpha2="CA"),
        number_record(country_iso_alpha2="GB"),
        number_record(country_iso_alpha2="US"),
    )
    assert listed(client, {"country_iso_alpha2": countries}) == pick(numbers, *expected)


def test_filter_country_list_is_sent_comma_joined(accounts: Accounts) -> None:
    client, numbers = accounts.new(
        number_record(),
        number_record(country_iso_alpha2="CA"),
        number_record(country_iso_alpha2="GB"),
    )
    response = client.phone_numbers.with_raw_response.list(
        filter={"country_iso_alpha2": ["US", "CA"]}
    )
    assert "filter%5Bcountry_iso_alpha2%5D=US%2CCA" in str(response.http_request.url)
    body = checked_json(response)
    assert {item["phone_number"] for item in body["data"]} == pick(numbers, 0, 1)


def test_a_space_the_python_sdk_sends_as_plus_is_a_space(accounts: Accounts) -> None:
    """The Python SDK form-encodes a space as `+`; the Node SDK sends `%20` (tests/node,
    list.test.mjs): both are a space."""
    client, numbers = accounts.new(number_record(tags=["a b,c"]), number_record(tags=["a+b,c"]))
    response = client.phone_numbers.with_raw_response.list(filter={"tag": "a b,c"})
    assert "filter%5Btag%5D=a+b%2Cc" in str(response.http_request.url)
    assert {item["phone_number"] for item in checked_json(response)["data"]} == pick(numbers, 0)


def test_filter_connection_id(accounts: Accounts) -> None:
    client, numbers = accounts.new(
        number_record(connection_id="1521916448077776306"),
        number_record(connection_id="1521916448077776307"),
        number_record(connection_id="1521916448077776306"),
        number_record(),
    )
    assert listed(client, {"connection_id": "1521916448077776306"}) == pick(numbers, 0, 2)


# Connection names belong to the connection: number 4 points at connection 1 without naming it.
CONNECTION_RECORDS: tuple[Record, ...] = (
    {"connection_id": "1", "connection_name": "Front Desk"},
    {"connection_id": "2", "connection_name": "Desk Phones"},
    {"connection_id": "3", "connection_name": "Sales Floor"},
    {},
    {"connection_id": "1"},
)


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("contains", "desk", {0, 1, 4}),
        ("contains", "DESK", {0, 1, 4}),
        ("contains", "es Fl", {2}),
        ("contains", "lobby", set()),
        ("starts_with", "desk", {1}),
        ("starts_with", "FRONT", {0, 4}),
        ("starts_with", "Floor", set()),
        ("ends_with", "DESK", {0, 4}),
        ("ends_with", "floor", {2}),
        ("ends_with", "Front", set()),
        ("eq", "front desk", {0, 4}),
        ("eq", "SALES FLOOR", {2}),
        ("eq", "Front", set()),
        ("eq", "Desk", set()),
    ],
)
def test_filter_voice_connection_name(
    accounts: Accounts, operator: str, value: str, expected: set[int]
) -> None:
    client, numbers = accounts.new(*(number_record(**fields) for fields in CONNECTION_RECORDS))
    name_filter = cast(FilterVoiceConnectionName, {operator: value})
    filter_: Filter = {"voice_connection_name": name_filter}
    assert listed(client, filter_) == pick(numbers, *expected)


def test_filter_voice_connection_name_operators_combine(accounts: Accounts) -> None:
    client, numbers = accounts.new(*(number_record(**fields) for fields in CONNECTION_RECORDS))
    filter_: Filter = {"voice_connection_name": {"contains": "desk", "starts_with": "desk"}}
    assert listed(client, filter_) == pick(numbers, 1)


@pytest.mark.parametrize(("method", "expected"), [("channel", {1}), ("pay-per-minute", {0, 2})])
def test_filter_voice_usage_payment_method(
    accounts: Accounts, method: Literal["channel", "pay-per-minute"], expected: set[int]
) -> None:
    client, numbers = accounts.new(
        number_record(usage_payment_method="pay-per-minute"),
        number_record(usage_payment_method="channel"),
        number_record(),  # the import's default: pay-per-minute
    )
    assert listed(client, {"voice_usage_payment_method": method}) == pick(numbers, *expected)


BILLING_GROUP = "62e4bf2e-c278-4282-b524-488d9c9c43b2"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (BILLING_GROUP, {0, 3}),
        ("86f58db9-0fe3-4adc-9d1f-46e66e6e9323", {1}),
        ("null", {2}),
        ("62e4bf2e", set()),
    ],
)
def test_filter_billing_group_id(accounts: Accounts, value: str, expected: set[int]) -> None:
    client, numbers = accounts.new(
        number_record(billing_group_id=BILLING_GROUP),
        number_record(billing_group_id="86f58db9-0fe3-4adc-9d1f-46e66e6e9323"),
        number_record(),
        number_record(billing_group_id=BILLING_GROUP),
    )
    assert listed(client, {"billing_group_id": value}) == pick(numbers, *expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("9102160989215728032", {0}), ("1315261609962112019", {1}), ("null", {2, 3})],
)
def test_filter_emergency_address_id(accounts: Accounts, value: str, expected: set[int]) -> None:
    client, numbers = accounts.new(
        number_record(emergency_address_id="9102160989215728032", emergency_enabled=True),
        number_record(emergency_address_id="1315261609962112019", emergency_enabled=True),
        number_record(),
        number_record(emergency_address_id=None),
    )
    assert listed(client, {"emergency_address_id": value}) == pick(numbers, *expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("MY REF 001", {0}), ("my ref 001", {1}), ("MY REF", set()), ("null", set())],
)
def test_filter_customer_reference_is_exact(
    accounts: Accounts, value: str, expected: set[int]
) -> None:
    client, numbers = accounts.new(
        number_record(customer_reference="MY REF 001"),
        number_record(customer_reference="my ref 001"),
        number_record(customer_reference="MY REF 0012"),
        number_record(),
    )
    assert listed(client, {"customer_reference": value}) == pick(numbers, *expected)


NUMBER_TYPE_RECORDS = ("local", "toll_free", "tollfree", "mobile", "national", "longcode")


@pytest.mark.parametrize(
    ("number_type", "expected"),
    [
        ("toll_free", {1, 2}),
        ("local", {0}),
        ("mobile", {3}),
        ("national", {4}),
        ("shared_cost", set()),
    ],
)
def test_filter_number_type_eq(accounts: Accounts, number_type: Any, expected: set[int]) -> None:
    client, numbers = accounts.new(
        *(number_record(phone_number_type=t) for t in NUMBER_TYPE_RECORDS)
    )
    assert listed(client, {"number_type": {"eq": number_type}}) == pick(numbers, *expected)


@pytest.mark.parametrize(
    ("source", "source_type", "expected"),
    [("ported", "port_request", {0, 3}), ("purchased", "number_order", {1})],
)
def test_filter_source(
    accounts: Accounts,
    source: Literal["ported", "purchased"],
    source_type: str,
    expected: set[int],
) -> None:
    client, numbers = accounts.new(
        number_record(source_type="port_request"),
        number_record(source_type="number_order"),
        number_record(source_type=None),
        number_record(source_type="port_request"),
    )
    found = list(client.phone_numbers.list(filter={"source": source}))
    assert {n.phone_number for n in found} == pick(numbers, *expected)
    assert {n.source_type for n in found} == {source_type}


def test_filters_combine_with_and(accounts: Accounts) -> None:
    client, numbers = accounts.new(
        number_record(tags=["sales"], status="active", connection_id="7", connection_name="Desk"),
        number_record(tags=["sales"], status="deleted", connection_id="7"),
        number_record(tags=["sales"], status="active"),
        number_record(tags=["support"], status="active", connection_id="7"),
    )
    filter_: Filter = {"tag": "sales", "status": "active", "voice_connection_name": {"eq": "desk"}}
    assert listed(client, filter_) == pick(numbers, 0)


# Order --------------------------------------------------------------------------------------------

# Five numbers whose every sort key gives a different order. Numbers 1 and 4 share a connection
# (a tie on connection_name, broken by id: the import's order); number 2 has no connection.
ORDER_RECORDS: tuple[Record, ...] = (
    {
        "created_at": "2021-03-01T00:00:00.000Z",
        "purchased_at": "2020-05-01T00:00:00.000Z",
        "connection_id": "20",
        "connection_name": "bravo",
        "usage_payment_method": "channel",
    },
    {
        "created_at": "2021-01-01T00:00:00.000Z",
        "purchased_at": "2020-01-01T00:00:00.000Z",
        "connection_id": "10",
        "connection_name": "Alpha",
        "usage_payment_method": "pay-per-minute",
    },
    {
        "created_at": "2021-05-01T00:00:00.000Z",
        "purchased_at": "2020-03-01T00:00:00.000Z",
        "usage_payment_method": "channel",
    },
    {
        "created_at": "2021-02-01T00:00:00.000Z",
        "purchased_at": "2020-09-01T00:00:00.000Z",
        "connection_id": "30",
        "connection_name": "charlie",
        "usage_payment_method": "pay-per-minute",
    },
    {
        "created_at": "2021-04-01T00:00:00.000Z",
        "purchased_at": "2020-07-01T00:00:00.000Z",
        "connection_id": "10",
        "usage_payment_method": "channel",
    },
)
# Which of the fresh numbers each record gets, so that phone_number order is not load order.
PHONE_RANKS = (3, 0, 4, 1, 2)


def order_account(accounts: Accounts) -> tuple[Telnyx, list[str]]:
    records = [number_record(**fields) for fields in ORDER_RECORDS]
    fresh = sorted(record["phone_number"] for record in records)
    for record, rank in zip(records, PHONE_RANKS, strict=True):
        record["phone_number"] = fresh[rank]
    return accounts.new(*records)


def test_default_order_is_newest_created_first(accounts: Accounts) -> None:
    client, numbers = order_account(accounts)
    listed_order = [n.phone_number for n in client.phone_numbers.list(page_size=2)]
    assert listed_order == [numbers[i] for i in (2, 4, 0, 3, 1)]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("purchased_at", (1, 2, 0, 4, 3)),
        ("phone_number", (1, 3, 4, 0, 2)),
        ("connection_name", (1, 4, 0, 3, 2)),
        ("usage_payment_method", (0, 2, 4, 1, 3)),
    ],
)
def test_sort(accounts: Accounts, sort: Sort, expected: tuple[int, ...]) -> None:
    client, numbers = order_account(accounts)
    listed_order = [n.phone_number for n in client.phone_numbers.list(sort=sort, page_size=2)]
    assert listed_order == [numbers[i] for i in expected]


# Auto-pagination ----------------------------------------------------------------------------------


def test_auto_pagination_returns_every_number_exactly_once(accounts: Accounts) -> None:
    client, numbers = accounts.new(*(number_record() for _ in range(50)))
    page = client.phone_numbers.list(page_size=7)
    assert [len(p.data) for p in page.iter_pages()] == [7] * 7 + [1]
    listed_order = [n.phone_number for n in client.phone_numbers.list(page_size=7)]
    assert len(listed_order) == 50
    assert set(listed_order) == set(numbers)


def test_auto_pagination_with_a_filter_and_a_sort(accounts: Accounts) -> None:
    records = [number_record(tags=["even"] if i % 2 == 0 else []) for i in range(50)]
    records.reverse()  # load order is the reverse of phone_number order
    client, _ = accounts.new(*records)
    listed_order = [
        n.phone_number
        for n in client.phone_numbers.list(filter={"tag": "even"}, sort="phone_number", page_size=7)
    ]
    assert listed_order == sorted(r["phone_number"] for r in records if r["tags"])
    assert len(listed_order) == 25


def test_page_beyond_the_last_is_empty(accounts: Accounts) -> None:
    client, _ = accounts.new(*(number_record() for _ in range(3)))
    response = client.phone_numbers.with_raw_response.list(page_number=5, page_size=2)
    body = checked_json(response)
    assert body["data"] == []
    assert body["meta"] == {"total_pages": 2, "total_results": 3, "page_number": 5, "page_size": 2}
    assert list(response.parse()) == []


# Authentication -----------------------------------------------------------------------------------


def assert_authentication_failed(client: Telnyx) -> None:
    with pytest.raises(telnyx.AuthenticationError) as raised:
        client.phone_numbers.list()
    assert raised.value.status_code == 401
    assert [e["code"] for e in error_body(raised.value)["errors"]] == ["10009"]


def test_unknown_key_raises_authentication_error(accounts: Accounts) -> None:
    accounts.new(number_record())
    assert_authentication_failed(accounts.client("KEY" + uuid.uuid4().hex))


def test_revoked_key_raises_authentication_error(accounts: Accounts) -> None:
    first, numbers = accounts.new(number_record())
    account = accounts.account()
    database = account.servers.database
    second_key = create_key(database, account.name)
    second = accounts.client(second_key)
    assert list(second.phone_numbers.list()) == []
    revoke_key(database, second_key)
    assert_authentication_failed(second)
    assert {n.phone_number for n in first.phone_numbers.list()} == set(numbers)


def test_no_key_raises_authentication_error(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELNYX_API_KEY", raising=False)
    client = accounts.client(None)
    assert client.api_key is None
    assert_authentication_failed(client)


# Invalid queries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"filter": {"status": "enabled"}}, "filter[status]"),
        ({"filter": {"phone_number": "72"}}, "filter[phone_number]"),
        ({"filter": {"phone_number": "+7"}}, "filter[phone_number]"),
        (
            {"filter": {"voice_connection_name": {"contains": "de"}}},
            "filter[voice.connection_name][contains]",
        ),
        (
            {"filter": {"voice_connection_name": {"starts_with": "d"}}},
            "filter[voice.connection_name][starts_with]",
        ),
        (
            {"filter": {"voice_connection_name": {"ends_with": "sk"}}},
            "filter[voice.connection_name][ends_with]",
        ),
        ({"filter": {"voice_usage_payment_method": "free"}}, "filter[voice.usage_payment_method]"),
        ({"filter": {"number_type": {"eq": "tollfree"}}}, "filter[number_type][eq]"),
        ({"filter": {"source": "stolen"}}, "filter[source]"),
        ({"filter": {"without_tags": "yes"}}, "filter[without_tags]"),
        ({"page_size": 0}, "page[size]"),
        ({"page_size": 251}, "page[size]"),
        ({"page_number": 0}, "page[number]"),
        ({"sort": "created_at"}, "sort"),
        ({"handle_messaging_profile_error": "yes"}, "handle_messaging_profile_error"),
    ],
)
def test_invalid_query_raises_bad_request_naming_the_parameter(
    accounts: Accounts, arguments: dict[str, Any], parameter: str
) -> None:
    client, _ = accounts.new(number_record())
    with pytest.raises(telnyx.BadRequestError) as raised:
        client.phone_numbers.list(**arguments)
    assert raised.value.status_code == 400
    errors = error_body(raised.value)["errors"]
    assert [e["source"]["parameter"] for e in errors] == [parameter]


def test_bad_request_names_every_offending_parameter(accounts: Accounts) -> None:
    client, _ = accounts.new(number_record())
    invalid: Any = {"status": "enabled", "phone_number": "72"}
    with pytest.raises(telnyx.BadRequestError) as raised:
        client.phone_numbers.list(filter=invalid, page_size=251)
    errors = error_body(raised.value)["errors"]
    assert {e["source"]["parameter"] for e in errors} == {
        "filter[status]",
        "filter[phone_number]",
        "page[size]",
    }


# Accounts -----------------------------------------------------------------------------------------


def test_another_accounts_numbers_never_appear(accounts: Accounts) -> None:
    mine, my_numbers = accounts.new(
        number_record(tags=["shared"], connection_id="1", connection_name="Shared Desk"),
        number_record(tags=["shared"]),
    )
    theirs, their_numbers = accounts.new(
        number_record(tags=["shared"], connection_id="1", connection_name="Shared Desk"),
        number_record(),
        number_record(),
    )
    assert {n.phone_number for n in mine.phone_numbers.list()} == set(my_numbers)
    assert {n.phone_number for n in theirs.phone_numbers.list()} == set(their_numbers)
    assert listed(mine, {"tag": "shared"}) == set(my_numbers)
    assert listed(mine, {"voice_connection_name": {"eq": "shared desk"}}) == {my_numbers[0]}
    assert listed(mine, {"phone_number": their_numbers[1]}) == set()
    assert listed(theirs, {"connection_id": "1"}) == {their_numbers[0]}


# Messaging profiles -------------------------------------------------------------------------------

PROFILE_RECORDS: tuple[Record, ...] = (
    {"messaging_profile_id": "abc85f64-5717-4562-b3fc-2c9600000000"},
    {
        "messaging_profile_id": "abc85f64-5717-4562-b3fc-2c9600000000",
        "messaging_profile_name": "regional-customers",
    },
    {},
)


@pytest.mark.parametrize("handle", [None, "true", "false"])
def test_messaging_profile_name_is_shown_for_numbers_pointing_at_a_profile(
    accounts: Accounts, handle: Literal["true", "false"] | None
) -> None:
    client, numbers = accounts.new(*(number_record(**fields) for fields in PROFILE_RECORDS))
    arguments: dict[str, Any] = {} if handle is None else {"handle_messaging_profile_error": handle}
    shown = {
        n.phone_number: (n.messaging_profile_id, n.messaging_profile_name)
        for n in client.phone_numbers.list(**arguments)
    }
    profile = ("abc85f64-5717-4562-b3fc-2c9600000000", "regional-customers")
    assert shown == {numbers[0]: profile, numbers[1]: profile, numbers[2]: (None, None)}
    body = checked_json(client.phone_numbers.with_raw_response.list(**arguments))
    assert "errors" not in body
    for item in body["data"]:
        assert "messaging_profile_id" in item
        assert "messaging_profile_name" in item


@pytest.fixture
def faulty_accounts(accounts: Accounts) -> Accounts:
    """Accounts on a server whose messaging-profile component always fails."""
    accounts.numbers_api.fault_on("messaging_profiles")
    return accounts


@pytest.mark.parametrize("handle", [None, "false"])
def test_messaging_profile_failure_raises_internal_server_error(
    faulty_accounts: Accounts, handle: Literal["false"] | None
) -> None:
    client, _ = faulty_accounts.new(*(number_record(**fields) for fields in PROFILE_RECORDS))
    arguments: dict[str, Any] = {} if handle is None else {"handle_messaging_profile_error": handle}
    with pytest.raises(telnyx.InternalServerError) as raised:
        client.phone_numbers.list(**arguments)
    assert raised.value.status_code == 503
    assert [e["code"] for e in error_body(raised.value)["errors"]] == ["10007"]


def test_handle_messaging_profile_error_leaves_the_profile_fields_out(
    faulty_accounts: Accounts,
) -> None:
    client, numbers = faulty_accounts.new(*(number_record(**fields) for fields in PROFILE_RECORDS))
    response = client.phone_numbers.with_raw_response.list(handle_messaging_profile_error="true")
    assert response.status_code == 200
    body = checked_json(response)
    assert {item["phone_number"] for item in body["data"]} == set(numbers)
    for item in body["data"]:
        assert "messaging_profile_id" not in item
        assert "messaging_profile_name" not in item
    assert [e["code"] for e in body["errors"]] == ["10007"]
    parsed = response.parse()
    assert [n.messaging_profile_name for n in parsed.data] == [None, None, None]


def test_handle_messaging_profile_error_still_auto_paginates(faulty_accounts: Accounts) -> None:
    client, numbers = faulty_accounts.new(*(number_record() for _ in range(10)))
    listed_order = [
        n.phone_number
        for n in client.phone_numbers.list(handle_messaging_profile_error="true", page_size=3)
    ]
    assert sorted(listed_order) == sorted(numbers)


# One number: retrieve, update, delete ------------------------------------------------------------


def number_ids(client: Telnyx) -> dict[str, str]:
    """Each number of the client's account, to its id."""
    return {n.phone_number: n.id for n in client.phone_numbers.list()}


def test_retrieve_answers_the_number(accounts: Accounts) -> None:
    client, numbers = accounts.new(
        number_record(tags=["a"], connection_id="1", connection_name="D")
    )
    number_id = number_ids(client)[numbers[0]]
    response = client.phone_numbers.with_raw_response.retrieve(number_id)
    validate_response("/phone_numbers/{id}", "GET", response.status_code, response.json())
    number = response.parse().data
    assert number is not None
    assert (number.id, number.phone_number, number.tags) == (number_id, numbers[0], ["a"])
    assert number.connection_name == "D"


def test_update_tags_is_found_by_filter_tag(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record(tags=["old"]), number_record())
    number_id = number_ids(client)[numbers[0]]
    assert listed(client, {"tag": "sales"}) == set()
    response = client.phone_numbers.with_raw_response.update(number_id, tags=["sales", "vip"])
    validate_response("/phone_numbers/{id}", "PATCH", response.status_code, response.json())
    updated = response.parse().data
    assert updated is not None
    assert updated.tags == ["sales", "vip"]
    assert listed(client, {"tag": "sales"}) == {numbers[0]}
    assert listed(client, {"tag": "old"}) == set()


def test_update_with_an_unknown_connection_raises_unprocessable_entity(
    accounts: Accounts,
) -> None:
    client, numbers = accounts.new(number_record())
    with pytest.raises(telnyx.UnprocessableEntityError) as raised:
        client.phone_numbers.update(number_ids(client)[numbers[0]], connection_id="nope")
    body = raised.value.response.json()
    validate_response("/phone_numbers/{id}", "PATCH", 422, body)
    assert [e["source"]["pointer"] for e in body["errors"]] == ["/connection_id"]


def test_delete_releases_the_number(accounts: Accounts) -> None:
    client, numbers = accounts.new(number_record(), number_record())
    number_id = number_ids(client)[numbers[0]]
    assert client.phone_numbers.list().meta.total_results == 2  # type: ignore[union-attr]
    response = client.phone_numbers.with_raw_response.delete(number_id)
    validate_response("/phone_numbers/{id}", "DELETE", response.status_code, response.json())
    deleted = response.parse().data
    assert deleted is not None
    assert (deleted.id, deleted.status) == (number_id, "deleted")
    assert client.phone_numbers.list().meta.total_results == 1  # type: ignore[union-attr]
    with pytest.raises(telnyx.NotFoundError):
        client.phone_numbers.retrieve(number_id)


@pytest.mark.parametrize("call", ["retrieve", "update", "delete"])
def test_another_accounts_number_raises_not_found(accounts: Accounts, call: str) -> None:
    mine, _ = accounts.new(number_record())
    theirs, their_numbers = accounts.new(number_record())
    their_id = number_ids(theirs)[their_numbers[0]]
    method = getattr(mine.phone_numbers, call)
    with pytest.raises(telnyx.NotFoundError) as raised:
        method(their_id, tags=["x"]) if call == "update" else method(their_id)
    validate_response(
        "/phone_numbers/{id}",
        raised.value.response.request.method,
        404,
        raised.value.response.json(),
    )
    assert number_ids(theirs) == {their_numbers[0]: their_id}
