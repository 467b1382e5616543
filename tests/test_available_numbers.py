"""`GET /v2/available_phone_numbers` and the pool behind it: what is available, every filter
(against a small reference model), the meta, the 400s, and what a search records."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numbers_api.pool.load import check_record
from numbers_api.pool.stock import AVAILABLE_NUMBER_TYPES, FEATURES, AvailableNumber
from numbers_api.query.available_query import (
    AVAILABLE_NUMBER_FILTERS,
    DEFAULT_LIMIT,
    MAX_LIMIT,
)
from numbers_api.store.accounts import account_id
from numbers_api.store.available_numbers import (
    HELD,
    IN_INVENTORY,
    NOT_IN_POOL,
    NOT_YET_AVAILABLE,
    load_pool,
    pool_rows,
    unavailable_numbers,
)
from numbers_api.store.database import Database
from tests.conftest import ApiClient, make_client
from tests.support.contract import ORDERING_CONTRACT_URI, documents
from tests.support.databases import migrated_before
from tests.support.factories import Inventory

SEARCH = "/v2/available_phone_numbers"
ENDINGS_MIGRATION = 18  # its version: store/schema.py, MIGRATIONS
NOW_MS = 1_800_000_000_000  # in the future of every test: reservations held until then hold
LATER_MS = 2**62  # after every test
_sequence = itertools.count()

# (national destination code, locality, state) of the small US pool the filter tests load.
PLACES = (
    ("970", "Fort Collins", "CO"),
    ("970", "Loveland", "CO"),
    ("303", "Denver", "CO"),
    ("303", "Golden", "CO"),
    ("212", "New York", "NY"),
)


def pool_number(ndc: str) -> str:
    """A valid US number of that area code that no other call returns."""
    n = next(_sequence)
    return f"+1{ndc}{250 + n // 10_000:03d}{n % 10_000:04d}"


def stocked(**fields: Any) -> AvailableNumber:
    checked = check_record({"country_code": "US", **fields})
    assert isinstance(checked, AvailableNumber), checked
    return checked


def load(database: Database, numbers: list[AvailableNumber]) -> None:
    with database.transaction() as connection:
        loaded = load_pool(connection, numbers, replace=False, now_ms=0)
    assert not loaded.conflicts


def searcher_of(database: Database, inventory: Inventory, *phone_numbers: str) -> str:
    """The key of an account searching a pool of just those (US) numbers."""
    load(database, [stocked(phone_number=number) for number in phone_numbers])
    return inventory.account("a")


def hold(database: Database, account: str, number: str, expires_at: int = LATER_MS) -> None:
    """The number held reserved by the account until `expires_at`, as a reservation holds it."""
    key = f"{account}-{number}"
    with database.transaction() as connection:
        owner = account_id(connection, account)
        connection.execute(
            "INSERT INTO number_reservations (id, account_id, status, created_at, updated_at) "
            "VALUES (?, ?, 'success', 0, 0)",
            (key, owner),
        )
        connection.execute(
            "INSERT INTO reserved_phone_numbers (id, reservation_id, account_id, phone_number, "
            "status, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'success', ?, 0, 0)",
            (key, key, owner, number, expires_at),
        )


def set_available_from(database: Database, number: str, at: int) -> None:
    with database.transaction() as connection:
        connection.execute(
            "UPDATE available_numbers SET available_from = ? WHERE phone_number = ?", (at, number)
        )


def total_results(response: Any) -> int:
    assert response.status_code == 200, response.text
    total: int = response.json()["meta"]["total_results"]
    return total


def found(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["phone_number"] for item in response.json()["data"]]


@pytest.fixture
def client(database_url: str, database: Database) -> ApiClient:
    return make_client(database_url)


@pytest.fixture
def inventory(database: Database) -> Inventory:
    return Inventory(database)


# The answer --------------------------------------------------------------------------------------


def test_search_answers_available_numbers_with_the_same_meta_and_metadata(
    client: ApiClient, inventory: Inventory
) -> None:
    key = inventory.account("searcher")
    body = client.get(SEARCH, key).json()
    assert len(body["data"]) == DEFAULT_LIMIT
    assert body["meta"] == body["metadata"] == {"total_results": 12_300, "best_effort_results": 0}
    first = body["data"][0]
    assert first["record_type"] == "available_phone_number"
    assert first["region_information"][0] == {"region_type": "country_code", "region_name": "US"}


def test_a_us_local_number_shows_its_rate_center_state_and_city(
    client: ApiClient, inventory: Inventory, database: Database
) -> None:
    number = stocked(
        phone_number=pool_number("970"), locality="Fort Collins", administrative_area="CO"
    )
    load(database, [number])
    [item] = client.get(SEARCH, inventory.account("a")).json()["data"]
    assert item["region_information"] == [
        {"region_type": "country_code", "region_name": "US"},
        {"region_type": "rate_center", "region_name": "FORT COLLINS"},
        {"region_type": "state", "region_name": "CO"},
        {"region_type": "location", "region_name": "Fort Collins"},
    ]
    assert item["cost_information"] == {
        "upfront_cost": "1.00",
        "monthly_cost": "1.00",
        "currency": "USD",
    }
    assert [f["name"] for f in item["features"]] == list(number.features)
    assert (item["best_effort"], item["vanity_format"]) == (False, "")


def test_numbers_are_listed_in_number_order_up_to_the_limit(
    client: ApiClient, inventory: Inventory, database: Database
) -> None:
    numbers = [stocked(phone_number=pool_number("303")) for _ in range(5)]
    load(database, numbers)
    response = client.get(SEARCH, inventory.account("a"), "filter[limit]=3")
    assert found(response) == sorted(n.phone_number for n in numbers)[:3]
    assert response.json()["meta"]["total_results"] == 5


# The pool: made once, or loaded ---------------------------------------------------------------


def pools(database: Database) -> list[tuple[str, str, int]]:
    with database.snapshot() as connection:
        rows = connection.execute(
            "SELECT country_code, source, numbers FROM available_number_pools ORDER BY 1, 2"
        ).fetchall()
    return [tuple(row) for row in rows]


def test_the_first_search_of_a_country_generates_its_pool_once(
    client: ApiClient, inventory: Inventory, database: Database
) -> None:
    key = inventory.account("a")
    first = client.get(SEARCH, key, "filter[country_code]=gb&filter[limit]=5")
    again = client.get(SEARCH, key, "filter[country_code]=GB&filter[limit]=5")
    assert found(first) == found(again)
    assert pools(database) == [("GB", "generated", 3_600)]


def test_a_loaded_country_is_never_generated(
    client: ApiClient, inventory: Inventory, database: Database
) -> None:
    number = stocked(phone_number=pool_number("212"))
    load(database, [number])
    assert found(client.get(SEARCH, inventory.account("a"))) == [number.phone_number]
    assert pools(database) == [("US", "loaded", 1)]


def test_a_country_phonenumbers_does_not_know_has_no_numbers(
    client: ApiClient, inventory: Inventory, database: Database
) -> None:
    response = client.get(SEARCH, inventory.account("a"), "filter[country_code]=ZZ")
    assert found(response) == []
    assert response.json()["meta"]["total_results"] == 0
    assert pools(database) == []


# What is available -------------------------------------------------------------------------------


@pytest.fixture
def three(database: Database) -> list[str]:
    numbers = [stocked(phone_number=pool_number("970")) for _ in range(3)]
    load(database, numbers)
    return [n.phone_number for n in numbers]


def test_a_number_in_any_inventory_is_never_listed(
    client: ApiClient, inventory: Inventory, three: list[str]
) -> None:
    key = inventory.account("searcher")
    inventory.account("owner")
    inventory.load("owner", [{"phone_number": three[0]}])
    assert found(client.get(SEARCH, key)) == three[1:]


def test_a_number_held_by_another_account_is_never_listed(
    client: ApiClient, inventory: Inventory, database: Database, three: list[str]
) -> None:
    key = inventory.account("searcher")
    inventory.account("holder")
    hold(database, "holder", three[1])
    assert found(client.get(SEARCH, key)) == [three[0], three[2]]
    assert found(client.get(SEARCH, key, "filter[exclude_held_numbers]=false")) == [
        three[0],
        three[2],
    ]


def test_a_number_the_account_holds_is_listed_unless_held_numbers_are_excluded(
    client: ApiClient, inventory: Inventory, database: Database, three: list[str]
) -> None:
    key = inventory.account("holder")
    hold(database, "holder", three[1])
    assert found(client.get(SEARCH, key)) == three
    excluded = client.get(SEARCH, key, "filter[exclude_held_numbers]=true")
    assert found(excluded) == [three[0], three[2]]


def test_a_full_pages_count_leaves_out_numbers_held_by_others_or_in_an_inventory(
    client: ApiClient, inventory: Inventory, database: Database, three: list[str]
) -> None:
    key = inventory.account("searcher")
    inventory.account("holder")
    hold(database, "holder", three[0])
    assert total_results(client.get(SEARCH, key, "filter[limit]=1")) == 2
    inventory.load("holder", [{"phone_number": three[1]}])
    assert total_results(client.get(SEARCH, key, "filter[limit]=1")) == 1


def test_a_full_pages_count_leaves_out_the_accounts_own_holds_only_when_asked(
    client: ApiClient, inventory: Inventory, database: Database, three: list[str]
) -> None:
    key = inventory.account("holder")
    hold(database, "holder", three[0])
    assert total_results(client.get(SEARCH, key, "filter[limit]=1")) == 3
    excluded = client.get(SEARCH, key, "filter[limit]=1&filter[exclude_held_numbers]=true")
    assert total_results(excluded) == 2


def test_an_expired_hold_hides_nothing(
    client: ApiClient, inventory: Inventory, database: Database, three: list[str]
) -> None:
    key = inventory.account("searcher")
    inventory.account("holder")
    hold(database, "holder", three[0], expires_at=1)
    assert found(client.get(SEARCH, key)) == three


def test_a_number_not_yet_available_again_is_not_listed(
    client: ApiClient, inventory: Inventory, database: Database, three: list[str]
) -> None:
    set_available_from(database, three[2], LATER_MS)
    assert found(client.get(SEARCH, inventory.account("a"))) == three[:2]


def test_every_listed_number_is_recorded_as_searched_by_the_account(
    client: ApiClient, inventory: Inventory, database: Database, three: list[str]
) -> None:
    key = inventory.account("searcher")
    inventory.account("other")
    client.get(SEARCH, key, "filter[limit]=2")
    with database.snapshot() as connection:
        rows = connection.execute(
            "SELECT a.name, s.phone_number, s.searched_at FROM searched_numbers s "
            "JOIN accounts a ON a.id = s.account_id ORDER BY 2"
        ).fetchall()
    assert [(name, number) for name, number, _ in rows] == [
        ("searcher", three[0]),
        ("searcher", three[1]),
    ]
    assert all(searched_at > 0 for *_, searched_at in rows)


def test_searching_again_moves_the_searched_time_on(
    client: ApiClient, inventory: Inventory, database: Database, three: list[str]
) -> None:
    key = inventory.account("searcher")
    client.get(SEARCH, key, "filter[limit]=1")
    with database.transaction() as connection:
        connection.execute("UPDATE searched_numbers SET searched_at = 1")
    client.get(SEARCH, key, "filter[limit]=1")
    with database.snapshot() as connection:
        [(searched_at,)] = connection.execute("SELECT searched_at FROM searched_numbers")
    assert searched_at > 1


# What other parts ask: why a number cannot be had ---------------------------------------------


def test_unavailable_numbers_says_why_each_cannot_be_had(
    inventory: Inventory, database: Database
) -> None:
    numbers = [stocked(phone_number=pool_number("303")) for _ in range(5)]
    load(database, numbers)
    free, owned, held, later, mine = (n.phone_number for n in numbers)
    inventory.account("me")
    inventory.account("other")
    inventory.load("other", [{"phone_number": owned}])
    hold(database, "other", held)
    hold(database, "me", mine)
    set_available_from(database, later, LATER_MS)
    absent = pool_number("212")
    with database.snapshot() as connection:
        reasons = unavailable_numbers(
            connection,
            account_id(connection, "me"),
            [free, owned, held, later, mine, absent],
            NOW_MS,
        )
    assert reasons == {
        owned: IN_INVENTORY,
        held: HELD,
        later: NOT_YET_AVAILABLE,
        absent: NOT_IN_POOL,
    }


def test_pool_rows_give_the_numbers_attributes(database: Database) -> None:
    number = stocked(
        phone_number=pool_number("970"),
        locality="Loveland",
        administrative_area="CO",
        features=["sms", "voice"],
        monthly_cost="2.50",
    )
    load(database, [number])
    with database.snapshot() as connection:
        rows = pool_rows(connection, [number.phone_number, pool_number("970")])
    assert rows == {number.phone_number: number}
    assert rows[number.phone_number].national_destination_code == "970"


def test_pool_rows_pass_over_any_text_that_is_no_pool_number(database: Database) -> None:
    number = stocked(phone_number=pool_number("970"))
    load(database, [number])
    odd = ['+1"303', "+1\\303", "+1,303", "+1{303}", "NULL", ""]
    with database.snapshot() as connection:
        assert pool_rows(connection, [*odd, number.phone_number]) == {number.phone_number: number}


# Filters -----------------------------------------------------------------------------------------


def test_starts_with_matches_the_national_number_after_the_destination_code(
    client: ApiClient, inventory: Inventory, database: Database
) -> None:
    denver = stocked(phone_number="+13035550100")
    fort_collins = stocked(phone_number="+19703035500")
    load(database, [denver, fort_collins])
    key = inventory.account("a")
    assert found(client.get(SEARCH, key, "filter[phone_number][starts_with]=303")) == [
        denver.phone_number
    ]
    with_code = "filter[national_destination_code]=970&filter[phone_number][starts_with]=303"
    assert found(client.get(SEARCH, key, with_code)) == [fort_collins.phone_number]


def test_contains_and_ends_with_leave_the_country_code_out(
    client: ApiClient, inventory: Inventory, database: Database
) -> None:
    key = searcher_of(database, inventory, "+13035550111")
    assert found(client.get(SEARCH, key, "filter[phone_number][contains]=130")) == []
    assert found(client.get(SEARCH, key, "filter[phone_number][contains]=3035")) == ["+13035550111"]
    assert found(client.get(SEARCH, key, "filter[phone_number][ends_with]=0111")) == [
        "+13035550111"
    ]


@pytest.mark.parametrize(
    ("ending", "expected"),
    [
        ("9", ["+13035550109", "+13035550199", "+13035559999"]),
        ("99", ["+13035550199", "+13035559999"]),
        ("09", ["+13035550109"]),
        ("199", ["+13035550199"]),
        ("00", ["+13035550200"]),
    ],
)
def test_ends_with_finds_exactly_the_numbers_ending_so(
    client: ApiClient, inventory: Inventory, database: Database, ending: str, expected: list[str]
) -> None:
    numbers = ["+13035550109", "+13035550199", "+13035550200", "+13035559999", "+13035550110"]
    key = searcher_of(database, inventory, *numbers)
    response = client.get(SEARCH, key, f"filter[phone_number][ends_with]={ending}")
    assert found(response) == expected


def test_ends_with_must_fit_in_the_digits_after_the_destination_code(
    client: ApiClient, inventory: Inventory, database: Database
) -> None:
    key = searcher_of(database, inventory, "+13035550111")
    whole = "filter[phone_number][ends_with]=3035550111"
    assert found(client.get(SEARCH, key, whole)) == ["+13035550111"]
    past_code = f"filter[national_destination_code]=303&{whole}"
    assert found(client.get(SEARCH, key, past_code)) == []


def test_a_pool_loaded_before_its_endings_were_kept_is_searched_by_ending(
    database_url: str,
) -> None:
    number = stocked(phone_number="+13035550111")
    with migrated_before(ENDINGS_MIGRATION):
        old = Database(database_url)
        load(old, [number])
        old.close()
    database = Database(database_url)
    key = Inventory(database).account("a")
    database.close()
    client = make_client(database_url, runners=False)
    assert found(client.get(SEARCH, key, "filter[phone_number][ends_with]=0111")) == [
        number.phone_number
    ]


def test_a_pattern_with_a_non_digit_matches_nothing(
    client: ApiClient, inventory: Inventory, three: list[str]
) -> None:
    response = client.get(SEARCH, inventory.account("a"), "filter[phone_number][contains]=97*")
    assert found(response) == []


@pytest.mark.parametrize(
    "query",
    ["filter[features]=sms,fax", "filter[features][]=sms&filter[features][]=fax"],
    ids=["joined", "repeated"],
)
def test_features_asks_for_every_feature_listed(
    client: ApiClient, inventory: Inventory, database: Database, query: str
) -> None:
    both = stocked(phone_number=pool_number("212"), features=["sms", "fax", "voice"])
    sms = stocked(phone_number=pool_number("212"), features=["sms", "voice"])
    load(database, [both, sms])
    assert found(client.get(SEARCH, inventory.account("a"), query)) == [both.phone_number]


def test_best_effort_adds_numbers_of_the_same_state_marked_as_such(
    client: ApiClient, inventory: Inventory, database: Database
) -> None:
    fort_collins = stocked(
        phone_number=pool_number("970"), locality="Fort Collins", administrative_area="CO"
    )
    denver = stocked(phone_number=pool_number("303"), locality="Denver", administrative_area="CO")
    new_york = stocked(
        phone_number=pool_number("212"), locality="New York", administrative_area="NY"
    )
    load(database, [fort_collins, denver, new_york])
    body = client.get(
        SEARCH, inventory.account("a"), "filter[locality]=fort collins&filter[best_effort]=true"
    ).json()
    assert [(item["phone_number"], item["best_effort"]) for item in body["data"]] == [
        (fort_collins.phone_number, False),
        (denver.phone_number, True),
    ]
    assert body["meta"] == {"total_results": 1, "best_effort_results": 1}


def test_best_effort_adds_nothing_outside_the_us_and_canada(
    client: ApiClient, inventory: Inventory
) -> None:
    query = "filter[country_code]=GB&filter[locality]=Nowhere&filter[best_effort]=true"
    body = client.get(SEARCH, inventory.account("a"), query).json()
    assert body["data"] == []
    assert body["meta"] == {"total_results": 0, "best_effort_results": 0}


# Against a reference -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """The filter tests' pool: numbers of several places, types and features, and which of them
    the searching account ('me') cannot have or holds itself."""

    numbers: list[AvailableNumber]
    unavailable: frozenset[str]
    mine: frozenset[str]
    key: str  # the searching account's


@pytest.fixture
def varied_pool(database: Database, inventory: Inventory) -> Pool:
    numbers = []
    for index, (ndc, locality, state) in enumerate(PLACES * 5):
        numbers.append(
            stocked(
                phone_number=pool_number(ndc),
                locality=locality,
                administrative_area=state,
                features=list(FEATURES[index % 3 : index % 3 + 2 + index % 4]),
                quickship=["true", "false"][index % 2],
                reservable=["true", "false"][index % 3 == 0],
            )
        )
    numbers += [stocked(phone_number=f"+1800555{n:04d}") for n in range(3)]
    load(database, numbers)
    key = inventory.account("me")
    inventory.account("other")
    inventory.load("other", [{"phone_number": numbers[0].phone_number}])
    hold(database, "other", numbers[1].phone_number)
    set_available_from(database, numbers[2].phone_number, LATER_MS)
    hold(database, "me", numbers[3].phone_number)
    unavailable = frozenset(n.phone_number for n in numbers[:3])
    return Pool(numbers, unavailable, frozenset({numbers[3].phone_number}), key)


def digits_past(number: AvailableNumber, skip: int) -> str:
    return number.phone_number[2 + skip :]


def matches(number: AvailableNumber, filters: dict[str, Any]) -> bool:
    """The reference: what the filters ask, written plainly."""
    skip = (
        len(filters["national_destination_code"]) if "national_destination_code" in filters else 0
    )
    national = digits_past(number, skip)
    tests: dict[str, Callable[[Any], bool]] = {
        "locality": lambda v: number.locality.lower() == v.lower(),
        "administrative_area": lambda v: number.administrative_area.lower() == v.lower(),
        "rate_center": lambda v: number.rate_center.lower() == v.lower(),
        "national_destination_code": lambda v: number.national_destination_code == v,
        "phone_number_type": lambda v: number.phone_number_type == v,
        "features": lambda v: set(v) <= set(number.features),
        "quickship": lambda v: not v or number.quickship,
        "reservable": lambda v: not v or number.reservable,
        "starts_with": national.startswith,
        "contains": lambda v: v in national,
        "ends_with": national.endswith,
    }
    return all(tests[name](value) for name, value in filters.items() if name in tests)


def reference(pool: Pool, filters: dict[str, Any]) -> tuple[list[str], int, list[str]]:
    """(numbers listed exactly, how many match, best-effort numbers listed)."""
    exclude_mine = filters.get("exclude_held_numbers", False)
    available = [
        n
        for n in pool.numbers
        if n.phone_number not in pool.unavailable
        and not (exclude_mine and n.phone_number in pool.mine)
    ]
    exact = sorted(n.phone_number for n in available if matches(n, filters))
    limit = filters.get("limit", DEFAULT_LIMIT)
    wanted = limit - min(len(exact), limit)
    best: list[str] = []
    if filters.get("best_effort") and wanted:
        where = {"locality", "rate_center", "national_destination_code"}
        patterns = {"starts_with", "contains", "ends_with"}
        relaxed = {k: v for k, v in filters.items() if k not in where | patterns}
        located = {k: v for k, v in filters.items() if k in where}
        areas = None
        if located and "administrative_area" not in filters:
            areas = {n.administrative_area for n in pool.numbers if matches(n, located)}
        best = sorted(
            n.phone_number
            for n in available
            if matches(n, relaxed)
            and (areas is None or n.administrative_area in areas)
            and n.phone_number not in exact
        )[:wanted]
    return exact[:limit], len(exact), best


def query_string(filters: dict[str, Any]) -> str:
    parts = []
    for name, value in filters.items():
        patterned = name in ("starts_with", "contains", "ends_with")
        key = f"filter[phone_number][{name}]" if patterned else f"filter[{name}]"
        if isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = ",".join(value) if isinstance(value, list) else str(value)
        parts.append(f"{key}={text}")
    return "&".join(parts).replace(" ", "%20")


def _variants(values: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from([*values, *(v.lower() for v in values), "Nowhere"])


FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "locality": _variants([place for _, place, _ in PLACES]),
        "administrative_area": _variants(["CO", "NY"]),
        "rate_center": _variants([place.upper() for _, place, _ in PLACES]),
        "national_destination_code": st.sampled_from(["970", "303", "212", "800", "999"]),
        "phone_number_type": st.sampled_from(AVAILABLE_NUMBER_TYPES),
        "features": st.lists(st.sampled_from(FEATURES), min_size=1, max_size=3, unique=True),
        "quickship": st.booleans(),
        "reservable": st.booleans(),
        "exclude_held_numbers": st.booleans(),
        "best_effort": st.booleans(),
        "limit": st.integers(1, 12),
        "starts_with": st.text("0123456789", min_size=1, max_size=3),
        "contains": st.text("0123456789", min_size=1, max_size=3),
        "ends_with": st.text("0123456789", min_size=1, max_size=2),
    },
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(filters=FILTERS)
def test_every_filter_finds_what_the_reference_finds(
    client: ApiClient, varied_pool: Pool, filters: dict[str, Any]
) -> None:
    exact, total, best = reference(varied_pool, filters)
    body = client.get(SEARCH, varied_pool.key, query_string(filters)).json()
    listed = [(item["phone_number"], item["best_effort"]) for item in body["data"]]
    assert listed == [(n, False) for n in exact] + [(n, True) for n in best]
    assert body["meta"] == {"total_results": total, "best_effort_results": len(best)}


# 400s --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("filter[limit]=0", "filter[limit]"),
        (f"filter[limit]={MAX_LIMIT + 1}", "filter[limit]"),
        ("filter[limit]=ten", "filter[limit]"),
        ("filter[best_effort]=yes", "filter[best_effort]"),
        ("filter[quickship]=1", "filter[quickship]"),
        ("filter[reservable]=", "filter[reservable]"),
        ("filter[exclude_held_numbers]=TRUE", "filter[exclude_held_numbers]"),
        ("filter[phone_number_type]=landline", "filter[phone_number_type]"),
        ("filter[features]=sms,telepathy", "filter[features]"),
        ("filter[country_code]=USA", "filter[country_code]"),
        ("filter[locality]=", "filter[locality]"),
        ("filter[phone_number]=970", "filter[phone_number]"),
        ("filter[phone_number][like]=970", "filter[phone_number][like]"),
        ("filter[phone_number][contains]=", "filter[phone_number][contains]"),
        ("filter[area_code]=970", "filter[area_code]"),
        ("filter[limit]=1&filter[limit]=2", "filter[limit]"),
        ("filter[locality=Denver", "filter[locality"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(
    client: ApiClient, inventory: Inventory, query: str, parameter: str
) -> None:
    response = client.get(SEARCH, inventory.account("a"), query)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["source"] == {"parameter": parameter}


def test_every_mistake_of_a_query_is_reported_at_once(
    client: ApiClient, inventory: Inventory
) -> None:
    response = client.get(SEARCH, inventory.account("a"), "filter[limit]=0&filter[quickship]=maybe")
    assert [e["source"]["parameter"] for e in response.json()["errors"]] == [
        "filter[limit]",
        "filter[quickship]",
    ]


def test_a_search_needs_credentials(client: ApiClient) -> None:
    assert client.get(SEARCH, None).status_code == 401


# The contract ----------------------------------------------------------------------------------


def contract_filter() -> dict[str, Any]:
    operation = documents()[ORDERING_CONTRACT_URI]["paths"][SEARCH.removeprefix("/v2")]["get"]
    [parameter] = [p for p in operation["parameters"] if p["name"] == "filter"]
    schema: dict[str, Any] = parameter["schema"]
    return schema


def test_the_filter_table_has_every_filter_of_the_contract_and_no_other() -> None:
    assert set(AVAILABLE_NUMBER_FILTERS.filters) == set(contract_filter()["properties"])
    assert set(AVAILABLE_NUMBER_FILTERS.filters["phone_number"].lookups) == set(
        contract_filter()["properties"]["phone_number"]["properties"]
    )


def test_types_and_features_are_the_contracts() -> None:
    properties = contract_filter()["properties"]
    assert list(AVAILABLE_NUMBER_TYPES) == properties["phone_number_type"]["enum"]
    assert list(FEATURES) == properties["features"]["items"]["enum"]
