"""Number orders, their sub orders (one per country and number type) and their numbers, kept in
the database so that any worker or host completes them (docs/ordering.md, "Orders").

Everything here runs inside the caller's transaction. What an order does to the account's
inventory (its numbers `purchase-pending`, then `active`; a cancelled sub order's numbers
deleted) goes through `store/importer.py` and `store/phone_number.py`, the writes every other
change of numbers takes, so that the data version moves and no cache or index serves what was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from numbers_api.query.conditions import Compares, Condition, Field, OneOf
from numbers_api.query.list_query import FilteredPage
from numbers_api.store.available_numbers import (
    HELD,
    HELD_STATUS,
    unavailable_numbers,
)
from numbers_api.store.database import Connection, in_chunks
from numbers_api.store.pages import Clause, account_page

PENDING, SUCCESS, FAILURE = "pending", "success", "failure"
# A number's requirements_status: still missing a value, every value given, or cancelled.
REQUIREMENTS_PENDING = "requirement-info-pending"
APPROVED = "approved"
CANCELLED = "cancelled"
# Numbers that a search returned to an account can be ordered by it for this long.
ORDER_WINDOW_MS = 24 * 3600 * 1000
# The `complete_after` of an order whose pending sub orders wait for their requirements: the
# update that gives the last value makes it due again.
WAITING_FOR_REQUIREMENTS = 2**62
# How long an order's numbers have to meet their requirements (the `deadline` shown).
DEADLINE_MS = 30 * 24 * 3600 * 1000
ORDER_COLUMNS = (
    "o.id, o.status, o.connection_id, o.messaging_profile_id, o.billing_group_id, "
    "o.customer_reference, o.created_at, o.updated_at"
)
NUMBER_COLUMNS = (
    "n.id, n.order_id, n.sub_order_id, n.phone_number, n.country_code, n.phone_number_type, "
    "n.locality, n.status, n.requirements_status, n.regulatory_requirements, n.bundle_id, "
    "n.requirement_group_id, n.deadline, n.created_at, n.updated_at"
)
_PENDING_REQUIREMENTS = f"requirements_status = '{REQUIREMENTS_PENDING}'"
_ORDER_COUNT = "(SELECT count(*) FROM number_order_phone_numbers c WHERE c.order_id = o.id)"
_ORDER_MET = (
    "(CASE WHEN EXISTS (SELECT 1 FROM number_order_phone_numbers c WHERE c.order_id = o.id "
    f"AND c.{_PENDING_REQUIREMENTS}) THEN 0 ELSE 1 END)"
)
_SUB_COUNT = "(SELECT count(*) FROM number_order_phone_numbers c WHERE c.sub_order_id = s.id)"
_SUB_MET = (
    "(CASE WHEN EXISTS (SELECT 1 FROM number_order_phone_numbers c WHERE c.sub_order_id = s.id "
    f"AND c.{_PENDING_REQUIREMENTS}) THEN 0 ELSE 1 END)"
)
SUB_ORDER_COLUMNS = (
    "s.id, s.order_id, s.country_code, s.phone_number_type, s.status, s.customer_reference, "
    f"s.requirements, s.requirement_group_id, s.created_at, s.updated_at, {_SUB_COUNT}, "
    f"{_SUB_MET}"
)
# What each list's filters compare, by the field a condition names.
ORDER_FIELDS = {
    Field.STATUS: "o.status",
    Field.CREATED_AT: "o.created_at",
    Field.CUSTOMER_REFERENCE: "o.customer_reference",
    Field.PHONE_NUMBERS_COUNT: _ORDER_COUNT,
    Field.REQUIREMENTS_MET: _ORDER_MET,
}
SUB_ORDER_FIELDS = {
    Field.STATUS: "s.status",
    Field.ORDER_ID: "s.order_id",
    Field.COUNTRY_CODE: "s.country_code",
    Field.PHONE_NUMBER_TYPE: "s.phone_number_type",
    Field.PHONE_NUMBERS_COUNT: _SUB_COUNT,
}
NUMBER_FIELDS = {Field.COUNTRY_CODE: "n.country_code"}
CHUNK = 500


# Availability ------------------------------------------------------------------------------------


NEVER_SEARCHED = (
    "was not returned to this account by a number search in the last 24 hours, nor is it "
    "reserved by this account; search for it first"
)
NO_LONGER_AVAILABLE = "is no longer available"
HELD_BY_ANOTHER = "is reserved by another account"


def unorderable_numbers(
    connection: Connection, account_id: int, phone_numbers: Sequence[str], now_ms: int
) -> dict[str, str]:
    """Why each of the numbers that this account may not order now cannot be: another account
    holds it reserved, it is not available (`available_numbers.unavailable_numbers`), or this
    account neither found it by a search in the last `ORDER_WINDOW_MS` nor holds it reserved.
    The numbers missing from the answer may be ordered. Take `lock_numbers` first."""
    reasons = {
        number: HELD_BY_ANOTHER if reason == HELD else NO_LONGER_AVAILABLE
        for number, reason in unavailable_numbers(
            connection, account_id, phone_numbers, now_ms
        ).items()
    }
    for chunk in in_chunks([number for number in phone_numbers if number not in reasons], CHUNK):
        marks = ", ".join("?" * len(chunk))
        found = _column(
            connection,
            "SELECT phone_number FROM searched_numbers WHERE account_id = ? AND "
            f"phone_number IN ({marks}) AND searched_at >= ? UNION "
            "SELECT phone_number FROM reserved_phone_numbers WHERE account_id = ? AND "
            f"phone_number IN ({marks}) AND expires_at > ? AND status = ?",
            [account_id, *chunk, now_ms - ORDER_WINDOW_MS, account_id, *chunk, now_ms, HELD_STATUS],
        )
        reasons.update({number: NEVER_SEARCHED for number in chunk if number not in found})
    return reasons


def _column(connection: Connection, sql: str, parameters: Sequence[Any]) -> set[str]:
    """The values of a statement's one column."""
    return {row[0] for row in connection.execute(sql, parameters)}


def inventory_ids(
    connection: Connection, account_id: int, phone_numbers: Sequence[str]
) -> list[int]:
    """The ids of those of the numbers the account has in its inventory."""
    ids: list[int] = []
    for chunk in in_chunks(list(phone_numbers), CHUNK):
        ids += [
            int(row[0])
            for row in connection.execute(
                "SELECT id FROM phone_numbers WHERE account_id = ? AND phone_number IN "
                f"({', '.join('?' * len(chunk))})",
                [account_id, *chunk],
            )
        ]
    return ids


# Records -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderNumber:
    id: str
    order_id: str
    sub_order_id: str
    phone_number: str
    country_code: str
    phone_number_type: str
    locality: str
    status: str
    requirements_status: str
    regulatory_requirements: list[dict[str, Any]]
    bundle_id: str | None
    requirement_group_id: str | None
    deadline: int
    created_at: int
    updated_at: int

    @property
    def requirements_met(self) -> bool:
        return self.requirements_status != REQUIREMENTS_PENDING


@dataclass(frozen=True, slots=True)
class SubOrder:
    id: str
    order_id: str
    country_code: str
    phone_number_type: str
    status: str
    customer_reference: str | None
    requirements: list[dict[str, Any]]
    requirement_group_id: str | None
    created_at: int
    updated_at: int
    phone_numbers_count: int
    requirements_met: bool


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    status: str
    connection_id: str | None
    messaging_profile_id: str | None
    billing_group_id: str | None
    customer_reference: str | None
    created_at: int
    updated_at: int
    account_id: int
    sub_order_ids: list[str] = field(default_factory=list)
    numbers: list[OrderNumber] = field(default_factory=list)

    @property
    def requirements_met(self) -> bool:
        return all(number.requirements_met for number in self.numbers)


@dataclass(frozen=True, slots=True)
class NewNumber:
    """A number of an order being made, as the pool describes it."""

    phone_number: str
    country_code: str
    phone_number_type: str
    locality: str
    bundle_id: str | None
    requirement_group_id: str | None
    requirements: list[dict[str, Any]]  # each {requirement_id, field_type, field_value}


@dataclass(frozen=True, slots=True)
class OrderSettings:
    connection_id: str | None
    messaging_profile_id: str | None
    billing_group_id: str | None
    customer_reference: str | None


def insert_order(
    connection: Connection,
    account_id: int,
    settings: OrderSettings,
    numbers: Sequence[NewNumber],
    *,
    now_ms: int,
    complete_after: int,
) -> str:
    """The order, one sub order per (country, type) in the order first met, and its numbers;
    the order's id. A number given a requirement group has every requirement met by it."""
    order_id = str(uuid.uuid4())
    connection.execute(
        "INSERT INTO number_orders (id, account_id, status, connection_id, messaging_profile_id, "
        "billing_group_id, customer_reference, created_at, updated_at, complete_after) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            order_id,
            account_id,
            PENDING,
            settings.connection_id,
            settings.messaging_profile_id,
            settings.billing_group_id,
            settings.customer_reference,
            now_ms,
            now_ms,
            complete_after,
        ),
    )
    sub_orders: dict[tuple[str, str], str] = {}
    rows: list[tuple[Any, ...]] = []
    for position, number in enumerate(numbers):
        kind = (number.country_code, number.phone_number_type)
        if kind not in sub_orders:
            sub_orders[kind] = str(uuid.uuid4())
            connection.execute(
                "INSERT INTO sub_number_orders (id, order_id, account_id, country_code, "
                "phone_number_type, status, customer_reference, requirements, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sub_orders[kind],
                    order_id,
                    account_id,
                    *kind,
                    PENDING,
                    settings.customer_reference,
                    orjson.dumps(
                        [
                            {k: r[k] for k in ("requirement_id", "field_type")}
                            for r in number.requirements
                        ]
                    ).decode(),
                    now_ms,
                    now_ms,
                ),
            )
        requirements = [
            {**r, "field_value": number.requirement_group_id or r["field_value"]}
            for r in number.requirements
        ]
        rows.append(
            (
                str(uuid.uuid4()),
                order_id,
                sub_orders[kind],
                account_id,
                position,
                number.phone_number,
                number.country_code,
                number.phone_number_type,
                number.locality,
                PENDING,
                _requirements_status(requirements),
                orjson.dumps(requirements).decode(),
                number.bundle_id,
                number.requirement_group_id,
                now_ms + DEADLINE_MS,
                now_ms,
                now_ms,
            )
        )
    connection.copy_rows(
        "number_order_phone_numbers",
        (
            "id",
            "order_id",
            "sub_order_id",
            "account_id",
            "position",
            "phone_number",
            "country_code",
            "phone_number_type",
            "locality",
            "status",
            "requirements_status",
            "regulatory_requirements",
            "bundle_id",
            "requirement_group_id",
            "deadline",
            "created_at",
            "updated_at",
        ),
        rows,
    )
    return order_id


def _requirements_status(requirements: Iterable[Mapping[str, Any]]) -> str:
    return REQUIREMENTS_PENDING if any(r["field_value"] is None for r in requirements) else APPROVED


# Reading -----------------------------------------------------------------------------------------


def find_order(connection: Connection, account_id: int, order_id: str) -> Order | None:
    rows = connection.execute(
        f"SELECT {ORDER_COLUMNS}, o.account_id FROM number_orders o WHERE o.id = ? "
        "AND o.account_id = ?",
        (order_id, account_id),
    ).fetchall()
    orders = _with_numbers(connection, rows)
    return orders[0] if orders else None


def list_orders(
    connection: Connection, account_id: int, query: FilteredPage
) -> tuple[int, list[Order]]:
    total, rows = _page(connection, _ORDERS, account_id, query)
    return total, _with_numbers(connection, rows)


def _with_numbers(connection: Connection, rows: Sequence[Sequence[Any]]) -> list[Order]:
    orders = [_order(row) for row in rows]
    by_id = {order.id: order for order in orders}
    for chunk in in_chunks(list(by_id), CHUNK):
        marks = ", ".join("?" * len(chunk))
        for row in connection.execute(
            f"SELECT {NUMBER_COLUMNS} FROM number_order_phone_numbers n "
            f"WHERE n.order_id IN ({marks}) ORDER BY n.order_id, n.position",
            chunk,
        ):
            by_id[row[1]].numbers.append(_order_number(row))
        for sub_id, order_id in connection.execute(
            f"SELECT id, order_id FROM sub_number_orders WHERE order_id IN ({marks}) "
            "ORDER BY order_id, created_at, id",
            chunk,
        ):
            by_id[order_id].sub_order_ids.append(sub_id)
    return orders


def _order(row: Sequence[Any]) -> Order:
    order_id, status, connection_id, profile_id, group_id, reference, created, updated, account = (
        row
    )
    return Order(
        order_id, status, connection_id, profile_id, group_id, reference, created, updated, account
    )


def _order_number(row: Sequence[Any]) -> OrderNumber:
    values = list(row)
    values[9] = orjson.loads(values[9])
    return OrderNumber(*values)


def find_sub_order(connection: Connection, account_id: int, sub_order_id: str) -> SubOrder | None:
    row = connection.execute(
        f"SELECT {SUB_ORDER_COLUMNS} FROM sub_number_orders s WHERE s.id = ? AND s.account_id = ?",
        (sub_order_id, account_id),
    ).fetchone()
    return None if row is None else _sub_order(row)


def list_sub_orders(
    connection: Connection, account_id: int, query: FilteredPage
) -> tuple[int, list[SubOrder]]:
    total, rows = _page(connection, _SUB_ORDERS, account_id, query)
    return total, [_sub_order(row) for row in rows]


def _sub_order(row: Sequence[Any]) -> SubOrder:
    values = list(row)
    values[6] = orjson.loads(values[6])
    values[10] = int(values[10])
    values[11] = bool(values[11])
    return SubOrder(*values)


def sub_order_numbers(connection: Connection, sub_order_id: str, limit: int) -> list[OrderNumber]:
    rows = connection.execute(
        f"SELECT {NUMBER_COLUMNS} FROM number_order_phone_numbers n WHERE n.sub_order_id = ? "
        "ORDER BY n.position LIMIT ?",
        (sub_order_id, limit),
    ).fetchall()
    return [_order_number(row) for row in rows]


def find_order_number(
    connection: Connection, account_id: int, number_id: str
) -> OrderNumber | None:
    row = connection.execute(
        f"SELECT {NUMBER_COLUMNS} FROM number_order_phone_numbers n WHERE n.id = ? "
        "AND n.account_id = ?",
        (number_id, account_id),
    ).fetchone()
    return None if row is None else _order_number(row)


def list_order_numbers(
    connection: Connection, account_id: int, query: FilteredPage
) -> tuple[int, list[OrderNumber]]:
    total, rows = _page(connection, _ORDER_NUMBERS, account_id, query)
    return total, [_order_number(row) for row in rows]


@dataclass(frozen=True, slots=True)
class _Listed:
    """A list's table (as `alias`), the columns it reads, its fields and its order."""

    table: str
    alias: str
    columns: str
    fields: Mapping[Field, str]
    order_by: str


_ORDERS = _Listed(
    "number_orders",
    "o",
    f"{ORDER_COLUMNS}, o.account_id",
    ORDER_FIELDS,
    "o.created_at DESC, o.id DESC",
)
_SUB_ORDERS = _Listed(
    "sub_number_orders", "s", SUB_ORDER_COLUMNS, SUB_ORDER_FIELDS, "s.created_at DESC, s.id DESC"
)
_ORDER_NUMBERS = _Listed(
    "number_order_phone_numbers",
    "n",
    NUMBER_COLUMNS,
    NUMBER_FIELDS,
    "n.created_at DESC, n.order_id DESC, n.position",
)


def _page(
    connection: Connection, listed: _Listed, account_id: int, query: FilteredPage
) -> tuple[int, list[Any]]:
    """The exact number of the account's rows that match, and the query's page of them."""
    return account_page(
        connection,
        table=f"{listed.table} {listed.alias}",
        columns=listed.columns,
        account_id=account_id,
        clauses=[_clause(listed.fields, condition) for condition in query.conditions],
        order_by=listed.order_by,
        page=query.page,
    )


def _clause(fields: Mapping[Field, str], condition: Condition) -> Clause:
    match condition:
        case OneOf(field_, values):
            return f"{fields[field_]} IN ({', '.join('?' * len(values))})", values
        case Compares(field_, operator, value) if operator in ("=", "<", ">"):
            return f"{fields[field_]} {operator} ?", (value,)
    raise AssertionError(f"orders have no condition {condition!r}")


# Changing ----------------------------------------------------------------------------------------


def set_customer_reference(
    connection: Connection, order_id: str, customer_reference: str, now_ms: int
) -> None:
    """The order's customer reference, and its sub orders' (the inventory's numbers keep the
    one they were ordered with: `PATCH /v2/phone_numbers/{id}` changes theirs)."""
    connection.execute(
        "UPDATE number_orders SET customer_reference = ?, updated_at = ? WHERE id = ?",
        (customer_reference, now_ms, order_id),
    )
    connection.execute(
        "UPDATE sub_number_orders SET customer_reference = ?, updated_at = ? WHERE order_id = ?",
        (customer_reference, now_ms, order_id),
    )


class UnknownRequirement(Exception):
    """A requirement value names a requirement that none of the numbers has."""

    def __init__(self, index: int, requirement_id: str) -> None:
        super().__init__(requirement_id)
        self.index = index
        self.requirement_id = requirement_id


def set_requirement_values(
    connection: Connection,
    account_id: int,
    scope: str,
    scope_id: str,
    values: Sequence[tuple[str, str]],
    *,
    now_ms: int,
    group_id: str | None = None,
) -> None:
    """Each (requirement_id, field_value) given to every still pending number of the order,
    sub order or number (`scope`: `order_id`, `sub_order_id` or `id`) that has the requirement;
    `group_id`: every requirement of each of them met by that requirement group. Raises
    UnknownRequirement, before anything is written, for a requirement that none of them has.
    An order whose numbers all have their values now is due for its runner at once."""
    assert scope in ("order_id", "sub_order_id", "id")
    table = (
        "number_orders"
        if scope == "order_id"
        else ("sub_number_orders" if scope == "sub_order_id" else "number_order_phone_numbers")
    )
    column = "id" if scope == "order_id" else "order_id"
    for (order_id,) in connection.execute(
        f"SELECT {column} FROM {table} WHERE id = ? AND account_id = ?", (scope_id, account_id)
    ).fetchall():
        lock_order(connection, order_id)
    rows = connection.execute(
        "SELECT id, order_id, regulatory_requirements, status FROM number_order_phone_numbers "
        f"WHERE {scope} = ? AND account_id = ?",
        (scope_id, account_id),
    ).fetchall()
    numbers = [(row[0], row[1], orjson.loads(row[2]), row[3]) for row in rows]
    known = {r["requirement_id"] for _, _, requirements, _ in numbers for r in requirements}
    for index, (requirement_id, _) in enumerate(values):
        if requirement_id not in known:
            raise UnknownRequirement(index, requirement_id)
    given = dict(values)
    orders: set[str] = set()
    pending = [number for number in numbers if number[3] == PENDING]
    for number_id, order_id, requirements, _ in pending:
        changed = [
            {
                **r,
                "field_value": group_id or given.get(r["requirement_id"], r["field_value"]),
            }
            for r in requirements
        ]
        status = _requirements_status(changed)
        connection.execute(
            "UPDATE number_order_phone_numbers SET regulatory_requirements = ?, "
            "requirements_status = ?, requirement_group_id = coalesce(?, requirement_group_id), "
            "updated_at = ? WHERE id = ?",
            (orjson.dumps(changed).decode(), status, group_id, now_ms, number_id),
        )
        if status == APPROVED:
            orders.add(order_id)
    if scope == "sub_order_id" and group_id is not None:
        connection.execute(
            "UPDATE sub_number_orders SET requirement_group_id = ?, updated_at = ? WHERE id = ?",
            (group_id, now_ms, scope_id),
        )
    for order_id in orders:
        connection.execute(
            "UPDATE number_orders SET complete_after = ? WHERE id = ? AND status = ? "
            "AND complete_after = ?",
            (now_ms, order_id, PENDING, WAITING_FOR_REQUIREMENTS),
        )


def lock_order(connection: Connection, order_id: str) -> None:
    """Hold the order's row until the transaction ends (PostgreSQL; SQLite has one writer at a
    time): a requirements update or a cancellation and the runner's step on the same order then
    follow each other, and neither decides from what the other is changing."""
    connection.execute("UPDATE number_orders SET updated_at = updated_at WHERE id = ?", (order_id,))


def complete_ready_sub_orders(connection: Connection, order_id: str, now_ms: int) -> list[str]:
    """Every pending sub order of the order whose numbers have all their requirements met, and
    their numbers, `success`; the E.164 numbers completed."""
    ready = [
        row[0]
        for row in connection.execute(
            "SELECT s.id FROM sub_number_orders s WHERE s.order_id = ? AND s.status = ? AND NOT "
            "EXISTS (SELECT 1 FROM number_order_phone_numbers c WHERE c.sub_order_id = s.id "
            f"AND c.{_PENDING_REQUIREMENTS}) ORDER BY s.created_at, s.id",
            (order_id, PENDING),
        )
    ]
    completed: list[str] = []
    for sub_order_id in ready:
        connection.execute(
            "UPDATE sub_number_orders SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
            (SUCCESS, now_ms, sub_order_id, PENDING),
        )
        completed += [
            row[0]
            for row in connection.execute(
                "UPDATE number_order_phone_numbers SET status = ?, updated_at = ? "
                "WHERE sub_order_id = ? RETURNING phone_number",
                (SUCCESS, now_ms, sub_order_id),
            )
        ]
    return completed


def fail_sub_order(connection: Connection, sub_order_id: str, now_ms: int) -> list[str]:
    """The sub order and its numbers `failure` (cancelled, or failed by its runner); the E.164
    numbers it had."""
    connection.execute(
        "UPDATE sub_number_orders SET status = ?, updated_at = ? WHERE id = ?",
        (FAILURE, now_ms, sub_order_id),
    )
    return [
        row[0]
        for row in connection.execute(
            "UPDATE number_order_phone_numbers SET status = ?, requirements_status = ?, "
            "updated_at = ? WHERE sub_order_id = ? RETURNING phone_number",
            (FAILURE, CANCELLED, now_ms, sub_order_id),
        )
    ]


def pending_sub_orders(connection: Connection, order_id: str) -> list[str]:
    return [
        row[0]
        for row in connection.execute(
            "SELECT id FROM sub_number_orders WHERE order_id = ? AND status = ? "
            "ORDER BY created_at, id",
            (order_id, PENDING),
        )
    ]


def settle_order(connection: Connection, order_id: str, now_ms: int) -> str | None:
    """The order's status once none of its sub orders is pending: `success` if one of them
    succeeded, else `failure` (all cancelled or failed); its new status, or None if some sub
    order is still pending (the order then waits for requirements) or it was settled before."""
    if pending_sub_orders(connection, order_id):
        return None
    row = connection.execute(
        "UPDATE number_orders SET status = CASE WHEN EXISTS (SELECT 1 FROM sub_number_orders "
        "WHERE order_id = ? AND status = ?) THEN ? ELSE ? END, updated_at = ?, claimed_by = NULL, "
        "lease_expires_at = NULL WHERE id = ? AND status = ? RETURNING status",
        (order_id, SUCCESS, SUCCESS, FAILURE, now_ms, order_id, PENDING),
    ).fetchone()
    return None if row is None else str(row[0])


# Running orders ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedOrder:
    id: str
    account_id: int
    attempts: int


def claim_order(
    connection: Connection, runner: str, now_ms: int, lease_ms: int
) -> ClaimedOrder | None:
    """The pending order due longest ago whose lease ran out (or that this very runner held),
    now held by `runner` for a lease, its attempts counted; None if there is none. One
    statement, so two runners never hold one order (see `store/jobs.py`, `claim_job`)."""
    claimable = (
        "(status = ? AND complete_after <= ? AND "
        "(lease_expires_at IS NULL OR lease_expires_at < ? OR claimed_by = ?))"
    )
    parameters = (PENDING, now_ms, now_ms, runner)
    row = connection.execute(
        "UPDATE number_orders SET claimed_by = ?, lease_expires_at = ?, attempts = attempts + 1 "
        f"WHERE {claimable} AND id = (SELECT id FROM number_orders WHERE {claimable} "
        f"ORDER BY complete_after, id LIMIT 1{connection.dialect.skip_locked}) "
        "RETURNING id, account_id, attempts",
        (runner, now_ms + lease_ms, *parameters, *parameters),
    ).fetchone()
    return None if row is None else ClaimedOrder(str(row[0]), int(row[1]), int(row[2]))


def holds_order(connection: Connection, order_id: str, runner: str, now_ms: int) -> bool:
    """Whether `runner` still holds the order (locked on PostgreSQL until the transaction ends)."""
    return bool(
        connection.execute(
            "UPDATE number_orders SET updated_at = updated_at WHERE id = ? AND claimed_by = ? "
            "AND status = ?",
            (order_id, runner, PENDING),
        ).rowcount
    )


def release_order(
    connection: Connection, order_id: str, runner: str, complete_after: int | None = None
) -> None:
    """Let go of an order: its runner finished with it for now, or is stopping, or its attempt
    failed and it is due again at `complete_after`. Only what `runner` holds."""
    connection.execute(
        "UPDATE number_orders SET claimed_by = NULL, lease_expires_at = NULL, "
        "complete_after = coalesce(?, complete_after) WHERE id = ? AND claimed_by = ?",
        (complete_after, order_id, runner),
    )


def reset_attempts(connection: Connection, order_id: str) -> None:
    connection.execute("UPDATE number_orders SET attempts = 0 WHERE id = ?", (order_id,))
