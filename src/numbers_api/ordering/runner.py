"""The background runner of number orders: a thread in each server worker that claims a due
order (a lease, so that any worker or host may take it and one whose server was killed is taken
over once the lease runs out), completes what it can of it in one transaction, and lets go.

State is only in the database: an order made before a restart completes after it. An attempt
that fails on a transient database error is tried again later (`retry_wait`, by any runner),
`MAX_ATTEMPTS` times in all, counted in the database; one that still fails, or meets any other
error (a defect), fails the order's pending sub orders, their numbers `purchase-failed`
(docs/ordering.md, "Orders")."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Unpack

from numbers_api.background import BackgroundRunner, RunnerOptions, defect, describe
from numbers_api.metrics import NUMBER_ORDERS
from numbers_api.ordering.orders import complete_order, fail_order
from numbers_api.store.database import Database
from numbers_api.store.number_orders import ClaimedOrder, claim_order, release_order

log = logging.getLogger("numbers_api.orders")


class OrderRunner(BackgroundRunner):
    thread_name = "numbers-api-orders"
    kind = "order"

    def __init__(self, database: Database, **options: Unpack[RunnerOptions]) -> None:
        super().__init__(database, **options)
        # Unique among every runner sharing the database, and says where it runs.
        self.name = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"

    def run_next(self) -> bool:
        """Claim a due order and take it as far as it goes now; False if none was due."""
        with self.database.transaction() as connection:
            order = claim_order(connection, self.name, _now_ms(), self.lease_ms)
        if order is None:
            return False
        try:
            with self.database.transaction() as connection:
                status = complete_order(connection, order, self.name, _now_ms())
        except Exception as error:  # nothing of the attempt was kept
            self._attempt_failed(order, error)
            return True
        if status is not None:
            NUMBER_ORDERS.labels(outcome=status).inc()
            log.info("number order %s: %s, by %s", order.id, status, self.name)
        return True

    def _attempt_failed(self, order: ClaimedOrder, error: Exception) -> None:
        wait = self.retry_wait(error, order.attempts)
        now = _now_ms()
        status = None
        with self.database.transaction() as connection:
            if wait is not None:
                release_order(connection, order.id, self.name, now + round(wait * 1000))
            else:
                status = fail_order(connection, order, now)
        if wait is not None:
            self.counted_retry(error)
            log.warning(
                "number order %s failed (%s), try %d of %d; trying again in %.1f s",
                order.id,
                describe(error),
                order.attempts,
                self.max_attempts,
                wait,
            )
            return
        if status is not None:
            NUMBER_ORDERS.labels(outcome=status).inc()
        log.error("number order %s failed for good", order.id, exc_info=defect(error))


def _now_ms() -> int:
    return int(time.time() * 1000)
