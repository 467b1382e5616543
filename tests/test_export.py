"""`numbers-api export FILE --account NAME [--filter ...]`, run as a user runs it (a subprocess
per command), and its promise: exported, then imported into an empty database, a file gives the
same numbers, field by field."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from numbers_api.domain import PhoneNumber
from numbers_api.exporting.run import export_file
from numbers_api.store.accounts import account_id
from numbers_api.store.database import Database
from numbers_api.store.phone_number import update_number
from numbers_api.store.phone_numbers import matching_batches
from tests.support.databases import fresh_database_url
from tests.support.factories import Inventory, number_record
from tests.test_cli import run

# Between them, every field with a value other than its default, and values a CSV cell must quote.
VARIED = [
    number_record(
        id="1293384261075731499",
        country_iso_alpha2="CA",
        status="requirement-info-exception",
        tags=["sales", "west coast", "Ünïcode"],
        external_pin="0012",
        connection_id="c1",
        connection_name='Straße, "Büro"',
        customer_reference='REF "12", UK\nsecond line',
        messaging_profile_id="m1",
        messaging_profile_name="Regional",
        billing_group_id="b1",
        emergency_enabled=True,
        emergency_address_id="e1",
        emergency_status="provisioning-failed",
        call_forwarding_enabled=False,
        cnam_listing_enabled=True,
        caller_id_name_enabled=True,
        call_recording_enabled=True,
        t38_fax_gateway_enabled=True,
        phone_number_type="tollfree",
        inbound_call_screening="flag_calls",
        usage_payment_method="channel",
        hd_voice_enabled=True,
        source_type="port_request",
        deletion_lock_enabled=True,
        purchased_at="2019-10-23T18:10:00.123Z",
        created_at="2019-10-24T18:10:00.000Z",
        updated_at="2021-01-01T00:00:00.999Z",
    ),
    number_record(),
    number_record(connection_id="c1", status="port-pending", source_type="number_order"),
    number_record(messaging_profile_id="m2", tags=["0"]),
    number_record(phone_number="+447400123456", connection_id="c3", connection_name="Desk"),
]


@pytest.fixture
def loaded(inventory: Inventory) -> Inventory:
    inventory.account("mine")
    inventory.load("mine", VARIED)
    inventory.account("theirs")
    inventory.load("theirs", [number_record(tags=["sales"])])
    return inventory


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A folder for the exported files (the test's SQLite database lives beside it)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    with fresh_database_url(tmp_path / "copy") as url:
        yield url


def numbers_of(database: Database, account: str) -> list[tuple[PhoneNumber, str | None]]:
    """Every number of the account with its messaging profile's name, by id."""
    with database.snapshot() as connection:
        batches = matching_batches(connection, account_id(connection, account), [], 1000)
        return sorted((item for batch in batches for item in batch), key=lambda i: i[0].id)


def export(database_url: str, path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return run("export", str(path), "--account", "mine", *options, database_url=database_url)


def exported_ids(path: Path) -> set[str]:
    if path.suffix == ".jsonl":
        return {json.loads(line)["id"] for line in path.read_text().splitlines()}
    return {row["id"] for row in csv.DictReader(io.StringIO(path.read_text()))}


# The round trip -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["numbers.csv", "numbers.jsonl", "NUMBERS.CSV"])
def test_exported_then_imported_into_an_empty_database_gives_the_same_numbers(
    loaded: Inventory, database_url: str, empty_database: str, out: Path, name: str
) -> None:
    path = out / name
    assert export(database_url, path).returncode == 0
    assert run("accounts", "create", "copy", database_url=empty_database).returncode == 0
    imported = run("import", str(path), "--account", "copy", database_url=empty_database)
    assert imported.returncode == 0, imported.stderr
    copy = Database(empty_database)
    try:
        assert numbers_of(copy, "copy") == numbers_of(loaded.database, "mine")
    finally:
        copy.close()


def test_a_tag_holding_a_semicolon_goes_through_json_lines(
    inventory: Inventory, database_url: str, empty_database: str, out: Path
) -> None:
    inventory.account("mine")
    inventory.load("mine", [number_record(tags=["a;b", "c"])])
    path = out / "numbers.jsonl"
    assert export(database_url, path).returncode == 0
    run("accounts", "create", "copy", database_url=empty_database)
    assert (
        run("import", str(path), "--account", "copy", database_url=empty_database).returncode == 0
    )
    copy = Database(empty_database)
    try:
        [(number, _)] = numbers_of(copy, "copy")
    finally:
        copy.close()
    assert number.tags == ["a;b", "c"]


def test_a_tag_holding_a_semicolon_fails_a_csv_export_and_leaves_the_file_as_it_was(
    inventory: Inventory, database_url: str, out: Path
) -> None:
    inventory.account("mine")
    inventory.load("mine", [number_record(tags=["a;b"]), number_record(tags=["c"])])
    path = out / "numbers.csv"
    path.write_text("an older export\n")
    result = export(database_url, path)
    assert result.returncode == 1
    assert "tags: a tag holds ';'" in result.stderr
    assert "export to a .jsonl file instead" in result.stderr
    assert path.read_text() == "an older export\n"
    assert list(out.iterdir()) == [path]  # no partial file left behind


def test_an_empty_string_is_exported_as_no_value(
    inventory: Inventory, database_url: str, out: Path
) -> None:
    inventory.account("mine")
    inventory.load("mine", [number_record(id="1001", customer_reference="ref")])
    with inventory.database.transaction() as connection:
        update_number(
            connection, account_id(connection, "mine"), 1001, {"customer_reference": ""}, 1
        )
    path = out / "numbers.jsonl"
    assert export(database_url, path).returncode == 0
    assert json.loads(path.read_text())["customer_reference"] is None


# Formats ------------------------------------------------------------------------------------------


def test_a_csv_file_has_every_field_by_default_and_v1_leaves_out_usage_payment_method(
    loaded: Inventory, database_url: str, out: Path
) -> None:
    v2, v1 = out / "v2.csv", out / "v1.csv"
    assert export(database_url, v2).returncode == 0
    assert export(database_url, v1, "--csv-format", "V1").returncode == 0
    v2_header = v2.read_text().splitlines()[0].split(",")
    assert v1.read_text().splitlines()[0].split(",") == v2_header[:-1]
    assert v2_header[-1] == "usage_payment_method"


def test_a_json_lines_record_has_every_field(
    loaded: Inventory, database_url: str, out: Path
) -> None:
    path = out / "numbers.jsonl"
    assert export(database_url, path).returncode == 0
    record = json.loads(path.read_text().splitlines()[0])
    csv_path = out / "numbers.csv"
    export(database_url, csv_path)
    assert list(record) == csv_path.read_text().splitlines()[0].split(",")


def test_an_account_without_numbers_gives_a_file_with_only_the_header(
    inventory: Inventory, database_url: str, out: Path
) -> None:
    inventory.account("mine")
    path = out / "numbers.csv"
    result = export(database_url, path)
    assert result.stdout.startswith("exported 0 numbers")
    assert len(path.read_text().splitlines()) == 1


# Filters ------------------------------------------------------------------------------------------


def test_without_filters_every_number_of_the_account_and_none_of_another(
    loaded: Inventory, database_url: str, out: Path
) -> None:
    path = out / "numbers.csv"
    result = export(database_url, path)
    assert result.returncode == 0
    assert result.stdout.startswith(f"exported 5 numbers of 'mine' to {path}")
    assert len(exported_ids(path)) == 5


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["filter[tag]=sales"], {0}),
        (["tag=sales"], {0}),
        (["filter[status]=port-pending"], {2}),
        (["voice.connection_name[contains]=büro"], {0, 2}),  # 2 is on connection c1 too
        (["filter[voice.connection_name][eq]=desk"], {4}),
        (["country_iso_alpha2=CA,GB"], {0, 4}),
        (["connection_id=c1", "status=port-pending"], {2}),
        (["number_type[eq]=toll_free"], {0}),
        (["source=ported"], {0}),
        (["without_tags=true"], {1, 2, 4}),
    ],
)
def test_a_filter_option_selects_as_the_list_filter_does(
    loaded: Inventory, database_url: str, out: Path, filters: list[str], expected: set[int]
) -> None:
    path = out / "numbers.jsonl"
    options = [option for value in filters for option in ("--filter", value)]
    assert export(database_url, path, *options).returncode == 0
    numbers = {json.loads(line)["phone_number"] for line in path.read_text().splitlines()}
    assert numbers == {VARIED[i]["phone_number"] for i in expected}


def test_a_filter_value_is_taken_literally(
    inventory: Inventory, database_url: str, out: Path
) -> None:
    inventory.account("mine")
    tricky = number_record(tags=["a&b=c%20+d"])
    inventory.load("mine", [tricky, number_record()])
    path = out / "numbers.jsonl"
    assert export(database_url, path, "--filter", "tag=a&b=c%20+d").returncode == 0
    assert [json.loads(line)["phone_number"] for line in path.read_text().splitlines()] == [
        tricky["phone_number"]
    ]
    plus = export(database_url, path, "--filter", f"phone_number={tricky['phone_number']}")
    assert plus.returncode == 0
    assert len(path.read_text().splitlines()) == 1


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("filter[status]=enabled", "filter[status]"),
        ("colour=red", "filter[colour]"),
        ("voice.connection_name[contains]=ab", "filter[voice.connection_name][contains]"),
    ],
)
def test_a_bad_filter_exits_2_naming_it_and_writes_nothing(
    loaded: Inventory, database_url: str, out: Path, value: str, named: str
) -> None:
    path = out / "numbers.csv"
    result = export(database_url, path, "--filter", value)
    assert result.returncode == 2
    assert result.stderr.startswith(f"numbers-api: {named}: ")
    assert not path.exists()


# Mistakes, help and progress ----------------------------------------------------------------------


def test_an_unknown_account_exits_1(database_url: str, out: Path) -> None:
    Database(database_url).close()
    result = export(database_url, out / "numbers.csv")
    assert result.returncode == 1
    assert "no account named 'mine'" in result.stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("name", ["numbers.txt", "numbers"])
def test_a_file_that_is_not_csv_or_jsonl_exits_2(
    loaded: Inventory, database_url: str, out: Path, name: str
) -> None:
    result = export(database_url, out / name)
    assert result.returncode == 2
    assert "expected a .csv or .jsonl file" in result.stderr


def test_a_folder_that_does_not_exist_exits_2(
    loaded: Inventory, database_url: str, out: Path
) -> None:
    result = export(database_url, out / "missing" / "numbers.csv")
    assert result.returncode == 2
    assert result.stderr.startswith("numbers-api: ")


def test_help_explains_the_options_and_the_filters(out: Path) -> None:
    result = run("export", "--help", cwd=out)
    assert result.returncode == 0
    for text in ("--account", "--filter", "--csv-format", "filter[tag]=sales", "import"):
        assert text in result.stdout
    assert list(out.iterdir()) == []  # help opens no database


def test_the_commands_help_names_export() -> None:
    assert "export" in run("--help").stdout


def test_progress_is_shown_after_each_batch(loaded: Inventory, out: Path) -> None:
    shown = io.StringIO()
    report = export_file(loaded.database, "mine", out / "numbers.csv", [], progress_to=shown)
    assert report.exported == 5
    assert "100.0%  5 of 5 numbers written" in shown.getvalue()
