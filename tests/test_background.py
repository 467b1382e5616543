"""The loop every background runner (bulk jobs, CSV downloads) runs: how it meets errors, how long
it waits, and the lease it takes on its work. The runner here does scripted work, and its waits
are recorded rather than waited."""

from __future__ import annotations

import logging

import psycopg
import pytest
from prometheus_client import REGISTRY

from numbers_api.background import LEASE_VARIABLE, BackgroundRunner, lease_ms_from_environment
from numbers_api.settings import SettingsError
from numbers_api.store.database import Database

LOST = psycopg.OperationalError("server closed the connection unexpectedly")


class Scripted(BackgroundRunner):
    """A runner whose pieces of work end as scripted (True: worked, False: nothing to do, or an
    error raised); it stops once the script is done."""

    kind = "job"

    def __init__(self, database: Database, script: list[bool | Exception]) -> None:
        super().__init__(database, poll_seconds=1.0)
        self.script = script
        self.waits: list[float] = []

    def run_next(self) -> bool:
        outcome = self.script.pop(0)
        if not self.script:
            self._stopping.set()  # the loop ends after this piece's wait
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def wait_for_work(self, seconds: float) -> None:
        self.waits.append(seconds)


def waits(database: Database, script: list[bool | Exception]) -> list[float]:
    """The waits of a runner's loop run to the script's end."""
    runner = Scripted(database, script)
    runner._loop()
    return runner.waits


def test_a_transient_error_is_one_warning_line_without_a_traceback(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="numbers_api.background"):
        waits(database, [LOST, False])
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert record.exc_info is None
    assert "OperationalError: server closed the connection unexpectedly" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_each_transient_error_in_a_row_doubles_the_wait_up_to_30_s(database: Database) -> None:
    assert waits(database, [LOST] * 7) == [2, 4, 8, 16, 30, 30, 30]


def test_the_wait_is_back_to_the_poll_once_work_succeeds(database: Database) -> None:
    assert waits(database, [LOST, LOST, True, LOST, False]) == [2, 4, 2, 1]


def test_an_unexpected_error_is_logged_with_its_traceback_and_waits_one_poll(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="numbers_api.background"):
        assert waits(database, [LOST, KeyError("bug"), LOST]) == [2, 1, 2]
    assert [r.exc_info is not None for r in caplog.records] == [False, True, False]
    assert caplog.records[1].levelname == "ERROR"


def test_a_transient_error_counts_a_retry_and_a_database_error(database: Database) -> None:
    def counts() -> tuple[float | None, float | None]:
        return (
            REGISTRY.get_sample_value("numbers_api_background_retries_total", {"kind": "job"}),
            REGISTRY.get_sample_value("numbers_api_database_errors_total", {"kind": "unavailable"}),
        )

    retries, errors = counts()
    waits(database, [LOST, LOST])
    assert counts() == ((retries or 0) + 2, (errors or 0) + 2)


def test_the_lease_is_30_s_unless_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LEASE_VARIABLE, raising=False)
    assert lease_ms_from_environment() == 30_000
    monkeypatch.setenv(LEASE_VARIABLE, "2.5")
    assert lease_ms_from_environment() == 2_500


@pytest.mark.parametrize("raw", ["soon", "0", "-1", "nan", "100000"])
def test_a_lease_that_is_not_a_sane_number_of_seconds_is_refused(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv(LEASE_VARIABLE, raw)
    with pytest.raises(SettingsError, match=LEASE_VARIABLE):
        lease_ms_from_environment()
