"""Index builds in a process of their own: one build per data version, kept in the database
for every worker and the next start to load, a small account left to SQL, a builder that died
started again."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from numbers_api.query.conditions import Field
from numbers_api.store.accounts import Caller, authentication, bump_data_version, current_caller
from numbers_api.store.database import Database
from numbers_api.store.index_builder import (
    BuildFailed,
    IndexBuilder,
    build_into,
    load_snapshot,
    save_snapshot,
)
from numbers_api.store.number_index import IndexMode, build_index
from numbers_api.store.number_indexes import NumberIndexes
from tests.conftest import free_port
from tests.support.factories import Inventory, number_record


def account(inventory: Inventory, name: str, numbers: int) -> Caller:
    key = inventory.account(name)
    inventory.load(name, (number_record() for _ in range(numbers)))
    caller = inventory.database.connection().read(authentication(key))
    assert caller is not None
    return caller


@pytest.fixture
def builders(database: Database, tmp_path: Path) -> Iterator[list[IndexBuilder]]:
    """Two workers' builders on one host: one directory."""
    made = [IndexBuilder(database.url, tmp_path, smallest=10) for _ in range(2)]
    yield made
    for builder in made:
        builder.close()


def snapshot_versions(database: Database, caller: Caller) -> list[int]:
    rows = database.connection().fetch(
        "SELECT DISTINCT data_version FROM index_snapshots WHERE account_id = ?",
        (caller.account_id,),
    )
    return [row[0] for row in rows]


def test_a_hosts_second_worker_loads_the_index_the_first_built(
    builders: list[IndexBuilder], database: Database, inventory: Inventory
) -> None:
    caller = account(inventory, "owner", 40)
    first, second = (builder.build(caller.account_id) for builder in builders)
    assert first.built_here
    assert not second.built_here
    assert second.indexed
    assert second.data_version == caller.data_version
    with database.snapshot() as connection:
        index = load_snapshot(connection, caller.account_id, caller.data_version)
    assert index is not None
    assert (index.account_id, index.data_version) == (caller.account_id, caller.data_version)
    assert len(index.ids) == 40


def test_an_index_kept_in_the_database_is_not_built_again_by_the_next_server(
    builders: list[IndexBuilder], database: Database, inventory: Inventory
) -> None:
    caller = account(inventory, "owner", 12)
    assert build_into(database, caller.account_id, smallest=10).built_here
    assert not builders[0].build(caller.account_id).built_here


def test_an_index_kept_in_another_format_is_built_again_not_loaded(
    builders: list[IndexBuilder], database: Database, inventory: Inventory
) -> None:
    caller = account(inventory, "owner", 12)
    build_into(database, caller.account_id, smallest=10)
    with database.transaction() as connection:  # as an older version of the code kept it
        connection.execute("UPDATE index_snapshots SET format = format - 1")
    indexes = NumberIndexes(database, IndexMode.BACKGROUND, smallest=10)
    indexes.preload()
    indexes.close()
    assert indexes.ready() == []
    assert builders[0].build(caller.account_id).built_here
    [(formats,)] = database.connection().fetch("SELECT count(DISTINCT format) FROM index_snapshots")
    assert formats == 1


def test_a_new_data_version_is_built_again_and_the_older_one_dropped(
    builders: list[IndexBuilder], database: Database, inventory: Inventory
) -> None:
    caller = account(inventory, "owner", 20)
    older = builders[0].build(caller.account_id)
    inventory.load("owner", [number_record()])
    newer = builders[1].build(caller.account_id)
    assert newer.built_here
    assert newer.data_version > older.data_version
    assert snapshot_versions(database, caller) == [newer.data_version]
    with database.snapshot() as connection:
        index = load_snapshot(connection, caller.account_id, newer.data_version)
    assert index is not None
    assert len(index.ids) == 21


def test_an_index_larger_than_a_part_is_kept_in_parts(
    database: Database, inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("numbers_api.store.index_builder.SNAPSHOT_PART_BYTES", 1000)
    caller = account(inventory, "owner", 30)
    build_into(database, caller.account_id, smallest=10)
    [(parts,)] = database.connection().fetch(
        "SELECT count(*) FROM index_snapshots WHERE account_id = ?", (caller.account_id,)
    )
    assert parts > 1
    with database.snapshot() as connection:
        index = load_snapshot(connection, caller.account_id, caller.data_version)
    assert index is not None
    assert len(index.ids) == 30


def test_an_index_with_arrays_larger_than_a_pickle_frame_is_kept_whole(
    database: Database, inventory: Inventory
) -> None:
    caller = account(inventory, "owner", 12)
    with database.snapshot() as connection:
        index = build_index(connection, caller)
    # Arrays over a pickle frame (64 KB) reach the writer as buffers of their own.
    large = dataclasses.replace(index, sorted_ids=np.arange(100_000, dtype=np.int64))
    save_snapshot(database, large)
    with database.snapshot() as connection:
        kept = load_snapshot(connection, caller.account_id, caller.data_version)
    assert kept is not None
    assert np.array_equal(kept.sorted_ids, large.sorted_ids)
    assert np.array_equal(kept.ids, index.ids)


def test_a_small_account_gets_no_index(
    builders: list[IndexBuilder], database: Database, inventory: Inventory
) -> None:
    caller = account(inventory, "owner", 9)
    built = builders[0].build(caller.account_id)
    assert not built.indexed
    assert built.data_version == caller.data_version
    assert snapshot_versions(database, caller) == []


def test_a_builder_process_that_died_is_started_again(
    builders: list[IndexBuilder], inventory: Inventory
) -> None:
    a, b = account(inventory, "a", 15), account(inventory, "b", 15)
    builders[0].build(a.account_id)
    process = builders[0]._process  # what the test kills
    assert process is not None
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    built = builders[0].build(b.account_id)
    assert built.built_here
    assert built.data_version == b.data_version


def test_a_starting_worker_loads_the_kept_indexes_before_any_request(
    database: Database, inventory: Inventory
) -> None:
    caller = account(inventory, "owner", 30)
    build_into(database, caller.account_id, smallest=10)
    indexes = NumberIndexes(database, IndexMode.BACKGROUND, smallest=10)
    indexes.preload()
    assert indexes.current(caller) is not None
    indexes.close()


def test_a_starting_worker_loads_the_largest_kept_indexes_first(
    database: Database, inventory: Inventory, caplog: pytest.LogCaptureFixture
) -> None:
    small, large = account(inventory, "small", 20), account(inventory, "large", 200)
    for caller in (small, large):
        build_into(database, caller.account_id, smallest=10)
    indexes = NumberIndexes(database, IndexMode.BACKGROUND, smallest=10)
    with caplog.at_level(logging.INFO, logger="numbers_api.index"):
        indexes.preload()
    indexes.close()
    loaded = [r.args[0] for r in caplog.records if "ready: kept" in r.getMessage()]  # type: ignore[index]
    assert loaded == [large.account_id, small.account_id]


def test_a_starting_worker_loads_no_kept_index_past_its_budget(
    database: Database, inventory: Inventory
) -> None:
    caller = account(inventory, "owner", 30)
    build_into(database, caller.account_id, smallest=10)
    indexes = NumberIndexes(database, IndexMode.BACKGROUND, memory_budget=1, smallest=10)
    indexes.preload()
    indexes.close()
    assert indexes.ready() == []


def test_a_kept_index_older_than_its_account_is_brought_forward_not_built(
    database: Database, inventory: Inventory
) -> None:
    caller = account(inventory, "owner", 30)
    build_into(database, caller.account_id, smallest=10)
    with database.transaction() as connection:  # a write as the API's are made
        [(first,)] = connection.fetch(
            "SELECT min(id) FROM phone_numbers WHERE account_id = ?", (caller.account_id,)
        )
        connection.execute(
            "UPDATE phone_numbers SET customer_reference = 'moved' WHERE id = ?", (first,)
        )
        bump_data_version(connection, caller.account_id, [first])
        now = current_caller(connection, caller)
    indexes = NumberIndexes(database, IndexMode.BACKGROUND, smallest=10)
    indexes.preload()
    with database.snapshot() as connection:
        index = indexes.get(connection, now)
    indexes.close()
    assert index is not None
    assert index.data_version == now.data_version
    assert list(index.values[Field.CUSTOMER_REFERENCE].get("moved") or []) == [
        int(np.flatnonzero(index.ids == first)[0])
    ]


def test_a_build_while_the_database_cannot_be_reached_fails_as_transient(
    tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens there
    builder = IndexBuilder(f"postgresql://127.0.0.1:{port}/none", tmp_path, smallest=10)
    try:
        with pytest.raises(BuildFailed) as failed:
            builder.build(1)
        assert failed.value.transient
    finally:
        builder.close()
