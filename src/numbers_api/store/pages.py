"""A page of one account's records of a table (bulk jobs, reservations): the exact count of those
a list's conditions select, and the page's rows in the list's order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from numbers_api.query.list_query import Page
from numbers_api.store.database import Connection

# A condition as SQL: its clause, with `?` placeholders, and their values.
Clause = tuple[str, Sequence[object]]


def account_page(
    connection: Connection,
    *,
    table: str,
    columns: str,
    account_id: int,
    clauses: Sequence[Clause],
    order_by: str,
    page: Page,
) -> tuple[int, list[Sequence[Any]]]:
    """How many of the account's rows of `table` (which may name an alias) the clauses select,
    and the page's rows (`columns`), ordered by `order_by`."""
    where = " AND ".join(["account_id = ?", *(clause for clause, _ in clauses)])
    parameters: list[object] = [account_id, *(v for _, values in clauses for v in values)]
    (total,) = connection.execute(
        f"SELECT count(*) FROM {table} WHERE {where}", parameters
    ).fetchone()
    if page.offset >= total:  # also keeps an offset beyond 64 bits out of the SQL
        return int(total), []
    rows = connection.execute(
        f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {order_by} LIMIT ? OFFSET ?",
        [*parameters, page.size, page.offset],
    ).fetchall()
    return int(total), rows
