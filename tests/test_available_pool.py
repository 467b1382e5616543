"""The generated pool: the same numbers on every machine, each valid, of its country and type,
and as the stock table says; and the operator's stock loaded by `numbers-api available-numbers
load`."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import phonenumbers
import pytest

from numbers_api.importing.records import region_and_type
from numbers_api.pool.generate import generate_numbers, generate_pool
from numbers_api.pool.stock import (
    AVAILABLE_NUMBER_TYPES,
    PHONENUMBERS_TYPES,
    AvailableNumber,
    stock,
)
from numbers_api.store.available_numbers import SELECT_COLUMNS, ensure_pool, from_row
from numbers_api.store.database import Database
from tests.conftest import make_client
from tests.support.factories import Inventory
from tests.test_cli import run

COUNTRIES = ("US", "CA", "GB", "DE", "FR", "BR", "JP", "IN", "AU", "ZA")
SEARCH = "/v2/available_phone_numbers"


def test_generation_gives_the_same_numbers_in_every_process() -> None:
    program = (
        "import hashlib; from numbers_api.pool.generate import generate_pool; "
        "print(hashlib.sha256(repr(generate_pool('GB')).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert digests == {hashlib.sha256(repr(generate_pool("GB")).encode()).hexdigest() + "\n"}


def test_generating_again_gives_the_same_numbers_in_the_same_order() -> None:
    assert list(generate_numbers("FR", "mobile")) == list(generate_numbers("FR", "mobile"))


@pytest.mark.parametrize("country", COUNTRIES)
def test_every_generated_number_is_valid_of_its_country_and_of_its_type(country: str) -> None:
    for number in generate_pool(country):
        parsed = phonenumbers.parse(number.phone_number, None)
        assert phonenumbers.is_valid_number(parsed), number
        region, kind = region_and_type(parsed)
        assert region == country, number
        assert kind in PHONENUMBERS_TYPES[number.phone_number_type], number
        assert number.phone_number[1:].startswith(
            str(parsed.country_code) + number.national_destination_code
        )


def test_us_and_canadian_local_numbers_have_a_city_a_state_and_its_rate_center() -> None:
    for country in ("US", "CA"):
        for number in generate_numbers(country, "local"):
            assert number.locality, number
            assert len(number.administrative_area) == 2, number
            assert number.rate_center == number.locality.upper()
            assert len(number.national_destination_code) == 3


def test_a_pool_has_the_stock_tables_size_features_and_costs_of_each_type() -> None:
    pool = generate_pool("US")
    sizes = Counter(number.phone_number_type for number in pool)
    assert sizes == {"local": 10_000, "toll_free": 2_000, "national": 300}
    for number in pool:
        offer = stock("US", number.phone_number_type)
        assert (number.features, number.monthly_cost, number.upfront_cost) == (
            offer.features,
            offer.monthly_cost,
            offer.upfront_cost,
        )
        assert number.reservable == offer.reservable


def test_only_plus_one_toll_free_numbers_may_need_time_before_use() -> None:
    slow = [n for country in COUNTRIES for n in generate_pool(country) if not n.quickship]
    assert slow
    assert {(n.country_code, n.phone_number_type) for n in slow} == {("US", "toll_free")}


def test_the_pool_is_written_once_with_its_country_recorded(database: Database) -> None:
    with database.transaction() as connection:
        made = ensure_pool(connection, "ZA", 5)
        again = ensure_pool(connection, "ZA", 6)
        rows = connection.execute("SELECT * FROM available_number_pools").fetchall()
        (stored,) = connection.execute("SELECT count(*) FROM available_numbers").fetchone()
    assert (made, again, stored) == (len(generate_pool("ZA")), 0, made)
    assert [tuple(row) for row in rows] == [("ZA", "generated", made, 5)]


def test_every_type_of_the_contract_is_generated_somewhere() -> None:
    kinds = {n.phone_number_type for c in COUNTRIES for n in generate_pool(c)}
    assert kinds == set(AVAILABLE_NUMBER_TYPES)


# The operator's stock: `numbers-api available-numbers load` ------------------------------------


def load(database_url: str, path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return run("available-numbers", "load", str(path), *arguments, database_url=database_url)


def written(folder: Path, text: str, name: str = "stock.csv") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def pool_of(database: Database) -> list[AvailableNumber]:
    with database.snapshot() as connection:
        rows = connection.execute(
            f"SELECT {SELECT_COLUMNS} FROM available_numbers a ORDER BY a.phone_number"
        ).fetchall()
    return [from_row(row) for row in rows]


def test_a_csv_file_is_loaded_with_defaults_from_the_number_and_the_stock_table(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    path = written(
        tmp_path,
        "phone_number,locality,administrative_area,features,monthly_cost\n"
        "+19705550100,Fort Collins,CO,sms;voice,1.50\n"
        "+442071234567,London,,,\n",
    )
    result = load(database_url, path)
    assert result.returncode == 0, result.stderr
    us, gb = pool_of(database)
    assert (us.country_code, us.phone_number_type, us.national_destination_code) == (
        "US",
        "local",
        "970",
    )
    assert (us.rate_center, us.features, us.monthly_cost, us.source) == (
        "FORT COLLINS",
        ("sms", "voice"),
        "1.50",
        "loaded",
    )
    assert (gb.country_code, gb.locality, gb.features) == (
        "GB",
        "London",
        stock("GB", "local").features,
    )


def test_a_json_lines_file_is_loaded(database_url: str, database: Database, tmp_path: Path) -> None:
    path = tmp_path / "stock.jsonl"
    record = {"phone_number": "+18005550100", "features": ["voice"], "quickship": False}
    path.write_bytes(orjson.dumps(record) + b"\n")
    assert load(database_url, path).returncode == 0
    [number] = pool_of(database)
    assert (number.phone_number_type, number.features, number.quickship) == (
        "toll_free",
        ("voice",),
        False,
    )


def test_bad_lines_are_each_reported_by_line_and_field_and_nothing_is_loaded(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    path = written(
        tmp_path,
        "phone_number,phone_number_type,features,reservable\n"
        "+19705550100,local,sms,true\n"
        "+1970555,local,sms,true\n"
        "+19705550101,landline,sms,true\n"
        "+19705550102,local,sms;telepathy,maybe\n"
        "+19705550100,local,sms,true\n",
    )
    result = load(database_url, path)
    assert result.returncode == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert [line.split(":")[:2] for line in problems] == [
        ["line 3", " phone_number"],
        ["line 4", " phone_number_type"],
        ["line 5", " features"],
        ["line 5", " reservable"],
        ["line 6", " phone_number"],
    ]
    assert pool_of(database) == []


def test_a_number_of_another_country_than_given_is_refused(
    database_url: str, tmp_path: Path
) -> None:
    path = written(tmp_path, "phone_number,country_code\n+442071234567,FR\n")
    result = load(database_url, path)
    assert result.returncode == 1
    assert "line 2: country_code:" in result.stderr


def test_loading_a_number_loaded_before_is_refused_unless_replacing(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("phone_number\n+19705550100\n+19705550101\n")
    second.write_text("phone_number\n+19705550101\n+19705550102\n")
    assert load(database_url, first).returncode == 0
    refused = load(database_url, second)
    assert refused.returncode == 1
    assert "line 2: phone_number: already in the pool" in refused.stderr
    assert load(database_url, second, "--replace").returncode == 0
    assert [n.phone_number for n in pool_of(database)] == ["+19705550101", "+19705550102"]


def test_a_loaded_country_keeps_none_of_its_generated_numbers(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    key = Inventory(database).account("a")
    client = make_client(database_url)
    assert client.get(SEARCH, key, "filter[country_code]=ZA").json()["meta"]["total_results"]
    path = written(tmp_path, "phone_number\n+27215550100\n")
    assert load(database_url, path).returncode == 0
    body = client.get(SEARCH, key, "filter[country_code]=ZA").json()
    assert [item["phone_number"] for item in body["data"]] == ["+27215550100"]


def test_load_explains_itself() -> None:
    result = run("available-numbers", "load", "--help")
    assert result.returncode == 0
    for word in ("--replace", "phone_number", "line N: FIELD: REASON", "docs/ordering.md"):
        assert word in result.stdout


def test_two_first_searches_at_once_make_one_pool(database: Database) -> None:
    def first_search() -> int:
        try:
            with database.transaction() as connection:
                return ensure_pool(connection, "NZ", 0)
        finally:
            database.close()  # this thread's connection

    with ThreadPoolExecutor(2) as threads:
        made = sorted(threads.map(lambda _: first_search(), range(2)))
    assert made == [0, len(generate_pool("NZ"))]
    with database.snapshot() as connection:
        (stored,) = connection.execute("SELECT count(*) FROM available_numbers").fetchone()
        (pools,) = connection.execute("SELECT count(*) FROM available_number_pools").fetchone()
    assert (stored, pools) == (made[1], 1)
