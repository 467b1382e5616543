"""The background runner of bulk jobs: a thread in each server worker that claims a job, does its
numbers one transaction each, and lets go of it when the worker stops.

Any number of runners, in any number of processes and hosts, may share one database: a job is
claimed by one of them at a time (see store/jobs.py), and each number's change commits together
with its recorded outcome, so a number is never done twice, even when a job changes hands.

A number's operation that fails on a transient database error is tried again later (the job let
go until then, for any runner to take up), at most `MAX_ATTEMPTS` times in all, counted in the
database; one that still fails, or that meets any other error (a defect), stops the job: it ends
`failed`, with that number and every number not yet done among its failed operations, each
saying why (docs/api.md, "Bulk jobs").
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Unpack

from numbers_api.background import (
    BackgroundRunner,
    RunnerOptions,
    defect,
    describe,
    failure_cause,
)
from numbers_api.domain import PhoneNumber
from numbers_api.metrics import JOBS
from numbers_api.store.database import Connection, Database
from numbers_api.store.emergency import set_emergency
from numbers_api.store.jobs import (
    COMPLETED,
    ClaimedJob,
    Failure,
    Operation,
    claim_job,
    finish_job,
    not_found,
    operations_to_do,
    record_attempt,
    record_outcome,
    release_job,
    renew_claim,
    stop_job,
)
from numbers_api.store.phone_number import (
    DeletionLocked,
    MissingAssociation,
    delete_number,
    update_number,
)
from numbers_api.store.voice_settings import CnamListingWithoutDetails, update_voice_settings

log = logging.getLogger("numbers_api.jobs")

# A runner that stops without letting go (its process killed) holds its job for its lease (30 s,
# or NUMBERS_API_LEASE_SECONDS) after its last transaction; every number's transaction renews it.
# An idle runner looks for jobs made by other workers every second; jobs made by its own worker
# wake it at once (background.py).
# The wait before each number with the `slow_jobs` fault: long enough to watch a job progress.
SLOW_JOB_SECONDS = 0.25

# One number's change, by job type: the number after it, or None if the account has no such
# number. Raises one of REFUSALS for a change that cannot be made.
Action = Callable[[Connection, ClaimedJob, int, int], PhoneNumber | None]
REFUSALS = (DeletionLocked, MissingAssociation, CnamListingWithoutDetails)


def _update(
    connection: Connection, job: ClaimedJob, number_id: int, now: int
) -> PhoneNumber | None:
    """An update job's fields, and its voice settings (kept apart, as column -> value, under
    `voice`), set on one number."""
    fields = {name: value for name, value in job.parameters.items() if name != "voice"}
    voice = job.parameters.get("voice")
    if voice:
        number = update_voice_settings(connection, job.account_id, number_id, voice, now)
        if number is None or not fields:
            return number
    return update_number(connection, job.account_id, number_id, fields, now)


ACTIONS: dict[str, Action] = {
    "delete_phone_numbers": lambda connection, job, number_id, now: delete_number(
        connection, job.account_id, number_id, now
    ),
    "update_phone_numbers": _update,
    "update_emergency_settings": lambda connection, job, number_id, now: set_emergency(
        connection,
        job.account_id,
        number_id,
        emergency_enabled=job.parameters["emergency_enabled"],
        emergency_address_id=job.parameters.get("emergency_address_id"),
        now_ms=now,
    ),
}


class JobRunner(BackgroundRunner):
    """`delay_seconds`: a wait before each number (NUMBERS_API_FAULTS=slow_jobs). The other
    options are every runner's (`BackgroundRunner`)."""

    thread_name = "numbers-api-jobs"
    kind = "job"

    def __init__(
        self, database: Database, *, delay_seconds: float = 0.0, **options: Unpack[RunnerOptions]
    ) -> None:
        super().__init__(database, **options)
        self.delay_seconds = delay_seconds
        # Unique among every runner sharing the database, and says where it runs.
        self.name = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"

    def run_next(self) -> bool:
        """Claim a job and run it until it is done, lost or the runner stops; False if there was
        no job to claim."""
        with self.database.transaction() as connection:
            job = claim_job(connection, self.name, _now_ms(), self.lease_ms)
        if job is None:
            return False
        log.info("job %s (%s) claimed by %s", job.id, job.type, self.name)
        for operation in operations_to_do(self.database.connection(), job.id):
            if self.pause(self.delay_seconds):
                with self.database.transaction() as connection:
                    release_job(connection, job.id, self.name)
                log.info("job %s let go by %s, which is stopping", job.id, self.name)
                return True
            try:
                held = self._run_operation(job, operation)
            except Exception as error:  # nothing of this number's change was kept
                self._operation_failed(job, operation, error)
                return True
            if not held:
                log.warning("job %s was taken over from %s", job.id, self.name)
                return True
        with self.database.transaction() as connection:
            status = finish_job(connection, job.id, self.name, _now_ms())
        if status is not None:
            JOBS.labels(outcome="successful" if status == COMPLETED else "failed").inc()
            log.info("job %s %s by %s", job.id, status, self.name)
        return True

    def _operation_failed(self, job: ClaimedJob, operation: Operation, error: Exception) -> None:
        """A transient error: the operation is tried again later, by any runner, unless it has
        had all its tries; then, or for any other error, the job stops, failed. If the database
        cannot take even this, the error goes up to the runner's loop, which backs off; the job
        stays this runner's, which takes it up again once the database is back."""
        now = _now_ms()
        number = operation.phone_number or operation.target
        with self.database.transaction() as connection:
            if not renew_claim(connection, job.id, self.name, now, self.lease_ms):
                log.warning("job %s was taken over from %s", job.id, self.name)
                return
            attempts = record_attempt(connection, job.id, operation.position)
            wait = self.retry_wait(error, attempts)
            failure = _failure(error, number, attempts)
            if wait is not None:
                release_job(connection, job.id, self.name, until_ms=now + round(wait * 1000))
            else:
                stop_job(
                    connection,
                    job.id,
                    self.name,
                    position=operation.position,
                    failure=failure,
                    not_done=_not_done(number),
                    now_ms=now,
                )
        if wait is not None:
            self.counted_retry(error)
            log.warning(
                "job %s: number %s failed (%s), try %d of %d; trying again in %.1f s",
                job.id,
                number,
                describe(error),
                attempts,
                self.max_attempts,
                wait,
            )
            return
        JOBS.labels(outcome="failed").inc()
        log.error("job %s failed: %s", job.id, failure.detail, exc_info=defect(error))

    def _run_operation(self, job: ClaimedJob, operation: Operation) -> bool:
        """One number's change and its outcome, in one transaction; False if the runner no longer
        holds the job (nothing is done then)."""
        assert operation.phone_number_id is not None  # unknown numbers failed at creation
        now = _now_ms()
        with self.database.transaction() as connection:
            if not renew_claim(connection, job.id, self.name, now, self.lease_ms):
                return False
            # A change that cannot be made may have written part of itself (a deletion touches
            # the row before it sees the lock): the savepoint undoes that part.
            connection.execute("SAVEPOINT job_operation")
            try:
                number = ACTIONS[job.type](connection, job, operation.phone_number_id, now)
                failure = None if number is not None else not_found(operation.target)
            except REFUSALS as refused:
                connection.execute("ROLLBACK TO SAVEPOINT job_operation")
                failure = _refusal(refused, operation)
            connection.execute("RELEASE SAVEPOINT job_operation")
            record_outcome(connection, job.id, operation.position, failure)
        return True


def _failure(error: Exception, number: str, attempts: int) -> Failure:
    """Why the job stopped at this number, as its failed operation shows it."""
    return Failure(
        "10007",
        "Unexpected error",
        f"Phone number {number} was not changed: {failure_cause(error, attempts)}. "
        "The job stopped here.",
    )


def _not_done(number: str) -> Failure:
    """What each number the job had not come to yet shows once it stopped."""
    return Failure(
        "10007",
        "Job stopped",
        f"The job stopped at phone number {number} (see its error) before it came to this "
        "number, which was not changed.",
    )


def _refusal(
    refused: DeletionLocked | MissingAssociation | CnamListingWithoutDetails, operation: Operation
) -> Failure:
    number = operation.phone_number or operation.target
    if isinstance(refused, DeletionLocked):
        return Failure(
            "10015",
            "Deletion lock enabled",
            f"Phone number {number} has deletion lock enabled, so it was not deleted.",
        )
    if isinstance(refused, CnamListingWithoutDetails):
        return Failure(
            "10015",
            "CNAM listing without details",
            f"Phone number {number} has no cnam_listing_details, which cnam_listing_enabled "
            "needs, so it was not updated.",
        )
    return Failure("10013", "Missing association", str(refused))


def _now_ms() -> int:
    return int(time.time() * 1000)
