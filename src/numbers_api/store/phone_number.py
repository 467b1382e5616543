"""One phone number of an account, by id: read, changed field by field, or released.

Each write runs inside the caller's write transaction, keeps `phone_number_tags` in step with
`phone_numbers.tags`, and moves the account's data version on, so that the list's caches and
indexes never serve what the write changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from numbers_api.domain import PhoneNumber
from numbers_api.store.accounts import bump_data_version
from numbers_api.store.database import Connection
from numbers_api.store.phone_numbers import FROM, SELECT_LIST, phone_number_from_row
from numbers_api.store.pool import return_to_pool

# The columns a PATCH may set, in the order their assignments are written; only these names are
# ever put into the UPDATE statement.
UPDATABLE_COLUMNS = (
    "tags",
    "external_pin",
    "connection_id",
    "customer_reference",
    "billing_group_id",
    "hd_voice_enabled",
    "messaging_profile_id",  # these two through PATCH /v2/phone_numbers/{id}/messaging
    "messaging_product",
    "deletion_lock_enabled",  # through an update_phone_numbers job
)
Changes = Mapping[str, str | bool | list[str] | None]


# The columns that name something else of the account: the table that holds it, and what it is.
ASSOCIATIONS = {
    "connection_id": ("connections", "connection"),
    "billing_group_id": ("billing_groups", "billing group"),
    "messaging_profile_id": ("messaging_profiles", "messaging profile"),
}


class MissingAssociation(Exception):
    """The update names a connection or billing group the account does not have; the message
    says which, for the caller."""

    def __init__(self, field: str, value: object) -> None:
        super().__init__(f"{field} {value!r} is not a {ASSOCIATIONS[field][1]} of this account.")
        self.field = field


def missing_association(
    connection: Connection, account_id: int, changes: Mapping[str, object]
) -> MissingAssociation | None:
    """The first of the changes' references that the account does not have, if any."""
    for field, (table, _) in ASSOCIATIONS.items():
        value = changes.get(field)
        if (
            value is not None
            and not connection.execute(
                f"SELECT 1 FROM {table} WHERE account_id = ? AND id = ?", (account_id, value)
            ).fetchone()
        ):
            return MissingAssociation(field, value)
    return None


class DeletionLocked(Exception):
    """The number has deletion lock enabled."""


def find_number(connection: Connection, account_id: int, number_id: int) -> PhoneNumber | None:
    row = connection.execute(
        f"SELECT {SELECT_LIST} {FROM} WHERE p.id = ? AND p.account_id = ?",
        (number_id, account_id),
    ).fetchone()
    return None if row is None else phone_number_from_row(row)


def update_number(
    connection: Connection,
    account_id: int,
    number_id: int,
    changes: Changes,
    now_ms: int,
    *,
    updatable: Sequence[str] = UPDATABLE_COLUMNS,
) -> PhoneNumber | None:
    """The number after setting only the given columns (and `updated_at`), or None if the account
    has no such number; `updatable` lists the columns the caller may set, in the order their
    assignments are written. Raises MissingAssociation before anything is written."""
    if find_number(connection, account_id, number_id) is None:
        return None
    missing = missing_association(connection, account_id, changes)
    if missing is not None:
        raise missing
    columns = [column for column in updatable if column in changes]
    values = [orjson.dumps(changes[c]).decode() if c == "tags" else changes[c] for c in columns]
    assignments = ", ".join(f"{column} = ?" for column in [*columns, "updated_at"])
    # Only the given columns: a concurrent update of other fields keeps its changes.
    updated = connection.execute(
        f"UPDATE phone_numbers SET {assignments} WHERE id = ? AND account_id = ?",
        [*values, now_ms, number_id, account_id],
    ).rowcount
    if not updated:  # released since it was read
        return None
    tags = changes.get("tags")
    if isinstance(tags, list):
        connection.execute("DELETE FROM phone_number_tags WHERE phone_number_id = ?", (number_id,))
        connection.copy_rows(
            "phone_number_tags",
            ("account_id", "tag", "phone_number_id"),
            [(account_id, tag, number_id) for tag in tags],
        )
    bump_data_version(connection, account_id, [number_id])
    return find_number(connection, account_id, number_id)


def delete_number(
    connection: Connection, account_id: int, number_id: int, now_ms: int
) -> PhoneNumber | None:
    """The number as it was released (status `deleted`, `updated_at` now), or None if the account
    has no such number. Raises DeletionLocked; the caller's transaction then undoes the touch."""
    # Touching the row first locks it (PostgreSQL), so what is answered is what was deleted.
    touched = connection.execute(
        "UPDATE phone_numbers SET updated_at = ? WHERE id = ? AND account_id = ?",
        (now_ms, number_id, account_id),
    ).rowcount
    number = find_number(connection, account_id, number_id) if touched else None
    if number is None:
        return None
    if number.deletion_lock_enabled:
        raise DeletionLocked(number_id)
    connection.execute("DELETE FROM phone_number_tags WHERE phone_number_id = ?", (number_id,))
    connection.execute("DELETE FROM phone_numbers WHERE id = ?", (number_id,))
    return_to_pool(connection, [number.phone_number], now_ms)
    bump_data_version(connection, account_id, [number_id])
    return number._replace(status="deleted")


def set_status(
    connection: Connection, account_id: int, phone_numbers: Sequence[str], status: str, now_ms: int
) -> list[int]:
    """The account's given numbers (those it still has) put in `status`, as one write that moves
    the data version on; their ids."""
    if not phone_numbers:
        return []
    marks = ", ".join("?" * len(phone_numbers))
    ids = [
        int(row[0])
        for row in connection.execute(
            f"UPDATE phone_numbers SET status = ?, updated_at = ? WHERE account_id = ? "
            f"AND phone_number IN ({marks}) RETURNING id",
            [status, now_ms, account_id, *phone_numbers],
        ).fetchall()
    ]
    bump_data_version(connection, account_id, ids)
    return ids
