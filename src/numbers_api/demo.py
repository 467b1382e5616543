"""Realistic, reproducible demo numbers: the same seed gives the same records."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import phonenumbers

from numbers_api.serialisation import format_timestamp

# The example record of the contract's `PhoneNumberDetailed` schema, so the docs' example works.
SPEC_EXAMPLE: dict[str, Any] = {
    "id": "1293384261075731499",
    "phone_number": "+19705555098",
    "country_iso_alpha2": "US",
    "status": "active",
    "tags": ["tag_1", "tag_2"],
    "external_pin": "1234",
    "connection_id": "1293384261075731499",
    "connection_name": "connection-name",
    "customer_reference": "customer-reference",
    "messaging_profile_id": "abc85f64-5717-4562-b3fc-2c9600000000",
    "messaging_profile_name": "regional-customers",
    "billing_group_id": "86f58db9-0fe3-4adc-9d1f-46e66e6e9323",
    "emergency_enabled": True,
    "emergency_address_id": "1315261609962112019",
    "emergency_status": "active",
    "call_forwarding_enabled": True,
    "cnam_listing_enabled": True,
    "caller_id_name_enabled": True,
    "call_recording_enabled": True,
    "t38_fax_gateway_enabled": True,
    "phone_number_type": "local",
    "inbound_call_screening": "disabled",
    "purchased_at": "2019-10-23T18:10:00.000Z",
    "created_at": "2019-10-23T18:10:00.000Z",
    "updated_at": "2019-10-24T18:10:00.000Z",
    "hd_voice_enabled": True,
    "source_type": "number_order",
    "deletion_lock_enabled": False,
}

US_AREA_CODES = (
    201,
    202,
    212,
    213,
    303,
    305,
    312,
    404,
    415,
    469,
    503,
    512,
    602,
    617,
    646,
    702,
    713,
    718,
    720,
    773,
    808,
    917,
    970,
)
US_TOLL_FREE = (800, 833, 844, 855, 866, 877, 888)
# (country calling code, national number template, weight): `#` is a random digit.
NUMBER_PLANS = (
    ("US", "1{area}{exchange}####", 70),
    ("US-TF", "1{toll_free}{exchange}####", 6),
    ("CA", "1{ca_area}{exchange}####", 8),
    ("GB", "447{uk_mobile}######", 6),
    ("GB-GEO", "44207######", 3),
    ("DE", "4930########", 3),
    ("FR", "336########", 2),
    ("AU", "612########", 2),
)
CA_AREA_CODES = (416, 514, 604, 613, 647, 780)
STATUSES = (
    ("active", 85),
    ("port-pending", 4),
    ("purchase-pending", 3),
    ("emergency-only", 2),
    ("port-out-pending", 2),
    ("deleted", 1),
    ("purchase-failed", 1),
    ("port-failed", 1),
    ("ported-out", 1),
)
TAGS = (
    "sales",
    "support",
    "marketing",
    "billing",
    "east",
    "west",
    "priority",
    "vip",
    "test",
    "campaign-2026",
    "inbound",
    "outbound",
)
CONNECTION_NAMES = (
    "Main SIP Trunk",
    "Support Queue",
    "Sales Floor",
    "Call Center EU",
    "Call Center US",
    "IVR Production",
    "IVR Staging",
    "Fax Gateway",
    "Warehouse Phones",
    "Branch Office Denver",
    "Branch Office Austin",
    "Marketing Tracking",
    "Emergency Line",
    "Conference Bridge",
    "Voicemail Only",
    "Partner Relay",
    "Test Harness",
    "Front Desk",
    "Night Shift",
    "Overflow",
)
PROFILE_NAMES = (
    "regional-customers",
    "alerts",
    "two-factor",
    "marketing-sms",
    "support-chat",
    "appointments",
    "deliveries",
    "internal",
)
YEAR_MS = 365 * 24 * 3600 * 1000
NEWEST_MS = 1_790_000_000_000  # 2026-09: demo data is dated before today


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in table], [w for _, w in table])[0]


def _candidate(rng: random.Random) -> str:
    _, template, _ = rng.choices(NUMBER_PLANS, [w for *_, w in NUMBER_PLANS])[0]
    digits = template.format(
        area=rng.choice(US_AREA_CODES),
        toll_free=rng.choice(US_TOLL_FREE),
        ca_area=rng.choice(CA_AREA_CODES),
        exchange=rng.randrange(200, 1000),
        uk_mobile=rng.randrange(400, 1000),
    )
    return "+" + "".join(str(rng.randrange(10)) if c == "#" else c for c in digits)


def _valid(number: str) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.parse(number, None))


def demo_records(
    count: int, seed: int = 0, taken: set[str] | None = None, id_base: int | None = None
) -> Iterator[dict[str, Any]]:
    """`count` records, the contract's example first; numbers in `taken` are avoided and added."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    taken = set() if taken is None else taken
    first_id = 1_400_000_000_000_000_000 + seed * 10**13 if id_base is None else id_base
    if count <= 0:
        return
    if SPEC_EXAMPLE["phone_number"] not in taken:
        taken.add(SPEC_EXAMPLE["phone_number"])
        yield dict(SPEC_EXAMPLE)
        count -= 1
    connections = [
        (str(1_500_000_000_000_000_000 + seed * 1000 + i), name)
        for i, name in enumerate(CONNECTION_NAMES)
    ]
    profiles = [
        (f"40017{seed:03d}-{i:04d}-4000-8000-{rng.randrange(16**12):012x}", name)
        for i, name in enumerate(PROFILE_NAMES)
    ]
    billing_groups = [
        f"6{seed:03d}{i:04d}-0fe3-4adc-9d1f-{rng.randrange(16**12):012x}" for i in range(4)
    ]
    for index in range(count):
        number = _candidate(rng)
        while number in taken or not _valid(number):
            number = _candidate(rng)
        taken.add(number)
        created = NEWEST_MS - rng.randrange(3 * YEAR_MS)
        record: dict[str, Any] = {
            "id": str(first_id + index * 1000 + rng.randrange(1000)),
            "phone_number": number,
            "status": _weighted(rng, STATUSES),
            "tags": rng.sample(TAGS, rng.choice((0, 0, 1, 1, 1, 2, 2, 3))),
            "created_at": format_timestamp(created),
            "purchased_at": format_timestamp(created + rng.randrange(3600_000)),
            # Within a year of its creation, and never after the newest date.
            "updated_at": format_timestamp(
                created + rng.randrange(min(YEAR_MS, NEWEST_MS - created + 1))
            ),
            "source_type": rng.choices(["number_order", "port_request", None], [70, 25, 5])[0],
            "usage_payment_method": rng.choices(["pay-per-minute", "channel"], [80, 20])[0],
            "customer_reference": (
                f"CUST-{rng.randrange(500):05d}" if rng.random() < 0.6 else None
            ),
            "billing_group_id": rng.choice(billing_groups) if rng.random() < 0.5 else None,
            "cnam_listing_enabled": rng.random() < 0.2,
            "caller_id_name_enabled": rng.random() < 0.3,
            "call_recording_enabled": rng.random() < 0.1,
            "t38_fax_gateway_enabled": rng.random() < 0.05,
            "hd_voice_enabled": rng.random() < 0.5,
            "deletion_lock_enabled": rng.random() < 0.05,
        }
        if rng.random() < 0.85:
            record["connection_id"], record["connection_name"] = rng.choice(connections)
        if rng.random() < 0.6:
            record["messaging_profile_id"], record["messaging_profile_name"] = rng.choice(profiles)
        if rng.random() < 0.3:
            record["emergency_address_id"] = str(1_315_261_609_962_000_000 + rng.randrange(10**6))
            record["emergency_enabled"] = True
            record["emergency_status"] = "active"
        yield record
