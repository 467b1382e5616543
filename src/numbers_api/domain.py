"""The vocabulary every layer shares: a phone number's fields and the values each one allows.

The value lists are copied from the contract's `PhoneNumberDetailed` schema (and, for the filters,
from the list operation's `filter` schema); a test checks that they still agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = (
    "purchase-pending",
    "purchase-failed",
    "port-pending",
    "port-failed",
    "active",
    "deleted",
    "emergency-only",
    "ported-out",
    "port-out-pending",
    "requirement-info-pending",
    "requirement-info-under-review",
    "requirement-info-exception",
    "provision-pending",
)
FILTERABLE_STATUSES = (
    "purchase-pending",
    "purchase-failed",
    "port-pending",
    "active",
    "deleted",
    "port-failed",
    "emergency-only",
    "ported-out",
    "port-out-pending",
)
PHONE_NUMBER_TYPES = (
    "local",
    "toll_free",
    "mobile",
    "national",
    "shared_cost",
    "landline",
    "tollfree",
    "shortcode",
    "longcode",
)
FILTERABLE_NUMBER_TYPES = ("local", "national", "toll_free", "mobile", "shared_cost")
# Numbers bought before July 2023 may still carry a legacy type; a filter on the current
# name finds them too.
LEGACY_NUMBER_TYPES = {"toll_free": ("tollfree",)}
EMERGENCY_STATUSES = ("active", "deprovisioning", "disabled", "provisioning", "provisioning-failed")
INBOUND_CALL_SCREENING = ("disabled", "reject_calls", "flag_calls")
SOURCE_TYPES = ("number_order", "port_request")
USAGE_PAYMENT_METHODS = ("pay-per-minute", "channel")

BOOLEAN_FIELDS = (
    "emergency_enabled",
    "call_forwarding_enabled",
    "cnam_listing_enabled",
    "caller_id_name_enabled",
    "call_recording_enabled",
    "t38_fax_gateway_enabled",
    "hd_voice_enabled",
    "deletion_lock_enabled",
)
TIMESTAMP_FIELDS = ("purchased_at", "created_at", "updated_at")


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """One number as stored: timestamps in milliseconds since the Unix epoch (UTC)."""

    id: int
    phone_number: str
    country_iso_alpha2: str
    status: str
    tags: list[str]
    external_pin: str | None
    connection_id: str | None
    connection_name: str | None
    customer_reference: str | None
    messaging_profile_id: str | None
    billing_group_id: str | None
    emergency_enabled: bool
    emergency_address_id: str | None
    emergency_status: str
    call_forwarding_enabled: bool
    cnam_listing_enabled: bool
    caller_id_name_enabled: bool
    call_recording_enabled: bool
    t38_fax_gateway_enabled: bool
    phone_number_type: str
    inbound_call_screening: str
    usage_payment_method: str
    hd_voice_enabled: bool
    source_type: str | None
    deletion_lock_enabled: bool
    purchased_at: int
    created_at: int
    updated_at: int
