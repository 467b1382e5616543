"""The regulatory requirements of each country and number type, declared once.

A sub number order whose (country, type) is in `REQUIREMENTS` stays `pending`, its numbers'
`requirements_status` `requirement-info-pending`, until each of the requirements has a value
(PATCH /v2/number_orders/{id}, /v2/sub_number_orders/{id}, /v2/number_order_phone_numbers/{id},
or a requirement group: docs/ordering.md, "Orders"). Any other (country, type) needs nothing: its
numbers complete at once. Each requirement's id is fixed, so that clients can hard-code it as
they do against Telnyx."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FIELD_TYPES = ("textual", "address", "document", "datetime")


@dataclass(frozen=True, slots=True)
class Requirement:
    requirement_id: str
    field_type: str  # one of FIELD_TYPES
    description: str

    def as_stored(self) -> dict[str, Any]:
        """The requirement as a number of a sub order keeps it, still without a value."""
        return {
            "requirement_id": self.requirement_id,
            "field_type": self.field_type,
            "field_value": None,
        }


_ADDRESS_DE = Requirement(
    "8ffb3622-7c6b-4ccc-b65f-7a3dc0099576", "address", "An address in the number's area (DE)."
)
_PROOF_DE = Requirement(
    "53970723-fbff-4f46-a975-f62be6c1a585", "document", "Proof of the address (DE): its document."
)
_ADDRESS_FR = Requirement(
    "c6f1ed01-cdfe-4a79-9b84-3a6b1a2d2f3a", "address", "An address in the number's area (FR)."
)
_IDENTITY_FR = Requirement(
    "0b4c9f5e-1d7a-4e26-8f57-5c3f1d0a9b21", "textual", "The end user's company or full name (FR)."
)
_ADDRESS_GB = Requirement(
    "7d2a8c44-5e1b-4f0a-9c3d-2b6e8f1a4c57", "address", "An address in the United Kingdom (GB)."
)
_USE_AT = Requirement(
    "2708e569-696a-4fc7-9305-5fdb3eb9c7dd", "textual", "What the toll-free number is for (AT)."
)

# (ISO country code, phone_number_type) -> what its numbers need, in order.
REQUIREMENTS: dict[tuple[str, str], tuple[Requirement, ...]] = {
    ("DE", "local"): (_ADDRESS_DE, _PROOF_DE),
    ("FR", "local"): (_ADDRESS_FR, _IDENTITY_FR),
    ("GB", "local"): (_ADDRESS_GB,),
    ("AT", "toll_free"): (_USE_AT,),
}


def requirements_of(country_code: str, phone_number_type: str) -> tuple[Requirement, ...]:
    return REQUIREMENTS.get((country_code, phone_number_type), ())
