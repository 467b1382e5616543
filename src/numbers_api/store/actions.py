"""The actions on phone numbers: moving a number into or out of a bundle, and checking which
numbers an account owns."""

from __future__ import annotations

from collections.abc import Sequence

from numbers_api.domain import PhoneNumber
from numbers_api.store.accounts import bump_data_version
from numbers_api.store.database import Connection
from numbers_api.store.phone_number import find_number

# Numbers an account still holds but can no longer change: released, ported away, or never
# bought or ported in.
NOT_EDITABLE_STATUSES = ("deleted", "ported-out", "purchase-failed", "port-failed")


class InAnotherBundle(Exception):
    """The number is in another bundle: it must be removed from that one first."""

    def __init__(self, bundle_id: str) -> None:
        super().__init__(bundle_id)
        self.bundle_id = bundle_id


def change_bundle(
    connection: Connection, account_id: int, number_id: int, bundle_id: str | None, now_ms: int
) -> PhoneNumber | None:
    """The number after putting it into `bundle_id` (None: out of its bundle), or None if the
    account has no such number. Raises InAnotherBundle, having written nothing."""
    where = "id = ? AND account_id = ?"
    parameters: list[object] = [bundle_id, now_ms, number_id, account_id]
    if bundle_id is not None:
        # In one statement, so that two concurrent assignments cannot both pass the check.
        where += " AND (bundle_id IS NULL OR bundle_id = ?)"
        parameters.append(bundle_id)
    updated = connection.execute(
        f"UPDATE phone_numbers SET bundle_id = ?, updated_at = ? WHERE {where}", parameters
    ).rowcount
    if not updated:
        row = connection.execute(
            "SELECT bundle_id FROM phone_numbers WHERE id = ? AND account_id = ?",
            (number_id, account_id),
        ).fetchone()
        if row is None:
            return None
        raise InAnotherBundle(row[0])
    bump_data_version(connection, account_id, [number_id])
    return find_number(connection, account_id, number_id)


def owned_numbers(
    connection: Connection, account_id: int, phone_numbers: Sequence[str]
) -> dict[str, int]:
    """The id of each of `phone_numbers` that the account owns in an editable state."""
    if not phone_numbers:
        return {}
    rows = connection.execute(
        "SELECT phone_number, id FROM phone_numbers WHERE account_id = ? "
        f"AND phone_number IN ({', '.join('?' * len(phone_numbers))}) "
        f"AND status NOT IN ({', '.join('?' * len(NOT_EDITABLE_STATUSES))})",
        [account_id, *phone_numbers, *NOT_EDITABLE_STATUSES],
    ).fetchall()
    return {phone_number: int(number_id) for phone_number, number_id in rows}
