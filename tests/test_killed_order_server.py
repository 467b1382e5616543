"""A server killed with SIGKILL while a number order is still pending, and started again: the
order completes, its number `active`, and its event is in the outbox once. The servers run
`numbers-api serve --workers 2` as users start it, with orders due 3 s after they are made
(NUMBERS_API_ORDER_SECONDS), so that the kill lands before completion."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from numbers_api.ordering.orders import ORDER_SECONDS_VARIABLE
from numbers_api.store.database import Database
from tests.support.factories import Inventory
from tests.support.ordering import Pool
from tests.test_killed_servers import Server, serving, until


def order_status(server: Server, key: str, order_id: str) -> str:
    response = httpx.get(
        f"{server.base_url}/v2/number_orders/{order_id}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    status: str = response.json()["data"]["status"]
    return status


def stored(database: Database, sql: str, *parameters: Any) -> Any:
    with database.snapshot() as connection:
        return connection.execute(sql, parameters).fetchone()[0]


def test_an_order_pending_when_its_server_was_killed_completes_after_a_restart(
    database_url: str, database: Database, inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ORDER_SECONDS_VARIABLE, "3")
    key = inventory.account("killed")
    webhook = "UPDATE accounts SET webhook_url = 'http://127.0.0.1:9/hook'"
    with database.transaction() as connection:
        connection.execute(webhook)
    [number] = Pool(database).found("killed")
    with serving(database_url, "") as server:
        response = httpx.post(
            f"{server.base_url}/v2/number_orders",
            headers={"Authorization": f"Bearer {key}"},
            json={"phone_numbers": [{"phone_number": number}]},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        order_id = response.json()["data"]["id"]
        server.kill()
    assert stored(database, "SELECT status FROM number_orders WHERE id = ?", order_id) == "pending"
    status = "SELECT status FROM phone_numbers WHERE phone_number = ?"
    assert stored(database, status, number) == "purchase-pending"
    with serving(database_url, "") as server:
        until(
            lambda: order_status(server, key, order_id) == "success",
            "the order did not complete after the restart",
        )
    assert stored(database, status, number) == "active"
    assert stored(database, "SELECT count(*) FROM webhook_deliveries") == 1
