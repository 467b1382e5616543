"""Bulk jobs over an account's numbers, kept in the database so that any worker on any host can
run them.

A job has one operation per number, in the order given. An operation's outcome is written in the
same transaction as the change it records, so a job that stopped half-way (its server stopped,
or its runner lost the job) is finished later without doing or losing any number. A runner holds
a job through a lease that each of its transactions renews; a job whose lease ran out is taken
over by the next runner that looks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from numbers_api.query.conditions import Condition, Field, OneOf, SortKey
from numbers_api.query.job_query import JobListQuery
from numbers_api.store.accounts import lock_account
from numbers_api.store.database import NUMBER_TABLES, Connection, in_chunks
from numbers_api.store.pages import account_page

PENDING = "pending"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
FAILED = "failed"
SUCCESSFUL = "successful"  # an operation's outcome; the other is FAILED
COLUMNS = {Field.CREATED_AT: "created_at", Field.ID: "id", Field.JOB_TYPE: "type"}
JOB_COLUMNS = "id, type, status, parameters, targets, created_at, updated_at, finished_at"
# Job ids are bound in chunks of this many (well below either engine's limit on parameters).
CHUNK = 500


@dataclass(frozen=True, slots=True)
class Target:
    """A number as the job's creator named it: by id or by E.164 number (exactly one is set)."""

    given: str
    id: int | None = None
    phone_number: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one number's operation failed, as an error object's code, title and detail."""

    code: str
    title: str
    detail: str


@dataclass(frozen=True, slots=True)
class Operation:
    position: int
    target: str
    phone_number_id: int | None  # None: the account has no such number
    phone_number: str | None
    outcome: str | None  # None: still to do
    errors: tuple[Failure, ...]


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    type: str
    status: str
    parameters: dict[str, Any]
    targets: list[str]
    created_at: int
    updated_at: int
    finished_at: int | None
    operations: list[Operation]


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job a runner holds: what it needs to do each number."""

    id: str
    account_id: int
    type: str
    parameters: dict[str, Any]


def _errors(failure: Failure) -> str:
    """An operation's `errors` as stored: a JSON array of one error object."""
    return orjson.dumps([asdict(failure)]).decode()


def not_found(target: str) -> Failure:
    return Failure("10005", "Resource not found", f"There is no phone number {target}.")


def open_jobs(connection: Connection, account_id: int, job_type: str) -> int:
    """How many of the account's jobs of this type are pending or in progress, the account
    locked first (`lock_account`)."""
    lock_account(connection, account_id)
    row = connection.execute(
        "SELECT count(*) FROM phone_number_jobs WHERE account_id = ? AND type = ? "
        "AND status IN (?, ?)",
        (account_id, job_type, PENDING, IN_PROGRESS),
    ).fetchone()
    return int(row[0])


def create_job(
    connection: Connection,
    account_id: int,
    job_type: str,
    *,
    parameters: Mapping[str, Any],
    targets: Sequence[Target],
    now_ms: int,
) -> Job:
    """A pending job, one operation per number named (a number named twice, by id and by number,
    is one operation). A target the account has no number for is failed at once: another
    account's numbers are never looked at again."""
    job_id = str(uuid.uuid4())
    connection.execute(
        f"INSERT INTO phone_number_jobs ({JOB_COLUMNS}, account_id) VALUES (?, ?, ?, ?, ?, ?, ?, "
        "NULL, ?)",
        (
            job_id,
            job_type,
            PENDING,
            orjson.dumps(parameters).decode(),
            orjson.dumps([target.given for target in targets]).decode(),
            now_ms,
            now_ms,
            account_id,
        ),
    )
    found = _numbers_named(connection, account_id, targets)
    rows: list[tuple[object, ...]] = []
    seen: set[int] = set()
    for position, target in enumerate(targets):
        number = found.get(target.given)
        if number is None:
            errors = _errors(not_found(target.given))
            rows.append((job_id, position, target.given, None, None, FAILED, errors))
        elif number[0] not in seen:
            seen.add(number[0])
            rows.append((job_id, position, target.given, *number, None, None))
    connection.copy_rows(
        "phone_number_job_operations",
        ("job_id", "position", "target", "phone_number_id", "phone_number", "outcome", "errors"),
        rows,
    )
    job = find_job(connection, account_id, job_id)
    assert job is not None
    return job


def _numbers_named(
    connection: Connection, account_id: int, targets: Sequence[Target]
) -> dict[str, tuple[int, str]]:
    """The account's numbers the targets name: (id, E.164 number) by the name given."""
    found: dict[str, tuple[int, str]] = {}
    for column, attribute in (("id", "id"), ("phone_number", "phone_number")):
        names = {getattr(t, attribute): t.given for t in targets if getattr(t, attribute)}
        for chunk in in_chunks(list(names), CHUNK):
            rows = connection.execute(
                f"SELECT id, phone_number FROM phone_numbers WHERE account_id = ? "
                f"AND {column} IN ({', '.join('?' * len(chunk))})",
                [account_id, *chunk],
            )
            for number_id, number in rows:
                found[names[number_id if column == "id" else number]] = (number_id, number)
    return found


def find_job(connection: Connection, account_id: int, job_id: str) -> Job | None:
    row = connection.execute(
        f"SELECT {JOB_COLUMNS} FROM phone_number_jobs WHERE id = ? AND account_id = ?",
        (job_id, account_id),
    ).fetchone()
    return None if row is None else _with_operations(connection, [row])[0]


def list_jobs(
    connection: Connection, account_id: int, query: JobListQuery
) -> tuple[int, list[Job]]:
    """The exact number of the account's jobs that match, and the query's page of them."""
    total, rows = account_page(
        connection,
        table="phone_number_jobs",
        columns=JOB_COLUMNS,
        account_id=account_id,
        clauses=[_condition(condition) for condition in query.conditions],
        order_by=_order_by(query.order),
        page=query.page,
    )
    return total, _with_operations(connection, rows)


def _condition(condition: Condition) -> tuple[str, Sequence[object]]:
    if isinstance(condition, OneOf):
        placeholders = ", ".join("?" * len(condition.values))
        return f"{COLUMNS[condition.field]} IN ({placeholders})", condition.values
    raise AssertionError(f"jobs have no condition {condition!r}")


def _order_by(keys: Sequence[SortKey]) -> str:
    return ", ".join(f"{COLUMNS[k.field]}{' DESC' if k.descending else ''}" for k in keys)


def _with_operations(connection: Connection, rows: Sequence[Sequence[Any]]) -> list[Job]:
    operations: dict[str, list[Operation]] = {row[0]: [] for row in rows}
    for chunk in in_chunks(list(operations), CHUNK):
        for job_id, *values in connection.execute(
            "SELECT job_id, position, target, phone_number_id, phone_number, outcome, errors "
            f"FROM phone_number_job_operations WHERE job_id IN ({', '.join('?' * len(chunk))}) "
            "ORDER BY job_id, position",
            chunk,
        ):
            operations[job_id].append(_operation(values))
    return [
        Job(
            id=job_id,
            type=job_type,
            status=status,
            parameters=orjson.loads(parameters),
            targets=orjson.loads(targets),
            created_at=created_at,
            updated_at=updated_at,
            finished_at=finished_at,
            operations=operations[job_id],
        )
        for job_id, job_type, status, parameters, targets, created_at, updated_at, finished_at in (
            rows
        )
    ]


def _operation(values: Sequence[Any]) -> Operation:
    position, target, number_id, number, outcome, errors = values
    failures = tuple(Failure(**e) for e in orjson.loads(errors)) if errors else ()
    return Operation(int(position), target, number_id, number, outcome, failures)


# Running jobs -------------------------------------------------------------------------------------


def claim_job(connection: Connection, runner: str, now_ms: int, lease_ms: int) -> ClaimedJob | None:
    """The oldest job that is pending, or in progress with its lease run out (or held by this
    very runner, which could not let go of it: the database failed), of the account
    whose jobs were claimed longest ago (so that one account's backlog delays no other's), now
    held by `runner`; None if there is none. One statement, so two runners never hold the same
    job: on PostgreSQL the row is locked and a job another runner is claiming is passed over; a
    claim that lost a race finds the job no longer claimable and claims nothing."""
    claimable = "(status = ? OR (status = ? AND (lease_expires_at < ? OR claimed_by = ?)))"
    row = connection.execute(
        "UPDATE phone_number_jobs SET status = ?, claimed_by = ?, lease_expires_at = ?, "
        f"updated_at = ? WHERE {claimable} AND id = (SELECT j.id FROM phone_number_jobs j "
        f"WHERE {claimable} ORDER BY coalesce((SELECT a.job_claimed_at FROM accounts a "
        "WHERE a.id = j.account_id), 0), j.created_at, j.id "
        f"LIMIT 1{connection.dialect.skip_locked}) "
        "RETURNING id, account_id, type, parameters",
        (
            IN_PROGRESS,
            runner,
            now_ms + lease_ms,
            now_ms,
            *(PENDING, IN_PROGRESS, now_ms, runner) * 2,
        ),
    ).fetchone()
    if row is None:
        return None
    job_id, account_id, job_type, parameters = row
    connection.execute("UPDATE accounts SET job_claimed_at = ? WHERE id = ?", (now_ms, account_id))
    return ClaimedJob(job_id, int(account_id), job_type, orjson.loads(parameters))


def operations_to_do(connection: Connection, job_id: str) -> list[Operation]:
    rows = connection.execute(
        "SELECT position, target, phone_number_id, phone_number, outcome, errors "
        "FROM phone_number_job_operations WHERE job_id = ? AND outcome IS NULL ORDER BY position",
        (job_id,),
    ).fetchall()
    return [_operation(row) for row in rows]


def renew_claim(
    connection: Connection, job_id: str, runner: str, now_ms: int, lease_ms: int
) -> bool:
    """True if `runner` still holds the job, now for another lease; on PostgreSQL the job's row
    stays locked until the transaction ends, so no other runner can take it over meanwhile."""
    renewed = connection.execute(
        "UPDATE phone_number_jobs SET lease_expires_at = ?, updated_at = ? "
        "WHERE id = ? AND claimed_by = ? AND status = ?",
        (now_ms + lease_ms, now_ms, job_id, runner, IN_PROGRESS),
    ).rowcount
    return bool(renewed)


def record_outcome(
    connection: Connection, job_id: str, position: int, failure: Failure | None
) -> None:
    outcome, errors = (SUCCESSFUL, None) if failure is None else (FAILED, _errors(failure))
    recorded = connection.execute(
        "UPDATE phone_number_job_operations SET outcome = ?, errors = ? "
        "WHERE job_id = ? AND position = ? AND outcome IS NULL",
        (outcome, errors, job_id, position),
    ).rowcount
    if not recorded:  # the caller's transaction must not keep a change made twice
        raise AssertionError(f"operation {position} of job {job_id} was already done")


def finish_job(connection: Connection, job_id: str, runner: str, now_ms: int) -> str | None:
    """Completed, or failed if no number's operation succeeded; only by the runner holding it,
    once nothing is left to do. The job's new status; None if it was not the runner's to end."""
    row = connection.execute(
        "UPDATE phone_number_jobs SET status = CASE WHEN EXISTS (SELECT 1 FROM "
        "phone_number_job_operations WHERE job_id = ? AND outcome = ?) THEN ? ELSE ? END, "
        "finished_at = ?, updated_at = ?, claimed_by = NULL, lease_expires_at = NULL "
        "WHERE id = ? AND claimed_by = ? AND NOT EXISTS (SELECT 1 FROM "
        "phone_number_job_operations WHERE job_id = ? AND outcome IS NULL) RETURNING status",
        (job_id, SUCCESSFUL, COMPLETED, FAILED, now_ms, now_ms, job_id, runner, job_id),
    ).fetchone()
    _after_job(connection, job_id)
    return None if row is None else str(row[0])


def _after_job(connection: Connection, job_id: str) -> None:
    (changed,) = connection.execute(
        "SELECT count(*) FROM phone_number_job_operations WHERE job_id = ? AND outcome = ?",
        (job_id, SUCCESSFUL),
    ).fetchone()
    connection.after_bulk_write(NUMBER_TABLES, int(changed))


def record_attempt(connection: Connection, job_id: str, position: int) -> int:
    """One more failed try of an operation still to do; how many it has had now."""
    (attempts,) = connection.execute(
        "UPDATE phone_number_job_operations SET attempts = attempts + 1 "
        "WHERE job_id = ? AND position = ? AND outcome IS NULL RETURNING attempts",
        (job_id, position),
    ).fetchone()
    return int(attempts)


def stop_job(
    connection: Connection,
    job_id: str,
    runner: str,
    *,
    position: int,
    failure: Failure,
    not_done: Failure,
    now_ms: int,
) -> bool:
    """The job failed at the operation at `position` (`failure` says why): that operation and
    every other still to do are failed operations (`not_done` for the others; none of them is
    touched), and the job ends `failed`. Only by the runner holding it: False, and nothing
    changed, if it no longer does."""
    stopped = connection.execute(
        "UPDATE phone_number_jobs SET status = ?, finished_at = ?, updated_at = ?, "
        "claimed_by = NULL, lease_expires_at = NULL WHERE id = ? AND claimed_by = ? AND status = ?",
        (FAILED, now_ms, now_ms, job_id, runner, IN_PROGRESS),
    ).rowcount
    if not stopped:
        return False
    connection.execute(
        "UPDATE phone_number_job_operations SET outcome = ?, errors = ? "
        "WHERE job_id = ? AND position = ? AND outcome IS NULL",
        (FAILED, _errors(failure), job_id, position),
    )
    connection.execute(
        "UPDATE phone_number_job_operations SET outcome = ?, errors = ? "
        "WHERE job_id = ? AND outcome IS NULL",
        (FAILED, _errors(not_done), job_id),
    )
    _after_job(connection, job_id)
    return True


def release_job(connection: Connection, job_id: str, runner: str, until_ms: int = 0) -> None:
    """Let go of a job before it is done: its runner is stopping (the next runner takes it), or
    its operation failed and is tried again once `until_ms` has passed, by any runner."""
    connection.execute(
        "UPDATE phone_number_jobs SET claimed_by = NULL, lease_expires_at = ? "
        "WHERE id = ? AND claimed_by = ?",
        (until_ms, job_id, runner),
    )
