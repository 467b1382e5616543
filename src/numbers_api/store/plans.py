"""A read written once, as a plan that does no I/O: its statement, and how its answer is made from
the statement's rows. Where the statement runs (a request thread's connection, or the event loop's
pipeline) is the executor's concern (`store/executors.py`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")
Rows = list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Plan(Generic[T]):
    """At most one statement (`?` placeholders, every value a parameter; None: the answer needs
    none) and the answer made from its rows. One statement is one state: a plan that needs two
    reads to agree needs a snapshot instead."""

    sql: str | None
    parameters: Sequence[Any]
    answer: Callable[[Rows], T]

    @staticmethod
    def known(value: U) -> Plan[U]:
        """An answer known without the database."""
        return Plan(None, (), lambda rows: value)

    def then(self, make: Callable[[T], U]) -> Plan[U]:
        """The same statement, its answer made into another."""
        answer = self.answer
        return Plan(self.sql, self.parameters, lambda rows: make(answer(rows)))
