"""A number's way back to the available pool: a number deleted from an inventory (by
`DELETE /v2/phone_numbers/{id}`, a delete job, or a cancelled sub number order) can be found
and ordered again only once `POOL_RETURN_SECONDS` have passed (docs/ordering.md, "Orders")."""

from __future__ import annotations

from collections.abc import Sequence

from numbers_api.settings import seconds_from_environment
from numbers_api.store.database import Connection

POOL_RETURN_VARIABLE = "NUMBERS_API_POOL_RETURN_SECONDS"
DEFAULT_POOL_RETURN_SECONDS = 86_400.0


def pool_return_ms() -> int:
    """How long a deleted number stays out of the pool: `NUMBERS_API_POOL_RETURN_SECONDS`, else
    24 hours."""
    seconds = seconds_from_environment(
        POOL_RETURN_VARIABLE, DEFAULT_POOL_RETURN_SECONDS, 0, 365 * 86_400
    )
    return round(seconds * 1000)


def return_to_pool(connection: Connection, phone_numbers: Sequence[str], now_ms: int) -> None:
    """The numbers, just deleted from an inventory, available again after the pool's delay (a
    number that never came from the pool is not in it: nothing happens)."""
    if not phone_numbers:
        return
    marks = ", ".join("?" * len(phone_numbers))
    connection.execute(
        f"UPDATE available_numbers SET available_from = ? WHERE phone_number IN ({marks})",
        [now_ms + pool_return_ms(), *phone_numbers],
    )
