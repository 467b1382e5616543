"""A number's voicemail settings: none until they are created, then changed field by field.

They are not part of the number as the lists show it, so writing them changes neither the
number's `updated_at` nor the account's data version.
"""

from __future__ import annotations

from dataclasses import dataclass

from numbers_api.store.database import Connection


@dataclass(frozen=True, slots=True)
class Voicemail:
    enabled: bool
    pin: str | None


@dataclass(frozen=True, slots=True)
class VoicemailFields:
    """The fields a request gives; None: not given (neither field may be set to null)."""

    enabled: bool | None = None
    pin: str | None = None

    def columns(self) -> dict[str, bool | str]:
        """The given fields by column name; only these two names ever reach a statement."""
        given = {"enabled": self.enabled, "pin": self.pin}
        return {column: value for column, value in given.items() if value is not None}


class NoSuchNumber(Exception):
    """The account has no such number."""


class VoicemailExists(Exception):
    """The number already has voicemail settings."""


def find_voicemail(connection: Connection, account_id: int, number_id: int) -> Voicemail | None:
    """The number's settings; None if it has none. Raises NoSuchNumber."""
    row = connection.execute(
        "SELECT v.enabled, v.pin FROM phone_numbers p "
        "LEFT JOIN phone_number_voicemail v ON v.phone_number_id = p.id "
        "WHERE p.id = ? AND p.account_id = ?",
        (number_id, account_id),
    ).fetchone()
    if row is None:
        raise NoSuchNumber(number_id)
    return None if row[0] is None else Voicemail(bool(row[0]), row[1])


def create_voicemail(
    connection: Connection, account_id: int, number_id: int, fields: VoicemailFields
) -> Voicemail:
    """New settings: the given fields; voicemail disabled and no pin unless given. Raises
    NoSuchNumber or VoicemailExists before anything is written."""
    if find_voicemail(connection, account_id, number_id) is not None:
        raise VoicemailExists(number_id)
    voicemail = Voicemail(bool(fields.enabled), fields.pin)
    # A concurrent create may have come first: the primary key keeps that one, this is refused.
    created = connection.execute(
        "INSERT INTO phone_number_voicemail (phone_number_id, enabled, pin) VALUES (?, ?, ?) "
        "ON CONFLICT (phone_number_id) DO NOTHING",
        (number_id, voicemail.enabled, voicemail.pin),
    ).rowcount
    if not created:
        raise VoicemailExists(number_id)
    return voicemail


def update_voicemail(
    connection: Connection, account_id: int, number_id: int, fields: VoicemailFields
) -> Voicemail | None:
    """The settings after changing only the given fields; None if the number has none. Raises
    NoSuchNumber."""
    if find_voicemail(connection, account_id, number_id) is None:
        return None
    columns = fields.columns()
    if columns:
        assignments = ", ".join(f"{column} = ?" for column in columns)
        # Only the given columns: a concurrent change of the other keeps its value.
        connection.execute(
            f"UPDATE phone_number_voicemail SET {assignments} WHERE phone_number_id = ?",
            [*columns.values(), number_id],
        )
    return find_voicemail(connection, account_id, number_id)
