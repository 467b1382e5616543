"""A number's emergency settings: enabled, the address used, and the status Telnyx shows.

Used by `POST /v2/phone_numbers/{id}/actions/enable_emergency` and by the
update_emergency_settings job, each inside its own write transaction.
"""

from __future__ import annotations

from numbers_api.domain import PhoneNumber
from numbers_api.store.accounts import bump_data_version
from numbers_api.store.database import Connection
from numbers_api.store.phone_number import find_number

# This server provisions at once, so a number is never left `provisioning` or `deprovisioning`.
ENABLED_STATUS = "active"
DISABLED_STATUS = "disabled"


def set_emergency(
    connection: Connection,
    account_id: int,
    number_id: int,
    *,
    emergency_enabled: bool,
    emergency_address_id: str | None,
    now_ms: int,
) -> PhoneNumber | None:
    """The number after enabling or disabling emergency services, or None if the account has no
    such number. A disabled number keeps no address (Telnyx: the address must be null when
    disabling), so `emergency_address_id` is ignored when `emergency_enabled` is false."""
    address = emergency_address_id if emergency_enabled else None
    status = ENABLED_STATUS if emergency_enabled else DISABLED_STATUS
    updated = connection.execute(
        "UPDATE phone_numbers SET emergency_enabled = ?, emergency_address_id = ?, "
        "emergency_status = ?, updated_at = ? WHERE id = ? AND account_id = ?",
        (emergency_enabled, address, status, now_ms, number_id, account_id),
    ).rowcount
    if not updated:
        return None
    bump_data_version(connection, account_id, [number_id])
    return find_number(connection, account_id, number_id)
