"""A client's mistake in a query, naming the parameter exactly as it was sent."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParameterError:
    parameter: str
    detail: str


class InvalidQuery(Exception):
    """Raised with every mistake found in one query, so that all are reported at once."""

    def __init__(self, errors: list[ParameterError]) -> None:
        super().__init__("; ".join(f"{e.parameter}: {e.detail}" for e in errors))
        self.errors = errors
