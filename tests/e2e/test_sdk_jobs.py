"""Bulk jobs through the official `telnyx` SDK (4.189.0), `client.phone_numbers.jobs`, against a
real `numbers-api serve`; and a job that outlives a server restart."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import telnyx
from telnyx import Telnyx
from telnyx.types.phone_numbers.numbers_phone_numbers_job import NumbersPhoneNumbersJob

from numbers_api.store.accounts import account_id, data_version
from numbers_api.store.database import Database
from numbers_api.store.jobs import find_job
from numbers_api.testing import stop_server
from tests.conftest import start_server
from tests.e2e.test_sdk import Accounts, accounts, number_ids  # noqa: F401 (the fixture)
from tests.support.contract import validate_response
from tests.support.databases import fresh_database_url
from tests.support.factories import Inventory, number_record


def finished(client: Telnyx, job_id: str, timeout: float = 30) -> NumbersPhoneNumbersJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.phone_numbers.jobs.with_raw_response.retrieve(job_id)
        validate_response("/phone_numbers/jobs/{id}", "GET", 200, response.json())
        job = response.parse().data
        assert job is not None
        if job.status in ("completed", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish within {timeout} s")


def job_id(job: NumbersPhoneNumbersJob | None) -> str:
    assert job is not None
    assert job.id is not None
    return job.id


def operation_ids(operations: Any) -> list[str | None]:
    return [operation.id for operation in operations or []]


def error_pointers(error: telnyx.APIStatusError, path: str, method: str = "POST") -> list[str]:
    body = error.response.json()
    validate_response(path, method, error.status_code, body)
    return [e["source"]["pointer"] for e in body["errors"]]


# Happy paths --------------------------------------------------------------------------------------


def test_delete_batch_deletes_the_numbers_and_keeps_a_deletion_locked_one(
    accounts: Accounts,  # noqa: F811
) -> None:
    client, numbers = accounts.new(
        number_record(), number_record(), number_record(deletion_lock_enabled=True)
    )
    ids = number_ids(client)
    response = client.phone_numbers.jobs.with_raw_response.delete_batch(
        phone_numbers=[ids[numbers[0]], numbers[1], numbers[2]]
    )
    validate_response(
        "/phone_numbers/jobs/delete_phone_numbers", "POST", response.status_code, response.json()
    )
    assert response.status_code == 202
    created = response.parse().data
    assert created is not None
    assert created.status == "pending"
    assert created.type == "delete_phone_numbers"
    job = finished(client, job_id(created))
    assert job.status == "completed"
    assert operation_ids(job.successful_operations) == [ids[numbers[0]], ids[numbers[1]]]
    [failed] = job.failed_operations or []
    assert (failed.id, failed.phone_number) == (ids[numbers[2]], numbers[2])
    assert [e.title for e in failed.errors or []] == ["Deletion lock enabled"]
    assert [n.phone_number for n in client.phone_numbers.list()] == [numbers[2]]


def test_update_batch_by_numbers_changes_the_fields_given(accounts: Accounts) -> None:  # noqa: F811
    client, numbers = accounts.new(number_record(tags=["old"]), number_record(tags=["old"]))
    created = client.phone_numbers.jobs.update_batch(
        phone_numbers=[numbers[0]], tags=["new"], customer_reference="batch-1"
    ).data
    job = finished(client, job_id(created))
    assert job.status == "completed"
    assert job.parameters is not None
    assert (job.parameters.tags, job.parameters.customer_reference) == (["new"], "batch-1")
    assert {n.phone_number for n in client.phone_numbers.list(filter={"tag": "new"})} == {
        numbers[0]
    }
    assert {n.phone_number for n in client.phone_numbers.list(filter={"tag": "old"})} == {
        numbers[1]
    }


def test_update_batch_by_filter_updates_what_the_filter_selects(
    accounts: Accounts,  # noqa: F811
) -> None:
    client, numbers = accounts.new(
        number_record(status="active"), number_record(status="port-pending")
    )
    created = client.phone_numbers.jobs.update_batch(
        phone_numbers=[], filter={"status": "port-pending"}, hd_voice_enabled=True
    ).data
    job = finished(client, job_id(created))
    assert operation_ids(job.successful_operations) == [number_ids(client)[numbers[1]]]
    voice = {n.phone_number: n.hd_voice_enabled for n in client.phone_numbers.list()}
    assert voice == {numbers[0]: False, numbers[1]: True}


def test_update_batch_with_voice_changes_each_numbers_voice_settings(
    accounts: Accounts,  # noqa: F811
) -> None:
    client, numbers = accounts.new(number_record(), number_record())
    created = client.phone_numbers.jobs.update_batch(
        phone_numbers=numbers,
        voice={
            "call_forwarding": {"call_forwarding_enabled": True, "forwards_to": "+13035559123"},
            "inbound_call_screening": "flag_calls",
        },
    ).data
    job = finished(client, job_id(created))
    assert job.status == "completed"
    assert job.parameters is not None
    assert job.parameters.voice is not None
    assert job.parameters.voice.inbound_call_screening == "flag_calls"
    for number_id in number_ids(client).values():
        settings = client.phone_numbers.voice.retrieve(number_id).data
        assert settings is not None
        assert settings.call_forwarding is not None
        assert settings.call_forwarding.forwards_to == "+13035559123"
        assert settings.inbound_call_screening == "flag_calls"
    listed = {n.phone_number: n.call_forwarding_enabled for n in client.phone_numbers.list()}
    assert listed == dict.fromkeys(numbers, True)


def test_update_emergency_settings_batch_enables_emergency(
    accounts: Accounts,  # noqa: F811
) -> None:
    client, numbers = accounts.new(number_record(), number_record())
    created = client.phone_numbers.jobs.update_emergency_settings_batch(
        phone_numbers=[numbers[0]], emergency_enabled=True, emergency_address_id="addr-1"
    ).data
    assert finished(client, job_id(created)).status == "completed"
    found = client.phone_numbers.list(filter={"emergency_address_id": "addr-1"})
    assert [(n.phone_number, n.emergency_enabled) for n in found] == [(numbers[0], True)]


def test_list_filters_by_type_and_pages_through_every_job(
    accounts: Accounts,  # noqa: F811
) -> None:
    client, numbers = accounts.new(number_record())
    made = [
        job_id(client.phone_numbers.jobs.delete_batch(phone_numbers=["+19705550199"]).data)
        for _ in range(3)
    ]
    client.phone_numbers.jobs.update_batch(phone_numbers=numbers, tags=["x"])
    response = client.phone_numbers.jobs.with_raw_response.list(page_size=2)
    validate_response("/phone_numbers/jobs", "GET", response.status_code, response.json())
    every = [job.id for job in client.phone_numbers.jobs.list(page_size=2)]
    assert len(every) == len(set(every)) == 4
    deletes = client.phone_numbers.jobs.list(filter={"type": "delete_phone_numbers"}, page_size=2)
    assert sorted(str(job.id) for job in deletes) == sorted(made)
    oldest_first = [job.id for job in client.phone_numbers.jobs.list(sort="created_at")]
    assert oldest_first == list(reversed(every))


# Errors -------------------------------------------------------------------------------------------


def test_more_than_1000_numbers_raises_unprocessable_entity(accounts: Accounts) -> None:  # noqa: F811
    client, _ = accounts.new()
    with pytest.raises(telnyx.UnprocessableEntityError) as raised:
        client.phone_numbers.jobs.delete_batch(phone_numbers=[str(i) for i in range(1, 1002)])
    assert error_pointers(raised.value, "/phone_numbers/jobs/delete_phone_numbers") == [
        "/phone_numbers"
    ]


def test_an_address_missing_when_enabling_raises_unprocessable_entity(
    accounts: Accounts,  # noqa: F811
) -> None:
    client, numbers = accounts.new(number_record())
    with pytest.raises(telnyx.UnprocessableEntityError) as raised:
        client.phone_numbers.jobs.update_emergency_settings_batch(
            phone_numbers=numbers, emergency_enabled=True
        )
    path = "/phone_numbers/jobs/update_emergency_settings"
    assert error_pointers(raised.value, path) == ["/emergency_address_id"]


def test_an_update_without_fields_raises_unprocessable_entity(accounts: Accounts) -> None:  # noqa: F811
    client, numbers = accounts.new(number_record())
    with pytest.raises(telnyx.UnprocessableEntityError) as raised:
        client.phone_numbers.jobs.update_batch(phone_numbers=numbers)
    path = "/phone_numbers/jobs/update_phone_numbers"
    assert error_pointers(raised.value, path) == ["/updateable_fields"]


def test_an_invalid_filter_raises_bad_request(accounts: Accounts) -> None:  # noqa: F811
    client, _ = accounts.new(number_record())
    with pytest.raises(telnyx.BadRequestError) as raised:
        client.phone_numbers.jobs.update_batch(
            phone_numbers=[], filter={"phone_number": "12"}, tags=["x"]
        )
    body = raised.value.response.json()
    validate_response("/phone_numbers/jobs/update_phone_numbers", "POST", 400, body)
    assert [e["source"]["parameter"] for e in body["errors"]] == ["filter[phone_number]"]


def test_another_accounts_job_raises_not_found(accounts: Accounts) -> None:  # noqa: F811
    mine, _ = accounts.new(number_record())
    theirs, _ = accounts.new()
    made = job_id(mine.phone_numbers.jobs.delete_batch(phone_numbers=["+19705550199"]).data)
    with pytest.raises(telnyx.NotFoundError):
        theirs.phone_numbers.jobs.retrieve(made)
    assert made not in [job.id for job in theirs.phone_numbers.jobs.list()]


def test_a_malformed_job_id_raises_bad_request(accounts: Accounts) -> None:  # noqa: F811
    client, _ = accounts.new()
    with pytest.raises(telnyx.BadRequestError):
        client.phone_numbers.jobs.retrieve("not-a-job")


# A server restart in the middle of a job ----------------------------------------------------------


def outcomes(database: Database, account: int, made: str) -> list[str | None]:
    job = find_job(database.connection(), account, made)
    assert job is not None
    return [operation.outcome for operation in job.operations]


@pytest.fixture
def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database]]:
    """A database of its own for a server that the test starts and stops."""
    with fresh_database_url(tmp_path_factory.mktemp("restart")) as database_url:
        database = Database(database_url)
        yield database_url, database
        database.close()


def test_a_job_survives_a_server_restart_with_every_number_done_once(
    restartable: tuple[str, Database],
) -> None:
    database_url, database = restartable
    inventory = Inventory(database)
    name = f"restart-{uuid.uuid4().hex}"
    key = inventory.account(name)
    records = [number_record() for _ in range(12)]
    inventory.load(name, records)
    account = account_id(database.connection(), name)
    before = data_version(database.connection(), account)
    slow = {"NUMBERS_API_FAULTS": "slow_jobs"}  # 0.25 s a number: the whole job takes 3 s
    process, base_url = start_server(database_url, slow)
    try:
        with Telnyx(api_key=key, base_url=base_url + "/v2", max_retries=0) as client:
            made = job_id(
                client.phone_numbers.jobs.delete_batch(
                    phone_numbers=[r["phone_number"] for r in records]
                ).data
            )
            deadline = time.monotonic() + 20
            while "successful" not in outcomes(database, account, made):
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        stop_server(process, timeout=20)
    stopped = find_job(database.connection(), account, made)
    assert stopped is not None
    assert stopped.status == "in_progress"
    assert None in outcomes(database, account, made)  # stopped half-way

    process, base_url = start_server(database_url, slow)
    try:
        with Telnyx(api_key=key, base_url=base_url + "/v2", max_retries=0) as client:
            job = finished(client, made)
            assert job.status == "completed"
            done = operation_ids(job.successful_operations)
            assert len(done) == len(set(done)) == 12
            assert job.failed_operations == []
            assert list(client.phone_numbers.list()) == []
    finally:
        stop_server(process, timeout=20)
    # Each deletion moved the data version on once: no number was done twice.
    assert data_version(database.connection(), account) == before + 12
