"""The vocabulary every layer shares: a phone number's fields and the values each one allows.

The value lists are copied from the contract's `PhoneNumberDetailed` schema (and, for the filters,
from the list operation's `filter` schema); a test checks that they still agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

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
CURRENT_NUMBER_TYPES = ("local", "toll_free", "mobile", "national", "shared_cost", "landline")
# Numbers bought before July 2023 may still carry one of these.
PHONE_NUMBER_TYPES = (*CURRENT_NUMBER_TYPES, "tollfree", "shortcode", "longcode")
FILTERABLE_NUMBER_TYPES = ("local", "national", "toll_free", "mobile", "shared_cost")
# Numbers bought before July 2023 may still carry a legacy type; a filter on the current
# name finds them too.
LEGACY_NUMBER_TYPES = {"toll_free": ("tollfree",)}
EMERGENCY_STATUSES = ("active", "deprovisioning", "disabled", "provisioning", "provisioning-failed")
INBOUND_CALL_SCREENING = ("disabled", "reject_calls", "flag_calls")
SOURCE_TYPES = ("number_order", "port_request")
USAGE_PAYMENT_METHODS = ("pay-per-minute", "channel")
# Bulk jobs over an account's numbers (`PhoneNumbersJob.type`).
JOB_TYPES = ("update_emergency_settings", "delete_phone_numbers", "update_phone_numbers")
FORWARDING_TYPES = ("always", "on-failure")
RECORDING_FORMATS = ("wav", "mp3")
RECORDING_CHANNELS = ("single", "dual")


@dataclass(frozen=True, slots=True)
class VoiceSetting:
    """One setting of a number's voice settings object (`PhoneNumberWithVoiceSettings`): where
    the object shows it, the phone_numbers column that keeps it, and the values it takes: one of
    `choices`, a string matching `pattern` (described by `rule`), or else true or false."""

    group: str | None  # the nested object that holds it (`call_forwarding`); None: the top level
    name: str
    kept_in: str | None = None  # its column, where the name differs
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    rule: str = ""

    @property
    def column(self) -> str:
        return self.kept_in or self.name

    @property
    def is_boolean(self) -> bool:
        return not self.choices and self.pattern is None


# Every voice setting a PATCH of /phone_numbers/{id}/voice may change. Those the list shows too
# (call_forwarding_enabled, usage_payment_method, ...) are its own columns: each is kept once.
VOICE_SETTINGS = (
    VoiceSetting(None, "tech_prefix_enabled"),
    VoiceSetting(
        None,
        "translated_number",
        pattern=r"^\+?[A-Za-z0-9]*$",
        rule="letters and digits, after an optional leading +; empty: no translation",
    ),
    VoiceSetting("call_forwarding", "call_forwarding_enabled"),
    VoiceSetting(
        "call_forwarding",
        "forwards_to",
        pattern=r"^(\+[1-9][0-9]{1,14})?$",
        rule="a +E.164 phone number; empty: no forwarding",
    ),
    VoiceSetting("call_forwarding", "forwarding_type", choices=FORWARDING_TYPES),
    VoiceSetting("cnam_listing", "cnam_listing_enabled"),
    VoiceSetting(
        "cnam_listing",
        "cnam_listing_details",
        pattern=r"^[A-Za-z0-9 ]{0,15}$",
        rule="at most 15 letters, digits or spaces",
    ),
    VoiceSetting(None, "usage_payment_method", choices=USAGE_PAYMENT_METHODS),
    VoiceSetting("media_features", "rtp_auto_adjust_enabled"),
    VoiceSetting("media_features", "accept_any_rtp_packets_enabled"),
    VoiceSetting("media_features", "t38_fax_gateway_enabled"),
    VoiceSetting("call_recording", "inbound_call_recording_enabled", "call_recording_enabled"),
    VoiceSetting("call_recording", "inbound_call_recording_format", choices=RECORDING_FORMATS),
    VoiceSetting("call_recording", "inbound_call_recording_channels", choices=RECORDING_CHANNELS),
    VoiceSetting(None, "inbound_call_screening", choices=INBOUND_CALL_SCREENING),
    VoiceSetting(None, "caller_id_name_enabled"),
    VoiceSetting(None, "hd_voice_enabled"),
)

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


class PhoneNumber(NamedTuple):
    """One number as stored: timestamps in milliseconds since the Unix epoch (UTC). Immutable,
    and a named tuple rather than a frozen dataclass: a page makes one per row, and a frozen
    dataclass's constructor sets each of these 28 fields through `object.__setattr__`, at far
    more cost (docs/performance.md)."""

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


# Messaging settings. Telnyx's traffic types: every new number starts as A2P; P2P trades MMS for
# international outbound SMS. A number's features follow from its product alone.
MESSAGING_FEATURES: dict[str, dict[str, dict[str, bool] | None]] = {
    "A2P": {
        "sms": {
            "domestic_two_way": True,
            "international_inbound": True,
            "international_outbound": False,
        },
        "mms": {
            "domestic_two_way": True,
            "international_inbound": False,
            "international_outbound": False,
        },
    },
    "P2P": {
        "sms": {
            "domestic_two_way": True,
            "international_inbound": True,
            "international_outbound": True,
        },
        "mms": None,
    },
}
MESSAGING_NUMBER_TYPES = ("tollfree", "longcode", "shortcode")


def messaging_number_type(phone_number_type: str) -> str:
    """The messaging settings' `type` of a phone_number_type: every number that is neither
    toll-free nor a short code is a long code."""
    if phone_number_type in ("toll_free", "tollfree"):
        return "tollfree"
    return "shortcode" if phone_number_type == "shortcode" else "longcode"


@dataclass(frozen=True, slots=True)
class MessagingSettings:
    """A number with the messaging columns the main list does not show."""

    number: PhoneNumber
    messaging_product: str
    eligible_messaging_products: list[str]
    message_count: int
    inbound_outbound_ratio: float
    success_ratio: float
    spam_ratio: float


# The longest text a client may store in a field or tag: PostgreSQL refuses an index entry over
# 2,704 bytes, and several of these are indexed; 500 characters are at most 2,000 bytes in UTF-8.
MAX_TEXT_LENGTH = 500
TEXT_RULE = f"of at most {MAX_TEXT_LENGTH} characters, without NUL characters"
# Tags a number may hold: far more than any tagging scheme needs, few enough that one number's
# tags stay a small row (and a page of 250 numbers a bounded answer).
MAX_TAGS = 100


def is_text(value: object) -> bool:
    """A string the database can store, alike on both engines: PostgreSQL's text holds no NUL,
    and its indexes no entry longer than a few kilobytes (`MAX_TEXT_LENGTH`)."""
    return isinstance(value, str) and len(value) <= MAX_TEXT_LENGTH and "\x00" not in value
