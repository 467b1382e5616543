"""CSV downloads through the official `telnyx` SDK (4.189.0), `client.phone_numbers.csv_downloads`,
against a real `numbers-api serve`; and a download that outlives a server restart."""

from __future__ import annotations

import csv
import io
import time
import uuid
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import telnyx
from telnyx import Telnyx
from telnyx.types.phone_numbers.csv_download import CsvDownload

from numbers_api.store.accounts import account_id
from numbers_api.store.database import Database
from numbers_api.testing import stop_server
from tests.conftest import start_server
from tests.e2e.test_sdk import Accounts, accounts  # noqa: F401 (the fixture)
from tests.support.contract import validate_response
from tests.support.databases import fresh_database_url
from tests.support.factories import Inventory, number_record


def finished(client: Telnyx, download_id: str, timeout: float = 20) -> CsvDownload:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = client.phone_numbers.csv_downloads.retrieve(download_id).data
        assert data is not None
        [download] = data
        if download.status != "pending":
            return download
        time.sleep(0.1)
    raise AssertionError(f"download {download_id} still pending")


def file_rows(client: Telnyx, url: str) -> list[dict[str, str]]:
    """The file at a download's url, fetched with the client's own key."""
    response = httpx.get(url, headers={"Authorization": f"Bearer {client.api_key}"}, timeout=30)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def test_create_with_filter_and_format_then_fetch_the_file(accounts: Accounts) -> None:  # noqa: F811
    client, numbers = accounts.new(
        number_record(tags=["sales"]), number_record(tags=["support"]), number_record()
    )
    response = client.phone_numbers.csv_downloads.with_raw_response.create(
        csv_format="V2", filter={"tag": "sales"}
    )
    body = response.json()
    validate_response("/phone_numbers/csv_downloads", "POST", response.status_code, body)
    created = response.parse().data
    assert created is not None
    assert created[0].status == "pending"
    download = finished(client, cast(str, created[0].id))
    assert download.status == "complete"
    assert download.url is not None
    rows = file_rows(client, download.url)
    assert [row["phone_number"] for row in rows] == numbers[:1]
    assert list(rows[0])[-1] == "usage_payment_method"


def test_the_default_format_is_v1(accounts: Accounts) -> None:  # noqa: F811
    client, _ = accounts.new(number_record())
    created = client.phone_numbers.csv_downloads.create().data
    assert created is not None
    download = finished(client, cast(str, created[0].id))
    assert "usage_payment_method" not in file_rows(client, cast(str, download.url))[0]


def test_list_pages_through_every_download(accounts: Accounts) -> None:  # noqa: F811
    client, _ = accounts.new(number_record())
    made = []
    for _ in range(3):
        data = client.phone_numbers.csv_downloads.create().data
        assert data is not None
        made.append(data[0].id)
    listed = [d.id for d in client.phone_numbers.csv_downloads.list(page_size=2)]
    assert listed == made[::-1]


def test_an_unknown_download_is_not_found(accounts: Accounts) -> None:  # noqa: F811
    client, _ = accounts.new()
    with pytest.raises(telnyx.NotFoundError):
        client.phone_numbers.csv_downloads.retrieve(str(uuid.uuid4()))


def test_another_accounts_download_is_not_found(accounts: Accounts) -> None:  # noqa: F811
    mine, _ = accounts.new(number_record())
    theirs, _ = accounts.new(number_record())
    data = mine.phone_numbers.csv_downloads.create().data
    assert data is not None
    with pytest.raises(telnyx.NotFoundError):
        theirs.phone_numbers.csv_downloads.retrieve(cast(str, data[0].id))


def test_a_bad_filter_is_a_bad_request(accounts: Accounts) -> None:  # noqa: F811
    client, _ = accounts.new()
    with pytest.raises(telnyx.BadRequestError) as raised:
        client.phone_numbers.csv_downloads.create(filter=cast(Any, {"status": "enabled"}))
    [error] = raised.value.response.json()["errors"]
    assert error["source"] == {"parameter": "filter[status]"}


def test_managed_accounts_are_unprocessable(accounts: Accounts) -> None:  # noqa: F811
    client, _ = accounts.new()
    with pytest.raises(telnyx.UnprocessableEntityError):
        client.phone_numbers.csv_downloads.create(include_managed_accounts=True)


# A restart ----------------------------------------------------------------------------------------

NUMBERS = 40


def claim_of(database: Database, download_id: str) -> tuple[str, str | None]:
    row = (
        database.connection()
        .execute("SELECT status, claim FROM csv_downloads WHERE id = ?", (download_id,))
        .fetchone()
    )
    return row[0], row[1]


def test_a_download_running_when_the_server_stops_is_finished_after_it_starts_again(
    tmp_path: Path,
) -> None:
    with fresh_database_url(tmp_path) as database_url:
        database = Database(database_url)
        inventory = Inventory(database)
        key = inventory.account("restart")
        inventory.load("restart", [number_record() for _ in range(NUMBERS)])
        # Slowed, the export holds its claim for 2 s after reading the numbers: stopped then.
        process, base_url = start_server(database_url, {"NUMBERS_API_FAULTS": "slow_csv_downloads"})
        try:
            client = Telnyx(api_key=key, base_url=f"{base_url}/v2", max_retries=0)
            data = client.phone_numbers.csv_downloads.create().data
            assert data is not None
            download_id = cast(str, data[0].id)
            deadline = time.monotonic() + 10
            while claim_of(database, download_id)[1] is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert claim_of(database, download_id)[1] is not None  # being exported
        finally:
            stop_server(process, timeout=30)
        assert claim_of(database, download_id) == ("pending", None)  # given back, no file
        process, base_url = start_server(database_url)
        try:
            client = Telnyx(api_key=key, base_url=f"{base_url}/v2", max_retries=0)
            download = finished(client, download_id)
            assert download.status == "complete"
            rows = file_rows(client, cast(str, download.url))
        finally:
            stop_server(process, timeout=30)
        with database.snapshot() as connection:
            account = account_id(connection, "restart")
            stored = {
                row[0]
                for row in connection.execute(
                    "SELECT phone_number FROM phone_numbers WHERE account_id = ?", (account,)
                )
            }
        numbers = [row["phone_number"] for row in rows]
        assert sorted(numbers) == sorted(stored)  # every number, each once
        database.close()
