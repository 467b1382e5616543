"""Numbers' voice settings: the phone_numbers columns of `domain.VOICE_SETTINGS`, read for a page
of numbers, and changed column by column."""

from __future__ import annotations

from collections.abc import Sequence

from numbers_api.domain import VOICE_SETTINGS, PhoneNumber
from numbers_api.store.database import Connection
from numbers_api.store.phone_number import Changes, update_number

VOICE_COLUMNS = tuple(setting.column for setting in VOICE_SETTINGS)
# A PATCH of the voice settings may also move the number to another connection.
UPDATABLE_VOICE_COLUMNS = ("connection_id", *VOICE_COLUMNS)
# One number's voice settings: column -> value as stored (SQLite gives booleans as 0 and 1).
Settings = dict[str, object]
CNAM_COLUMNS = ("cnam_listing_enabled", "cnam_listing_details")


class CnamListingWithoutDetails(Exception):
    """The change would leave the number's CNAM listing enabled without its details, which
    Telnyx's contract says it requires."""


def find_voice_settings(
    connection: Connection, account_id: int, ids: Sequence[int]
) -> dict[int, Settings]:
    """The voice settings of those of the numbers that the account has, by id."""
    if not ids:
        return {}
    # The unary + keeps SQLite from reading the account's index instead of the ids' primary key.
    among, id_parameters = connection.dialect.among_ids("id", ids)
    rows = connection.execute(
        f"SELECT id, {', '.join(VOICE_COLUMNS)} FROM phone_numbers "
        f"WHERE {among} AND +account_id = ?",
        [*id_parameters, account_id],
    ).fetchall()
    return {row[0]: dict(zip(VOICE_COLUMNS, row[1:], strict=True)) for row in rows}


def update_voice_settings(
    connection: Connection, account_id: int, number_id: int, changes: Changes, now_ms: int
) -> PhoneNumber | None:
    """The number after setting only the given voice columns (and `updated_at`, and the data
    version), or None if the account has no such number. Raises MissingAssociation, or
    CnamListingWithoutDetails (checked only when the change touches the CNAM listing), before
    anything is written."""
    if any(column in changes for column in CNAM_COLUMNS):
        current = find_voice_settings(connection, account_id, [number_id])
        if number_id not in current:
            return None
        after = {**current[number_id], **changes}
        if after["cnam_listing_enabled"] and not after["cnam_listing_details"]:
            raise CnamListingWithoutDetails(number_id)
    return update_number(
        connection, account_id, number_id, changes, now_ms, updatable=UPDATABLE_VOICE_COLUMNS
    )
