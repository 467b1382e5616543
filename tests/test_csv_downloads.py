"""`POST` and `GET /v2/phone_numbers/csv_downloads`, `GET .../{id}` and the file its url names.

The `client` fixture runs the real app with its lifespan, so each worker's download runner is
running as it is under `numbers-api serve`; `idle` stops its runners, so downloads stay pending.
Every JSON answer is checked against the contract by the test client.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from numbers_api.exporting import downloads
from numbers_api.exporting.downloads import DownloadRunner
from numbers_api.exporting.run import export_numbers
from numbers_api.http.app import create_app
from numbers_api.http.csv_downloads import MAX_KEPT_BYTES, MAX_PENDING_DOWNLOADS
from numbers_api.importing.run import import_file
from numbers_api.settings import Settings
from numbers_api.store.accounts import account_id, create_key
from numbers_api.store.csv_downloads import (
    CsvDownload,
    claim_download,
    claimable_downloads,
    complete_download,
    create_download,
    expire_downloads,
    find_download,
    release_claim,
)
from numbers_api.store.database import Database
from numbers_api.store.number_index import IndexMode
from tests.conftest import ApiClient, make_client
from tests.support.contract import CONTRACT_URI, documents
from tests.support.databases import fresh_database_url
from tests.support.factories import Inventory, number_record

DOWNLOADS = "/v2/phone_numbers/csv_downloads"
LIST = "/v2/phone_numbers"
UNKNOWN_ID = "42587e44-3a3e-46de-9255-0c9a7a1d1ec7"


@pytest.fixture
def client(database_url: str, database: Database) -> Iterator[ApiClient]:
    app = create_app(
        Settings(database_url=database_url, faults=frozenset(), index_mode=IndexMode.OFF)
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:  # runs the lifespan
        yield ApiClient(test_client)


@pytest.fixture
def idle(database_url: str, database: Database) -> ApiClient:
    """The app with its runners stopped, so every download stays pending."""
    return make_client(database_url, runners=False)


@pytest.fixture
def key(inventory: Inventory) -> str:
    """Account `mine` with three varied numbers; account `theirs` with one of its own."""
    mine = inventory.account("mine")
    inventory.load(
        "mine",
        [
            number_record(
                id="1001",
                tags=["sales", "west"],
                connection_id="c1",
                connection_name="Front Desk",
                messaging_profile_id="m1",
                messaging_profile_name="Regional",
                customer_reference='REF "12", UK',
                external_pin="1234",
                billing_group_id="b1",
                emergency_enabled=True,
                emergency_address_id="e1",
                emergency_status="active",
                usage_payment_method="channel",
                source_type="port_request",
                created_at="2020-01-01T00:00:00.001Z",
            ),
            number_record(
                id="1002",
                status="port-pending",
                tags=["support"],
                created_at="2020-01-02T00:00:00.000Z",
            ),
            number_record(
                id="1003",
                connection_id="c2",
                connection_name="Back Office",
                deletion_lock_enabled=True,
                created_at="2020-01-03T00:00:00.000Z",
            ),
        ],
    )
    inventory.account("theirs")
    inventory.load("theirs", [number_record(id="2001", tags=["sales"])])
    return mine


@pytest.fixture
def their_key(inventory: Inventory, key: str) -> str:
    return create_key(inventory.database, "theirs")


def create(client: ApiClient, key: str, query: str = "") -> dict[str, Any]:
    response = client.request("POST", f"{DOWNLOADS}?{query}" if query else DOWNLOADS, key)
    assert response.status_code == 200, response.text
    [download] = response.json()["data"]
    return dict(download)


def retrieve(client: ApiClient, key: str, download_id: str) -> httpx.Response:
    return client.get(f"{DOWNLOADS}/{download_id}", key)


def finished(client: ApiClient, key: str, download_id: str) -> dict[str, Any]:
    """The download once it is no longer pending."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = retrieve(client, key, download_id)
        assert response.status_code == 200, response.text
        [download] = response.json()["data"]
        if download["status"] != "pending":
            return dict(download)
        time.sleep(0.05)
    raise AssertionError(f"download {download_id} still pending")


def fetch(client: ApiClient, key: str | None, url: str) -> httpx.Response:
    """A file, fetched as a user fetches the url (the test client takes it whole)."""
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    response: httpx.Response = client.client.get(url, headers=headers)
    return response


def file_rows(client: ApiClient, key: str, query: str = "") -> list[dict[str, str]]:
    """The rows of the file of a new download made with `query`."""
    download = finished(client, key, create(client, key, query)["id"])
    assert download["status"] == "complete", download
    response = fetch(client, key, download["url"])
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def header(client: ApiClient, key: str, query: str = "") -> list[str]:
    download = finished(client, key, create(client, key, query)["id"])
    return next(csv.reader(io.StringIO(fetch(client, key, download["url"]).text)))


def listed_ids(client: ApiClient, key: str, query: str) -> set[str]:
    response = client.get(LIST, key, f"{query}&page[size]=250")
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["data"]}


# Creating and finishing ---------------------------------------------------------------------------


def test_create_answers_the_download_pending_without_a_url(idle: ApiClient, key: str) -> None:
    download = create(idle, key)
    assert download["record_type"] == "csv_download"
    assert download["status"] == "pending"
    assert "url" not in download


def test_a_download_completes_with_a_url_on_this_server(client: ApiClient, key: str) -> None:
    download = finished(client, key, create(client, key)["id"])
    assert download["status"] == "complete"
    assert download["url"] == f"http://testserver{DOWNLOADS}/{download['id']}/file"


def test_the_file_holds_every_number_of_the_account_and_none_of_another(
    client: ApiClient, key: str
) -> None:
    assert [row["id"] for row in file_rows(client, key)] == ["1003", "1002", "1001"]


def test_another_server_on_the_same_database_serves_the_download_and_its_file(
    client: ApiClient, idle: ApiClient, key: str
) -> None:
    download = finished(client, key, create(client, key)["id"])
    assert retrieve(idle, key, download["id"]).json()["data"][0] == download
    assert fetch(idle, key, download["url"]).content == fetch(client, key, download["url"]).content


def test_the_file_is_served_as_csv_with_its_length(client: ApiClient, key: str) -> None:
    download = finished(client, key, create(client, key)["id"])
    response = fetch(client, key, download["url"])
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert int(response.headers["content-length"]) == len(response.content)
    assert "attachment" in response.headers["content-disposition"]


def test_the_default_format_is_v1_with_every_property_of_phone_number_detailed(
    client: ApiClient, key: str
) -> None:
    schema = documents()[CONTRACT_URI]["components"]["schemas"]["PhoneNumberDetailed"]
    assert sorted(header(client, key)) == sorted(schema["properties"])


def test_v2_adds_usage_payment_method_to_v1(client: ApiClient, key: str) -> None:
    v1 = header(client, key, "csv_format=V1")
    assert header(client, key, "csv_format=V2") == [*v1, "usage_payment_method"]


def test_each_cell_is_the_value_the_api_shows(client: ApiClient, key: str) -> None:
    shown = client.get(f"{LIST}/1001", key).json()["data"]
    [row] = [r for r in file_rows(client, key, "csv_format=V2") if r["id"] == "1001"]
    assert row.pop("usage_payment_method") == "channel"
    assert row.pop("tags") == "sales;west"
    expected = {
        name: "" if value is None else str(value).lower() if isinstance(value, bool) else value
        for name, value in shown.items()
        if name != "tags"
    }
    assert row == expected


def test_a_cell_holding_commas_and_quotes_reads_back_as_written(
    client: ApiClient, key: str
) -> None:
    [row] = [r for r in file_rows(client, key) if r["id"] == "1001"]
    assert row["customer_reference"] == 'REF "12", UK'


@pytest.mark.parametrize(
    "query",
    [
        "filter[tag]=sales",
        "filter[status]=port-pending",
        "filter[connection_id]=c2",
        "filter[voice.connection_name][contains]=desk",
        "filter[voice.connection_name][eq]=back office",
        "filter[voice.usage_payment_method]=channel",
        "filter[billing_group_id]=null",
        "filter[billing_group_id]=b1",
        "filter[emergency_address_id]=e1",
        "filter[customer_reference]=REF%20%2212%22%2C%20UK",
        "filter[phone_number]=720",
        "filter[tag]=sales&filter[status]=active",
        "filter[tag]=nobody",
    ],
)
def test_a_filter_selects_what_it_selects_in_the_list(
    client: ApiClient, key: str, query: str
) -> None:
    assert {row["id"] for row in file_rows(client, key, query)} == listed_ids(client, key, query)


@pytest.mark.parametrize(("value", "expected"), [("true", {"1002"}), ("false", {"1001", "1003"})])
def test_has_bundle_selects_numbers_in_a_bundle_or_in_none(
    client: ApiClient, key: str, database: Database, value: str, expected: set[str]
) -> None:
    with database.transaction() as connection:
        connection.execute(
            "UPDATE phone_numbers SET bundle_id = ? WHERE id = ?", ("bundle-1", 1002)
        )
    assert {row["id"] for row in file_rows(client, key, f"filter[has_bundle]={value}")} == expected


def test_a_file_of_several_parts_and_batches_is_served_whole(
    client: ApiClient, inventory: Inventory
) -> None:
    big = inventory.account("big")
    inventory.load("big", [number_record(tags=["a-rather-long-tag"]) for _ in range(6_000)])
    download = finished(client, big, create(client, big)["id"])
    response = fetch(client, big, download["url"])
    assert len(response.content) > 1 << 20  # more than one stored part
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 6_000
    assert len({row["phone_number"] for row in rows}) == 6_000


@pytest.mark.parametrize("csv_format", ["V1", "V2"])
def test_a_downloaded_file_imports_back_into_an_empty_database(
    client: ApiClient, key: str, tmp_path: Path, csv_format: str
) -> None:
    download = finished(client, key, create(client, key, f"csv_format={csv_format}")["id"])
    path = tmp_path / "download.csv"
    path.write_bytes(fetch(client, key, download["url"]).content)
    with fresh_database_url(tmp_path / "copy") as url:
        copy = Database(url)
        Inventory(copy).account("copy")
        report = import_file(copy, "copy", path, lambda *problem: pytest.fail(str(problem)))
        copy.close()
    assert report.imported == 3


# Mistakes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("filter[status]=enabled", "filter[status]"),
        ("filter[colour]=red", "filter[colour]"),
        ("filter[has_bundle]=yes", "filter[has_bundle]"),
        ("filter[country_iso_alpha2]=US", "filter[country_iso_alpha2]"),
        ("filter[voice.connection_name][contains]=ab", "filter[voice.connection_name][contains]"),
        ("csv_format=V3", "csv_format"),
        ("csv_format=v1", "csv_format"),
        ("include_managed_accounts=maybe", "include_managed_accounts"),
    ],
)
def test_a_bad_parameter_is_400_naming_it_and_makes_no_download(
    client: ApiClient, key: str, query: str, parameter: str
) -> None:
    response = client.request("POST", f"{DOWNLOADS}?{query}", key)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["source"]) == ("10015", {"parameter": parameter})
    assert client.get(DOWNLOADS, key).json()["data"] == []


def test_managed_accounts_are_422_as_this_server_has_none(client: ApiClient, key: str) -> None:
    response = client.request("POST", f"{DOWNLOADS}?include_managed_accounts=true", key)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["source"] == {"parameter": "include_managed_accounts"}


def test_managed_accounts_false_is_the_callers_numbers(client: ApiClient, key: str) -> None:
    rows = file_rows(client, key, "include_managed_accounts=false")
    assert len(rows) == 3


def test_an_unknown_download_is_404(client: ApiClient, key: str) -> None:
    response = retrieve(client, key, UNKNOWN_ID)
    assert response.status_code == 404
    assert [e["code"] for e in response.json()["errors"]] == ["10005"]


@pytest.mark.parametrize("raw_id", ["abc", "42587e44-3a3e-46de-9255-0c9a7a1d1ec", "1001"])
def test_a_malformed_id_is_400_invalid_id(client: ApiClient, key: str, raw_id: str) -> None:
    for path in (f"{DOWNLOADS}/{raw_id}", f"{DOWNLOADS}/{raw_id}/file"):
        response = client.client.get(path, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert (error["code"], error["source"]) == ("10006", {"parameter": "id"})


def test_an_id_in_upper_case_names_the_same_download(client: ApiClient, key: str) -> None:
    download = create(client, key)
    response = retrieve(client, key, download["id"].upper())
    assert response.json()["data"][0]["id"] == download["id"]


def test_another_accounts_download_and_file_answer_as_unknown(
    client: ApiClient, key: str, their_key: str
) -> None:
    download = finished(client, key, create(client, key)["id"])
    assert retrieve(client, their_key, download["id"]).status_code == 404
    assert fetch(client, their_key, download["url"]).status_code == 404
    assert client.get(DOWNLOADS, their_key).json()["data"] == []


def test_the_file_needs_a_key(client: ApiClient, key: str) -> None:
    download = finished(client, key, create(client, key)["id"])
    assert fetch(client, None, download["url"]).status_code == 401
    assert fetch(client, "wrong-key", download["url"]).status_code == 401


def test_the_file_of_a_pending_download_is_404(idle: ApiClient, key: str) -> None:
    download_id = create(idle, key)["id"]
    response = fetch(idle, key, f"{DOWNLOADS}/{download_id}/file")
    assert response.status_code == 404
    assert "pending" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", DOWNLOADS), ("POST", f"{DOWNLOADS}/{UNKNOWN_ID}"), ("PUT", f"{DOWNLOADS}/x/file")],
)
def test_other_methods_are_405(client: ApiClient, key: str, method: str, path: str) -> None:
    response = client.client.request(method, path, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 405


def test_authentication_comes_first(client: ApiClient, key: str) -> None:
    assert client.request("POST", f"{DOWNLOADS}?csv_format=bad", "wrong").status_code == 401


# The list -----------------------------------------------------------------------------------------


def test_the_list_shows_the_accounts_downloads_newest_first(idle: ApiClient, key: str) -> None:
    made = [create(idle, key)["id"] for _ in range(3)]
    body = idle.get(DOWNLOADS, key).json()
    assert [d["id"] for d in body["data"]] == made[::-1]
    assert body["meta"] == {"total_pages": 1, "total_results": 3, "page_number": 1, "page_size": 20}


def test_the_list_has_pages(idle: ApiClient, key: str) -> None:
    made = [create(idle, key)["id"] for _ in range(3)]
    second = idle.get(DOWNLOADS, key, "page[number]=2&page[size]=2").json()
    assert [d["id"] for d in second["data"]] == made[:1]
    assert second["meta"]["total_pages"] == 2
    beyond = idle.get(DOWNLOADS, key, "page[number]=9223372036854775807").json()
    assert beyond["data"] == []


@pytest.mark.parametrize("query", ["page[size]=0", "page[size]=251", "page[number]=x", "page[x]=1"])
def test_a_bad_page_is_400(idle: ApiClient, key: str, query: str) -> None:
    assert idle.get(DOWNLOADS, key, query).status_code == 400


# Runners, leases, failures, expiry ----------------------------------------------------------------


def tried(download: CsvDownload, attempts: int) -> CsvDownload:
    """The download as a claim shows it, once claimed `attempts` times."""
    return dataclasses.replace(download, attempts=attempts)


def test_a_download_left_pending_is_finished_when_a_server_starts(
    idle: ApiClient, key: str, database_url: str
) -> None:
    download_id = create(idle, key)["id"]
    app = create_app(Settings(database_url=database_url, faults=frozenset()))
    with TestClient(app) as started:
        assert finished(ApiClient(started), key, download_id)["status"] == "complete"


def test_a_claimed_download_is_not_claimed_again_until_its_lease_runs_out(
    database: Database, key: str
) -> None:
    with database.transaction() as connection:
        made = create_download(connection, account_id(connection, "mine"), "V1", "", 1_000)
        assert claim_download(connection, made.id, "first", 2_000, lease_ms=100) == tried(made, 1)
        assert claimable_downloads(connection, 2_050) == []
        assert claim_download(connection, made.id, "second", 2_050, lease_ms=100) is None
        assert claimable_downloads(connection, 2_101) == [made.id]
        assert claim_download(connection, made.id, "second", 2_101, lease_ms=100) == tried(made, 2)


def test_a_released_download_is_claimed_again_at_once_its_try_not_counted(
    database: Database, key: str
) -> None:
    with database.transaction() as connection:
        made = create_download(connection, account_id(connection, "mine"), "V1", "", 1_000)
        claim_download(connection, made.id, "first", 2_000, lease_ms=60_000)
        release_claim(connection, made.id, "first")
        assert claim_download(connection, made.id, "second", 2_001, lease_ms=60_000) == tried(
            made, 1
        )


def test_downloads_are_claimed_oldest_first(database: Database, key: str) -> None:
    with database.transaction() as connection:
        account = account_id(connection, "mine")
        newer = create_download(connection, account, "V1", "", 2_000)
        older = create_download(connection, account, "V1", "", 1_000)
        assert claimable_downloads(connection, 3_000) == [older.id, newer.id]


def test_a_backlog_of_one_account_does_not_delay_another_accounts_download(
    database: Database, key: str
) -> None:
    with database.transaction() as connection:
        mine, theirs = account_id(connection, "mine"), account_id(connection, "theirs")
        backlog = [create_download(connection, mine, "V1", "", 1_000 + i) for i in range(3)]
        waiting = create_download(connection, theirs, "V1", "", 2_000)
        claim_download(connection, backlog[0].id, "runner", 3_000, lease_ms=60_000)
        assert claimable_downloads(connection, 3_001)[0] == waiting.id


def test_a_runner_that_lost_its_claim_stores_nothing(database: Database, key: str) -> None:
    with database.transaction() as connection:
        made = create_download(connection, account_id(connection, "mine"), "V1", "", 1_000)
        claim_download(connection, made.id, "first", 2_000, lease_ms=100)
        claim_download(connection, made.id, "second", 3_000, lease_ms=100)
        assert not complete_download(
            connection, made.id, "first", parts=[b"x"], numbers=1, now_ms=3_001
        )
        stored = find_download(connection, made.account_id, made.id)
    assert stored is not None
    assert stored.status == "pending"


def test_a_download_that_cannot_be_made_fails(
    client: ApiClient, key: str, database: Database
) -> None:
    with database.transaction() as connection:
        # A format no server knows (a download kept by a newer version, say).
        made = create_download(connection, account_id(connection, "mine"), "V9", "", 1_000)
    client.request("POST", DOWNLOADS, key)  # wakes the runner
    failed = finished(client, key, made.id)
    assert failed == {"id": made.id, "record_type": "csv_download", "status": "failed"}
    assert "an unexpected error (KeyError" in no_file(client, key, made.id)


def no_file(client: ApiClient, key: str, download_id: str) -> str:
    """What the file's url answers for a download without a file: its 404's detail."""
    response = fetch(client, key, f"{DOWNLOADS}/{download_id}/file")
    assert response.status_code == 404, response.text
    [error] = response.json()["errors"]
    detail: str = error["detail"]
    return detail


def test_an_old_file_expires(client: ApiClient, key: str, database: Database) -> None:
    download = finished(client, key, create(client, key)["id"])
    with database.transaction() as connection:
        assert expire_downloads(connection, int(time.time() * 1000) + 1) == 1
    expired = retrieve(client, key, download["id"]).json()["data"][0]
    assert expired["status"] == "expired"
    assert "url" not in expired
    assert fetch(client, key, download["url"]).status_code == 404


def test_a_download_changes_nothing_the_list_shows(client: ApiClient, key: str) -> None:
    before = client.get(LIST, key).json()
    finished(client, key, create(client, key)["id"])
    assert client.get(LIST, key).json() == before


def test_more_pending_downloads_than_the_quota_are_429(idle: ApiClient, key: str) -> None:
    for _ in range(MAX_PENDING_DOWNLOADS):
        assert idle.request("POST", DOWNLOADS, key).status_code == 200
    refused = idle.request("POST", DOWNLOADS, key)
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["code"] == "10011"
    assert f"at most {MAX_PENDING_DOWNLOADS} pending" in refused.json()["errors"][0]["detail"]
    assert int(refused.headers["Retry-After"]) > 0


def test_the_quota_of_pending_downloads_is_per_account(
    idle: ApiClient, key: str, inventory: Inventory
) -> None:
    for _ in range(MAX_PENDING_DOWNLOADS):
        idle.request("POST", DOWNLOADS, key)
    other = inventory.account("other")
    assert idle.request("POST", DOWNLOADS, other).status_code == 200


def test_kept_files_past_the_quota_of_bytes_are_429_until_the_oldest_expires(
    idle: ApiClient, database: Database, key: str
) -> None:
    an_hour_ago = int(time.time() * 1000) - 3600_000
    with database.transaction() as connection:
        made = create_download(connection, account_id(connection, "mine"), "V1", "", an_hour_ago)
        connection.execute(
            "UPDATE csv_downloads SET status = ?, size = ?, completed_at = ? WHERE id = ?",
            ("complete", MAX_KEPT_BYTES, an_hour_ago, made.id),
        )
    refused = idle.request("POST", DOWNLOADS, key)
    assert refused.status_code == 429
    assert "Files expire 24 hours after they complete" in refused.json()["errors"][0]["detail"]
    assert 22 * 3600 < int(refused.headers["Retry-After"]) <= 23 * 3600


# Faults: an export that fails -----------------------------------------------------------------

LOST = psycopg.OperationalError("server closed the connection unexpectedly")


class FlakyExport:
    """The export, which, call after call, raises the next of `errors` after its first batch
    (mid-export, in its snapshot), then exports as it does."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls = 0

    def __call__(self, *arguments: Any) -> int:
        """`export_numbers`, called as the runner calls it (its progress callback last)."""
        database, account, conditions, writer, on_progress = arguments
        self.calls += 1
        error = self.errors.pop(0) if self.errors else None

        def progress(written: int, total: int) -> None:
            if error is not None:
                raise error
            on_progress(written, total)

        return export_numbers(database, account, conditions, writer, progress)


MakeFlakyExport = Callable[[list[Exception]], FlakyExport]


@pytest.fixture
def flaky_export(monkeypatch: pytest.MonkeyPatch) -> MakeFlakyExport:
    def install(errors: list[Exception]) -> FlakyExport:
        export = FlakyExport(errors)
        monkeypatch.setattr(downloads, "export_numbers", export)
        return export

    return install


def run_download(runner: DownloadRunner, client: ApiClient, key: str, download_id: str) -> None:
    """Runs the runner until the download is no longer pending (retries wait milliseconds)."""
    deadline = time.monotonic() + 20
    while retrieve(client, key, download_id).json()["data"][0]["status"] == "pending":
        assert time.monotonic() < deadline, "the download is still pending"
        if not runner.run_next():
            time.sleep(0.005)


def quick(database: Database) -> DownloadRunner:
    """A runner whose retries wait milliseconds."""
    return DownloadRunner(database, retry_seconds=0.001)


def test_an_export_failing_transiently_is_made_again_from_the_start_with_every_number(
    idle: ApiClient, key: str, database: Database, flaky_export: MakeFlakyExport
) -> None:
    export = flaky_export([LOST, LOST])
    made = create(idle, key)
    run_download(quick(database), idle, key, made["id"])
    download = finished(idle, key, made["id"])
    assert download["status"] == "complete"
    rows = list(csv.DictReader(io.StringIO(fetch(idle, key, download["url"]).text)))
    assert sorted(row["id"] for row in rows) == ["1001", "1002", "1003"]
    assert export.calls == 3


def test_an_export_failing_transiently_past_its_tries_fails_saying_why_at_its_url(
    idle: ApiClient, key: str, database: Database, flaky_export: MakeFlakyExport
) -> None:
    export = flaky_export([LOST] * 10)
    made = create(idle, key)
    run_download(quick(database), idle, key, made["id"])
    assert finished(idle, key, made["id"])["status"] == "failed"
    reason = no_file(idle, key, made["id"])
    assert "the database could not be reached on each of its 5 tries" in reason
    assert export.calls == 5


def test_a_download_tried_again_waits_before_any_runner_claims_it(
    idle: ApiClient, key: str, database: Database, flaky_export: MakeFlakyExport
) -> None:
    flaky_export([LOST])
    made = create(idle, key)
    assert DownloadRunner(database, retry_seconds=60).run_next()
    now = int(time.time() * 1000)
    assert claimable_downloads(database.connection(), now) == []
    assert claimable_downloads(database.connection(), now + 61_000) == [made["id"]]


def test_a_download_whose_tries_all_ended_with_their_worker_fails(
    idle: ApiClient, key: str, database: Database, flaky_export: MakeFlakyExport
) -> None:
    export = flaky_export([])
    made = create(idle, key)
    with database.transaction() as connection:
        for attempt in range(5):  # five workers, each killed while it made the file
            claim_download(connection, made["id"], f"killed-{attempt}", 1_000 * attempt, 1)
    assert quick(database).run_next()
    assert finished(idle, key, made["id"])["status"] == "failed"
    assert "5 tries ended without a file" in no_file(idle, key, made["id"])
    assert export.calls == 0


def test_a_runner_takes_up_again_the_download_it_could_not_give_back(
    idle: ApiClient, key: str, database: Database
) -> None:
    made = create(idle, key)
    runner = DownloadRunner(database)
    with database.transaction() as connection:  # as a runner whose giving back failed leaves it
        claim_download(connection, made["id"], runner.claim, int(time.time() * 1000), 60_000)
    assert runner.run_next()
    assert finished(idle, key, made["id"])["status"] == "complete"


def test_a_download_ending_counts_its_outcome(
    idle: ApiClient, key: str, database: Database, flaky_export: MakeFlakyExport
) -> None:
    def ended(outcome: str) -> float:
        return (
            REGISTRY.get_sample_value("numbers_api_csv_downloads_total", {"outcome": outcome}) or 0
        )

    before = ended("complete"), ended("failed")
    run_download(quick(database), idle, key, create(idle, key)["id"])
    flaky_export([KeyError("a defect")])
    run_download(quick(database), idle, key, create(idle, key)["id"])
    assert (ended("complete"), ended("failed")) == (before[0] + 1, before[1] + 1)
