"""Settings read from the command line and the environment."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from numbers_api.logs import DEFAULT_LOG_FORMAT, LogFormatError, log_format_from_environment
from numbers_api.store.database import DEFAULT_DATABASE_URL
from numbers_api.store.number_index import IndexMode
from numbers_api.store.number_indexes import DEFAULT_INDEX_MEMORY_MB, SMALLEST_INDEXED

DATABASE_URL_VARIABLE = "NUMBERS_API_DATABASE_URL"
FAULTS_VARIABLE = "NUMBERS_API_FAULTS"
INDEX_VARIABLE = "NUMBERS_API_INDEX"
INDEX_MEMORY_VARIABLE = "NUMBERS_API_INDEX_MEMORY"
RATE_LIMIT_VARIABLE = "NUMBERS_API_RATE_LIMIT"
# The port `GET /metrics` is served on by `serve`'s own process instead of the API's (0: the API's).
METRICS_PORT_VARIABLE = "NUMBERS_API_METRICS_PORT"
# Set by `serve` for its workers: the rate limits' table, shared by every worker of the host.
RATE_LIMIT_TABLE_VARIABLE = "NUMBERS_API_RATE_LIMIT_TABLE"
# Set by `serve` for its workers: the directory where they share the indexes they build.
INDEX_DIRECTORY_VARIABLE = "NUMBERS_API_INDEX_DIRECTORY"
# Requests a second per API key (and per client address for failed authentications), with a
# burst of as many: far above what a test suite or a dashboard asks, low enough that one client
# cannot take a worker's database round trips from the rest.
DEFAULT_RATE_LIMIT = 100
# Components that NUMBERS_API_FAULTS can make fail (or slow: bulk jobs, CSV downloads), so that
# clients can test their handling.
KNOWN_FAULTS = frozenset({"messaging_profiles", "slow_jobs", "slow_csv_downloads"})


class SettingsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    faults: frozenset[str]
    index_mode: IndexMode = IndexMode.BACKGROUND
    index_memory_mb: int = DEFAULT_INDEX_MEMORY_MB  # each worker's indexes, at their real size
    index_smallest: int = SMALLEST_INDEXED  # accounts with fewer numbers: SQL alone
    rate_limit: int = DEFAULT_RATE_LIMIT  # 0: no limit
    rate_limit_table: Path | None = None  # None: the limits are this process's own
    index_directory: Path | None = None  # None: the indexes this process builds are its own
    log_format: str = DEFAULT_LOG_FORMAT  # logs.LOG_FORMATS; set by NUMBERS_API_LOG_FORMAT
    metrics_port: int = 0  # 0: GET /metrics on the API's port

    @classmethod
    def from_environment(cls, database_url: str | None = None) -> Settings:
        faults = frozenset(
            name.strip() for name in os.environ.get(FAULTS_VARIABLE, "").split(",") if name.strip()
        )
        unknown = faults - KNOWN_FAULTS
        if unknown:
            raise SettingsError(
                f"{FAULTS_VARIABLE}: unknown fault {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(KNOWN_FAULTS))}"
            )
        index = os.environ.get(INDEX_VARIABLE, IndexMode.BACKGROUND.value)
        try:
            index_mode = IndexMode(index)
        except ValueError:
            known = ", ".join(m.value for m in IndexMode)
            raise SettingsError(
                f"{INDEX_VARIABLE}: unknown mode {index!r}; known: {known}"
            ) from None
        try:
            log_format = log_format_from_environment()
        except LogFormatError as error:
            raise SettingsError(str(error)) from None
        table = os.environ.get(RATE_LIMIT_TABLE_VARIABLE)
        index_directory = os.environ.get(INDEX_DIRECTORY_VARIABLE)
        return cls(
            database_url=database_url
            or os.environ.get(DATABASE_URL_VARIABLE)
            or DEFAULT_DATABASE_URL,
            faults=faults,
            index_mode=index_mode,
            index_memory_mb=_whole_number(INDEX_MEMORY_VARIABLE, DEFAULT_INDEX_MEMORY_MB),
            rate_limit=_whole_number(RATE_LIMIT_VARIABLE, DEFAULT_RATE_LIMIT),
            rate_limit_table=Path(table) if table else None,
            index_directory=Path(index_directory) if index_directory else None,
            log_format=log_format,
            metrics_port=_whole_number(METRICS_PORT_VARIABLE, 0),
        )


# How long a reservation holds its numbers (and an extension holds them again), in seconds, if
# not the 30 minutes Telnyx holds them: shorter for tests that watch a hold expire.
RESERVATION_VARIABLE = "NUMBERS_API_RESERVATION_SECONDS"
DEFAULT_RESERVATION_MS = 30 * 60 * 1000


def reservation_ms_from_environment() -> int:
    """`NUMBERS_API_RESERVATION_SECONDS`, else 30 minutes, in milliseconds."""
    seconds = seconds_from_environment(
        RESERVATION_VARIABLE, DEFAULT_RESERVATION_MS / 1000, 0.1, 86_400
    )
    return round(seconds * 1000)


def seconds_from_environment(variable: str, default: float, lowest: float, highest: float) -> float:
    """Seconds from `lowest` to `highest` given by the environment `variable`, else `default`;
    SettingsError for anything else."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan  # in no range
    if not lowest <= seconds <= highest:
        raise SettingsError(
            f"{variable}: must be seconds from {lowest:g} to {highest:g}, got {raw!r}"
        )
    return seconds


def _whole_number(variable: str, default: int) -> int:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise SettingsError(f"{variable}: must be a whole number (0 or more), got {raw!r}")
    return int(raw)
