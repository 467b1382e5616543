"""A number's messaging settings: the columns the main list shows (messaging profile, tags, type,
country) and the messaging columns beside them, read and changed in the caller's transaction.

The update goes through `update_number`, so tags, `updated_at` and the data version change as
for any other update of a number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from numbers_api.domain import MessagingSettings, PhoneNumber
from numbers_api.store.database import Connection
from numbers_api.store.messaging_profiles import MessagingProfileDirectory
from numbers_api.store.phone_number import find_number, update_number

_COLUMNS = (
    "id, messaging_product, eligible_messaging_products, message_count, inbound_outbound_ratio, "
    "success_ratio, spam_ratio"
)
MessagingChanges = Mapping[str, str | list[str] | None]


class UnknownMessagingProfile(Exception):
    """The update names a messaging profile the account does not have."""


class IneligibleProduct(Exception):
    """The update names a messaging product the number is not eligible for."""

    def __init__(self, product: str, eligible: list[str]) -> None:
        super().__init__(product)
        self.product = product
        self.eligible = eligible


def with_messaging_settings(
    connection: Connection, account_id: int, numbers: Sequence[PhoneNumber]
) -> list[MessagingSettings]:
    """The numbers, in their order, each with its messaging columns."""
    if not numbers:
        return []
    among, id_parameters = connection.dialect.among_ids("id", [number.id for number in numbers])
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM phone_numbers WHERE account_id = ? AND {among}",
        [account_id, *id_parameters],
    ).fetchall()
    by_id = {row[0]: row for row in rows}
    return [_settings(number, by_id[number.id]) for number in numbers]


def find_messaging_settings(
    connection: Connection, account_id: int, number_id: int
) -> MessagingSettings | None:
    number = find_number(connection, account_id, number_id)
    return None if number is None else with_messaging_settings(connection, account_id, [number])[0]


def update_messaging_settings(
    connection: Connection,
    account_id: int,
    number_id: int,
    changes: MessagingChanges,
    now_ms: int,
    *,
    profiles: MessagingProfileDirectory,
) -> MessagingSettings | None:
    """The number's settings after setting only the given fields (None: detach the profile), or
    None if the account has no such number. Raises UnknownMessagingProfile or IneligibleProduct
    (or MessagingProfilesUnavailable, when a profile cannot be looked up) before anything is
    written."""
    current = find_messaging_settings(connection, account_id, number_id)
    if current is None:
        return None
    profile_id = changes.get("messaging_profile_id")
    if isinstance(profile_id, str) and profile_id not in profiles.names(
        connection, account_id, {profile_id}
    ):
        raise UnknownMessagingProfile(profile_id)
    product = changes.get("messaging_product")
    if isinstance(product, str) and product not in current.eligible_messaging_products:
        raise IneligibleProduct(product, current.eligible_messaging_products)
    if update_number(connection, account_id, number_id, changes, now_ms) is None:
        return None
    return find_messaging_settings(connection, account_id, number_id)


def _settings(number: PhoneNumber, row: Sequence[Any]) -> MessagingSettings:
    _, product, eligible, count, inbound_outbound, success, spam = row
    return MessagingSettings(
        number=number,
        messaging_product=str(product),
        eligible_messaging_products=orjson.loads(str(eligible)),
        message_count=int(count),
        inbound_outbound_ratio=float(inbound_outbound),
        success_ratio=float(success),
        spam_ratio=float(spam),
    )
