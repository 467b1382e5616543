"""The benchmark's ceiling: the same server stack answering a fixed page of 20 numbers without
touching the database. Served at `/bench/ceiling` only when NUMBERS_API_BENCH_CEILING=1."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from numbers_api.domain import PhoneNumber
from numbers_api.serialisation import encode, pagination_meta, phone_number_detailed

_EXAMPLE = PhoneNumber(
    id=1293384261075731499,
    phone_number="+19705555098",
    country_iso_alpha2="US",
    status="active",
    tags=["tag_1", "tag_2"],
    external_pin="1234",
    connection_id="1293384261075731499",
    connection_name="connection-name",
    customer_reference="customer-reference",
    messaging_profile_id="abc85f64-5717-4562-b3fc-2c9600000000",
    billing_group_id="86f58db9-0fe3-4adc-9d1f-46e66e6e9323",
    emergency_enabled=True,
    emergency_address_id="1315261609962112019",
    emergency_status="active",
    call_forwarding_enabled=True,
    cnam_listing_enabled=True,
    caller_id_name_enabled=True,
    call_recording_enabled=True,
    t38_fax_gateway_enabled=True,
    phone_number_type="local",
    inbound_call_screening="disabled",
    usage_payment_method="pay-per-minute",
    hd_voice_enabled=True,
    source_type="number_order",
    deletion_lock_enabled=False,
    purchased_at=1571854200000,
    created_at=1571854200000,
    updated_at=1571940600000,
)
PAGE = [
    _EXAMPLE._replace(id=_EXAMPLE.id + i, phone_number=f"+1970555{5098 + i:04d}") for i in range(20)
]
PROFILE_NAMES: dict[str, str | None] = {
    "abc85f64-5717-4562-b3fc-2c9600000000": "regional-customers"
}


async def ceiling(request: Request) -> Response:
    document = {
        "data": [phone_number_detailed(number, PROFILE_NAMES) for number in PAGE],
        "meta": pagination_meta(1, 20, 20),
    }
    return Response(encode(document), media_type="application/json")
