"""Phone numbers as the API shows them: `PhoneNumberDetailed` objects, encoded with orjson."""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import Enum
from functools import lru_cache
from typing import Any

import orjson

from numbers_api.domain import (
    MESSAGING_FEATURES,
    VOICE_SETTINGS,
    MessagingSettings,
    PhoneNumber,
    messaging_number_type,
)

Json = dict[str, Any]


def format_timestamp(milliseconds: int) -> str:
    """UTC, millisecond precision: `2019-10-23T18:10:00.000Z`. A page formats three per number,
    so the date comes from a cache by day and the time from integer arithmetic, cheaper than
    `time.gmtime` or datetime (docs/performance.md)."""
    seconds, millis = divmod(milliseconds, 1000)
    day, second = divmod(seconds, 86400)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return "%s%02d:%02d:%02d.%03dZ" % (_date(day), hour, minute, second, millis)  # noqa: UP031


@lru_cache(maxsize=65536)
def _date(day: int) -> str:
    """`2019-10-23T` for a day counted from the Unix epoch."""
    return "%04d-%02d-%02dT" % time.gmtime(day * 86400)[:3]  # noqa: UP031


class Rendering(Enum):
    """How a property of `PhoneNumberDetailed` is made from the number's stored value."""

    ID = "id"  # the integer as a string
    RECORD_TYPE = "record_type"  # `RECORD_TYPE`, the same for every number
    TEXT = "text"  # as stored, null included
    # Text from a closed set, or null: a choice of the domain's, an E.164 number, an ISO country
    # code. Every write checks it, so it holds nothing that JSON escapes, and PostgreSQL quotes it
    # as it is, which costs its backend less than `to_json` (docs/performance.md).
    KEYWORD = "keyword"
    ARRAY = "array"  # a JSON array, stored as its text
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"  # `format_timestamp`


# Every property of `PhoneNumberDetailed` as `phone_number_detailed` gives them, in its order, with
# how each is made: the database renders a list's items from this (`PageShape.DETAILED_JSON` in
# the store), for less than reading the rows and making them here costs (bench/page_rendering.py).
# A test holds the two to the same answer for every number.
DETAILED_PROPERTIES: tuple[tuple[str, Rendering], ...] = (
    ("id", Rendering.ID),
    ("record_type", Rendering.RECORD_TYPE),
    ("phone_number", Rendering.KEYWORD),
    ("country_iso_alpha2", Rendering.KEYWORD),
    ("status", Rendering.KEYWORD),
    ("tags", Rendering.ARRAY),
    ("external_pin", Rendering.TEXT),
    ("connection_id", Rendering.TEXT),
    ("connection_name", Rendering.TEXT),
    ("customer_reference", Rendering.TEXT),
    ("billing_group_id", Rendering.TEXT),
    ("emergency_enabled", Rendering.BOOLEAN),
    ("emergency_address_id", Rendering.TEXT),
    ("emergency_status", Rendering.KEYWORD),
    ("call_forwarding_enabled", Rendering.BOOLEAN),
    ("cnam_listing_enabled", Rendering.BOOLEAN),
    ("caller_id_name_enabled", Rendering.BOOLEAN),
    ("call_recording_enabled", Rendering.BOOLEAN),
    ("t38_fax_gateway_enabled", Rendering.BOOLEAN),
    ("phone_number_type", Rendering.KEYWORD),
    ("inbound_call_screening", Rendering.KEYWORD),
    ("purchased_at", Rendering.TIMESTAMP),
    ("created_at", Rendering.TIMESTAMP),
    ("updated_at", Rendering.TIMESTAMP),
    ("hd_voice_enabled", Rendering.BOOLEAN),
    ("source_type", Rendering.KEYWORD),
    ("deletion_lock_enabled", Rendering.BOOLEAN),
    ("messaging_profile_id", Rendering.TEXT),
    ("messaging_profile_name", Rendering.TEXT),
)
RECORD_TYPE = "phone_number"


def phone_number_detailed(number: PhoneNumber, profile_names: dict[str, str | None] | None) -> Json:
    """Every property of `PhoneNumberDetailed`; with `profile_names` None, the two messaging
    profile fields are left out (their information could not be loaded)."""
    item: Json = {
        "id": str(number.id),
        "record_type": RECORD_TYPE,
        "phone_number": number.phone_number,
        "country_iso_alpha2": number.country_iso_alpha2,
        "status": number.status,
        "tags": number.tags,
        "external_pin": number.external_pin,
        "connection_id": number.connection_id,
        "connection_name": number.connection_name,
        "customer_reference": number.customer_reference,
        "billing_group_id": number.billing_group_id,
        "emergency_enabled": bool(number.emergency_enabled),
        "emergency_address_id": number.emergency_address_id,
        "emergency_status": number.emergency_status,
        "call_forwarding_enabled": bool(number.call_forwarding_enabled),
        "cnam_listing_enabled": bool(number.cnam_listing_enabled),
        "caller_id_name_enabled": bool(number.caller_id_name_enabled),
        "call_recording_enabled": bool(number.call_recording_enabled),
        "t38_fax_gateway_enabled": bool(number.t38_fax_gateway_enabled),
        "phone_number_type": number.phone_number_type,
        "inbound_call_screening": number.inbound_call_screening,
        "purchased_at": format_timestamp(number.purchased_at),
        "created_at": format_timestamp(number.created_at),
        "updated_at": format_timestamp(number.updated_at),
        "hd_voice_enabled": bool(number.hd_voice_enabled),
        "source_type": number.source_type,
        "deletion_lock_enabled": bool(number.deletion_lock_enabled),
    }
    if profile_names is not None:
        profile_id = number.messaging_profile_id
        item["messaging_profile_id"] = profile_id
        item["messaging_profile_name"] = (
            None if profile_id is None else profile_names.get(profile_id)
        )
    return item


# The properties of `PhoneNumberDetailed` that `SlimPhoneNumberDetailed` has too.
SLIM_PROPERTIES = (
    "id",
    "record_type",
    "phone_number",
    "country_iso_alpha2",
    "status",
    "external_pin",
    "connection_id",
    "customer_reference",
    "billing_group_id",
    "emergency_enabled",
    "emergency_address_id",
    "emergency_status",
    "call_forwarding_enabled",
    "cnam_listing_enabled",
    "caller_id_name_enabled",
    "call_recording_enabled",
    "t38_fax_gateway_enabled",
    "phone_number_type",
    "inbound_call_screening",
    "purchased_at",
    "created_at",
    "updated_at",
    "hd_voice_enabled",
)


def slim_phone_number(number: PhoneNumber, *, connection: bool, tags: bool) -> Json:
    """A `SlimPhoneNumberDetailed`, with `connection_name` and `tags` only when asked for; a
    property without a value is left out (the schema allows no null)."""
    detailed = phone_number_detailed(number, None)
    shown = [*SLIM_PROPERTIES]
    if connection:
        shown.append("connection_name")
    if tags:
        shown.append("tags")
    return {name: detailed[name] for name in shown if detailed[name] is not None}


def phone_number_with_voice_settings(number: PhoneNumber, settings: Mapping[str, object]) -> Json:
    """A `PhoneNumberWithVoiceSettings`; `settings` holds the columns of `VOICE_SETTINGS`. A
    property without a value is left out (the schema allows no null)."""
    item: Json = {
        "id": str(number.id),
        "record_type": "voice_settings",
        "phone_number": number.phone_number,
        "connection_id": number.connection_id,
        "customer_reference": number.customer_reference,
    }
    for setting in VOICE_SETTINGS:
        value = settings[setting.column]
        group = item if setting.group is None else item.setdefault(setting.group, {})
        group[setting.name] = bool(value) if setting.is_boolean else value
    item["emergency"] = {
        "emergency_enabled": bool(number.emergency_enabled),
        "emergency_address_id": number.emergency_address_id,
        "emergency_status": number.emergency_status,
    }
    return _without_nulls(item)


def _without_nulls(item: Json) -> Json:
    return {
        name: _without_nulls(value) if isinstance(value, dict) else value
        for name, value in item.items()
        if value is not None
    }


def phone_number_with_messaging_settings(settings: MessagingSettings) -> Json:
    """A `PhoneNumberWithMessagingSettings`: every property but `organization_id` (there are no
    organizations here); `traffic_type` and `features` follow from the product."""
    number = settings.number
    return {
        "record_type": "messaging_settings",
        "id": str(number.id),
        "phone_number": number.phone_number,
        "messaging_profile_id": number.messaging_profile_id,
        "messaging_product": settings.messaging_product,
        "traffic_type": settings.messaging_product,
        "eligible_messaging_products": settings.eligible_messaging_products,
        "features": MESSAGING_FEATURES[settings.messaging_product],
        "health": {
            "message_count": settings.message_count,
            "inbound_outbound_ratio": settings.inbound_outbound_ratio,
            "success_ratio": settings.success_ratio,
            "spam_ratio": settings.spam_ratio,
        },
        "country_code": number.country_iso_alpha2,
        "type": messaging_number_type(number.phone_number_type),
        "tags": number.tags,
        "created_at": format_timestamp(number.created_at),
        "updated_at": format_timestamp(number.updated_at),
    }


def pagination_meta(page_number: int, page_size: int, total_results: int) -> Json:
    return {
        "total_pages": -(-total_results // page_size),
        "total_results": total_results,
        "page_number": page_number,
        "page_size": page_size,
    }


def encode(document: Json) -> bytes:
    return orjson.dumps(document)


def encode_page(items: list[str], meta: Json) -> bytes:
    """A list's document from its items, each already JSON (see `DETAILED_PROPERTIES`)."""
    return b'{"data":[' + ",".join(items).encode() + b'],"meta":' + encode(meta) + b"}"
