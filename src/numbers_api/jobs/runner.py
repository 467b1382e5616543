"""The background runner of bulk jobs: a thread in each server worker that claims a job, does its
numbers one transaction each, and lets go of it when the worker stops.

Any number of runners, in any number of processes and hosts, may share one database: a job is
claimed by one of them at a time (see store/jobs.py), and each number's change commits together
with its recorded outcome, so a number is never done twice, even when a job changes hands.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

from numbers_api.background import BackgroundRunner
from numbers_api.domain import PhoneNumber
from numbers_api.store.database import Connection, Database
from numbers_api.store.emergency import set_emergency
from numbers_api.store.jobs import (
    ClaimedJob,
    Failure,
    Operation,
    claim_job,
    finish_job,
    not_found,
    operations_to_do,
    record_outcome,
    release_job,
    renew_claim,
)
from numbers_api.store.phone_number import (
    DeletionLocked,
    MissingAssociation,
    delete_number,
    update_number,
)
from numbers_api.store.voice_settings import CnamListingWithoutDetails, update_voice_settings

log = logging.getLogger("numbers_api.jobs")

# A runner that stops without letting go (its process killed) holds its job this long after its
# last transaction; every number's transaction renews the lease.
LEASE_MS = 30_000
# How often an idle runner looks for jobs made by other workers; jobs made by its own worker
# wake it at once.
POLL_SECONDS = 1.0
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
    thread_name = "numbers-api-jobs"

    def __init__(
        self,
        database: Database,
        *,
        delay_seconds: float = 0.0,
        lease_ms: int = LEASE_MS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        super().__init__(database, poll_seconds=poll_seconds)
        self.delay_seconds = delay_seconds
        self.lease_ms = lease_ms
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
            if not self._run_operation(job, operation):
                log.warning("job %s was taken over from %s", job.id, self.name)
                return True
        with self.database.transaction() as connection:
            finish_job(connection, job.id, self.name, _now_ms())
        log.info("job %s finished by %s", job.id, self.name)
        return True

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
