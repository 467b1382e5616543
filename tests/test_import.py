"""`numbers-api import`: file formats, defaults, derived values, connection and profile names,
every kind of bad record, and the all-or-nothing rule.

A few cases run the real command as a subprocess; the many detailed cases call
`numbers_api.importing.run.import_file` directly. What was stored is always read back through the
API (the `api` fixture), never from the tables.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import pty
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from numbers_api.domain import MAX_TAGS, MAX_TEXT_LENGTH
from numbers_api.importing.readers import UnreadableRecord
from numbers_api.importing.records import NUMBER_TYPES, OPTIONAL_TEXT_FIELDS, RecordChecker
from numbers_api.importing.run import ImportReport, import_file, import_records
from numbers_api.store.accounts import authentication
from numbers_api.store.database import Database
from numbers_api.store.importer import ROW_FIELDS
from numbers_api.store.number_indexes import SMALLEST_INDEXED
from numbers_api.store.phone_numbers import PageShape, page_of
from tests.conftest import ApiClient
from tests.support.contract import CONTRACT_URI, documents
from tests.support.databases import ON_POSTGRESQL
from tests.support.factories import Inventory, number_record

LIST = "/v2/phone_numbers"
# The values the contract's PhoneNumberDetailed allows, read from the contract itself.
SCHEMA = documents()[CONTRACT_URI]["components"]["schemas"]["PhoneNumberDetailed"]["properties"]
STATUSES: list[str] = SCHEMA["status"]["enum"]
SOURCE_TYPES: list[str] = SCHEMA["source_type"]["anyOf"][0]["enum"]
Problem = tuple[int, str, str]
Line = dict[str, Any] | str  # a record, or a line of the file as it is

# Every field a record may carry, none of them at its default.
FULL_RECORD: dict[str, Any] = {
    "id": "1293384261075731499",
    "record_type": "phone_number",
    "phone_number": "+19705555098",
    "country_iso_alpha2": "US",
    "status": "port-pending",
    "tags": ["zeta", "alpha", "mid"],
    "external_pin": "4321",
    "connection_id": "1293384261075731400",
    "connection_name": "Front Desk",
    "customer_reference": "REF-001",
    "messaging_profile_id": "abc85f64-5717-4562-b3fc-2c9600000000",
    "messaging_profile_name": "regional-customers",
    "billing_group_id": "86f58db9-0fe3-4adc-9d1f-46e66e6e9323",
    "emergency_enabled": True,
    "emergency_address_id": "1315261609962112019",
    "emergency_status": "provisioning",
    "call_forwarding_enabled": False,
    "cnam_listing_enabled": True,
    "caller_id_name_enabled": True,
    "call_recording_enabled": True,
    "t38_fax_gateway_enabled": True,
    "phone_number_type": "national",
    "inbound_call_screening": "flag_calls",
    "usage_payment_method": "channel",
    "purchased_at": "2019-10-23T18:10:00.000Z",
    "created_at": "2019-10-23T18:09:00.000Z",
    "updated_at": "2019-10-24T18:10:00.000Z",
    "hd_voice_enabled": True,
    "source_type": "port_request",
    "deletion_lock_enabled": True,
}
# FULL_RECORD as the API shows it: all but usage_payment_method, which PhoneNumberDetailed lacks.
FULL_ITEM = {k: v for k, v in FULL_RECORD.items() if k != "usage_payment_method"}


def number(n: int) -> str:
    """A valid US number, +1 303 2NN NNNN, distinct for each n below 80,000."""
    return f"+1303{200 + n // 10_000:03d}{n % 10_000:04d}"


def iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@dataclass
class Outcome:
    report: ImportReport
    problems: list[Problem]

    @property
    def reported(self) -> list[tuple[int, str]]:
        """The (line, field) of every problem, in the order reported."""
        return [(line, name) for line, name, _ in self.problems]

    def assert_imported(self, count: int) -> None:
        assert self.problems == []
        assert self.report.ok
        assert self.report.imported == count


@dataclass
class Owner:
    """The account `owner` (empty to start with): import files into it, read them back."""

    tmp_path: Path
    database: Database
    api: ApiClient
    key: str
    files: int = field(default=0)

    def jsonl(self, *lines: Line) -> Path:
        """A new .jsonl file: a dict is written as one line of JSON, a str as it is."""
        self.files += 1
        path = self.tmp_path / f"import-{self.files}.jsonl"
        path.write_text(
            "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
        )
        return path

    def csv(self, text: str) -> Path:
        self.files += 1
        path = self.tmp_path / f"import-{self.files}.csv"
        path.write_text(text)
        return path

    def run(self, path: Path, account: str = "owner") -> Outcome:
        problems: list[Problem] = []
        report = import_file(
            self.database,
            account,
            path,
            lambda line, name, reason: problems.append((line, name, reason)),
        )
        return Outcome(report, problems)

    def load(self, *lines: Line) -> Outcome:
        return self.run(self.jsonl(*lines))

    def listed(self, query: str = "", key: str | None = None) -> dict[str, dict[str, Any]]:
        """Every number the key sees (with an optional filter), by phone number."""
        query = "page[size]=250" + (f"&{query}" if query else "")
        response = self.api.get(LIST, key or self.key, query)
        assert response.status_code == 200, response.text
        return {item["phone_number"]: item for item in response.json()["data"]}

    def shown(self, phone_number: str) -> dict[str, Any]:
        return self.listed()[phone_number]

    def total(self, key: str | None = None) -> int:
        response = self.api.get(LIST, key or self.key, "page[size]=1")
        assert response.status_code == 200, response.text
        count: int = response.json()["meta"]["total_results"]
        return count


@pytest.fixture
def owner(tmp_path: Path, database: Database, api: ApiClient, inventory: Inventory) -> Owner:
    return Owner(tmp_path, database, api, inventory.account("owner"))


# --- the command, end to end -------------------------------------------------------------------


def command(database_url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "numbers_api", "--database-url", database_url, *args]


def cli(owner: Owner, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(owner.database.url, *args),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_command_imports_a_jsonl_file_and_says_how_many(owner: Owner) -> None:
    path = owner.jsonl({"phone_number": number(1)}, FULL_RECORD)
    result = cli(owner, "import", str(path), "--account", "owner")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("imported 2 numbers into 'owner' in ")
    assert "line " not in result.stderr
    assert owner.shown(FULL_RECORD["phone_number"]) == FULL_ITEM
    assert owner.total() == 2


def kept_indexes(owner: Owner) -> int:
    [(kept,)] = owner.database.connection().fetch("SELECT count(*) FROM index_snapshots")
    return int(kept)


def test_command_keeps_the_imported_accounts_list_index(owner: Owner) -> None:
    path = owner.jsonl(*({"phone_number": number(i)} for i in range(SMALLEST_INDEXED)))
    result = cli(owner, "import", str(path), "--account", "owner")
    assert result.returncode == 0, result.stderr
    assert "indexed them for lists in " in result.stdout
    assert kept_indexes(owner) > 0


def test_command_with_no_index_keeps_no_list_index(owner: Owner) -> None:
    path = owner.jsonl(*({"phone_number": number(i)} for i in range(SMALLEST_INDEXED)))
    result = cli(owner, "import", str(path), "--account", "owner", "--no-index")
    assert result.returncode == 0, result.stderr
    assert "indexed" not in result.stdout
    assert kept_indexes(owner) == 0


def test_command_imports_a_csv_file(owner: Owner) -> None:
    path = owner.csv(f"phone_number,tags,status\n{number(1)},b;a,deleted\n{number(2)},,active\n")
    result = cli(owner, "import", str(path), "--account", "owner")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("imported 2 numbers into 'owner' in ")
    numbers = owner.listed()
    assert (numbers[number(1)]["tags"], numbers[number(1)]["status"]) == (["b", "a"], "deleted")
    assert (numbers[number(2)]["tags"], numbers[number(2)]["status"]) == ([], "active")


def test_command_reports_each_problem_as_line_field_reason_and_fails(owner: Owner) -> None:
    path = owner.jsonl(
        {"phone_number": number(1)},
        {"phone_number": "19705555098"},
        {"phone_number": number(3)},
        {"phone_number": number(4), "status": "enabled"},
    )
    result = cli(owner, "import", str(path), "--account", "owner")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "line 2: phone_number: must be +E.164, e.g. +19705555098; got '19705555098'",
        f"line 4: status: must be one of: {', '.join(STATUSES)}; got 'enabled'",
        "import failed: 2 bad records (2 problems); nothing was written",
    ]
    assert owner.total() == 0


def test_command_into_an_unknown_account_fails(owner: Owner) -> None:
    path = owner.jsonl({"phone_number": number(1)})
    result = cli(owner, "import", str(path), "--account", "nobody")
    assert result.returncode == 1
    assert "no account named 'nobody'" in result.stderr


def test_command_with_a_missing_file_fails(owner: Owner) -> None:
    result = cli(owner, "import", str(owner.tmp_path / "absent.jsonl"), "--account", "owner")
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_command_refuses_a_file_that_is_neither_jsonl_nor_csv(owner: Owner) -> None:
    path = owner.tmp_path / "numbers.txt"
    path.write_text(json.dumps({"phone_number": number(1)}) + "\n")
    result = cli(owner, "import", str(path), "--account", "owner")
    assert result.returncode == 2
    assert "expected a .jsonl or .csv file" in result.stderr


def many(owner: Owner, count: int) -> Path:
    return owner.jsonl(*({"phone_number": number(n)} for n in range(count)))


def test_command_shows_progress_on_a_terminal(owner: Owner) -> None:
    path = many(owner, 5001)  # progress is shown after every 5,000 records
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        command(owner.database.url, "import", str(path), "--account", "owner"),
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    on_terminal = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        on_terminal += chunk
    os.close(controller)
    assert process.wait(timeout=60) == 0
    assert b"5,000 records read" in on_terminal
    assert owner.total() == 5001


def test_command_shows_no_progress_when_not_on_a_terminal(owner: Owner) -> None:
    result = cli(owner, "import", str(many(owner, 5001)), "--account", "owner")
    assert result.returncode == 0, result.stderr
    assert "records read" not in result.stderr


def test_progress_display_counts_the_records_read(owner: Owner) -> None:
    terminal = io.StringIO()
    report = import_file(owner.database, "owner", many(owner, 10_001), lambda *_: None, terminal)
    assert report.imported == 10_001
    updates = terminal.getvalue().split("\r")[1:]
    assert [update.split("  ")[1] for update in updates] == [
        "5,000 records read",
        "10,000 records read",
    ]


# --- good files: every value kept as given ------------------------------------------------------


def test_jsonl_record_keeps_every_given_field(owner: Owner) -> None:
    owner.load(FULL_RECORD).assert_imported(1)
    assert owner.shown(FULL_RECORD["phone_number"]) == FULL_ITEM


def test_given_usage_payment_method_is_kept(owner: Owner) -> None:
    owner.load(
        {"phone_number": number(1), "usage_payment_method": "channel"},
        {"phone_number": number(2), "usage_payment_method": "pay-per-minute"},
    ).assert_imported(2)
    assert set(owner.listed("filter[voice.usage_payment_method]=channel")) == {number(1)}
    assert set(owner.listed("filter[voice.usage_payment_method]=pay-per-minute")) == {number(2)}


def csv_cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


def test_csv_record_keeps_every_given_field(owner: Owner) -> None:
    header = list(FULL_RECORD)
    row = [csv_cell(FULL_RECORD[name]) for name in header]
    owner.run(owner.csv(",".join(header) + "\n" + ",".join(row) + "\n")).assert_imported(1)
    assert owner.shown(FULL_RECORD["phone_number"]) == FULL_ITEM
    assert set(owner.listed("filter[voice.usage_payment_method]=channel")) == {
        FULL_RECORD["phone_number"]
    }


def test_the_longest_text_is_imported_on_either_engine(owner: Owner) -> None:
    longest = "\U0001f600" * MAX_TEXT_LENGTH  # four bytes a character in UTF-8: the most
    record = dict.fromkeys(OPTIONAL_TEXT_FIELDS, longest)
    owner.load({"phone_number": number(1), "tags": [longest], **record}).assert_imported(1)
    item = owner.shown(number(1))
    assert {name: item[name] for name in OPTIONAL_TEXT_FIELDS} == record
    assert item["tags"] == [longest]


@pytest.mark.parametrize("name", [*OPTIONAL_TEXT_FIELDS, "tags"])
def test_a_text_longer_than_the_longest_is_a_bad_record(owner: Owner, name: str) -> None:
    too_long = "x" * (MAX_TEXT_LENGTH + 1)
    record: dict[str, Any] = {"connection_id": "1", "messaging_profile_id": "1"}
    record[name] = ["ok", too_long] if name == "tags" else too_long
    outcome = owner.load({"phone_number": number(1)}, {"phone_number": number(2), **record})
    assert outcome.reported == [(2, name)]
    assert owner.total() == 0


def test_csv_columns_may_come_in_any_order_and_be_few(owner: Owner) -> None:
    path = owner.csv(f"status,customer_reference,phone_number\ndeleted,R1,{number(1)}\n")
    owner.run(path).assert_imported(1)
    item = owner.shown(number(1))
    assert (item["status"], item["customer_reference"]) == ("deleted", "R1")


def test_csv_empty_cell_is_null(owner: Owner) -> None:
    path = owner.csv(
        "phone_number,customer_reference,external_pin,billing_group_id,source_type\n"
        f"{number(1)},,,,\n"
    )
    owner.run(path).assert_imported(1)
    item = owner.shown(number(1))
    assert [item[name] for name in ("customer_reference", "external_pin")] == [None, None]
    assert [item[name] for name in ("billing_group_id", "source_type")] == [None, None]


def test_csv_empty_id_and_country_cells_get_their_defaults(owner: Owner) -> None:
    owner.run(owner.csv(f"id,phone_number,country_iso_alpha2\n,{number(1)},\n")).assert_imported(1)
    item = owner.shown(number(1))
    assert item["id"].isdigit()
    assert item["country_iso_alpha2"] == "US"


def test_csv_empty_tags_cell_is_no_tags(owner: Owner) -> None:
    owner.run(owner.csv(f"phone_number,tags\n{number(1)},\n")).assert_imported(1)
    assert owner.shown(number(1))["tags"] == []


def test_csv_tags_are_separated_by_semicolons_in_order(owner: Owner) -> None:
    owner.run(owner.csv(f"phone_number,tags\n{number(1)},west;sales;a b\n")).assert_imported(1)
    assert owner.shown(number(1))["tags"] == ["west", "sales", "a b"]


def test_csv_booleans_are_true_and_false(owner: Owner) -> None:
    path = owner.csv(
        "phone_number,call_forwarding_enabled,hd_voice_enabled\n"
        f"{number(1)},false,true\n{number(2)},true,false\n"
    )
    owner.run(path).assert_imported(2)
    flags = ("call_forwarding_enabled", "hd_voice_enabled")
    numbers = owner.listed()
    assert [numbers[number(1)][flag] for flag in flags] == [False, True]
    assert [numbers[number(2)][flag] for flag in flags] == [True, False]


def test_csv_quoted_cell_may_hold_a_comma(owner: Owner) -> None:
    owner.run(owner.csv(f'phone_number,customer_reference\n{number(1)},"a, b"\n')).assert_imported(
        1
    )
    assert owner.shown(number(1))["customer_reference"] == "a, b"


def test_tags_keep_the_order_given(owner: Owner) -> None:
    owner.load({"phone_number": number(1), "tags": ["z", "a", "m", "B"]}).assert_imported(1)
    assert owner.shown(number(1))["tags"] == ["z", "a", "m", "B"]


def test_a_repeated_tag_is_kept_once_at_its_first_place(owner: Owner) -> None:
    owner.load({"phone_number": number(1), "tags": ["b", "a", "b", "c", "a"]}).assert_imported(1)
    assert owner.shown(number(1))["tags"] == ["b", "a", "c"]
    assert set(owner.listed("filter[tag]=b")) == {number(1)}


def test_a_record_with_more_than_100_different_tags_is_a_problem(owner: Owner) -> None:
    tags = [f"tag-{i}" for i in range(MAX_TAGS + 1)]
    outcome = owner.load({"phone_number": number(1), "tags": tags})
    assert outcome.reported == [(1, "tags")]


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("2019-10-23T18:10:00.000Z", "2019-10-23T18:10:00.000Z"),
        ("2019-10-23T18:10:00Z", "2019-10-23T18:10:00.000Z"),
        ("2019-10-23T18:10:00.5+00:00", "2019-10-23T18:10:00.500Z"),
        ("2019-10-23T20:10:00.123456+02:00", "2019-10-23T18:10:00.123Z"),
        ("2019-10-23T13:10:00-05:00", "2019-10-23T18:10:00.000Z"),
        ("2019-10-23T18:10:00", "2019-10-23T18:10:00.000Z"),
        ("2019-10-23", "2019-10-23T00:00:00.000Z"),
        ("1969-07-20T20:17:40Z", "1969-07-20T20:17:40.000Z"),
    ],
)
def test_timestamps_are_shown_in_utc_with_milliseconds(
    owner: Owner, given: str, shown: str
) -> None:
    stamps = ("created_at", "purchased_at", "updated_at")
    owner.load({"phone_number": number(1), **dict.fromkeys(stamps, given)}).assert_imported(1)
    item = owner.shown(number(1))
    assert [item[name] for name in stamps] == [shown] * 3


def test_all_thirteen_statuses_are_accepted(owner: Owner) -> None:
    records = [{"phone_number": number(n), "status": s} for n, s in enumerate(STATUSES)]
    assert len(records) == 13
    owner.load(*records).assert_imported(13)
    numbers = owner.listed()
    assert [numbers[r["phone_number"]]["status"] for r in records] == STATUSES


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("phone_number_type", SCHEMA["phone_number_type"]["enum"]),
        ("emergency_status", SCHEMA["emergency_status"]["enum"]),
        ("inbound_call_screening", SCHEMA["inbound_call_screening"]["enum"]),
        ("source_type", [*SOURCE_TYPES, None]),
    ],
)
def test_every_value_the_schema_allows_is_accepted(
    owner: Owner, name: str, values: list[str | None]
) -> None:
    records: list[dict[str, Any]] = [
        {"phone_number": number(n), name: v} for n, v in enumerate(values)
    ]
    owner.load(*records).assert_imported(len(values))
    numbers = owner.listed()
    assert [numbers[r["phone_number"]][name] for r in records] == values


def test_blank_lines_in_jsonl_are_skipped(owner: Owner) -> None:
    owner.load({"phone_number": number(1)}, "", "  ", {"phone_number": number(2)}).assert_imported(
        2
    )
    assert set(owner.listed()) == {number(1), number(2)}


def test_an_empty_file_imports_nothing(owner: Owner) -> None:
    owner.load().assert_imported(0)
    owner.run(owner.csv("")).assert_imported(0)
    owner.run(owner.csv("phone_number\n")).assert_imported(0)


# --- defaults -----------------------------------------------------------------------------------


def test_record_with_only_a_phone_number_gets_every_default(owner: Owner) -> None:
    owner.load({"phone_number": number(1)}).assert_imported(1)
    item = owner.shown(number(1))
    for generated in ("id", "created_at", "purchased_at", "updated_at"):
        del item[generated]
    assert item == {
        "record_type": "phone_number",
        "phone_number": number(1),
        "country_iso_alpha2": "US",
        "status": "active",
        "tags": [],
        "external_pin": None,
        "connection_id": None,
        "connection_name": None,
        "customer_reference": None,
        "messaging_profile_id": None,
        "messaging_profile_name": None,
        "billing_group_id": None,
        "emergency_enabled": False,
        "emergency_address_id": None,
        "emergency_status": "disabled",
        "call_forwarding_enabled": True,
        "cnam_listing_enabled": False,
        "caller_id_name_enabled": False,
        "call_recording_enabled": False,
        "t38_fax_gateway_enabled": False,
        "phone_number_type": "local",
        "inbound_call_screening": "disabled",
        "hd_voice_enabled": False,
        "source_type": None,
        "deletion_lock_enabled": False,
    }


def test_default_usage_payment_method_is_pay_per_minute(owner: Owner) -> None:
    owner.load({"phone_number": number(1)}).assert_imported(1)
    assert set(owner.listed("filter[voice.usage_payment_method]=pay-per-minute")) == {number(1)}
    assert owner.listed("filter[voice.usage_payment_method]=channel") == {}


def test_default_ids_are_new_distinct_numeric_strings(owner: Owner) -> None:
    owner.load(*({"phone_number": number(n)} for n in range(3))).assert_imported(3)
    owner.load({"phone_number": number(3)}).assert_imported(1)
    ids = [item["id"] for item in owner.listed().values()]
    assert all(i.isdigit() and not i.startswith("0") and int(i) < 2**63 for i in ids)
    assert len(set(ids)) == 4


def test_default_id_never_repeats_an_id_already_stored(owner: Owner) -> None:
    given = [str(2**62), str(2**62 + 1), "1293384261075731499"]
    owner.load(
        *({"phone_number": number(n), "id": i} for n, i in enumerate(given))
    ).assert_imported(3)
    owner.load({"phone_number": number(9)}, {"phone_number": number(10)}).assert_imported(2)
    ids = [item["id"] for item in owner.listed().values()]
    assert len(set(ids)) == 5
    assert all(0 < int(i) < 2**63 for i in ids)


def test_default_timestamps_are_the_time_of_the_import(owner: Owner) -> None:
    before = int(time.time() * 1000)
    owner.load({"phone_number": number(1)}).assert_imported(1)
    after = int(time.time() * 1000)
    item = owner.shown(number(1))
    stamps = {item["created_at"], item["purchased_at"], item["updated_at"]}
    assert len(stamps) == 1
    (stamp,) = stamps
    assert stamp.endswith("Z")
    assert before <= iso_ms(stamp) <= after


def test_records_of_one_import_share_one_default_timestamp(owner: Owner) -> None:
    owner.load(*({"phone_number": number(n)} for n in range(50))).assert_imported(50)
    assert len({item["created_at"] for item in owner.listed().values()}) == 1


def test_default_timestamps_fill_only_the_ones_left_out(owner: Owner) -> None:
    before = int(time.time() * 1000)
    owner.load({"phone_number": number(1), "created_at": "2020-01-01T00:00:00Z"}).assert_imported(1)
    item = owner.shown(number(1))
    assert item["created_at"] == "2020-01-01T00:00:00.000Z"
    assert iso_ms(item["purchased_at"]) >= before
    assert iso_ms(item["updated_at"]) >= before


# --- derived values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone_number", "derived"),
    [
        ("+19705550100", ("US", "local")),
        ("+18005550100", ("US", "toll_free")),
        ("+447400123456", ("GB", "mobile")),
        ("+442079460000", ("GB", "local")),
        ("+16135550100", ("CA", "local")),
        ("+33612345678", ("FR", "mobile")),
    ],
)
def test_country_and_type_are_derived_from_the_number(
    owner: Owner, phone_number: str, derived: tuple[str, str]
) -> None:
    owner.load({"phone_number": phone_number}).assert_imported(1)
    item = owner.shown(phone_number)
    assert (item["country_iso_alpha2"], item["phone_number_type"]) == derived


def _example_numbers() -> list[str]:
    """Every region's and non-geographic code's example numbers of every type, and each one a
    digit short, a digit long and with its last digit changed: valid and invalid numbers alike."""
    examples = [
        phonenumbers.example_number_for_type(region, kind)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in range(PhoneNumberType.UNKNOWN)
    ] + [
        phonenumbers.example_number_for_non_geo_entity(code)
        for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    ]
    numbers = [phonenumbers.format_number(e, PhoneNumberFormat.E164) for e in examples if e]
    return sorted({n for e in numbers for n in (e, e[:-1], e + "1", e[:-1] + str(9 - int(e[-1])))})


def test_country_type_and_validity_are_phonenumbers_own_for_every_region() -> None:
    """The checker finds a number's region and type in one pass (`region_and_type`): it must
    agree with phonenumbers' public functions on every region's numbers."""
    checker = RecordChecker(now_ms=0)
    country, kind = ROW_FIELDS.index("country_iso_alpha2"), ROW_FIELDS.index("phone_number_type")
    disagreements = []
    for number in _example_numbers():
        parsed = phonenumbers.parse(number, None)
        region = phonenumbers.region_code_for_number(parsed)
        expected: tuple[str | None, str | None] | None = None  # a bad number
        canonical = phonenumbers.format_number(parsed, PhoneNumberFormat.E164) == number
        if canonical and phonenumbers.is_valid_number(parsed):
            derived = NUMBER_TYPES.get(phonenumbers.number_type(parsed), "local")
            expected = (region, derived) if region != "001" else None
        row = checker.check({"phone_number": number})
        got = (row[country], row[kind]) if isinstance(row, tuple) else None
        if got != expected:
            disagreements.append((number, expected, got))
    assert disagreements == []


def test_given_country_is_kept_even_if_the_number_says_otherwise(owner: Owner) -> None:
    owner.load({"phone_number": "+19705550100", "country_iso_alpha2": "CA"}).assert_imported(1)
    assert owner.shown("+19705550100")["country_iso_alpha2"] == "CA"


def test_given_type_is_kept_even_if_the_number_says_otherwise(owner: Owner) -> None:
    owner.load({"phone_number": "+18005550100", "phone_number_type": "tollfree"}).assert_imported(1)
    assert owner.shown("+18005550100")["phone_number_type"] == "tollfree"


def test_non_geographic_number_needs_a_given_country(owner: Owner) -> None:
    """+800 (universal toll-free) is valid but belongs to no country: the country must be given."""
    assert owner.load({"phone_number": "+80012345678"}).reported == [(1, "country_iso_alpha2")]
    owner.load({"phone_number": "+80012345678", "country_iso_alpha2": "US"}).assert_imported(1)
    assert owner.shown("+80012345678")["phone_number_type"] == "toll_free"


# --- connections and messaging profiles ----------------------------------------------------------


def test_connection_name_is_shown_on_every_number_pointing_at_it(owner: Owner) -> None:
    owner.load(
        {"phone_number": number(1), "connection_id": "c1"},
        {"phone_number": number(2), "connection_id": "c1", "connection_name": "Front Desk"},
        {"phone_number": number(3), "connection_id": "c1"},
        {"phone_number": number(4)},
    ).assert_imported(4)
    numbers = owner.listed()
    assert [numbers[number(n)]["connection_name"] for n in (1, 2, 3, 4)] == [
        "Front Desk",
        "Front Desk",
        "Front Desk",
        None,
    ]
    assert set(owner.listed("filter[voice.connection_name][eq]=front desk")) == {
        number(1),
        number(2),
        number(3),
    }


def test_connection_without_a_name_has_a_null_name(owner: Owner) -> None:
    owner.load({"phone_number": number(1), "connection_id": "c1"}).assert_imported(1)
    item = owner.shown(number(1))
    assert (item["connection_id"], item["connection_name"]) == ("c1", None)


def test_last_record_naming_a_connection_gives_its_name(owner: Owner) -> None:
    owner.load(
        {"phone_number": number(1), "connection_id": "c1", "connection_name": "First"},
        {"phone_number": number(2), "connection_id": "c1", "connection_name": "Second"},
        {"phone_number": number(3), "connection_id": "c1"},
    ).assert_imported(3)
    assert {item["connection_name"] for item in owner.listed().values()} == {"Second"}


def test_later_import_renames_a_connection_on_every_number(owner: Owner) -> None:
    owner.load(
        {"phone_number": number(1), "connection_id": "c1", "connection_name": "Old"},
        {"phone_number": number(2), "connection_id": "c1"},
    ).assert_imported(2)
    owner.load(
        {"phone_number": number(3), "connection_id": "c1", "connection_name": "New"}
    ).assert_imported(1)
    assert {n: item["connection_name"] for n, item in owner.listed().items()} == {
        number(1): "New",
        number(2): "New",
        number(3): "New",
    }
    assert owner.listed("filter[voice.connection_name][eq]=old") == {}


def test_later_import_pointing_at_a_connection_without_a_name_keeps_its_name(
    owner: Owner,
) -> None:
    owner.load(
        {"phone_number": number(1), "connection_id": "c1", "connection_name": "Kept"}
    ).assert_imported(1)
    owner.load({"phone_number": number(2), "connection_id": "c1"}).assert_imported(1)
    assert {item["connection_name"] for item in owner.listed().values()} == {"Kept"}


def test_later_import_names_a_connection_created_without_a_name(owner: Owner) -> None:
    owner.load({"phone_number": number(1), "connection_id": "c1"}).assert_imported(1)
    owner.load(
        {"phone_number": number(2), "connection_id": "c1", "connection_name": "Named"}
    ).assert_imported(1)
    assert {item["connection_name"] for item in owner.listed().values()} == {"Named"}


def test_connections_belong_to_their_account(owner: Owner, inventory: Inventory) -> None:
    other = inventory.account("other")
    owner.load(
        {"phone_number": number(1), "connection_id": "c1", "connection_name": "Mine"}
    ).assert_imported(1)
    theirs = owner.jsonl(
        {"phone_number": number(2), "connection_id": "c1", "connection_name": "Theirs"}
    )
    owner.run(theirs, "other").assert_imported(1)
    assert owner.shown(number(1))["connection_name"] == "Mine"
    assert owner.listed(key=other)[number(2)]["connection_name"] == "Theirs"


def test_messaging_profile_name_is_shown_on_every_number_pointing_at_it(owner: Owner) -> None:
    owner.load(
        {"phone_number": number(1), "messaging_profile_id": "p1", "messaging_profile_name": "A"},
        {"phone_number": number(2), "messaging_profile_id": "p1"},
        {"phone_number": number(3), "messaging_profile_id": "p2"},
    ).assert_imported(3)
    numbers = owner.listed()
    assert [
        (numbers[number(n)]["messaging_profile_id"], numbers[number(n)]["messaging_profile_name"])
        for n in (1, 2, 3)
    ] == [("p1", "A"), ("p1", "A"), ("p2", None)]


def test_later_import_renames_a_messaging_profile_on_every_number(owner: Owner) -> None:
    owner.load(
        {"phone_number": number(1), "messaging_profile_id": "p1", "messaging_profile_name": "A"}
    ).assert_imported(1)
    owner.load(
        {"phone_number": number(2), "messaging_profile_id": "p1", "messaging_profile_name": "B"}
    ).assert_imported(1)
    assert {item["messaging_profile_name"] for item in owner.listed().values()} == {"B"}


# --- bad records ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "name"),
    [
        pytest.param({"phone_number": None}, "phone_number", id="null number"),
        pytest.param({"phone_number": "19705555098"}, "phone_number", id="no plus"),
        pytest.param({"phone_number": 19705555098}, "phone_number", id="number not a string"),
        pytest.param({"phone_number": "+1 970 555 5098"}, "phone_number", id="spaces"),
        pytest.param({"phone_number": "+1-970-555-5098"}, "phone_number", id="dashes"),
        pytest.param({"phone_number": "+19705555098x"}, "phone_number", id="trailing letter"),
        pytest.param({"phone_number": "+11234567890"}, "phone_number", id="invalid number"),
        pytest.param({"phone_number": "+1970555509"}, "phone_number", id="too short"),
        pytest.param({"phone_number": "+"}, "phone_number", id="only plus"),
        pytest.param({"status": "enabled"}, "status", id="unknown status"),
        pytest.param({"status": "Active"}, "status", id="status case"),
        pytest.param({"status": None}, "status", id="null status"),
        pytest.param({"status": 1}, "status", id="status not a string"),
        pytest.param({"phone_number_type": "fixed"}, "phone_number_type", id="unknown type"),
        pytest.param({"phone_number_type": None}, "phone_number_type", id="null type"),
        pytest.param({"emergency_status": "on"}, "emergency_status", id="unknown emergency"),
        pytest.param({"emergency_status": None}, "emergency_status", id="null emergency"),
        pytest.param({"inbound_call_screening": "block"}, "inbound_call_screening", id="screen"),
        pytest.param({"usage_payment_method": "monthly"}, "usage_payment_method", id="payment"),
        pytest.param({"usage_payment_method": None}, "usage_payment_method", id="null payment"),
        pytest.param({"source_type": "purchase"}, "source_type", id="unknown source"),
        pytest.param({"record_type": "number"}, "record_type", id="record type"),
        pytest.param({"record_type": None}, "record_type", id="null record type"),
        pytest.param({"country_iso_alpha2": "us"}, "country_iso_alpha2", id="lower-case country"),
        pytest.param({"country_iso_alpha2": "USA"}, "country_iso_alpha2", id="three letters"),
        pytest.param({"country_iso_alpha2": 1}, "country_iso_alpha2", id="country not a string"),
        pytest.param({"emergency_enabled": "true"}, "emergency_enabled", id="bool as string"),
        pytest.param({"hd_voice_enabled": 1}, "hd_voice_enabled", id="bool as number"),
        pytest.param({"call_forwarding_enabled": None}, "call_forwarding_enabled", id="null bool"),
        pytest.param({"tags": "sales"}, "tags", id="tags not a list"),
        pytest.param({"tags": ["sales", 1]}, "tags", id="tag not a string"),
        pytest.param({"tags": ["sales", ""]}, "tags", id="empty tag"),
        pytest.param({"tags": ["sa\x00les"]}, "tags", id="NUL in a tag"),
        pytest.param({"tags": None}, "tags", id="null tags"),
        pytest.param({"external_pin": 1234}, "external_pin", id="pin not a string"),
        pytest.param({"customer_reference": ""}, "customer_reference", id="empty text"),
        pytest.param({"customer_reference": "a\x00b"}, "customer_reference", id="NUL in text"),
        pytest.param(
            {"connection_id": "1", "connection_name": "\x00"}, "connection_name", id="NUL in a name"
        ),
        pytest.param({"billing_group_id": ["x"]}, "billing_group_id", id="text as list"),
        pytest.param({"connection_id": 42}, "connection_id", id="connection id not a string"),
        pytest.param({"colour": "red"}, "colour", id="unknown field"),
        pytest.param({"id": 1293384261075731499}, "id", id="id not a string"),
        pytest.param({"id": "0"}, "id", id="id zero"),
        pytest.param({"id": "0123"}, "id", id="id leading zero"),
        pytest.param({"id": "-1"}, "id", id="id negative"),
        pytest.param({"id": "12a"}, "id", id="id not digits"),
        pytest.param({"id": ""}, "id", id="id empty"),
        pytest.param({"id": "9223372036854775808"}, "id", id="id above 2**63-1"),
        pytest.param({"created_at": "yesterday"}, "created_at", id="timestamp words"),
        pytest.param({"purchased_at": "2019-13-01T00:00:00Z"}, "purchased_at", id="month 13"),
        pytest.param({"updated_at": 1571854200000}, "updated_at", id="timestamp number"),
        pytest.param({"created_at": None}, "created_at", id="null timestamp"),
        pytest.param({"created_at": ""}, "created_at", id="empty timestamp"),
        pytest.param({"connection_name": "Desk"}, "connection_name", id="name without conn id"),
        pytest.param(
            {"messaging_profile_name": "Alerts"}, "messaging_profile_name", id="profile name alone"
        ),
    ],
)
def test_bad_record_is_reported_with_its_line_and_field(
    owner: Owner, bad: dict[str, Any], name: str
) -> None:
    outcome = owner.load(
        {"phone_number": number(1)},
        {"phone_number": number(2), **bad},
        {"phone_number": number(3)},
    )
    assert outcome.reported == [(2, name)]
    assert (outcome.report.ok, outcome.report.imported, outcome.report.bad_records) == (False, 0, 1)
    assert owner.total() == 0


def test_record_without_a_phone_number_is_a_bad_record(owner: Owner) -> None:
    outcome = owner.load({"phone_number": number(1)}, {"status": "active"})
    assert outcome.problems == [(2, "phone_number", "missing; it is the one required field")]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"phone_number": "+13032000002"', "not valid JSON"),
        ("not json at all", "not valid JSON"),
        ('["+13032000002"]', "must be a JSON object"),
        ('"+13032000002"', "must be a JSON object"),
        ("13032000002", "must be a JSON object"),
        ("null", "must be a JSON object"),
    ],
)
def test_unreadable_jsonl_line_is_reported_as_a_record_problem(
    owner: Owner, line: str, reason: str
) -> None:
    outcome = owner.load({"phone_number": number(1)}, line)
    assert outcome.reported == [(2, "record")]
    assert outcome.problems[0][2].startswith(reason)
    assert outcome.report.imported == 0


def test_problem_reason_names_the_value_given(owner: Owner) -> None:
    outcome = owner.load({"phone_number": number(1), "status": "enabled"})
    assert outcome.problems == [
        (1, "status", f"must be one of: {', '.join(STATUSES)}; got 'enabled'"),
    ]


def test_line_numbers_count_blank_lines(owner: Owner) -> None:
    outcome = owner.load({"phone_number": number(1)}, "", "", {"status": "x"})
    assert outcome.reported == [(4, "phone_number"), (4, "status")]


def test_number_repeated_within_the_file_is_reported_on_the_later_line(owner: Owner) -> None:
    outcome = owner.load(
        {"phone_number": number(1)}, {"phone_number": number(2)}, {"phone_number": number(1)}
    )
    assert outcome.problems == [(3, "phone_number", f"repeats line 1: {number(1)}")]


def test_id_repeated_within_the_file_is_reported_on_the_later_line(owner: Owner) -> None:
    outcome = owner.load(
        {"phone_number": number(1), "id": "77"}, {"phone_number": number(2), "id": "77"}
    )
    assert outcome.problems == [(2, "id", "repeats line 1: 77")]


def test_number_already_in_the_account_is_a_bad_record(owner: Owner) -> None:
    owner.load({"phone_number": number(1)}).assert_imported(1)
    outcome = owner.load({"phone_number": number(2)}, {"phone_number": number(1)})
    assert outcome.problems == [(2, "phone_number", f"already in the database: {number(1)}")]
    assert owner.total() == 1


def test_number_held_by_another_account_is_a_bad_record(owner: Owner, inventory: Inventory) -> None:
    other = inventory.account("other")
    owner.run(owner.jsonl({"phone_number": number(1)}), "other").assert_imported(1)
    outcome = owner.load({"phone_number": number(1)})
    assert outcome.problems == [(1, "phone_number", f"already in the database: {number(1)}")]
    assert owner.total() == 0
    assert owner.total(other) == 1


def test_id_already_in_the_database_is_a_bad_record(owner: Owner, inventory: Inventory) -> None:
    inventory.account("other")
    owner.run(owner.jsonl({"phone_number": number(1), "id": "77"}), "other").assert_imported(1)
    outcome = owner.load({"phone_number": number(2), "id": "77"})
    assert outcome.problems == [(1, "id", "already in the database: 77")]


def test_csv_row_with_the_wrong_number_of_cells_is_reported(owner: Owner) -> None:
    path = owner.csv(
        f"phone_number,status\n{number(1)},active\n{number(2)}\n{number(3)},active,x\n"
    )
    assert owner.run(path).problems == [
        (3, "record", "has 1 cells where the header has 2"),
        (4, "record", "has 3 cells where the header has 2"),
    ]


def test_csv_unknown_column_rejects_the_file_at_line_1(owner: Owner) -> None:
    outcome = owner.run(owner.csv(f"phone_number,colour\n{number(1)},red\n"))
    assert [(line, "colour" in f"{name}: {reason}") for line, name, reason in outcome.problems] == [
        (1, True)
    ]
    assert not outcome.report.ok
    assert owner.total() == 0


def test_csv_unknown_column_is_reported_under_its_own_name(owner: Owner) -> None:
    outcome = owner.run(owner.csv(f"phone_number,colour\n{number(1)},red\n"))
    assert outcome.problems == [(1, "colour", "unknown column")]


def test_csv_bad_cell_is_reported_with_its_line_and_column(owner: Owner) -> None:
    path = owner.csv(
        "phone_number,status,hd_voice_enabled\n"
        f"{number(1)},active,true\n{number(2)},on,true\n{number(3)},active,yes\n"
    )
    assert owner.run(path).reported == [(3, "status"), (4, "hd_voice_enabled")]


def test_csv_empty_cell_in_a_field_that_cannot_be_null_is_a_bad_record(owner: Owner) -> None:
    path = owner.csv(f"phone_number,status,created_at,hd_voice_enabled\n{number(1)},,,\n")
    assert sorted(owner.run(path).reported) == [
        (2, "created_at"),
        (2, "hd_voice_enabled"),
        (2, "status"),
    ]


def test_csv_boolean_other_than_lower_case_true_or_false_is_a_bad_record(owner: Owner) -> None:
    path = owner.csv(f"phone_number,hd_voice_enabled\n{number(1)},TRUE\n")
    assert owner.run(path).reported == [(2, "hd_voice_enabled")]


def test_csv_record_spanning_lines_is_reported_at_its_first_line(owner: Owner) -> None:
    path = owner.csv(f'phone_number,customer_reference\n{number(1)},"a\nb"\n+1,"c\nd"\n')
    assert owner.run(path).reported == [(4, "phone_number")]


def test_csv_line_that_is_not_utf8_is_reported_as_a_bad_record(owner: Owner) -> None:
    path = owner.tmp_path / "latin1.csv"
    path.write_bytes(f"phone_number,customer_reference\n{number(1)},caf\xe9\n".encode("latin-1"))
    outcome = owner.run(path)
    assert outcome.reported == [(2, "record")]


def test_every_problem_of_one_record_is_reported(owner: Owner) -> None:
    outcome = owner.load({"phone_number": "+1", "status": "x", "tags": "y", "colour": "z"})
    assert sorted(outcome.reported) == [
        (1, "colour"),
        (1, "phone_number"),
        (1, "status"),
        (1, "tags"),
    ]
    assert (outcome.report.bad_records, outcome.report.problems) == (1, 4)


def test_every_bad_record_is_reported_on_its_own_line(owner: Owner) -> None:
    outcome = owner.load(
        {"phone_number": "+1"},
        {"phone_number": number(2)},
        {"phone_number": number(3), "status": "on"},
        "{",
        {"phone_number": number(5)},
        {"phone_number": number(6), "id": "0"},
        {"phone_number": number(2)},
    )
    assert outcome.reported == [
        (1, "phone_number"),
        (3, "status"),
        (4, "record"),
        (6, "id"),
        (7, "phone_number"),
    ]
    report = outcome.report
    assert (report.bad_records, report.problems, report.imported) == (5, 5, 0)


# --- all or nothing -----------------------------------------------------------------------------


def test_one_bad_record_among_good_ones_writes_nothing(owner: Owner) -> None:
    owner.load({"phone_number": number(0)}).assert_imported(1)
    records: list[Line] = [{"phone_number": number(n)} for n in range(1, 20)]
    records[10] = {"phone_number": number(11), "status": "on"}
    outcome = owner.load(*records)
    assert outcome.reported == [(11, "status")]
    assert (outcome.report.ok, outcome.report.imported) == (False, 0)
    assert set(owner.listed()) == {number(0)}


def test_one_duplicate_after_several_batches_writes_nothing(owner: Owner) -> None:
    records = [{"phone_number": number(n)} for n in range(12_000)]
    records.append({"phone_number": number(5)})
    report = import_records(owner.database, "owner", enumerate(records, start=1), lambda *_: None)
    assert (report.ok, report.imported, report.bad_records) == (False, 0, 1)
    assert owner.total() == 0


def test_repeats_of_numbers_written_before_the_first_repeat_name_their_lines(
    owner: Owner, inventory: Inventory
) -> None:
    # Records go in 5,000 at a time; the first repeat (line 6,002) stops the writing halfway
    # through the second batch: the numbers before it are the file's own, not already stored.
    inventory.account("other")
    owner.run(owner.jsonl({"phone_number": number(70_000)}), "other").assert_imported(1)
    records: list[Line] = [{"phone_number": number(n)} for n in range(12_000)]
    records[6_001] = {"phone_number": number(6_000)}
    records[9_000] = {"phone_number": number(5_500)}
    records[9_500] = {"phone_number": number(100)}
    records[11_000] = {"phone_number": number(70_000)}
    outcome = owner.load(*records)
    assert sorted(outcome.problems) == [
        (6_002, "phone_number", f"repeats line 6001: {number(6_000)}"),
        (9_001, "phone_number", f"repeats line 5501: {number(5_500)}"),
        (9_501, "phone_number", f"repeats line 101: {number(100)}"),
        (11_001, "phone_number", f"already in the database: {number(70_000)}"),
    ]
    assert owner.total() == 0


def test_repeats_of_ids_written_before_the_first_repeat_name_their_lines(
    owner: Owner, inventory: Inventory
) -> None:
    inventory.account("other")
    stored = {"phone_number": number(70_000), "id": "99999"}
    owner.run(owner.jsonl(stored), "other").assert_imported(1)
    records: list[dict[str, Any]] = [
        {"phone_number": number(n), "id": str(n + 1)} for n in range(12_000)
    ]
    records[6_001]["id"] = "6001"
    records[9_000]["id"] = "42"
    records[11_000]["id"] = "99999"
    outcome = owner.load(*records)
    assert sorted(outcome.problems) == [
        (6_002, "id", "repeats line 6001: 6001"),
        (9_001, "id", "repeats line 42: 42"),
        (11_001, "id", "already in the database: 99999"),
    ]
    assert owner.total() == 0


def test_repeats_after_a_bad_record_are_still_found(owner: Owner) -> None:
    records: list[Line] = [{"phone_number": number(n)} for n in range(12_000)]
    records[1] = {"phone_number": number(1), "status": "gone"}
    records[11_000] = {"phone_number": number(7_000)}
    outcome = owner.load(*records)
    assert outcome.reported == [(2, "status"), (11_001, "phone_number")]
    assert outcome.problems[1][2] == f"repeats line 7001: {number(7_000)}"
    assert owner.total() == 0


def test_last_record_naming_a_connection_gives_its_name_across_batches(owner: Owner) -> None:
    records: list[dict[str, Any]] = [
        {"phone_number": number(n), "connection_id": "c1", "messaging_profile_id": "p1"}
        for n in range(12_000)
    ]
    records[0] |= {"connection_name": "First", "messaging_profile_name": "First"}
    records[7_000] |= {"connection_name": "Second"}
    records[11_000] |= {"messaging_profile_name": "Second"}
    owner.load(*records).assert_imported(12_000)
    item = owner.shown(number(11_999))
    assert (item["connection_name"], item["messaging_profile_name"]) == ("Second", "Second")


def _sqlite_schema(database: Database) -> list[tuple[Any, ...]]:
    """The tables, indexes and triggers, and ANALYZE's statistics (run it first)."""
    connection = database.connection()
    found = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    statistics = connection.execute("SELECT tbl, idx, stat FROM sqlite_stat1").fetchall()
    return sorted(found) + sorted(statistics, key=repr)


@pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite's indexes are set aside during a large import")
def test_a_large_import_leaves_the_schema_and_its_statistics_as_they_were(owner: Owner) -> None:
    owner.load({"phone_number": number(79_999), "tags": ["a"]}).assert_imported(1)
    owner.database.connection().execute("ANALYZE")
    before = _sqlite_schema(owner.database)
    records = ({"phone_number": number(n), "tags": ["b"]} for n in range(25_000))
    owner.load(*records).assert_imported(25_000)
    assert _sqlite_schema(owner.database) == before
    assert set(owner.listed("filter[phone_number]=2024999")) == {number(24_999)}
    assert owner.total() == 25_001
    assert len(owner.listed("filter[tag]=a")) == 1


@pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite's indexes are set aside during a large import")
def test_a_rejected_large_import_leaves_the_schema_as_it_was(owner: Owner) -> None:
    owner.database.connection().execute("ANALYZE")
    before = _sqlite_schema(owner.database)
    records: list[Line] = [{"phone_number": number(n)} for n in range(25_000)]
    records.append({"phone_number": number(3)})
    assert owner.load(*records).reported == [(25_001, "phone_number")]
    assert _sqlite_schema(owner.database) == before
    assert owner.total() == 0


def test_connection_named_in_a_rejected_file_is_not_created(owner: Owner) -> None:
    outcome = owner.load(
        {"phone_number": number(1), "connection_id": "c1", "connection_name": "Ghost"},
        {"phone_number": number(2), "messaging_profile_id": "p1", "messaging_profile_name": "Boo"},
        {"phone_number": "+1"},
    )
    assert not outcome.report.ok
    owner.load(
        {"phone_number": number(3), "connection_id": "c1"},
        {"phone_number": number(4), "messaging_profile_id": "p1"},
    ).assert_imported(2)
    numbers = owner.listed()
    assert numbers[number(3)]["connection_name"] is None
    assert numbers[number(4)]["messaging_profile_name"] is None


def test_rejected_file_does_not_rename_an_existing_connection(owner: Owner) -> None:
    owner.load(
        {"phone_number": number(1), "connection_id": "c1", "connection_name": "Kept"}
    ).assert_imported(1)
    outcome = owner.load(
        {"phone_number": number(2), "connection_id": "c1", "connection_name": "Renamed"},
        {"phone_number": number(1)},
    )
    assert not outcome.report.ok
    assert owner.shown(number(1))["connection_name"] == "Kept"


def test_failed_import_can_be_corrected_and_run_again(owner: Owner) -> None:
    assert not owner.load({"phone_number": number(1)}, {"phone_number": "+1"}).report.ok
    owner.load({"phone_number": number(1)}, {"phone_number": number(2)}).assert_imported(2)
    assert owner.total() == 2


# --- bugs ----------------------------------------------------------------------------------------


def test_generated_id_after_the_largest_possible_given_id(owner: Owner) -> None:
    owner.load({"phone_number": number(1), "id": str(2**63 - 1)}).assert_imported(1)
    owner.load({"phone_number": number(2)}).assert_imported(1)
    assert owner.total() == 2


def test_timestamp_beyond_year_9999_in_utc_is_a_bad_record(owner: Owner) -> None:
    outcome = owner.load({"phone_number": number(1), "created_at": "9999-12-31T23:59:59-01:00"})
    assert outcome.reported == [(1, "created_at")]
    assert owner.api.get(LIST, owner.key).status_code == 200


def test_timestamp_before_year_1000_is_shown_with_a_four_digit_year(owner: Owner) -> None:
    owner.load({"phone_number": number(1), "created_at": "0999-05-01T00:00:00Z"}).assert_imported(1)
    assert owner.shown(number(1))["created_at"] == "0999-05-01T00:00:00.000Z"


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_a_leading_byte_order_mark_is_ignored(owner: Owner, suffix: str) -> None:
    body = (
        json.dumps({"phone_number": number(1)}) + "\n"
        if suffix == "jsonl"
        else f"phone_number\n{number(1)}\n"
    )
    path = owner.tmp_path / f"bom.{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    owner.run(path).assert_imported(1)


def test_non_geographic_number_says_the_country_cannot_be_derived(owner: Owner) -> None:
    outcome = owner.load({"phone_number": "+80012345678"})
    [(_, field_name, reason)] = outcome.problems
    assert field_name == "country_iso_alpha2"
    assert "non-geographic" in reason


def test_problems_found_by_the_checking_processes_keep_their_lines(owner: Owner) -> None:
    lines: list[Line] = [{"phone_number": number(n)} for n in range(6000)]
    lines[4320] = {"phone_number": number(4320), "status": "gone"}
    lines[5998] = "{not json"
    outcome = owner.load(*lines)
    assert outcome.reported == [(4321, "status"), (5999, "record")]
    assert owner.total() == 0


def test_new_ids_follow_the_file_order_across_batches(owner: Owner) -> None:
    owner.load(*({"phone_number": number(n)} for n in range(4500))).assert_imported(4500)
    ids = []
    for page in (8, 9):  # the first batch is checked in the importing process, the next in others
        query = f"sort=phone_number&page[size]=250&page[number]={page}"
        ids += [int(item["id"]) for item in owner.api.get(LIST, owner.key, query).json()["data"]]
    assert len(ids) == 500
    assert ids == sorted(ids)


def test_an_unreadable_record_keeps_its_field_between_processes() -> None:
    copy = pickle.loads(pickle.dumps(UnreadableRecord("unknown column", field="colour")))
    assert (str(copy), copy.field) == ("unknown column", "colour")


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the planner's statistics: PostgreSQL's")
def test_an_import_leaves_the_planner_statistics_and_a_page_read_by_primary_key(
    database: Database, inventory: Inventory
) -> None:
    """Without statistics (autovacuum off, or not yet round), PostgreSQL plans a page's rows with
    the account's index as well as the primary key: at 300,000 numbers a page took 15 ms instead
    of 0.8 (docs/performance.md)."""
    key = inventory.account("owner")
    inventory.load("owner", (number_record() for _ in range(20_000)))
    connection = database.connection()
    statistics = dict(
        connection.execute(
            "SELECT relname, reltuples FROM pg_class WHERE oid IN "
            "(to_regclass('phone_numbers'), to_regclass('phone_number_tags'))"
        ).fetchall()
    )
    assert statistics["phone_numbers"] >= 20_000
    assert statistics["phone_number_tags"] >= 0  # analysed: -1 until then
    caller = connection.read(authentication(key))
    assert caller is not None
    ids = [row[0] for row in connection.execute("SELECT id FROM phone_numbers LIMIT 20")]
    page = page_of(database.dialect, caller, len(ids), ids, PageShape.DETAILED_JSON)
    assert page.sql is not None
    plan = "\n".join(row[0] for row in connection.execute(f"EXPLAIN {page.sql}", page.parameters))
    assert "phone_numbers_pkey" in plan, plan
    assert "BitmapAnd" not in plan, plan
