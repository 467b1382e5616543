"""`available_numbers.in_inventory`: whether an inventory holds a pool number, kept by the
database's own triggers whichever way a number enters or leaves an inventory or the pool, so that
a search can count its matches from the pool's rows alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from numbers_api.importing.run import BATCH
from numbers_api.pool.generate import generate_pool
from numbers_api.store.accounts import reset_account
from numbers_api.store.available_numbers import load_pool
from numbers_api.store.database import Database
from numbers_api.store.importer import _REBUILD_FROM
from tests.conftest import ApiClient, make_client
from tests.support.databases import fresh_database_url, migrated_before
from tests.support.factories import Inventory, number_record
from tests.support.ordering import Pool
from tests.support.pool import add_to_pool, pooled
from tests.test_available_numbers import stocked

SEARCH = "/v2/available_phone_numbers"
MARK_MIGRATION = 17  # its version: store/schema.py, MIGRATIONS


def marked(database: Database, number: str) -> bool:
    with database.snapshot() as connection:
        (mark,) = connection.execute(
            "SELECT in_inventory FROM available_numbers WHERE phone_number = ?", (number,)
        ).fetchone()
    return bool(mark)


def marks_that_disagree(database: Database) -> list[str]:
    """The pool's numbers whose mark says otherwise than the inventories."""
    with database.snapshot() as connection:
        rows = connection.execute(
            "SELECT a.phone_number FROM available_numbers a WHERE a.in_inventory <> EXISTS "
            "(SELECT 1 FROM phone_numbers p WHERE p.phone_number = a.phone_number)"
        ).fetchall()
    return [number for (number,) in rows]


@pytest.fixture
def client(database_url: str, database: Database) -> ApiClient:
    return make_client(database_url, runners=False)


def number_id(client: ApiClient, key: str, number: str) -> str:
    body = client.get("/v2/phone_numbers", key, f"filter[phone_number]={number}").json()
    [item] = body["data"]
    return str(item["id"])


def test_a_pool_number_imported_into_an_inventory_is_marked(
    database: Database, inventory: Inventory
) -> None:
    taken, free = pooled(database, 2)
    inventory.account("owner")
    inventory.load("owner", [{"phone_number": taken}])
    assert marked(database, taken)
    assert not marked(database, free)


def test_a_large_import_marks_its_pool_numbers_at_its_end(
    database: Database, inventory: Inventory
) -> None:
    [last] = pooled(database, 1)  # written after SQLite's import has set the trigger aside
    records = [number_record() for _ in range(_REBUILD_FROM + BATCH)]
    inventory.account("owner")
    inventory.load("owner", [*records, {"phone_number": last}])
    assert marked(database, last)


def test_a_number_deleted_from_its_inventory_is_unmarked(
    client: ApiClient, database: Database, inventory: Inventory
) -> None:
    [number] = pooled(database, 1)
    key = inventory.account("owner")
    inventory.load("owner", [{"phone_number": number}])
    response = client.request("DELETE", f"/v2/phone_numbers/{number_id(client, key, number)}", key)
    assert response.status_code == 200, response.text
    assert not marked(database, number)


def test_an_accounts_reset_unmarks_its_numbers(database: Database, inventory: Inventory) -> None:
    numbers = pooled(database, 2)
    inventory.account("owner")
    inventory.load("owner", [{"phone_number": number} for number in numbers])
    assert reset_account(database, "owner")
    assert not any(marked(database, number) for number in numbers)


def test_a_number_new_to_the_pool_that_an_inventory_holds_is_marked(
    database: Database, inventory: Inventory
) -> None:
    inventory.account("owner")
    inventory.load("owner", [{"phone_number": "+13035550100"}])
    add_to_pool(database, "+13035550100", "+13035550101")
    assert marked(database, "+13035550100")
    assert not marked(database, "+13035550101")


def test_a_loaded_pool_marks_the_numbers_an_inventory_holds(
    database: Database, inventory: Inventory
) -> None:
    inventory.account("owner")
    inventory.load("owner", [{"phone_number": "+13035550100"}])
    numbers = [stocked(phone_number="+13035550100"), stocked(phone_number="+13035550101")]
    with database.transaction() as connection:
        load_pool(connection, numbers, replace=False, now_ms=0)
    assert marked(database, "+13035550100")
    assert not marked(database, "+13035550101")


def test_a_generated_pool_marks_the_numbers_an_inventory_holds_and_never_lists_them(
    client: ApiClient, inventory: Inventory, database: Database
) -> None:
    pool = sorted(n.phone_number for n in generate_pool("CA"))
    first, second = pool[:2]
    key = inventory.account("owner")
    inventory.load("owner", [{"phone_number": first}])
    body = client.get(SEARCH, key, "filter[country_code]=CA&filter[limit]=1").json()
    assert [item["phone_number"] for item in body["data"]] == [second]
    assert body["meta"]["total_results"] == len(pool) - 1
    assert marked(database, first)
    assert marks_that_disagree(database) == []


def test_an_ordered_number_is_marked_and_a_cancelled_one_unmarked(
    client: ApiClient, database: Database, inventory: Inventory
) -> None:
    key = inventory.account("orders")
    [number] = Pool(database).found("orders")
    response = client.request(
        "POST", "/v2/number_orders", key, json={"phone_numbers": [{"phone_number": number}]}
    )
    assert response.status_code == 200, response.text
    assert marked(database, number)
    [sub_order] = response.json()["data"]["sub_number_orders_ids"]
    cancelled = client.request("PATCH", f"/v2/sub_number_orders/{sub_order}/cancel", key)
    assert cancelled.status_code == 200, cancelled.text
    assert not marked(database, number)


def inventory_row(folder: Path, number: str) -> tuple[list[str], tuple[Any, ...]]:
    """The columns and row of `number` in an inventory, imported into a database of its own: the
    import of today writes only the schema of today."""
    folder.mkdir()
    with fresh_database_url(folder) as url:
        donor = Database(url)
        Inventory(donor).account("owner")
        Inventory(donor).load("owner", [{"phone_number": number}])
        cursor = donor.connection().execute("SELECT * FROM phone_numbers")
        columns = [column[0] for column in cursor.description]
        row = tuple(cursor.fetchone())
        donor.close()
    return columns, row


def test_the_migration_marks_the_numbers_inventories_held_before_it(
    database_url: str, tmp_path: Path
) -> None:
    columns, row = inventory_row(tmp_path / "donor", "+13035550100")
    with migrated_before(MARK_MIGRATION):
        old = Database(database_url)
        Inventory(old).account("owner")  # the donor's account id: the first
        with old.transaction() as connection:
            connection.copy_rows("phone_numbers", columns, [row])
        add_to_pool(old, "+13035550100", "+13035550101")
        old.close()
    database = Database(database_url)
    assert marked(database, "+13035550100")
    assert not marked(database, "+13035550101")
    database.close()
