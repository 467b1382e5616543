"""Phone numbers as the API shows them: `PhoneNumberDetailed` objects, encoded with orjson."""

from __future__ import annotations

import time
from typing import Any

import orjson

from numbers_api.domain import PhoneNumber

Json = dict[str, Any]


def format_timestamp(milliseconds: int) -> str:
    """UTC, millisecond precision: `2019-10-23T18:10:00.000Z`. Through `time.gmtime` and one
    %-format: three times faster than datetime's, and a page formats three per number."""
    seconds, millis = divmod(milliseconds, 1000)
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (*t[:6], millis)  # noqa: UP031


def phone_number_detailed(number: PhoneNumber, profile_names: dict[str, str | None] | None) -> Json:
    """Every property of `PhoneNumberDetailed`; with `profile_names` None, the two messaging
    profile fields are left out (their information could not be loaded)."""
    item: Json = {
        "id": str(number.id),
        "record_type": "phone_number",
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


def pagination_meta(page_number: int, page_size: int, total_results: int) -> Json:
    return {
        "total_pages": -(-total_results // page_size),
        "total_results": total_results,
        "page_number": page_number,
        "page_size": page_size,
    }


def encode(document: Json) -> bytes:
    return orjson.dumps(document)
