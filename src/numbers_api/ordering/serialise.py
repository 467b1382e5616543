"""Orders, sub orders and ordered numbers as the ordering contract shows them
(`NumberOrderWithPhoneNumbers`, `NumberOrder`, `SubNumberOrder`, `NumberOrderPhoneNumber`).
A property the contract types as a plain string is left out while it has no value."""

from __future__ import annotations

from typing import Any

from numbers_api.serialisation import format_timestamp
from numbers_api.store.number_orders import Order, OrderNumber, SubOrder

Json = dict[str, Any]
# The types `NumberOrderWithPhoneNumbers`' numbers may show (its enum has no `landline`).
_ORDER_NUMBER_TYPES = ("local", "mobile", "national", "shared_cost", "toll_free")


def _present(document: Json) -> Json:
    return {name: value for name, value in document.items() if value is not None}


def _requirement_values(number: OrderNumber) -> list[Json]:
    return [
        _present(
            {
                "field_type": r["field_type"],
                "field_value": r["field_value"],
                "record_type": "phone_number_regulatory_requirement",
                "requirement_id": r["requirement_id"],
            }
        )
        for r in number.regulatory_requirements
    ]


def _order_fields(order: Order) -> Json:
    return _present(
        {
            "id": order.id,
            "record_type": "number_order",
            "status": order.status,
            "connection_id": order.connection_id,
            "messaging_profile_id": order.messaging_profile_id,
            "billing_group_id": order.billing_group_id,
            "customer_reference": order.customer_reference,
            "phone_numbers_count": len(order.numbers),
            "requirements_met": order.requirements_met,
            "sub_number_orders_ids": order.sub_order_ids,
            "created_at": format_timestamp(order.created_at),
            "updated_at": format_timestamp(order.updated_at),
        }
    )


def number_order_with_phone_numbers(order: Order) -> Json:
    """`NumberOrderWithPhoneNumbers`: what creating, showing and updating an order answer, and
    the payload of its `number_order.complete` event."""
    return {
        **_order_fields(order),
        "phone_numbers": [
            _present(
                {
                    "id": number.id,
                    "record_type": "number_order_phone_number",
                    "phone_number": number.phone_number,
                    "bundle_id": number.bundle_id,
                    "country_code": number.country_code,
                    "country_iso_alpha2": number.country_code,
                    "phone_number_type": number.phone_number_type
                    if number.phone_number_type in _ORDER_NUMBER_TYPES
                    else None,
                    "regulatory_requirements": _requirement_values(number),
                    "requirements_met": number.requirements_met,
                    "requirements_status": number.requirements_status,
                    "status": number.status,
                }
            )
            for number in order.numbers
        ],
    }


def number_order(order: Order) -> Json:
    """`NumberOrder`, as the list shows each order: its numbers by id and E.164 number."""
    return {
        **_order_fields(order),
        "phone_numbers": [
            {"id": number.id, "phone_number": number.phone_number} for number in order.numbers
        ],
    }


def sub_number_order(sub_order: SubOrder, numbers: list[OrderNumber] | None = None) -> Json:
    """`SubNumberOrder`; with `numbers` (`filter[include_phone_numbers]`, a requirement group),
    those numbers under `phone_numbers`."""
    document = _present(
        {
            "id": sub_order.id,
            "record_type": "sub_number_order",
            "order_request_id": sub_order.order_id,
            "country_code": sub_order.country_code,
            "phone_number_type": sub_order.phone_number_type,
            "status": sub_order.status,
            "customer_reference": sub_order.customer_reference,
            "is_block_sub_number_order": False,
            "phone_numbers_count": sub_order.phone_numbers_count,
            "requirements_met": sub_order.requirements_met,
            "regulatory_requirements": [
                {
                    "field_type": r["field_type"],
                    "record_type": "phone_number_regulatory_requirement",
                    "requirement_id": r["requirement_id"],
                }
                for r in sub_order.requirements
            ],
            "created_at": format_timestamp(sub_order.created_at),
            "updated_at": format_timestamp(sub_order.updated_at),
        }
    )
    if numbers is not None:
        document["phone_numbers"] = [number_order_phone_number(number) for number in numbers]
    return document


def number_order_phone_number(number: OrderNumber) -> Json:
    """`NumberOrderPhoneNumber`."""
    return {
        "id": number.id,
        "record_type": "number_order_phone_number",
        "order_request_id": number.order_id,
        "sub_number_order_id": number.sub_order_id,
        "phone_number": number.phone_number,
        "country_code": number.country_code,
        "phone_number_type": number.phone_number_type,
        "locality": number.locality,
        "bundle_id": number.bundle_id,
        "is_block_number": False,
        "deadline": format_timestamp(number.deadline),
        "regulatory_requirements": _requirement_values(number),
        "requirements_met": number.requirements_met,
        "requirements_status": number.requirements_status,
        "status": number.status,
    }
