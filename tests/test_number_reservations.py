"""Number reservations: `POST /v2/number_reservations` holds numbers of the pool for the account,
`GET` lists and shows them, `POST .../{id}/actions/extend` holds them again from now.

Through the app (its answers checked against the contract by the test client), and the store's
functions directly where a test moves the clock (`now_ms`) or races two writers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from numbers_api.query.conditions import Compares, Field, OneOf
from numbers_api.query.list_query import FilteredPage, Page
from numbers_api.query.reservation_query import NUMBER_RESERVATION_FILTERS
from numbers_api.query.values import InvalidValue, Timestamp
from numbers_api.settings import (
    DEFAULT_RESERVATION_MS,
    RESERVATION_VARIABLE,
    SettingsError,
    reservation_ms_from_environment,
)
from numbers_api.store.accounts import account_id
from numbers_api.store.available_numbers import HELD, unavailable_numbers
from numbers_api.store.database import Database
from numbers_api.store.number_reservations import (
    ALREADY_RESERVED,
    NOT_AVAILABLE,
    NumbersUnavailable,
    ReservationExpired,
    create_reservation,
    end_holds,
    extend_reservation,
    list_reservations,
)
from tests.conftest import ApiClient, make_client
from tests.support.contract import ORDERING_CONTRACT_URI, documents
from tests.support.databases import ON_POSTGRESQL
from tests.support.factories import Inventory, fresh_number, number_record
from tests.support.pool import expire_holds, pooled

RESERVATIONS = "/v2/number_reservations"
HOLD_MS = DEFAULT_RESERVATION_MS
T0 = 1_700_000_000_000  # the clock of the store tests


@pytest.fixture
def api(database_url: str, database: Database) -> ApiClient:
    """The app, on one query path: reservations have no index."""
    return make_client(database_url)


@pytest.fixture
def keys(inventory: Inventory) -> tuple[str, str]:
    """The keys of two accounts, `mine` and `theirs`."""
    return inventory.account("mine"), inventory.account("theirs")


def reserve(api: ApiClient, key: str, *numbers: str, **fields: Any) -> httpx.Response:
    body = {"phone_numbers": [{"phone_number": n} for n in numbers], **fields}
    return api.request("POST", RESERVATIONS, key, json=body)


def reserved(api: ApiClient, key: str, *numbers: str, **fields: Any) -> dict[str, Any]:
    response = reserve(api, key, *numbers, **fields)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def errors(response: httpx.Response) -> list[tuple[str | None, str]]:
    """Each error's pointer (or parameter) and detail."""
    found = []
    for error in response.json()["errors"]:
        source = error.get("source", {})
        found.append((source.get("pointer", source.get("parameter")), error["detail"]))
    return found


def held_by(database: Database, name: str, now_ms: int) -> set[str]:
    """The numbers the account named holds at `now_ms`."""
    with database.transaction() as connection:
        rows = connection.execute(
            "SELECT DISTINCT n.phone_number FROM reserved_phone_numbers n JOIN accounts a "
            "ON a.id = n.account_id WHERE a.name = ? AND n.expires_at > ?",
            (name, now_ms),
        ).fetchall()
    return {row[0] for row in rows}


def milliseconds(text: str) -> int:
    """Milliseconds since the epoch of a timestamp as the server writes it."""
    return Timestamp().parse(text) // 1000


def account(database: Database, name: str) -> int:
    with database.snapshot() as connection:
        return account_id(connection, name)


# Creating -----------------------------------------------------------------------------------------


def test_a_reservation_holds_its_numbers_for_30_minutes(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    numbers = pooled(database, 2)
    data = reserved(api, keys[0], *numbers, customer_reference="MY REF 001")
    assert data["record_type"] == "number_reservation"
    assert data["status"] == "success"
    assert data["customer_reference"] == "MY REF 001"
    assert [n["phone_number"] for n in data["phone_numbers"]] == sorted(numbers)
    for number in data["phone_numbers"]:
        assert number["record_type"] == "reserved_phone_number"
        assert number["status"] == "success"
        created = milliseconds(number["created_at"])
        assert milliseconds(number["expired_at"]) - created == HOLD_MS


def test_a_reservation_without_customer_reference_leaves_it_out(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    data = reserved(api, keys[0], *pooled(database, 1))
    assert "customer_reference" not in data


def in_an_inventory(database: Database, inventory: Inventory) -> str:
    [number] = pooled(database, 1)
    inventory.load("theirs", [number_record(phone_number=number)])
    return number


def not_in_the_pool(database: Database, inventory: Inventory) -> str:
    return fresh_number()


def not_yet_back_in_the_pool(database: Database, inventory: Inventory) -> str:
    return pooled(database, 1, available_from=2**50)[0]


@pytest.mark.parametrize(
    "unavailable", [in_an_inventory, not_in_the_pool, not_yet_back_in_the_pool]
)
def test_a_number_that_is_not_available_cannot_be_reserved(
    api: ApiClient,
    keys: tuple[str, str],
    database: Database,
    inventory: Inventory,
    unavailable: Callable[[Database, Inventory], str],
) -> None:
    number = unavailable(database, inventory)
    response = reserve(api, keys[0], number)
    assert response.status_code == 422
    assert errors(response) == [("/phone_numbers/0/phone_number", f"{number} {NOT_AVAILABLE}.")]


def test_a_number_the_pool_marks_not_reservable_cannot_be_reserved(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    [number] = pooled(database, 1, reservable=False)
    response = reserve(api, keys[0], number)
    assert response.status_code == 422
    [(pointer, detail)] = errors(response)
    assert pointer == "/phone_numbers/0/phone_number"
    assert detail.startswith(f"{number} cannot be reserved")


def test_a_number_held_by_another_account_cannot_be_reserved(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    [number] = pooled(database, 1)
    reserved(api, keys[1], number)
    response = reserve(api, keys[0], number)
    assert response.status_code == 422
    assert errors(response) == [("/phone_numbers/0/phone_number", f"{number} {ALREADY_RESERVED}.")]


def test_one_unavailable_number_refuses_the_whole_reservation(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    free = pooled(database, 2)
    taken, missing = pooled(database, 1), fresh_number()
    reserved(api, keys[1], *taken)
    response = reserve(api, keys[0], free[0], *taken, free[1], missing)
    assert response.status_code == 422
    assert errors(response) == [
        ("/phone_numbers/1/phone_number", f"{taken[0]} {ALREADY_RESERVED}."),
        ("/phone_numbers/3/phone_number", f"{missing} {NOT_AVAILABLE}."),
    ]
    assert held_by(database, "mine", 0) == set()
    assert api.get(RESERVATIONS, keys[0]).json()["data"] == []


def test_the_account_holding_a_number_may_reserve_it_again(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    [number] = pooled(database, 1)
    first = reserved(api, keys[0], number)
    second = reserved(api, keys[0], number)
    assert second["id"] != first["id"]
    assert len(api.get(RESERVATIONS, keys[0]).json()["data"]) == 2


E164_ITEM = {"phone_number": "+19705555098"}


@pytest.mark.parametrize(
    ("body", "pointer", "words"),
    [
        ({}, "/phone_numbers", "phone_numbers is required"),
        ({"phone_numbers": []}, "/phone_numbers", "at least 1"),
        ({"phone_numbers": "+19705555098"}, "/phone_numbers", "must be an array"),
        ({"phone_numbers": ["+19705555098"]}, "/phone_numbers", "item 0"),
        ({"phone_numbers": [{"phone_number": "19705555098"}]}, "/phone_numbers", "+E.164"),
        ({"phone_numbers": [{"phone_number": 19705555098}]}, "/phone_numbers", "+E.164"),
        ({"phone_numbers": [{**E164_ITEM, "status": "success"}]}, "/phone_numbers", "only field"),
        ({"phone_numbers": [E164_ITEM, E164_ITEM]}, "/phone_numbers", "twice"),
        (
            {"phone_numbers": [{"phone_number": f"+1970555{i:04d}"} for i in range(101)]},
            "/phone_numbers",
            "100 is the maximum",
        ),
        ({"phone_numbers": [E164_ITEM], "customer_reference": 7}, "/customer_reference", "string"),
        ({"phone_numbers": [E164_ITEM], "id": "x"}, "/id", "not a field"),
    ],
)
def test_a_bad_body_is_422_naming_its_field(
    api: ApiClient, keys: tuple[str, str], body: dict[str, Any], pointer: str, words: str
) -> None:
    response = api.request("POST", RESERVATIONS, keys[0], json=body)
    assert response.status_code == 422
    [(where, detail)] = errors(response)
    assert where == pointer
    assert words in detail


def test_a_body_that_is_not_json_is_400(api: ApiClient, keys: tuple[str, str]) -> None:
    response = api.request("POST", RESERVATIONS, keys[0], content=b"{")
    assert response.status_code == 400


# Reading ------------------------------------------------------------------------------------------


def test_a_reservation_is_shown_by_its_id(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    data = reserved(api, keys[0], *pooled(database, 1))
    response = api.get(f"{RESERVATIONS}/{data['id'].upper()}", keys[0])
    assert response.status_code == 200
    assert response.json()["data"] == data


def test_another_accounts_reservation_is_not_found(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    data = reserved(api, keys[1], *pooled(database, 1))
    assert api.get(f"{RESERVATIONS}/{data['id']}", keys[0]).status_code == 404
    extend = api.request("POST", f"{RESERVATIONS}/{data['id']}/actions/extend", keys[0])
    assert extend.status_code == 404
    assert api.get(RESERVATIONS, keys[0]).json()["meta"]["total_results"] == 0


@pytest.mark.parametrize("path", ["", "/actions/extend"])
def test_a_malformed_reservation_id_is_400(
    api: ApiClient, keys: tuple[str, str], path: str
) -> None:
    method = "POST" if path else "GET"
    response = api.request(method, f"{RESERVATIONS}/not-a-uuid{path}", keys[0])
    assert response.status_code == 400
    assert errors(response)[0][0] == "number_reservation_id"


def test_the_list_is_newest_first_in_pages(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    ids = [reserved(api, keys[0], *pooled(database, 1))["id"] for _ in range(5)]
    pages = [
        api.get(RESERVATIONS, keys[0], {"page[size]": "2", "page[number]": str(n)}).json()
        for n in (1, 2, 3, 4)
    ]
    assert [r["id"] for page in pages for r in page["data"]] == ids[::-1]
    assert pages[0]["meta"] == {
        "total_pages": 3,
        "total_results": 5,
        "page_number": 1,
        "page_size": 2,
    }


def test_the_list_filters_by_customer_reference_number_and_status(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    numbers = pooled(database, 3)
    first = reserved(api, keys[0], numbers[0], customer_reference="a")["id"]
    second = reserved(api, keys[0], numbers[1], numbers[2], customer_reference="b")["id"]

    def ids(query: dict[str, str]) -> list[str]:
        response = api.get(RESERVATIONS, keys[0], query)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["data"]]

    assert ids({"filter[customer_reference]": "a"}) == [first]
    assert ids({"filter[phone_numbers.phone_number]": numbers[2]}) == [second]
    assert ids({"filter[phone_numbers.phone_number]": f"{numbers[0]},{numbers[2]}"}) == [
        second,
        first,
    ]
    assert ids({"filter[status]": "success"}) == [second, first]
    assert ids({"filter[status]": "pending"}) == []


def test_the_list_filters_by_creation_time(inventory: Inventory, database: Database) -> None:
    inventory.account("mine")
    mine = account(database, "mine")
    numbers = pooled(database, 3)
    with database.transaction() as connection:
        ids = [
            create_reservation(
                connection, mine, [n], None, now_ms=T0 + i * 1000, hold_ms=HOLD_MS
            ).id
            for i, n in enumerate(numbers)
        ]

    def listed(*conditions: Any) -> list[str]:
        query = FilteredPage(tuple(conditions), Page(1, 20))
        with database.snapshot() as connection:
            return [r.id for r in list_reservations(connection, mine, query)[1]]

    assert listed(Compares(Field.CREATED_AT, ">", T0)) == [ids[2], ids[1]]
    assert listed(Compares(Field.CREATED_AT, "<", T0 + 2000)) == [ids[1], ids[0]]
    assert listed(
        Compares(Field.CREATED_AT, ">", T0), Compares(Field.CREATED_AT, "<", T0 + 2000)
    ) == [ids[1]]
    assert listed(OneOf(Field.PHONE_NUMBER, (numbers[0],))) == [ids[0]]


def test_created_at_filters_take_rfc_3339_times(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    data = reserved(api, keys[0], *pooled(database, 1))
    created = data["created_at"]  # e.g. 2026-12-06T10:40:00.123Z

    def ids(operator: str, value: str) -> list[str]:
        response = api.get(RESERVATIONS, keys[0], {f"filter[created_at][{operator}]": value})
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["data"]]

    assert ids("gt", created) == []
    assert ids("lt", created) == []
    assert ids("gt", "2000-01-01T00:00:00Z") == [data["id"]]
    assert ids("lt", "2999-01-01T00:00:00+01:00") == [data["id"]]
    # 0.0005 s after the creation's millisecond: later than it, and a millisecond is not.
    assert ids("lt", created.replace("Z", "500Z")) == [data["id"]]


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-29T12:34:56.789123+02:00",
        "1969-12-31T23:59:59.5-01:30",
        "2000-03-01T00:00:00z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999Z",
    ],
)
def test_a_timestamp_is_read_to_the_microsecond(text: str) -> None:
    since_epoch = datetime.fromisoformat(text.upper()) - datetime(1970, 1, 1, tzinfo=UTC)
    assert Timestamp().parse(text) == since_epoch // timedelta(microseconds=1)


def test_a_leap_second_is_the_next_minutes_first() -> None:
    assert Timestamp().parse("2016-12-31T23:59:60Z") == Timestamp().parse("2017-01-01T00:00:00Z")


@pytest.mark.parametrize(
    "text",
    [
        "2023-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T23:60:00Z",
        "2024-01-01T23:00:61Z",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01 00:00:00Z",
        "2024-01-01T00:00:00",
        "2024-01-01",
    ],
)
def test_a_time_that_is_not_rfc_3339_is_refused(text: str) -> None:
    with pytest.raises(InvalidValue, match="RFC 3339"):
        Timestamp().parse(text)


def test_the_filter_table_has_every_filter_of_the_contract() -> None:
    operation = documents()[ORDERING_CONTRACT_URI]["paths"]["/number_reservations"]["get"]
    [parameter] = [p for p in operation["parameters"] if p.get("name") == "filter"]
    contract = parameter["schema"]["properties"]
    filters = NUMBER_RESERVATION_FILTERS.filters
    assert set(filters) == set(contract)
    assert set(filters["created_at"].lookups) == set(contract["created_at"]["properties"])


@pytest.mark.parametrize(
    "query",
    [
        "filter[status]=active",
        "filter[created_at]=2024-01-01T00:00:00Z",
        "filter[created_at][gt]=2024-01-01",
        "filter[created_at][gt]=2023-02-29T00:00:00Z",
        "filter[created_at][eq]=2024-01-01T00:00:00Z",
        "filter[phone_numbers.phone_number]=abc",
        "filter[customer_reference]=",
        "filter[nope]=1",
        "page[size]=251",
        "page[number]=0",
    ],
)
def test_a_bad_list_parameter_is_400_naming_it(
    api: ApiClient, keys: tuple[str, str], query: str
) -> None:
    response = api.get(RESERVATIONS, keys[0], query)
    assert response.status_code == 400
    [(parameter, _)] = errors(response)
    assert parameter == query.partition("=")[0]


# Holds in time: expiry and extension --------------------------------------------------------------


def test_a_hold_ends_when_it_expires(inventory: Inventory, database: Database) -> None:
    inventory.account("mine")
    inventory.account("theirs")
    mine, theirs = account(database, "mine"), account(database, "theirs")
    [number] = pooled(database, 1)
    with database.transaction() as connection:
        create_reservation(connection, mine, [number], None, now_ms=T0, hold_ms=HOLD_MS)
        assert unavailable_numbers(connection, theirs, [number], T0 + HOLD_MS - 1) == {number: HELD}
        assert unavailable_numbers(connection, mine, [number], T0 + HOLD_MS - 1) == {}
        assert unavailable_numbers(connection, theirs, [number], T0 + HOLD_MS) == {}
        reservation = create_reservation(
            connection, theirs, [number], None, now_ms=T0 + HOLD_MS, hold_ms=HOLD_MS
        )
    assert reservation.phone_numbers[0].expires_at == T0 + 2 * HOLD_MS


def test_an_expired_reservation_keeps_its_status_and_shows_when_it_expired(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    [number] = pooled(database, 1)
    data = reserved(api, keys[1], number)
    expire_holds(database, number)
    shown = api.get(f"{RESERVATIONS}/{data['id']}", keys[1]).json()["data"]
    assert shown["status"] == "success"
    assert shown["phone_numbers"][0]["expired_at"] < data["phone_numbers"][0]["created_at"]
    assert reserve(api, keys[0], number).status_code == 200


def test_extending_holds_the_numbers_again_from_now(
    inventory: Inventory, database: Database
) -> None:
    inventory.account("mine")
    mine = account(database, "mine")
    numbers = pooled(database, 2)
    later = T0 + 20 * 60 * 1000
    with database.transaction() as connection:
        created = create_reservation(connection, mine, numbers, None, now_ms=T0, hold_ms=HOLD_MS)
        extended = extend_reservation(connection, mine, created.id, now_ms=later, hold_ms=HOLD_MS)
    assert extended is not None
    assert [n.expires_at for n in extended.phone_numbers] == [later + HOLD_MS] * 2
    assert extended.updated_at == later


def test_extending_leaves_out_a_number_the_account_ordered(
    inventory: Inventory, database: Database
) -> None:
    inventory.account("mine")
    mine = account(database, "mine")
    numbers = sorted(pooled(database, 2))
    later = T0 + 60_000
    with database.transaction() as connection:
        created = create_reservation(connection, mine, numbers, None, now_ms=T0, hold_ms=HOLD_MS)
        end_holds(connection, mine, [numbers[0]], T0 + 1000)
        extended = extend_reservation(connection, mine, created.id, now_ms=later, hold_ms=HOLD_MS)
    assert extended is not None
    assert [n.expires_at for n in extended.phone_numbers] == [T0 + 1000, later + HOLD_MS]


def test_extending_an_expired_reservation_is_refused(
    inventory: Inventory, database: Database
) -> None:
    inventory.account("mine")
    mine = account(database, "mine")
    numbers = pooled(database, 1)
    with database.transaction() as connection:
        created = create_reservation(connection, mine, numbers, None, now_ms=T0, hold_ms=HOLD_MS)
    with pytest.raises(ReservationExpired), database.transaction() as connection:
        extend_reservation(connection, mine, created.id, now_ms=T0 + HOLD_MS, hold_ms=HOLD_MS)


def test_extend_answers_the_reservation_held_from_now(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    data = reserved(api, keys[0], *pooled(database, 1))
    response = api.request("POST", f"{RESERVATIONS}/{data['id']}/actions/extend", keys[0])
    assert response.status_code == 200
    extended = response.json()["data"]
    assert extended["id"] == data["id"]
    assert extended["phone_numbers"][0]["expired_at"] >= data["phone_numbers"][0]["expired_at"]
    assert extended["updated_at"] >= data["updated_at"]


def test_extend_of_an_expired_reservation_is_422(
    api: ApiClient, keys: tuple[str, str], database: Database
) -> None:
    [number] = pooled(database, 1)
    data = reserved(api, keys[0], number)
    expire_holds(database, number)
    response = api.request("POST", f"{RESERVATIONS}/{data['id']}/actions/extend", keys[0])
    assert response.status_code == 422
    [(parameter, detail)] = errors(response)
    assert parameter == "number_reservation_id"
    assert "cannot be extended" in detail


def test_a_reservation_seconds_variable_sets_the_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RESERVATION_VARIABLE, raising=False)
    assert reservation_ms_from_environment() == 30 * 60 * 1000
    monkeypatch.setenv(RESERVATION_VARIABLE, "2.5")
    assert reservation_ms_from_environment() == 2_500


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "86401"])
def test_a_bad_reservation_seconds_variable_is_refused(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv(RESERVATION_VARIABLE, raw)
    with pytest.raises(SettingsError, match=RESERVATION_VARIABLE):
        reservation_ms_from_environment()


def test_serve_refuses_a_bad_reservation_seconds_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    from numbers_api.cli import main  # noqa: PLC0415

    monkeypatch.setenv(RESERVATION_VARIABLE, "soon")
    assert main(["--database-url", database_url, "serve", "--port", "1"]) == 2
    assert RESERVATION_VARIABLE in capsys.readouterr().err


# Two accounts at once -----------------------------------------------------------------------------


def _waits_for_a_lock(database: Database, pid: int) -> bool:
    """Whether the PostgreSQL session `pid` waits for a lock."""
    with database.snapshot() as connection:
        (waiting,) = connection.execute(
            "SELECT count(*) FROM pg_locks WHERE pid = ? AND NOT granted", (pid,)
        ).fetchone()
    return bool(waiting)


def test_two_accounts_reserving_one_number_at_once_do_not_both_get_it(
    inventory: Inventory, database: Database, database_url: str
) -> None:
    """The first holds the number's lock until it commits; the second, started meanwhile,
    waits for it and then finds the number held."""
    inventory.account("mine")
    inventory.account("theirs")
    mine, theirs = account(database, "mine"), account(database, "theirs")
    [number] = pooled(database, 1)
    outcome: list[object] = []
    second_pid: list[int] = []
    connected = threading.Event()

    def second() -> None:
        try:
            if ON_POSTGRESQL:
                with database.snapshot() as connection:
                    second_pid.append(connection.execute("SELECT pg_backend_pid()").fetchone()[0])
            connected.set()
            with database.transaction() as connection:
                create_reservation(connection, theirs, [number], None, now_ms=T0, hold_ms=HOLD_MS)
            outcome.append("reserved")
        except NumbersUnavailable as unavailable:
            outcome.append(unavailable.reasons)
        finally:
            database.close()  # this thread's connection

    thread = threading.Thread(target=second)
    with database.transaction() as connection:
        create_reservation(connection, mine, [number], None, now_ms=T0, hold_ms=HOLD_MS)
        thread.start()
        assert connected.wait(10)
        if ON_POSTGRESQL:
            observer = Database(database_url)
            try:
                while thread.is_alive() and not _waits_for_a_lock(observer, second_pid[0]):
                    threading.Event().wait(0.01)
            finally:
                observer.close()
        else:
            thread.join(0.2)  # SQLite: it waits for the write lock
        assert thread.is_alive(), outcome  # it waits for the first to commit
    thread.join(10)
    assert outcome == [{number: ALREADY_RESERVED}]
    assert held_by(database, "theirs", 0) == set()
