"""Settings read from the command line and the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from numbers_api.store.database import DEFAULT_DATABASE_URL
from numbers_api.store.number_index import IndexMode

DATABASE_URL_VARIABLE = "NUMBERS_API_DATABASE_URL"
FAULTS_VARIABLE = "NUMBERS_API_FAULTS"
INDEX_VARIABLE = "NUMBERS_API_INDEX"
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
        return cls(
            database_url=database_url
            or os.environ.get(DATABASE_URL_VARIABLE)
            or DEFAULT_DATABASE_URL,
            faults=faults,
            index_mode=index_mode,
        )
