"""Number orders made, completed, failed and cancelled, each in the caller's one transaction
(docs/ordering.md, "Orders").

An order's numbers enter the account's inventory the way an import's do (`store/importer.py`'s
`Loader`, each checked and given its defaults by the import's `RecordChecker`), `purchase-pending`
with `source_type` `number_order` and the order's settings; they become `active` through
`store/phone_number.set_status`, and a cancelled sub order's numbers leave through
`delete_number`, like any other. Every one of these moves the account's data version on, so every
list, view, cache and index shows them at once. When an order's status changes, its
`number_order.complete` event goes into the webhook outbox in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from numbers_api.importing.records import IdGenerator, RecordChecker
from numbers_api.ordering.requirements import requirements_of
from numbers_api.ordering.serialise import number_order_with_phone_numbers
from numbers_api.settings import seconds_from_environment
from numbers_api.store.available_numbers import lock_numbers, pool_rows
from numbers_api.store.database import Connection
from numbers_api.store.importer import Loader, Row
from numbers_api.store.number_orders import (
    PENDING,
    WAITING_FOR_REQUIREMENTS,
    ClaimedOrder,
    NewNumber,
    Order,
    OrderSettings,
    SubOrder,
    complete_ready_sub_orders,
    fail_sub_order,
    find_order,
    find_sub_order,
    holds_order,
    insert_order,
    inventory_ids,
    lock_order,
    pending_sub_orders,
    release_order,
    reset_attempts,
    settle_order,
    unorderable_numbers,
)
from numbers_api.store.number_reservations import end_holds
from numbers_api.store.phone_number import delete_number, set_status
from numbers_api.store.pool import pool_return_ms
from numbers_api.store.webhook_outbox import enqueue_event

# How long after it is made an order completes (its numbers `purchase-pending` until then):
# `NUMBERS_API_ORDER_SECONDS`, else 1 s. Tests that stop a server mid-order set it higher.
ORDER_SECONDS_VARIABLE = "NUMBERS_API_ORDER_SECONDS"
DEFAULT_ORDER_SECONDS = 1.0
EVENT_TYPE = "number_order.complete"


def order_ms() -> int:
    seconds = seconds_from_environment(ORDER_SECONDS_VARIABLE, DEFAULT_ORDER_SECONDS, 0, 86_400)
    return round(seconds * 1000)


def check_environment() -> None:
    """The ordering's variables of the environment, checked when a command starts (a worker
    would fail on them later); SettingsError for a bad one."""
    order_ms()
    pool_return_ms()


@dataclass(frozen=True, slots=True)
class RequestedNumber:
    phone_number: str
    bundle_id: str | None = None
    requirement_group_id: str | None = None


class Unavailable(Exception):
    """Numbers this account cannot order: (position in the request, number, why)."""

    def __init__(self, problems: list[tuple[int, str, str]]) -> None:
        super().__init__(f"{len(problems)} numbers cannot be ordered")
        self.problems = problems


def create_order(
    connection: Connection,
    account_id: int,
    settings: OrderSettings,
    requested: Sequence[RequestedNumber],
    now_ms: int,
) -> Order:
    """The order made, its numbers in the inventory and no longer held reserved by the account.
    Raises Unavailable, before anything is written, naming each number it may not order."""
    numbers = [r.phone_number for r in requested]
    lock_numbers(connection, numbers)
    reasons = unorderable_numbers(connection, account_id, numbers, now_ms)
    if reasons:
        raise Unavailable(
            [(i, number, reasons[number]) for i, number in enumerate(numbers) if number in reasons]
        )
    pool = pool_rows(connection, numbers)
    new = [
        NewNumber(
            phone_number=r.phone_number,
            country_code=pool[r.phone_number].country_code,
            phone_number_type=pool[r.phone_number].phone_number_type,
            locality=pool[r.phone_number].locality,
            bundle_id=r.bundle_id,
            requirement_group_id=r.requirement_group_id,
            requirements=[
                requirement.as_stored()
                for requirement in requirements_of(
                    pool[r.phone_number].country_code, pool[r.phone_number].phone_number_type
                )
            ],
        )
        for r in requested
    ]
    order_id = insert_order(
        connection, account_id, settings, new, now_ms=now_ms, complete_after=now_ms + order_ms()
    )
    _into_inventory(connection, account_id, settings, new, now_ms)
    end_holds(connection, account_id, numbers, now_ms)
    order = find_order(connection, account_id, order_id)
    assert order is not None
    return order


def _into_inventory(
    connection: Connection,
    account_id: int,
    settings: OrderSettings,
    numbers: Sequence[NewNumber],
    now_ms: int,
) -> None:
    """The numbers written into the account's inventory as an import writes its records."""
    checker = RecordChecker(now_ms)
    loader = Loader(connection, account_id)
    new_id = IdGenerator(after=loader.largest_id(below=IdGenerator.CEILING))
    rows: list[tuple[int, Row]] = []
    for line, number in enumerate(numbers, start=1):
        record = {
            "phone_number": number.phone_number,
            "country_iso_alpha2": number.country_code,
            "phone_number_type": number.phone_number_type,
            "status": "purchase-pending",
            "source_type": "number_order",
            "connection_id": settings.connection_id,
            "messaging_profile_id": settings.messaging_profile_id,
            "billing_group_id": settings.billing_group_id,
            "customer_reference": settings.customer_reference,
        }
        row = checker.check({name: value for name, value in record.items() if value is not None})
        if isinstance(row, list):  # the pool holds only numbers an import would take
            raise AssertionError(f"{number.phone_number} cannot be stored: {row}")
        rows.append((line, (new_id(), *row[1:])))
    loader.add(loader.batch(rows))
    taken = [(line - 1, numbers[line - 1].phone_number) for line, _, _ in loader.conflicts()]
    if taken:  # another order took them since they were checked
        raise Unavailable([(i, number, "is no longer available") for i, number in taken])
    loader.finish()


def complete_order(
    connection: Connection, order: ClaimedOrder, runner: str, now_ms: int
) -> str | None:
    """The runner's step for a due order it holds: each pending sub order whose requirements are
    met completes, its numbers `active`; the order's new status once no sub order is pending
    (its event enqueued), else None: it waits for requirements (or was no longer the runner's)."""
    if not holds_order(connection, order.id, runner, now_ms):
        return None
    completed = complete_ready_sub_orders(connection, order.id, now_ms)
    set_status(connection, order.account_id, completed, "active", now_ms)
    status = settle_order(connection, order.id, now_ms)
    if status is None:
        reset_attempts(connection, order.id)
        release_order(connection, order.id, runner, WAITING_FOR_REQUIREMENTS)
        return None
    announce(connection, order.account_id, order.id, now_ms)
    return status


def fail_order(connection: Connection, order: ClaimedOrder, now_ms: int) -> str | None:
    """Every pending sub order of the order failed (the runner gave up on it), its numbers
    `purchase-failed` in the inventory; the order's new status."""
    for sub_order_id in pending_sub_orders(connection, order.id):
        failed = fail_sub_order(connection, sub_order_id, now_ms)
        set_status(connection, order.account_id, failed, "purchase-failed", now_ms)
    status = settle_order(connection, order.id, now_ms)
    if status is not None:
        announce(connection, order.account_id, order.id, now_ms)
    return status


class NotPending(Exception):
    """Only a pending sub order can be cancelled."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def cancel_sub_order(
    connection: Connection, account_id: int, sub_order_id: str, now_ms: int
) -> SubOrder | None:
    """The sub order cancelled (`failure`), its numbers deleted from the inventory (and back to
    the pool after its delay), the order settled if nothing of it is pending any more; None if
    the account has no such sub order. Raises NotPending, or DeletionLocked for a number whose
    deletion lock was enabled meanwhile (the caller's transaction then undoes everything)."""
    sub_order = find_sub_order(connection, account_id, sub_order_id)
    if sub_order is None:
        return None
    lock_order(connection, sub_order.order_id)  # the runner's step waits, or is done
    sub_order = find_sub_order(connection, account_id, sub_order_id)
    assert sub_order is not None
    if sub_order.status != PENDING:
        raise NotPending(sub_order.status)
    numbers = fail_sub_order(connection, sub_order_id, now_ms)
    for number_id in inventory_ids(connection, account_id, numbers):
        delete_number(connection, account_id, number_id, now_ms)
    if settle_order(connection, sub_order.order_id, now_ms) is not None:
        announce(connection, account_id, sub_order.order_id, now_ms)
    return find_sub_order(connection, account_id, sub_order_id)


def announce(connection: Connection, account_id: int, order_id: str, now_ms: int) -> None:
    """The order's `number_order.complete` event, into the outbox."""
    order = find_order(connection, account_id, order_id)
    assert order is not None
    enqueue_event(
        connection, account_id, EVENT_TYPE, number_order_with_phone_numbers(order), now_ms
    )
