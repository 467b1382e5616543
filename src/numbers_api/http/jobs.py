"""Bulk jobs: `POST /v2/phone_numbers/jobs/delete_phone_numbers`, `.../update_phone_numbers` and
`.../update_emergency_settings` answer 202 with the job, which runs in the background;
`GET /v2/phone_numbers/jobs` and `GET /v2/phone_numbers/jobs/{id}` show its progress.

A job names numbers by id or by E.164 number; one the account does not have (another account's
included) is a failed operation of the job, and is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from numbers_api.cache import LruCache
from numbers_api.http.bodies import boolean, checked_body, identifier
from numbers_api.http.errors import bad_request, error_object, error_response
from numbers_api.http.handlers import Asked
from numbers_api.http.phone_number import (
    InvalidBody,
    invalid_fields,
    json_object,
    missing_association_error,
    now_ms,
    parse_id,
    pointer,
    update_changes,
)
from numbers_api.http.voice import VoiceChanges, public_voice, voice_changes
from numbers_api.query.conditions import Condition
from numbers_api.query.errors import InvalidQuery
from numbers_api.query.job_query import parse_job_list_query, parse_update_job_filters
from numbers_api.query.list_query import DEFAULT_ORDER, ListQuery, Page
from numbers_api.serialisation import encode, format_timestamp, pagination_meta
from numbers_api.store.accounts import Caller, current_caller
from numbers_api.store.database import Connection
from numbers_api.store.jobs import (
    FAILED,
    SUCCESSFUL,
    Job,
    Operation,
    Target,
    create_job,
    find_job,
    list_jobs,
    open_jobs,
)
from numbers_api.store.phone_number import missing_association
from numbers_api.store.phone_numbers import list_phone_numbers

MAX_NUMBERS = 1000  # a job's numbers, as given or as selected by filters
# Pending or in-progress jobs an account may have of each type (Telnyx's limits).
OPEN_JOB_LIMITS = {
    "delete_phone_numbers": 20,
    "update_phone_numbers": 20,
    "update_emergency_settings": 500,
}
E164 = re.compile(r"\+[1-9][0-9]{0,14}")
JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# What `etc` assumes a number takes while a job is still running.
ESTIMATED_MS_PER_NUMBER = 20
DELETE_SCHEMA = "PhoneNumbersJobDeletePhoneNumbersRequest"
UPDATE_SCHEMA = "PhoneNumbersJobUpdatePhoneNumbersRequest"
EMERGENCY_SCHEMA = "PhoneNumbersJobUpdateEmergencySettingsRequest"


def delete_job_endpoint(asked: Asked) -> Response:
    try:
        document = checked_body(
            asked.body,
            {"phone_numbers": _phone_numbers_problem},
            schema=DELETE_SCHEMA,
            required=("phone_numbers",),
        )
    except InvalidBody as invalid:
        return invalid.response
    return _create(asked, "delete_phone_numbers", {}, _targets(document))


def emergency_job_endpoint(asked: Asked) -> Response:
    try:
        document = checked_body(
            asked.body,
            {
                "phone_numbers": _phone_numbers_problem,
                "emergency_enabled": boolean,
                "emergency_address_id": lambda value: None if value is None else identifier(value),
            },
            schema=EMERGENCY_SCHEMA,
            required=("emergency_enabled", "phone_numbers"),
        )
    except InvalidBody as invalid:
        return invalid.response
    enabled, address = document["emergency_enabled"], document.get("emergency_address_id")
    if enabled and address is None:
        problem = "emergency_address_id is required when emergency_enabled is true."
    elif not enabled and address is not None:
        problem = "emergency_address_id must be null or left out when emergency_enabled is false."
    else:
        problem = None
    if problem is not None:
        return invalid_fields([("/emergency_address_id", problem)])
    parameters = {"emergency_enabled": enabled, "emergency_address_id": address}
    return _create(asked, "update_emergency_settings", parameters, _targets(document))


def update_job_endpoint(asked: Asked) -> Response:
    """By the numbers given, or by every number (up to MAX_NUMBERS, in the list's default
    order) that the `filter[...]` parameters select."""
    try:
        conditions = parse_update_job_filters(asked.query_string)
    except InvalidQuery as invalid:
        return bad_request(invalid.errors)
    try:
        changes, targets = _parse_update_job(asked.body, filtered=conditions is not None)
    except InvalidBody as invalid:
        return invalid.response
    return _create(asked, "update_phone_numbers", changes, targets, conditions=conditions)


def _parse_update_job(body: bytes, *, filtered: bool) -> tuple[dict[str, Any], list[Target]]:
    """The changes and the numbers named (none when filters select them); raises InvalidBody
    with every mistake in the body."""
    document = json_object(body)
    own: dict[str, Any] = {
        n: document.pop(n)
        for n in ("phone_numbers", "deletion_lock_enabled", "voice")
        if n in document
    }
    changes, problems = update_changes(document, UPDATE_SCHEMA)
    if "deletion_lock_enabled" in own:
        problem = boolean(own["deletion_lock_enabled"])
        if problem is None:
            changes["deletion_lock_enabled"] = own["deletion_lock_enabled"]
        else:
            problems.append(("/deletion_lock_enabled", f"deletion_lock_enabled {problem}."))
    if "voice" in own:
        voice, voice_problems = _voice_changes(own["voice"], changes)
        problems.extend(voice_problems)
        if voice:
            changes["voice"] = voice
    if "phone_numbers" not in own:
        if not filtered:
            problems.append(
                ("/phone_numbers", "phone_numbers is required when no filter is given.")
            )
    else:
        numbers = own["phone_numbers"]
        problem = _phone_numbers_problem(numbers, may_be_empty=filtered)
        if problem is None and numbers and filtered:
            problem = "must be empty or left out when filter parameters select the numbers"
        if problem is not None:
            problems.append(("/phone_numbers", f"phone_numbers {problem}."))
    if not changes and not problems:
        problems.append(("/updateable_fields", "You must provide at least 1 updateable field."))
    if problems:
        raise InvalidBody(invalid_fields(problems))
    return changes, _targets(own)


def _voice_changes(
    value: Any, changes: Mapping[str, Any]
) -> tuple[VoiceChanges, list[tuple[str, str]]]:
    """The voice settings' changes, checked as by `PATCH /v2/phone_numbers/{id}/voice`; a field
    that the body also sets outside `voice` (`connection_id`, `hd_voice_enabled`) is a mistake,
    so that the job never has to pick one of two values."""
    if not isinstance(value, dict):
        return {}, [("/voice", "voice must be an object.")]
    voice, problems = voice_changes(value, prefix="/voice")
    problems.extend(
        (f"/voice{pointer(name)}", f"{name} is given both in voice and outside it; give it once.")
        for name in voice
        if name in changes
    )
    return voice, problems


def _phone_numbers_problem(value: Any, *, may_be_empty: bool = False) -> str | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return "must be an array of strings"
    if not value and not may_be_empty:
        return "must hold at least 1 phone number"
    if len(value) > MAX_NUMBERS:
        return f"holds {len(value)} phone numbers; {MAX_NUMBERS} is the maximum allowed"
    bad = next((i for i, item in enumerate(value) if _target(item) is None), None)
    if bad is not None:
        return (
            f"must hold phone number ids or phone numbers in E.164 format; item {bad} "
            f"({value[bad]!r}) is neither"
        )
    return None


def _target(given: str) -> Target | None:
    if E164.fullmatch(given):
        return Target(given, phone_number=given)
    number_id = parse_id(given)
    return None if number_id is None else Target(given, id=number_id)


def _targets(document: Mapping[str, Any]) -> list[Target]:
    """The numbers named, each once, in the order first given."""
    given: list[str] = document.get("phone_numbers") or []
    return [target for item in dict.fromkeys(given) if (target := _target(item)) is not None]


def _create(
    asked: Asked,
    job_type: str,
    parameters: dict[str, Any],
    targets: list[Target],
    *,
    conditions: tuple[Condition, ...] | None = None,
) -> Response:
    """The job, made pending (202); this worker's runner is woken to take it at once."""
    caller = asked.caller
    with asked.worker.database.transaction() as connection:
        limit = OPEN_JOB_LIMITS[job_type]
        if open_jobs(connection, caller.account_id, job_type) >= limit:
            return invalid_fields(
                [("/base", f"You can have at most {limit} pending or in progress jobs.")]
            )
        # A body gives connection_id in voice or outside it, never both.
        for prefix, changes in (("", parameters), ("/voice", parameters.get("voice", {}))):
            missing = missing_association(connection, caller.account_id, changes)
            if missing is not None:
                return missing_association_error(missing, prefix)
        if conditions is not None:
            targets = _selected(connection, caller, conditions, asked.worker.counts)
            if not targets:
                return invalid_fields(
                    [("/phone_numbers", "No phone number of this account matches the filter.")]
                )
        job = create_job(
            connection,
            caller.account_id,
            job_type,
            parameters=parameters,
            targets=targets,
            now_ms=now_ms(),
        )
    asked.worker.jobs.wake()
    return _job_response(job, 202)


def _selected(
    connection: Connection,
    caller: Caller,
    conditions: tuple[Condition, ...],
    counts: LruCache[int],
) -> list[Target]:
    query = ListQuery(
        conditions=conditions,
        order=DEFAULT_ORDER,
        page=Page(1, MAX_NUMBERS),
        handle_messaging_profile_error=False,
    )
    result = list_phone_numbers(connection, current_caller(connection, caller), query, counts)
    return [Target(str(number.id), id=number.id) for number in result.numbers]


def retrieve_job_endpoint(connection: Connection, asked: Asked) -> Response:
    caller = asked.caller
    raw_id = asked.path()
    job_id = raw_id.lower()
    if JOB_ID.fullmatch(job_id) is None:
        return error_response(
            400,
            [
                error_object(
                    "10006",
                    "Invalid ID",
                    f"{raw_id!r} is not a job id: job ids are UUIDs.",
                    parameter="id",
                )
            ],
        )
    job = find_job(connection, caller.account_id, job_id)
    if job is None:
        return error_response(
            404, [error_object("10005", "Resource not found", f"There is no job {raw_id}.")]
        )
    return _job_response(job, 200)


def list_jobs_endpoint(connection: Connection, asked: Asked) -> Response:
    caller = asked.caller
    try:
        query = parse_job_list_query(asked.query_string)
    except InvalidQuery as invalid:
        return bad_request(invalid.errors)
    total, jobs = list_jobs(connection, caller.account_id, query)
    now = now_ms()
    document = {
        "data": [_phone_numbers_job(job, now) for job in jobs],
        "meta": pagination_meta(query.page.number, query.page.size, total),
    }
    return Response(encode(document), media_type="application/json")


def _job_response(job: Job, status: int) -> Response:
    return Response(
        encode({"data": _phone_numbers_job(job, now_ms())}), status, media_type="application/json"
    )


def _phone_numbers_job(job: Job, now: int) -> dict[str, Any]:
    """A `PhoneNumbersJob`; `parameters` holds what the job does (as the official SDK shows it):
    the changes, and the numbers, those selected by filters as their ids."""
    pending = [_number(op) for op in job.operations if op.outcome is None]
    successful = [_number(op) for op in job.operations if op.outcome == SUCCESSFUL]
    failed = [
        {
            **_number(op),
            "errors": [error_object(e.code, e.title, e.detail) for e in op.errors],
        }
        for op in job.operations
        if op.outcome == FAILED
    ]
    etc = job.finished_at
    if etc is None:
        etc = now + len(pending) * ESTIMATED_MS_PER_NUMBER
    return {
        "id": job.id,
        "record_type": "phone_numbers_job",
        "type": job.type,
        "status": job.status,
        "phone_numbers": [_named(given) for given in job.targets],
        "pending_operations": pending,
        "successful_operations": successful,
        "failed_operations": failed,
        "parameters": _parameters(job),
        "created_at": format_timestamp(job.created_at),
        "updated_at": format_timestamp(job.updated_at),
        "etc": format_timestamp(etc),
    }


def _parameters(job: Job) -> dict[str, Any]:
    parameters = {**job.parameters, "phone_numbers": job.targets}
    if "voice" in parameters:  # kept as columns, shown as the request named them
        parameters["voice"] = public_voice(parameters["voice"])
    return parameters


def _named(given: str) -> dict[str, str]:
    return {"phone_number": given} if given.startswith("+") else {"id": given}


def _number(operation: Operation) -> dict[str, str]:
    if operation.phone_number is None:
        return _named(operation.target)
    return {"id": str(operation.phone_number_id), "phone_number": operation.phone_number}
