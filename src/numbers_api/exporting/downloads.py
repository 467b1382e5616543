"""The runner of CSV downloads, one in each server worker: a thread that claims pending downloads
(from any worker or host: they are in the database), exports each into a temporary file, and
stores the file in the transaction that marks the download complete; and a thread that keeps the
claim's lease up meanwhile.

A runner that stops (the server shuts down) gives its download back at once; one that dies
leaves a lease that runs out. Either way the download is claimed again and exported from the
start, by this server when it starts again or by any other.

An export that meets a transient database error gives its download back, to be made again from
the start after a wait (2 s, doubling); each claim is a try, 5 in all, counted in the database
(so a download whose export kills its worker each time is given up too). Past them, or on any
other error, the download is `failed`, and its file's url says why (docs/api.md, "CSV
downloads").
"""

from __future__ import annotations

import logging
import tempfile
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
from numbers_api.exporting.formats import CSV_COLUMNS, CsvWriter
from numbers_api.exporting.run import export_numbers
from numbers_api.metrics import CSV_DOWNLOADS
from numbers_api.query.csv_download_query import filter_conditions
from numbers_api.store.csv_downloads import (
    PART_BYTES,
    CsvDownload,
    claim_download,
    claimable_downloads,
    complete_download,
    expire_downloads,
    extend_claim,
    fail_download,
    has_expired_files,
    release_claim,
)
from numbers_api.store.database import Database

log = logging.getLogger("numbers_api.csv_downloads")

KEPT_MS = 24 * 3600 * 1000  # how long a finished file stays downloadable
EXPIRY_SWEEP_SECONDS = 60.0


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Stopping(Exception):
    pass


class _Lost(Exception):
    pass


class DownloadRunner(BackgroundRunner):
    """`pause_seconds` slows each batch of an export (NUMBERS_API_FAULTS=slow_csv_downloads), so
    that tests can stop a server in the middle of one. The other options are every runner's
    (`BackgroundRunner`)."""

    thread_name = "csv-downloads"
    kind = "csv_download"

    def __init__(
        self, database: Database, *, pause_seconds: float = 0.0, **options: Unpack[RunnerOptions]
    ) -> None:
        super().__init__(database, **options)
        self.pause_seconds = pause_seconds
        self.claim = uuid.uuid4().hex
        self._current: str | None = None  # the download being exported
        self._lost: str | None = None  # a download whose claim another runner took over
        self._swept_at = float("-inf")

    def companions(self) -> list[Callable[[], None]]:
        return [self._keep_leases]

    def run_next(self) -> bool:
        self._sweep()
        download = self._claim()
        if download is None:
            return False
        if download.attempts > self.max_attempts:  # each try before ended with its worker
            self._fail(
                download,
                f"{download.attempts - 1} tries ended without a file (the server making it "
                "stopped or was killed each time)",
            )
        else:
            self._run(download)
        return True

    def _claim(self) -> CsvDownload | None:
        now = _now_ms()
        for download_id in claimable_downloads(self.database.connection(), now, self.claim):
            with self.database.transaction() as connection:
                download = claim_download(connection, download_id, self.claim, now, self.lease_ms)
            if download is not None:
                return download
        return None

    def _run(self, download: CsvDownload) -> None:
        self._current = download.id
        try:
            with tempfile.TemporaryFile() as file:
                writer = CsvWriter(file, CSV_COLUMNS[download.csv_format])
                numbers = export_numbers(
                    self.database,
                    download.account_id,
                    filter_conditions(download.filters),
                    writer,
                    lambda written, total: self._between_batches(download.id),
                )
                file.seek(0)
                with self.database.transaction() as connection:
                    done = complete_download(
                        connection,
                        download.id,
                        self.claim,
                        parts=iter(lambda: file.read(PART_BYTES), b""),
                        numbers=numbers,
                        now_ms=_now_ms(),
                    )
            if done:
                CSV_DOWNLOADS.labels(outcome="complete").inc()
                log.info("CSV download %s complete: %d numbers", download.id, numbers)
        except _Stopping:
            with self.database.transaction() as connection:
                release_claim(connection, download.id, self.claim)
        except _Lost:
            log.warning("CSV download %s was taken over by another runner", download.id)
        except Exception as error:
            self._failed(download, error)
        finally:
            self._current = None

    def _failed(self, download: CsvDownload, error: Exception) -> None:
        """A transient error: made again from the start later, by any runner, unless it has had
        all its tries; then, or for any other error, failed. If the database cannot take even
        this, the error goes up to the runner's loop, which backs off; the download stays this
        runner's, which takes it up again once the database is back."""
        wait = self.retry_wait(error, download.attempts)
        if wait is None:
            self._fail(download, failure_cause(error, download.attempts), error)
            return
        with self.database.transaction() as connection:
            release_claim(
                connection, download.id, self.claim, retry_at_ms=_now_ms() + round(wait * 1000)
            )
        self.counted_retry(error)
        log.warning(
            "CSV download %s failed (%s), try %d of %d; trying again in %.1f s",
            download.id,
            describe(error),
            download.attempts,
            self.max_attempts,
            wait,
        )

    def _fail(self, download: CsvDownload, cause: str, error: Exception | None = None) -> None:
        """Failed for good, saying why; the log has the error, with its traceback if it is not
        the database's state but a defect."""
        reason = f"The file could not be made: {cause}. Ask for a new download."
        with self.database.transaction() as connection:
            failed = fail_download(connection, download.id, self.claim, _now_ms(), reason)
        if failed:
            CSV_DOWNLOADS.labels(outcome="failed").inc()
            log.error("CSV download %s failed: %s", download.id, reason, exc_info=defect(error))

    def _between_batches(self, download_id: str) -> None:
        if self.pause(self.pause_seconds):
            raise _Stopping
        if self._lost == download_id:
            raise _Lost

    def _keep_leases(self) -> None:
        while not self.pause(self.lease_ms / 3000):
            current = self._current
            if current is None:
                continue
            try:
                with self.database.transaction() as connection:
                    held = extend_claim(connection, current, self.claim, _now_ms() + self.lease_ms)
            except Exception as error:
                log.warning(
                    "CSV download runner: could not keep the lease of %s (%s)",
                    current,
                    describe(error),
                    exc_info=defect(error),
                )
                continue
            if not held and self._current == current:
                self._lost = current

    def _sweep(self) -> None:
        """Files older than KEPT_MS are removed; their downloads show `expired`."""
        if time.monotonic() - self._swept_at < EXPIRY_SWEEP_SECONDS:
            return
        self._swept_at = time.monotonic()
        before = _now_ms() - KEPT_MS
        if has_expired_files(self.database.connection(), before):
            with self.database.transaction() as connection:
                expire_downloads(connection, before)
