"""A worker's indexes within their memory budget: evicted least recently asked first, never kept
past the budget, small accounts left to SQL, builds one at a time on one thread."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from numbers_api.store.accounts import Caller, authentication
from numbers_api.store.database import Database
from numbers_api.store.number_index import IndexMode
from numbers_api.store.number_indexes import NumberIndexes
from tests.support.factories import Inventory, number_record

NUMBERS = 300


def account(inventory: Inventory, name: str, numbers: int = NUMBERS) -> Caller:
    key = inventory.account(name)
    inventory.load(name, (number_record() for _ in range(numbers)))
    caller = inventory.database.connection().read(authentication(key))
    assert caller is not None
    return caller


def indexed(indexes: NumberIndexes, database: Database, caller: Caller) -> bool:
    with database.snapshot() as connection:
        return indexes.get(connection, caller) is not None


def held(indexes: NumberIndexes) -> set[int]:
    return {index.account_id for index in indexes.ready()}


def test_the_least_recently_asked_index_goes_first_past_the_budget(
    database: Database, inventory: Inventory
) -> None:
    a, b, c = (account(inventory, name) for name in "abc")
    indexes = NumberIndexes(
        database, IndexMode.INLINE, memory_budget=2**40, smallest=0, kept_at_least=0
    )
    assert indexed(indexes, database, a)
    assert indexed(indexes, database, b)
    indexes.memory_budget = indexes.held_bytes  # room for these two
    assert indexes.current(a) is not None  # a asked for after b
    assert indexed(indexes, database, c)
    assert b.account_id not in held(indexes)
    assert c.account_id in held(indexes)
    assert indexes.held_bytes <= indexes.memory_budget


def test_listing_many_accounts_in_turn_stays_within_the_budget(
    database: Database, inventory: Inventory
) -> None:
    callers = [account(inventory, f"tenant-{i}", 100) for i in range(12)]
    indexes = NumberIndexes(
        database, IndexMode.INLINE, memory_budget=2**40, smallest=0, kept_at_least=0
    )
    indexed(indexes, database, callers[0])
    indexes.memory_budget = 3 * indexes.held_bytes
    for caller in callers:
        indexed(indexes, database, caller)
        assert indexes.held_bytes <= indexes.memory_budget
    assert 0 < len(indexes.ready()) < len(callers)


def test_an_index_in_use_is_not_evicted_for_another(
    database: Database, inventory: Inventory
) -> None:
    a, b = account(inventory, "a"), account(inventory, "b", NUMBERS // 3)  # b fits in a's room
    indexes = NumberIndexes(database, IndexMode.INLINE, memory_budget=2**40, smallest=0)
    assert indexed(indexes, database, a)
    indexes.memory_budget = indexes.held_bytes  # room for one
    assert not indexed(indexes, database, b)  # a was asked for just now: b is answered by SQL
    assert held(indexes) == {a.account_id}


def test_an_index_whose_pages_come_from_the_cache_is_in_use(
    database: Database, inventory: Inventory
) -> None:
    a, b = account(inventory, "a"), account(inventory, "b", NUMBERS // 3)
    indexes = NumberIndexes(database, IndexMode.INLINE, memory_budget=2**40, smallest=0)
    assert indexed(indexes, database, a)
    indexes.memory_budget = indexes.held_bytes
    indexes.kept_at_least = 0.5
    time.sleep(0.6)
    indexes.in_use(a)  # a cached page of a's answered
    assert not indexed(indexes, database, b)
    assert held(indexes) == {a.account_id}


def test_an_account_whose_index_was_not_kept_is_not_built_again_at_once(
    database: Database, inventory: Inventory, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = account(inventory, "a"), account(inventory, "b", NUMBERS // 3)  # b fits in a's room
    indexes = NumberIndexes(database, IndexMode.INLINE, memory_budget=2**40, smallest=0)
    indexed(indexes, database, a)
    indexes.memory_budget = indexes.held_bytes
    indexed(indexes, database, b)
    with caplog.at_level(logging.INFO, logger="numbers_api.index"):
        assert not indexed(indexes, database, b)
    assert not any("built in" in r.getMessage() for r in caplog.records)


def test_an_index_larger_than_the_budget_is_not_kept_nor_built_again(
    database: Database, inventory: Inventory, caplog: pytest.LogCaptureFixture
) -> None:
    caller = account(inventory, "large")
    indexes = NumberIndexes(database, IndexMode.INLINE, memory_budget=1, smallest=0)
    with caplog.at_level(logging.INFO, logger="numbers_api.index"):
        assert not indexed(indexes, database, caller)
        assert not indexed(indexes, database, caller)
    assert indexes.held_bytes == 0
    messages = [record.getMessage() for record in caplog.records]
    assert sum("built in" in message for message in messages) == 1
    assert sum("larger than the index memory budget" in message for message in messages) == 1


def test_an_account_smaller_than_the_threshold_is_left_to_sql(
    database: Database, inventory: Inventory
) -> None:
    small = account(inventory, "small", 9)
    large = account(inventory, "large", 10)
    indexes = NumberIndexes(database, IndexMode.INLINE, smallest=10)
    assert not indexed(indexes, database, small)
    assert indexed(indexes, database, large)
    assert held(indexes) == {large.account_id}


def test_background_builds_run_one_at_a_time_on_one_thread(
    database: Database, inventory: Inventory
) -> None:
    callers = [account(inventory, f"tenant-{i}", 50) for i in range(6)]
    indexes = NumberIndexes(database, IndexMode.BACKGROUND, smallest=0)
    for caller in callers:
        assert not indexed(indexes, database, caller)  # queued; SQL answers meanwhile
    builders = [t for t in threading.enumerate() if t.name == "numbers-api-index"]
    deadline = time.monotonic() + 30
    while len(indexes.ready()) < len(callers) and time.monotonic() < deadline:
        time.sleep(0.05)
    indexes.close()
    assert len(builders) == 1
    assert held(indexes) == {caller.account_id for caller in callers}
