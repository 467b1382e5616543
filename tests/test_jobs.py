"""Bulk jobs: `POST /v2/phone_numbers/jobs/...` (202, run in the background), `GET
/v2/phone_numbers/jobs` and `GET /v2/phone_numbers/jobs/{id}`.

The app runs with its lifespan, so its job runner runs as it does in a server; every answer is
checked against the contract by the test client. The runner tests at the end drive runners
directly, as several workers sharing one database would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY

from numbers_api.domain import PhoneNumber
from numbers_api.jobs.runner import ACTIONS, Action, JobRunner
from numbers_api.store.accounts import account_id, data_version
from numbers_api.store.database import Connection, Database
from numbers_api.store.jobs import ClaimedJob, Target, claim_job, create_job, renew_claim
from numbers_api.store.number_index import IndexMode
from tests.conftest import ApiClient, make_client, started
from tests.support.factories import Inventory, number_record

JOBS = "/v2/phone_numbers/jobs"
LIST = "/v2/phone_numbers"
MINE = ("1001", "1002", "1003")
LOCKED = "1004"
THEIRS = "2001"
THEIRS_E164 = "+19705550123"
CONNECTION = "c1"


@pytest.fixture
def api(database_url: str, database: Database) -> Iterator[ApiClient]:
    with started(database_url) as client:
        yield client


@pytest.fixture
def keys(inventory: Inventory) -> tuple[str, str]:
    """The keys of account `mine`, holding MINE (with tags and a connection) and LOCKED (deletion
    lock enabled), and of account `theirs`, holding THEIRS."""
    mine = inventory.account("mine")
    inventory.load(
        "mine",
        [
            *(
                number_record(
                    id=i, tags=["old"], connection_id=CONNECTION, customer_reference="ref"
                )
                for i in MINE
            ),
            number_record(id=LOCKED, deletion_lock_enabled=True, tags=["locked"]),
        ],
    )
    theirs = inventory.account("theirs")
    inventory.load("theirs", [number_record(id=THEIRS, phone_number=THEIRS_E164, tags=["old"])])
    return mine, theirs


@pytest.fixture
def key(keys: tuple[str, str]) -> str:
    return keys[0]


def create(api: ApiClient, key: str, kind: str, body: Any, query: str = "") -> httpx.Response:
    return api.request("POST", f"{JOBS}/{kind}" + (f"?{query}" if query else ""), key, json=body)


def accepted(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()["data"]
    return job


def finished(api: ApiClient, key: str, job: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    """The job once it is completed or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.get(f"{JOBS}/{job['id']}", key)
        assert response.status_code == 200, response.text
        current: dict[str, Any] = response.json()["data"]
        if current["status"] in ("completed", "failed"):
            return current
        time.sleep(0.05)
    raise AssertionError(f"job {job['id']} did not finish within {timeout} s")


def numbers(api: ApiClient, key: str, query: str = "") -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in api.get(LIST, key, query).json()["data"]}


def ids(operations: list[dict[str, Any]]) -> list[str]:
    return [operation["id"] for operation in operations]


def pointers(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["source"]["pointer"] for error in response.json()["errors"]]


def phone_number(api: ApiClient, key: str, number_id: str) -> str:
    number: str = api.get(f"{LIST}/{number_id}", key).json()["data"]["phone_number"]
    return number


# Creating a job -----------------------------------------------------------------------------------


def test_a_new_job_is_202_pending_with_the_numbers_as_given(api: ApiClient, key: str) -> None:
    first, e164 = phone_number(api, key, MINE[0]), phone_number(api, key, MINE[1])
    job = accepted(create(api, key, "delete_phone_numbers", {"phone_numbers": [MINE[0], e164]}))
    assert job["status"] == "pending"
    assert job["type"] == "delete_phone_numbers"
    assert job["record_type"] == "phone_numbers_job"
    assert job["phone_numbers"] == [{"id": MINE[0]}, {"phone_number": e164}]
    assert job["pending_operations"] == [
        {"id": MINE[0], "phone_number": first},
        {"id": MINE[1], "phone_number": e164},
    ]
    assert job["successful_operations"] == job["failed_operations"] == []


def test_a_number_named_twice_is_one_operation(api: ApiClient, key: str) -> None:
    e164 = phone_number(api, key, MINE[0])
    body = {"phone_numbers": [MINE[0], e164, MINE[0]]}
    job = accepted(create(api, key, "delete_phone_numbers", body))
    assert job["phone_numbers"] == [{"id": MINE[0]}, {"phone_number": e164}]
    assert ids(job["pending_operations"]) == [MINE[0]]


KINDS = [
    ("delete_phone_numbers", {}),
    ("update_phone_numbers", {"tags": ["x"]}),
    ("update_emergency_settings", {"emergency_enabled": False}),
]


@pytest.mark.parametrize("kind", KINDS, ids=[kind for kind, _ in KINDS])
@pytest.mark.parametrize(
    ("numbers_given", "problem"),
    [
        ([], "at least 1"),
        ([str(i) for i in range(1, 1002)], "1000 is the maximum"),
        (["1001", "abc"], "item 1 ('abc') is neither"),
        (["+1-720-555-0100"], "item 0"),
        ("1001", "array of strings"),
        ([1001], "array of strings"),
    ],
)
def test_phone_numbers_are_checked_422_naming_the_field(
    api: ApiClient, key: str, kind: tuple[str, dict[str, Any]], numbers_given: Any, problem: str
) -> None:
    path, body = kind
    response = create(api, key, path, {**body, "phone_numbers": numbers_given})
    assert pointers(response) == ["/phone_numbers"]
    assert problem in response.json()["errors"][0]["detail"]


def test_at_most_1000_numbers_a_job_is_accepted(api: ApiClient, key: str) -> None:
    given = [str(i) for i in range(1, 1001)]
    job = accepted(create(api, key, "delete_phone_numbers", {"phone_numbers": given}))
    assert len(job["phone_numbers"]) == 1000


@pytest.mark.parametrize("kind", ["delete_phone_numbers", "update_emergency_settings"])
def test_phone_numbers_is_required(api: ApiClient, key: str, kind: str) -> None:
    body = {"emergency_enabled": False} if kind == "update_emergency_settings" else {}
    assert pointers(create(api, key, kind, body)) == ["/phone_numbers"]


@pytest.mark.parametrize(
    "kind", ["delete_phone_numbers", "update_phone_numbers", "update_emergency_settings"]
)
def test_malformed_json_is_400_10023(api: ApiClient, key: str, kind: str) -> None:
    response = api.request("POST", f"{JOBS}/{kind}", key, content=b"{nope")
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["errors"]] == ["10023"]


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("delete_phone_numbers", {"phone_numbers": ["1001"], "force": True}, "/force"),
        ("update_phone_numbers", {"phone_numbers": ["1001"], "tags": "x"}, "/tags"),
        ("update_phone_numbers", {"phone_numbers": ["1001"], "id": "1"}, "/id"),
        (
            "update_phone_numbers",
            {"phone_numbers": ["1001"], "deletion_lock_enabled": "yes"},
            "/deletion_lock_enabled",
        ),
        ("update_phone_numbers", {"phone_numbers": ["1001"], "voice": []}, "/voice"),
        (
            "update_emergency_settings",
            {"phone_numbers": ["1001"], "emergency_enabled": "true"},
            "/emergency_enabled",
        ),
    ],
)
def test_a_wrong_field_is_422_naming_it(
    api: ApiClient, key: str, kind: str, body: dict[str, Any], field: str
) -> None:
    response = create(api, key, kind, body)
    assert pointers(response) == [field]
    assert response.json()["errors"][0]["code"] == "10015"


def test_every_wrong_field_is_reported_at_once(api: ApiClient, key: str) -> None:
    body = {"phone_numbers": ["x"], "tags": 1, "hd_voice_enabled": "no"}
    response = create(api, key, "update_phone_numbers", body)
    assert sorted(pointers(response)) == ["/hd_voice_enabled", "/phone_numbers", "/tags"]


def test_an_invalid_body_creates_no_job(api: ApiClient, key: str) -> None:
    create(api, key, "delete_phone_numbers", {"phone_numbers": ["x"]})
    assert api.get(JOBS, key).json()["meta"]["total_results"] == 0


def test_an_account_has_at_most_20_open_jobs_of_a_type(
    database_url: str, database: Database, key: str
) -> None:
    idle = make_client(database_url, runners=False)  # the jobs stay pending
    body = {"phone_numbers": [MINE[0]]}
    for _ in range(20):
        accepted(create(idle, key, "delete_phone_numbers", body))
    response = create(idle, key, "delete_phone_numbers", body)
    assert pointers(response) == ["/base"]
    assert "at most 20 pending or in progress jobs" in response.json()["errors"][0]["detail"]
    accepted(create(idle, key, "update_phone_numbers", {**body, "tags": ["x"]}))


# Running a job ------------------------------------------------------------------------------------


def test_a_delete_job_deletes_each_number(api: ApiClient, key: str) -> None:
    e164 = phone_number(api, key, MINE[1])
    job = accepted(create(api, key, "delete_phone_numbers", {"phone_numbers": [MINE[0], e164]}))
    done = finished(api, key, job)
    assert done["status"] == "completed"
    assert ids(done["successful_operations"]) == [MINE[0], MINE[1]]
    assert done["pending_operations"] == done["failed_operations"] == []
    assert set(numbers(api, key)) == {MINE[2], LOCKED}


def test_a_deletion_locked_number_survives_a_delete_job_while_the_others_go(
    api: ApiClient, key: str
) -> None:
    job = accepted(create(api, key, "delete_phone_numbers", {"phone_numbers": [*MINE, LOCKED]}))
    done = finished(api, key, job)
    assert done["status"] == "completed"
    assert ids(done["successful_operations"]) == list(MINE)
    [failed] = done["failed_operations"]
    assert failed["id"] == LOCKED
    [error] = failed["errors"]
    assert error["title"] == "Deletion lock enabled"
    assert "deletion lock enabled" in error["detail"]
    remaining = numbers(api, key)
    assert set(remaining) == {LOCKED}
    assert remaining[LOCKED]["tags"] == ["locked"]


def test_other_accounts_and_unknown_numbers_are_failed_operations_never_touched(
    api: ApiClient, keys: tuple[str, str]
) -> None:
    mine, theirs = keys
    body = {"phone_numbers": [MINE[0], THEIRS, THEIRS_E164, "3001"]}
    done = finished(api, mine, accepted(create(api, mine, "delete_phone_numbers", body)))
    assert ids(done["successful_operations"]) == [MINE[0]]
    failed = done["failed_operations"]
    assert [{k: v for k, v in op.items() if k != "errors"} for op in failed] == [
        {"id": THEIRS},
        {"phone_number": THEIRS_E164},
        {"id": "3001"},
    ]
    assert failed[0]["errors"] == [
        {
            "code": "10005",
            "title": "Resource not found",
            "detail": f"There is no phone number {THEIRS}.",
            "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10005"},
        }
    ]
    assert numbers(api, theirs)[THEIRS]["tags"] == ["old"]


def test_a_job_none_of_whose_numbers_succeeds_is_failed(api: ApiClient, key: str) -> None:
    body = {"phone_numbers": [LOCKED, "3001"]}
    done = finished(api, key, accepted(create(api, key, "delete_phone_numbers", body)))
    assert done["status"] == "failed"
    assert ids(done["failed_operations"]) == [LOCKED, "3001"]


def test_an_update_job_changes_only_the_given_fields(api: ApiClient, key: str) -> None:
    body = {
        "phone_numbers": [MINE[0], MINE[1]],
        "tags": ["new", "new", "other"],
        "external_pin": "4321",
        "deletion_lock_enabled": True,
    }
    done = finished(api, key, accepted(create(api, key, "update_phone_numbers", body)))
    assert ids(done["successful_operations"]) == [MINE[0], MINE[1]]
    after = numbers(api, key)
    for number_id in MINE[:2]:
        assert after[number_id]["tags"] == ["new", "other"]
        assert after[number_id]["external_pin"] == "4321"
        assert after[number_id]["deletion_lock_enabled"] is True
        assert after[number_id]["customer_reference"] == "ref"
        assert after[number_id]["connection_id"] == CONNECTION
    assert after[MINE[2]]["tags"] == ["old"]


def test_a_job_shows_what_it_does_in_parameters(api: ApiClient, key: str) -> None:
    body = {"phone_numbers": [MINE[0]], "connection_id": "", "hd_voice_enabled": True}
    job = accepted(create(api, key, "update_phone_numbers", body))
    assert job["parameters"] == {
        "connection_id": None,
        "hd_voice_enabled": True,
        "phone_numbers": [MINE[0]],
    }


def test_an_update_job_by_filter_updates_the_numbers_it_selects(api: ApiClient, key: str) -> None:
    query = "filter[tag]=old&filter[customer_reference]=ref"
    job = accepted(create(api, key, "update_phone_numbers", {"tags": ["seen"]}, query))
    assert sorted(ids(job["pending_operations"])) == sorted(MINE)
    assert sorted(job["parameters"]["phone_numbers"]) == sorted(MINE)
    finished(api, key, job)
    assert set(numbers(api, key, "filter[tag]=seen")) == set(MINE)
    assert set(numbers(api, key, "filter[tag]=locked")) == {LOCKED}


def test_an_update_job_by_filter_takes_the_first_1000_numbers(
    api: ApiClient, key: str, inventory: Inventory
) -> None:
    inventory.load("mine", [number_record(tags=["many"]) for _ in range(1001)])
    body = {"phone_numbers": [], "customer_reference": "many"}
    job = accepted(create(api, key, "update_phone_numbers", body, "filter[tag]=many"))
    expected = [
        item["id"] for item in api.get(LIST, key, "filter[tag]=many&page[size]=250").json()["data"]
    ]
    assert len(job["pending_operations"]) == 1000
    assert ids(job["pending_operations"])[:250] == expected


def test_an_update_job_whose_filter_selects_nothing_is_422(api: ApiClient, key: str) -> None:
    response = create(api, key, "update_phone_numbers", {"tags": ["x"]}, "filter[tag]=none")
    assert pointers(response) == ["/phone_numbers"]


def test_an_update_job_takes_filter_or_numbers_not_both(api: ApiClient, key: str) -> None:
    body = {"phone_numbers": [MINE[0]], "tags": ["x"]}
    assert pointers(create(api, key, "update_phone_numbers", body, "filter[tag]=old")) == [
        "/phone_numbers"
    ]


def test_an_update_job_needs_numbers_or_a_filter(api: ApiClient, key: str) -> None:
    assert pointers(create(api, key, "update_phone_numbers", {"tags": ["x"]})) == ["/phone_numbers"]


@pytest.mark.parametrize("fields", [{}, {"voice": {}}, {"voice": {"call_forwarding": {}}}])
def test_an_update_job_needs_an_updateable_field(
    api: ApiClient, key: str, fields: dict[str, Any]
) -> None:
    response = create(api, key, "update_phone_numbers", {"phone_numbers": [MINE[0]], **fields})
    assert pointers(response) == ["/updateable_fields"]


def test_an_invalid_filter_is_400_naming_it(api: ApiClient, key: str) -> None:
    response = create(api, key, "update_phone_numbers", {"tags": ["x"]}, "filter[status]=nope")
    assert response.status_code == 400
    assert [e["source"]["parameter"] for e in response.json()["errors"]] == ["filter[status]"]


def test_an_update_job_to_a_connection_the_account_lacks_is_422(api: ApiClient, key: str) -> None:
    body = {"phone_numbers": [MINE[0]], "connection_id": "nope"}
    response = create(api, key, "update_phone_numbers", body)
    assert pointers(response) == ["/connection_id"]
    assert response.json()["errors"][0]["code"] == "10013"


def test_an_update_job_to_a_billing_group_the_account_lacks_is_422(
    api: ApiClient, key: str
) -> None:
    body = {"phone_numbers": [MINE[0]], "billing_group_id": "nope"}
    response = create(api, key, "update_phone_numbers", body)
    assert pointers(response) == ["/billing_group_id"]
    assert response.json()["errors"][0]["code"] == "10013"


FORWARDING = {
    "call_forwarding_enabled": True,
    "forwards_to": "+13035559123",
    "forwarding_type": "on-failure",
}


def test_an_update_job_with_only_voice_settings_changes_each_numbers_voice_settings(
    api: ApiClient, key: str
) -> None:
    assert set(numbers(api, key, "filter[voice.usage_payment_method]=pay-per-minute")) >= set(MINE)
    voice = {
        "call_forwarding": FORWARDING,
        "call_recording": {"inbound_call_recording_enabled": True},
        "usage_payment_method": "channel",
    }
    body = {"phone_numbers": list(MINE[:2]), "voice": voice}
    job = accepted(create(api, key, "update_phone_numbers", body))
    assert job["parameters"] == {"voice": voice, "phone_numbers": list(MINE[:2])}
    done = finished(api, key, job)
    assert ids(done["successful_operations"]) == list(MINE[:2])
    after = numbers(api, key)
    for number_id in MINE[:2]:
        settings = api.get(f"{LIST}/{number_id}/voice", key).json()["data"]
        assert settings["call_forwarding"] == FORWARDING
        assert settings["call_recording"]["inbound_call_recording_enabled"] is True
        assert settings["usage_payment_method"] == "channel"
        assert after[number_id]["call_forwarding_enabled"] is True
        assert after[number_id]["call_recording_enabled"] is True
        assert after[number_id]["tags"] == ["old"]
    assert after[MINE[2]]["call_recording_enabled"] is False
    channel = numbers(api, key, "filter[voice.usage_payment_method]=channel")
    assert set(channel) == set(MINE[:2])


def test_an_update_job_sets_its_fields_and_voice_settings_together(
    api: ApiClient, key: str
) -> None:
    body = {"phone_numbers": [MINE[0]], "tags": ["new"], "voice": {"hd_voice_enabled": True}}
    finished(api, key, accepted(create(api, key, "update_phone_numbers", body)))
    number = numbers(api, key)[MINE[0]]
    assert (number["tags"], number["hd_voice_enabled"]) == (["new"], True)


@pytest.mark.parametrize(
    ("voice", "fields", "field"),
    [
        (
            {"call_forwarding": {**FORWARDING, "forwards_to": "12"}},
            {},
            "/voice/call_forwarding/forwards_to",
        ),
        ({"call_forwarding": {"nope": True}}, {}, "/voice/call_forwarding/nope"),
        ({"usage_payment_method": "free"}, {}, "/voice/usage_payment_method"),
        ({"media_features": True}, {}, "/voice/media_features"),
        ({"phone_number": "+13035559123"}, {}, "/voice/phone_number"),
        ({"connection_id": ""}, {"connection_id": CONNECTION}, "/voice/connection_id"),
    ],
)
def test_a_wrong_voice_field_is_422_naming_it_under_voice(
    api: ApiClient, key: str, voice: dict[str, Any], fields: dict[str, Any], field: str
) -> None:
    body = {"phone_numbers": [MINE[0]], "voice": voice, **fields}
    response = create(api, key, "update_phone_numbers", body)
    assert pointers(response) == [field]
    assert response.json()["errors"][0]["code"] == "10015"
    assert api.get(JOBS, key).json()["meta"]["total_results"] == 0


def test_a_voice_connection_the_account_lacks_is_422_naming_it(api: ApiClient, key: str) -> None:
    body = {"phone_numbers": [MINE[0]], "voice": {"connection_id": "nope"}}
    response = create(api, key, "update_phone_numbers", body)
    assert pointers(response) == ["/voice/connection_id"]
    assert response.json()["errors"][0]["code"] == "10013"


def test_enabling_a_cnam_listing_fails_only_the_numbers_without_details(
    api: ApiClient, key: str
) -> None:
    listed = {"cnam_listing": {"cnam_listing_details": "ACME"}}
    assert api.request("PATCH", f"{LIST}/{MINE[0]}/voice", key, json=listed).status_code == 200
    voice = {"cnam_listing": {"cnam_listing_enabled": True}, "tech_prefix_enabled": True}
    body = {"phone_numbers": list(MINE[:2]), "tags": ["new"], "voice": voice}
    done = finished(api, key, accepted(create(api, key, "update_phone_numbers", body)))
    assert done["status"] == "completed"
    assert ids(done["successful_operations"]) == [MINE[0]]
    [failed] = done["failed_operations"]
    assert failed["id"] == MINE[1]
    [error] = failed["errors"]
    assert (error["code"], error["title"]) == ("10015", "CNAM listing without details")
    assert "cnam_listing_details" in error["detail"]
    after = numbers(api, key)
    assert (after[MINE[0]]["cnam_listing_enabled"], after[MINE[0]]["tags"]) == (True, ["new"])
    # Nothing of the job was set on the failed number: its fields and voice settings go together.
    assert (after[MINE[1]]["cnam_listing_enabled"], after[MINE[1]]["tags"]) == (False, ["old"])
    settings = api.get(f"{LIST}/{MINE[1]}/voice", key).json()["data"]
    assert settings["tech_prefix_enabled"] is False


def test_an_emergency_job_sets_each_numbers_emergency_settings(api: ApiClient, key: str) -> None:
    body = {
        "phone_numbers": list(MINE[:2]),
        "emergency_enabled": True,
        "emergency_address_id": "a1",
    }
    finished(api, key, accepted(create(api, key, "update_emergency_settings", body)))
    enabled = numbers(api, key, "filter[emergency_address_id]=a1")
    assert set(enabled) == set(MINE[:2])
    assert all(
        n["emergency_enabled"] and n["emergency_status"] == "active" for n in enabled.values()
    )
    body = {"phone_numbers": [MINE[0]], "emergency_enabled": False, "emergency_address_id": None}
    finished(api, key, accepted(create(api, key, "update_emergency_settings", body)))
    assert set(numbers(api, key, "filter[emergency_address_id]=a1")) == {MINE[1]}


@pytest.mark.parametrize(
    "body",
    [
        {"emergency_enabled": True},
        {"emergency_enabled": True, "emergency_address_id": None},
        {"emergency_enabled": False, "emergency_address_id": "a1"},
        {"emergency_enabled": True, "emergency_address_id": ""},
    ],
)
def test_an_emergency_job_needs_an_address_exactly_when_enabling(
    api: ApiClient, key: str, body: dict[str, Any]
) -> None:
    response = create(api, key, "update_emergency_settings", {**body, "phone_numbers": ["1001"]})
    assert pointers(response) == ["/emergency_address_id"]


def test_the_list_shows_a_jobs_changes_on_both_query_paths(
    database_url: str, database: Database, key: str, index_mode: IndexMode
) -> None:
    with started(database_url, index_mode=index_mode) as client:
        assert set(numbers(client, key, "filter[tag]=old")) == set(MINE)  # warm caches, index
        body = {"phone_numbers": [MINE[0]], "tags": ["moved"]}
        finished(client, key, accepted(create(client, key, "update_phone_numbers", body)))
        assert set(numbers(client, key, "filter[tag]=old")) == set(MINE[1:])
        assert set(numbers(client, key, "filter[tag]=moved")) == {MINE[0]}


def test_a_running_job_shows_its_progress(database_url: str, database: Database, key: str) -> None:
    with started(database_url, faults=frozenset({"slow_jobs"})) as client:
        job = accepted(create(client, key, "delete_phone_numbers", {"phone_numbers": list(MINE)}))
        deadline = time.monotonic() + 10
        while True:
            current = client.get(f"{JOBS}/{job['id']}", key).json()["data"]
            if current["successful_operations"]:
                break
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert current["status"] == "in_progress"
        assert current["pending_operations"]
        assert current["etc"] > current["updated_at"]


# Reading jobs -------------------------------------------------------------------------------------


def test_a_job_of_another_account_is_404(api: ApiClient, keys: tuple[str, str]) -> None:
    mine, theirs = keys
    job = accepted(create(api, mine, "delete_phone_numbers", {"phone_numbers": [MINE[0]]}))
    response = api.get(f"{JOBS}/{job['id']}", theirs)
    assert response.status_code == 404
    assert [e["code"] for e in response.json()["errors"]] == ["10005"]
    assert api.get(f"{JOBS}/{job['id'].upper()}", mine).status_code == 200


@pytest.mark.parametrize("job_id", ["abc", "1001", "42587e44-3a3e-46de-9255-0c9a7a1d1ec"])
def test_a_malformed_job_id_is_400(api: ApiClient, key: str, job_id: str) -> None:
    response = api.get(f"{JOBS}/{job_id}", key)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"parameter": "id"}


def make_jobs(api: ApiClient, key: str) -> list[dict[str, Any]]:
    """Three jobs, one of each type, in the order made."""
    bodies = [
        ("delete_phone_numbers", {"phone_numbers": ["3001"]}),
        ("update_phone_numbers", {"phone_numbers": ["3001"], "tags": ["x"]}),
        ("update_emergency_settings", {"phone_numbers": ["3001"], "emergency_enabled": False}),
    ]
    made = []
    for kind, body in bodies:
        made.append(accepted(create(api, key, kind, body)))
        time.sleep(0.002)  # distinct created_at, so that the expected order is plain
    return made


def test_the_list_of_jobs_is_newest_first(api: ApiClient, keys: tuple[str, str]) -> None:
    mine, theirs = keys
    made = make_jobs(api, mine)
    make_jobs(api, theirs)
    listed = api.get(JOBS, mine).json()
    assert [job["id"] for job in listed["data"]] == [job["id"] for job in reversed(made)]
    assert listed["meta"] == {
        "page_number": 1,
        "page_size": 20,
        "total_pages": 1,
        "total_results": 3,
    }


def test_sort_created_at_lists_jobs_oldest_first(api: ApiClient, key: str) -> None:
    made = make_jobs(api, key)
    listed = api.get(JOBS, key, "sort=created_at").json()["data"]
    assert [job["id"] for job in listed] == [job["id"] for job in made]


def test_filter_type_lists_the_jobs_of_that_type(api: ApiClient, key: str) -> None:
    made = make_jobs(api, key)
    listed = api.get(JOBS, key, "filter[type]=update_phone_numbers").json()
    assert [job["id"] for job in listed["data"]] == [made[1]["id"]]
    assert listed["meta"]["total_results"] == 1


def test_jobs_come_in_pages(api: ApiClient, key: str) -> None:
    made = make_jobs(api, key)
    page = api.get(JOBS, key, "page[size]=2&page[number]=2&sort=created_at").json()
    assert [job["id"] for job in page["data"]] == [made[2]["id"]]
    assert page["meta"] == {"page_number": 2, "page_size": 2, "total_pages": 2, "total_results": 3}


def test_a_page_beyond_the_last_is_empty_even_past_64_bit_offsets(api: ApiClient, key: str) -> None:
    make_jobs(api, key)
    page = api.get(JOBS, key, "page[number]=9223372036854775806").json()
    assert page["data"] == []
    assert page["meta"]["total_results"] == 3


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("filter[type]=nope", "filter[type]"),
        ("filter[status]=pending", "filter[status]"),
        ("sort=-created_at", "sort"),
        ("page[size]=251", "page[size]"),
        ("page[number]=0", "page[number]"),
    ],
)
def test_an_invalid_list_parameter_is_400_naming_it(
    api: ApiClient, key: str, query: str, parameter: str
) -> None:
    response = api.get(JOBS, key, query)
    assert response.status_code == 400
    assert [e["source"]["parameter"] for e in response.json()["errors"]] == [parameter]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", JOBS),
        ("POST", f"{JOBS}/delete_phone_numbers"),
        ("POST", f"{JOBS}/update_phone_numbers"),
        ("POST", f"{JOBS}/update_emergency_settings"),
        ("GET", f"{JOBS}/42587e44-3a3e-46de-9255-0c9a7a1d1ec7"),
    ],
)
def test_authentication_comes_first(api: ApiClient, key: str, method: str, path: str) -> None:
    assert api.request(method, path, "wrong-key", json={}).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", JOBS, "GET"),
        ("GET", f"{JOBS}/delete_phone_numbers", "POST"),
        ("DELETE", f"{JOBS}/42587e44-3a3e-46de-9255-0c9a7a1d1ec7", "GET"),
    ],
)
def test_another_method_is_405(
    api: ApiClient, key: str, method: str, path: str, allowed: str
) -> None:
    response = api.request(method, path, key, json={})
    assert response.status_code == 405
    assert response.headers["allow"] == allowed


# Runners sharing one database ---------------------------------------------------------------------


def make_job(database: Database, key_account: str, count: int, inventory: Inventory) -> str:
    """A pending job that updates `count` new numbers of the account; its id."""
    records = [number_record() for _ in range(count)]
    inventory.load(key_account, records)
    with database.transaction() as connection:
        account = account_id(connection, key_account)
        targets = [Target(r["phone_number"], phone_number=r["phone_number"]) for r in records]
        job = create_job(
            connection,
            account,
            "update_phone_numbers",
            parameters={"customer_reference": "done"},
            targets=targets,
            now_ms=int(time.time() * 1000),
        )
    return job.id


def version(database: Database, name: str) -> int:
    connection = database.connection()
    return data_version(connection, account_id(connection, name))


def test_runners_sharing_a_database_do_each_number_once(
    database_url: str, database: Database, inventory: Inventory, key: str
) -> None:
    made = {make_job(database, "mine", 10, inventory) for _ in range(4)}
    before = version(database, "mine")
    workers = [Database(database_url) for _ in range(3)]

    def work(runner: JobRunner) -> None:
        while runner.run_next():
            pass

    threads = [threading.Thread(target=work, args=(JobRunner(db),)) for db in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for db in workers:
        db.close()
    # Each number's change moves the data version on once: 40 changes, none done twice.
    assert version(database, "mine") == before + 40
    listed = make_client(database_url).get(JOBS, key).json()["data"]
    assert {job["id"] for job in listed} == made
    for job in listed:
        assert job["status"] == "completed"
        assert len(job["successful_operations"]) == 10


def test_a_job_whose_lease_ran_out_is_taken_over_and_its_first_runner_cannot_go_on(
    database_url: str, database: Database, inventory: Inventory, key: str
) -> None:
    job_id = make_job(database, "mine", 3, inventory)
    before = version(database, "mine")
    lost = JobRunner(database)
    now = int(time.time() * 1000)
    with database.transaction() as connection:
        assert claim_job(connection, lost.name, now, lease_ms=-1) is not None  # run out at once
    other = Database(database_url)
    try:
        assert JobRunner(other).run_next()
    finally:
        other.close()
    with database.transaction() as connection:
        assert not renew_claim(connection, job_id, lost.name, now, lost.lease_ms)
    assert version(database, "mine") == before + 3
    job = make_client(database_url).get(f"{JOBS}/{job_id}", key).json()["data"]
    assert job["status"] == "completed"


def test_a_backlog_of_one_account_does_not_delay_another_accounts_job(
    database: Database, inventory: Inventory, key: str
) -> None:
    inventory.account("patient")
    backlog = [make_job(database, "mine", 1, inventory) for _ in range(3)]
    time.sleep(0.002)
    waiting = make_job(database, "patient", 1, inventory)
    now = int(time.time() * 1000)
    claimed = []
    for _ in range(2):
        with database.transaction() as connection:
            job = claim_job(connection, "runner", now, lease_ms=60_000)
            assert job is not None
            claimed.append(job.id)
    assert claimed == [backlog[0], waiting]


# Faults: an operation that fails --------------------------------------------------------------


LOST = psycopg.OperationalError("server closed the connection unexpectedly")


class Flaky:
    """A job type's action that, call after call, raises the next of `errors` (None: does what
    the real action does), then does what the real action does."""

    def __init__(self, action: Action, errors: list[Exception | None]) -> None:
        self.action = action
        self.errors = errors
        self.calls = 0

    def __call__(
        self, connection: Connection, job: ClaimedJob, number_id: int, now: int
    ) -> PhoneNumber | None:
        self.calls += 1
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        return self.action(connection, job, number_id, now)


MakeFlaky = Callable[[list[Exception | None]], Flaky]


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> MakeFlaky:
    """Makes update jobs' action fail as given."""

    def install(errors: list[Exception | None]) -> Flaky:
        action = Flaky(ACTIONS["update_phone_numbers"], errors)
        monkeypatch.setitem(ACTIONS, "update_phone_numbers", action)
        return action

    return install


def run_job(runner: JobRunner, database: Database, job_id: str) -> None:
    """Runs the runner until the job is completed or failed (retries wait milliseconds)."""
    deadline = time.monotonic() + 20
    while job_status(database, job_id) in ("pending", "in_progress"):
        assert time.monotonic() < deadline, "the job did not end"
        if not runner.run_next():
            time.sleep(0.005)


def job_status(database: Database, job_id: str) -> str:
    (status,) = (
        database.connection()
        .execute("SELECT status FROM phone_number_jobs WHERE id = ?", (job_id,))
        .fetchone()
    )
    return str(status)


@pytest.fixture
def idle(database_url: str, database: Database) -> ApiClient:
    """The app with its runners stopped: the test's own runners do the jobs."""
    return make_client(database_url, runners=False)


def shown(client: ApiClient, key: str, job_id: str) -> dict[str, Any]:
    """The job as the API shows it."""
    response = client.get(f"{JOBS}/{job_id}", key)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()["data"]
    return job


def quick(database: Database, **options: Any) -> JobRunner:
    """A runner whose retries wait milliseconds."""
    return JobRunner(database, retry_seconds=0.001, **options)


def test_an_operation_failing_transiently_is_tried_again_and_each_number_done_once(
    idle: ApiClient, database: Database, inventory: Inventory, key: str, flaky: MakeFlaky
) -> None:
    job_id = make_job(database, "mine", 3, inventory)
    before = version(database, "mine")
    action = flaky([LOST, LOST])
    run_job(quick(database), database, job_id)
    assert version(database, "mine") == before + 3
    job = shown(idle, key, job_id)
    assert (job["status"], len(job["successful_operations"]), job["failed_operations"]) == (
        "completed",
        3,
        [],
    )
    assert action.calls == 5


def test_an_operation_failing_transiently_past_its_tries_fails_the_job_saying_why(
    idle: ApiClient, database: Database, inventory: Inventory, key: str, flaky: MakeFlaky
) -> None:
    job_id = make_job(database, "mine", 3, inventory)
    before = version(database, "mine")
    action = flaky([LOST] * 10)
    run_job(quick(database), database, job_id)
    job = shown(idle, key, job_id)
    assert job["status"] == "failed"
    assert (job["pending_operations"], job["successful_operations"]) == ([], [])
    first, *rest = job["failed_operations"]
    [error] = first["errors"]
    assert (error["code"], error["title"]) == ("10007", "Unexpected error")
    assert "the database could not be reached on each of its 5 tries" in error["detail"]
    assert len(rest) == 2
    assert {e["title"] for op in rest for e in op["errors"]} == {"Job stopped"}
    assert action.calls == 5
    assert version(database, "mine") == before


def test_an_unexpected_error_fails_the_job_at_once_keeping_the_numbers_done_before(
    idle: ApiClient, database: Database, inventory: Inventory, key: str, flaky: MakeFlaky
) -> None:
    job_id = make_job(database, "mine", 3, inventory)
    before = version(database, "mine")
    action = flaky([None, KeyError("a defect")])
    run_job(quick(database), database, job_id)
    job = shown(idle, key, job_id)
    assert job["status"] == "failed"
    assert len(job["successful_operations"]) == 1
    stopped, untouched = job["failed_operations"]
    assert "an unexpected error (KeyError" in stopped["errors"][0]["detail"]
    assert stopped["phone_number"] in untouched["errors"][0]["detail"]
    assert action.calls == 2
    assert version(database, "mine") == before + 1


def test_an_operation_tried_again_waits_before_any_runner_takes_its_job(
    idle: ApiClient, database: Database, inventory: Inventory, key: str, flaky: MakeFlaky
) -> None:
    job_id = make_job(database, "mine", 3, inventory)
    flaky([LOST])
    assert JobRunner(database, retry_seconds=60).run_next()
    job = shown(idle, key, job_id)
    assert (job["status"], len(job["pending_operations"])) == ("in_progress", 3)
    now = int(time.time() * 1000)
    with database.transaction() as connection:
        assert claim_job(connection, "other", now, lease_ms=60_000) is None
        claimed = claim_job(connection, "other", now + 61_000, lease_ms=60_000)
    assert claimed is not None
    assert claimed.id == job_id


def test_the_tries_of_an_operation_are_counted_across_runners(
    database_url: str,
    database: Database,
    inventory: Inventory,
    key: str,
    flaky: MakeFlaky,
) -> None:
    job_id = make_job(database, "mine", 1, inventory)
    action = flaky([LOST] * 10)
    assert quick(database).run_next()  # one try here, the rest on another worker
    other = Database(database_url)
    try:
        run_job(quick(other), database, job_id)
    finally:
        other.close()
    assert action.calls == 5
    assert job_status(database, job_id) == "failed"


def test_a_runner_takes_up_again_the_job_it_could_not_let_go(
    idle: ApiClient, database: Database, inventory: Inventory, key: str
) -> None:
    job_id = make_job(database, "mine", 2, inventory)
    runner = JobRunner(database)
    with database.transaction() as connection:  # as a runner whose letting go failed leaves it
        claim_job(connection, runner.name, int(time.time() * 1000), lease_ms=60_000)
    assert runner.run_next()
    assert shown(idle, key, job_id)["status"] == "completed"


def test_a_job_ending_counts_its_outcome(
    database: Database, inventory: Inventory, key: str, flaky: MakeFlaky
) -> None:
    def ended(outcome: str) -> float:
        return REGISTRY.get_sample_value("numbers_api_jobs_total", {"outcome": outcome}) or 0

    before = ended("successful"), ended("failed")
    run_job(quick(database), database, make_job(database, "mine", 1, inventory))
    flaky([KeyError("a defect")])
    run_job(quick(database), database, make_job(database, "mine", 1, inventory))
    assert (ended("successful"), ended("failed")) == (before[0] + 1, before[1] + 1)
