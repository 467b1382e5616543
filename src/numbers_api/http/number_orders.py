"""Number orders (`/v2/number_orders`), their sub orders (`/v2/sub_number_orders`) and their
numbers (`/v2/number_order_phone_numbers`): made, shown, listed, given their regulatory
requirements, cancelled (docs/api.md, "Number orders"; docs/ordering.md, "Orders").

Another account's order, sub order or number answers as one that does not exist: 404."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from numbers_api.domain import TEXT_RULE, is_text
from numbers_api.http.bodies import checked_body
from numbers_api.http.errors import bad_request, error_object, error_response
from numbers_api.http.filtered_lists import filtered_list
from numbers_api.http.handlers import Asked
from numbers_api.http.jobs import E164
from numbers_api.http.phone_number import (
    InvalidBody,
    deletion_locked,
    invalid_fields,
    missing_association_error,
    now_ms,
)
from numbers_api.ordering.orders import (
    NotPending,
    RequestedNumber,
    Unavailable,
    cancel_sub_order,
    create_order,
)
from numbers_api.ordering.serialise import (
    Json,
    number_order,
    number_order_phone_number,
    number_order_with_phone_numbers,
    sub_number_order,
)
from numbers_api.query.errors import InvalidQuery
from numbers_api.query.order_query import (
    NUMBER_ORDER_FILTERS,
    ORDER_PHONE_NUMBER_FILTERS,
    SUB_NUMBER_ORDER_FILTERS,
    include_phone_numbers,
)
from numbers_api.serialisation import encode
from numbers_api.store.database import Connection
from numbers_api.store.number_orders import (
    OrderSettings,
    UnknownRequirement,
    find_order,
    find_order_number,
    find_sub_order,
    list_order_numbers,
    list_orders,
    list_sub_orders,
    set_customer_reference,
    set_requirement_values,
    sub_order_numbers,
)
from numbers_api.store.phone_number import DeletionLocked, missing_association

# The most numbers one order may hold.
MAX_NUMBERS = 100
# The numbers `filter[include_phone_numbers]` and a requirement group's answer show.
SHOWN_NUMBERS = 50
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CREATE_SCHEMA = "CreateNumberOrderRequest"


def _data(document: Json) -> Response:
    return Response(encode({"data": document}), media_type="application/json")


def _not_found(what: str, raw_id: str) -> Response:
    return error_response(
        404, [error_object("10005", "Resource not found", f"There is no {what} {raw_id}.")]
    )


def _id(asked: Asked) -> str | None:
    """The path's id, if it can name anything: ids are lower-case UUIDs."""
    raw = asked.path()
    return raw if _UUID.fullmatch(raw) else None


def _text(value: Any) -> str | None:
    return None if is_text(value) and value else f"must be a non-empty string {TEXT_RULE}"


def _uuid(value: Any) -> str | None:
    return None if isinstance(value, str) and _UUID.fullmatch(value.lower()) else "must be a UUID"


# Number orders ------------------------------------------------------------------------------------


def _phone_numbers_problem(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be a non-empty array of objects, each with a phone_number"
    if len(value) > MAX_NUMBERS:
        return f"holds {len(value)} phone numbers; {MAX_NUMBERS} is the most an order may hold"
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("phone_number"), str):
            return f"item {index} must be an object with a phone_number"
        number = item["phone_number"]
        if E164.fullmatch(number) is None:
            return f"item {index}: phone_number must be +E.164, e.g. +19705555098; got {number!r}"
        if number in seen:
            return f"item {index}: phone_number {number} is given twice"
        seen.add(number)
        for name, given in item.items():
            if name not in ("phone_number", "bundle_id", "requirement_group_id"):
                return f"item {index}: {name} is not a field of a number to order"
            problem = None if name == "phone_number" else _text(given)
            if problem is not None:
                return f"item {index}: {name} {problem}"
    return None


def create_endpoint(asked: Asked) -> Response:
    try:
        document = checked_body(
            asked.body,
            {
                "phone_numbers": _phone_numbers_problem,
                "connection_id": _text,
                "messaging_profile_id": _text,
                "billing_group_id": _text,
                "customer_reference": _text,
            },
            schema=CREATE_SCHEMA,
            required=("phone_numbers",),
        )
    except InvalidBody as invalid:
        return invalid.response
    settings = OrderSettings(
        connection_id=document.get("connection_id"),
        messaging_profile_id=document.get("messaging_profile_id"),
        billing_group_id=document.get("billing_group_id"),
        customer_reference=document.get("customer_reference"),
    )
    requested = [
        RequestedNumber(
            item["phone_number"], item.get("bundle_id"), item.get("requirement_group_id")
        )
        for item in document["phone_numbers"]
    ]
    account = asked.caller.account_id
    try:
        with asked.worker.database.transaction() as connection:
            missing = missing_association(connection, account, document)
            if missing is not None:
                return missing_association_error(missing)
            order = create_order(connection, account, settings, requested, now_ms())
    except Unavailable as unavailable:
        return error_response(
            422,
            [
                error_object(
                    "10015",
                    "Number not available",
                    f"{number} {reason}.",
                    pointer=f"/phone_numbers/{index}/phone_number",
                )
                for index, number, reason in unavailable.problems
            ],
        )
    asked.worker.orders.wake()
    return _data(number_order_with_phone_numbers(order))


def retrieve_endpoint(connection: Connection, asked: Asked) -> Response:
    order_id = _id(asked)
    order = None if order_id is None else find_order(connection, asked.caller.account_id, order_id)
    if order is None:
        return _not_found("number order", asked.path())
    return _data(number_order_with_phone_numbers(order))


list_endpoint = filtered_list(NUMBER_ORDER_FILTERS, list_orders, number_order)
list_sub_orders_endpoint = filtered_list(
    SUB_NUMBER_ORDER_FILTERS, list_sub_orders, sub_number_order
)
list_numbers_endpoint = filtered_list(
    ORDER_PHONE_NUMBER_FILTERS, list_order_numbers, number_order_phone_number
)


def _requirement_values(value: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A body's `regulatory_requirements` as (requirement_id, field_value) pairs, and the
    (pointer, problem) of each bad item."""
    if not isinstance(value, list):
        return [], [("/regulatory_requirements", "regulatory_requirements must be an array.")]
    values: list[tuple[str, str]] = []
    problems: list[tuple[str, str]] = []
    for index, item in enumerate(value):
        at = f"/regulatory_requirements/{index}"
        if not isinstance(item, dict):
            problems.append((at, "must be an object with requirement_id and field_value."))
            continue
        unknown = [name for name in item if name not in ("requirement_id", "field_value")]
        for name in unknown:
            problems.append((f"{at}/{name}", f"{name} is not a field of a requirement's value."))
        requirement_id, field_value = item.get("requirement_id"), item.get("field_value")
        if _uuid(requirement_id) is not None:
            problems.append((f"{at}/requirement_id", "requirement_id must be a UUID."))
        if _text(field_value) is not None:
            problems.append((f"{at}/field_value", f"field_value {_text(field_value)}."))
        if not unknown and isinstance(requirement_id, str) and is_text(field_value):
            values.append((requirement_id.lower(), str(field_value)))
    return values, problems


def _unknown_requirement(unknown: UnknownRequirement) -> Response:
    return invalid_fields(
        [
            (
                f"/regulatory_requirements/{unknown.index}/requirement_id",
                f"requirement_id {unknown.requirement_id} is not a requirement of these "
                "phone numbers.",
            )
        ]
    )


def _requirements_body(body: bytes, schema: str, *, reference: bool = False) -> dict[str, Any]:
    """An update's body: `regulatory_requirements` (and `customer_reference` for an order)."""
    checks: dict[str, Callable[[Any], str | None]] = {
        "regulatory_requirements": lambda value: None,
    }
    if reference:
        checks["customer_reference"] = _text
    document = checked_body(body, checks, schema=schema)
    values, problems = _requirement_values(document.get("regulatory_requirements", []))
    if problems:
        raise InvalidBody(invalid_fields(problems))
    document["regulatory_requirements"] = values
    return document


def update_endpoint(asked: Asked) -> Response:
    order_id = _id(asked)
    try:
        document = _requirements_body(asked.body, "UpdateNumberOrderRequest", reference=True)
    except InvalidBody as invalid:
        return invalid.response
    account = asked.caller.account_id
    now = now_ms()
    try:
        with asked.worker.database.transaction() as connection:
            if order_id is None or find_order(connection, account, order_id) is None:
                return _not_found("number order", asked.path())
            if "customer_reference" in document:
                set_customer_reference(connection, order_id, document["customer_reference"], now)
            values = document["regulatory_requirements"]
            if values:
                set_requirement_values(
                    connection, account, "order_id", order_id, values, now_ms=now
                )
            order = find_order(connection, account, order_id)
    except UnknownRequirement as unknown:
        return _unknown_requirement(unknown)
    assert order is not None
    asked.worker.orders.wake()
    return _data(number_order_with_phone_numbers(order))


# Sub number orders --------------------------------------------------------------------------------


def retrieve_sub_order_endpoint(connection: Connection, asked: Asked) -> Response:
    try:
        with_numbers = include_phone_numbers(asked.query_string)
    except InvalidQuery as invalid:
        return bad_request(invalid.errors)
    sub_id = _id(asked)
    sub = None if sub_id is None else find_sub_order(connection, asked.caller.account_id, sub_id)
    if sub is None:
        return _not_found("sub number order", asked.path())
    numbers = sub_order_numbers(connection, sub.id, SHOWN_NUMBERS) if with_numbers else None
    return _data(sub_number_order(sub, numbers))


def update_sub_order_endpoint(asked: Asked) -> Response:
    return _set_requirements(asked, "sub number order", "sub_order_id", group=False)


def sub_order_requirement_group_endpoint(asked: Asked) -> Response:
    return _set_requirements(asked, "sub number order", "sub_order_id", group=True)


def update_number_endpoint(asked: Asked) -> Response:
    return _set_requirements(asked, "number order phone number", "id", group=False)


def number_requirement_group_endpoint(asked: Asked) -> Response:
    return _set_requirements(asked, "number order phone number", "id", group=True)


def _set_requirements(asked: Asked, what: str, scope: str, *, group: bool) -> Response:
    """PATCH a sub order's or number's `regulatory_requirements`, or POST its
    `requirement_group_id` (which meets every requirement of its numbers)."""
    target_id = _id(asked)
    try:
        if group:
            document = checked_body(
                asked.body,
                {"requirement_group_id": _uuid},
                schema="a requirement group's body",
                required=("requirement_group_id",),
            )
            values: list[tuple[str, str]] = []
            group_id = str(document["requirement_group_id"]).lower()
        else:
            schema = (
                "UpdateSubNumberOrderRequest"
                if scope == "sub_order_id"
                else "UpdateNumberOrderPhoneNumberRequest"
            )
            values = _requirements_body(asked.body, schema)["regulatory_requirements"]
            group_id = None
    except InvalidBody as invalid:
        return invalid.response
    account = asked.caller.account_id
    try:
        with asked.worker.database.transaction() as connection:
            if target_id is None:
                return _not_found(what, asked.path())
            if scope == "sub_order_id":
                sub = find_sub_order(connection, account, target_id)
                if sub is None:
                    return _not_found(what, asked.path())
            else:
                number = find_order_number(connection, account, target_id)
                if number is None:
                    return _not_found(what, asked.path())
            if values or group_id is not None:
                set_requirement_values(
                    connection,
                    account,
                    scope,
                    target_id,
                    values,
                    now_ms=now_ms(),
                    group_id=group_id,
                )
            if scope == "sub_order_id":
                sub = find_sub_order(connection, account, target_id)
                assert sub is not None
                numbers = sub_order_numbers(connection, target_id, SHOWN_NUMBERS) if group else None
                document = sub_number_order(sub, numbers)
            else:
                number = find_order_number(connection, account, target_id)
                assert number is not None
                document = number_order_phone_number(number)
    except UnknownRequirement as unknown:
        return _unknown_requirement(unknown)
    asked.worker.orders.wake()
    return _data(document)


def cancel_sub_order_endpoint(asked: Asked) -> Response:
    sub_id = _id(asked)
    account = asked.caller.account_id
    try:
        with asked.worker.database.transaction() as connection:
            sub = (
                None if sub_id is None else cancel_sub_order(connection, account, sub_id, now_ms())
            )
    except NotPending as not_pending:
        return error_response(
            422,
            [
                error_object(
                    "10015",
                    "Sub number order not pending",
                    f"Only a pending sub number order can be cancelled; this one is "
                    f"{not_pending.status}.",
                )
            ],
        )
    except DeletionLocked:
        return deletion_locked(
            "A phone number of this sub number order has deletion lock enabled, so the sub "
            "number order cannot be cancelled."
        )
    if sub is None:
        return _not_found("sub number order", asked.path())
    return _data(sub_number_order(sub))


# Number order phone numbers -----------------------------------------------------------------------


def retrieve_number_endpoint(connection: Connection, asked: Asked) -> Response:
    number_id = _id(asked)
    number = (
        None
        if number_id is None
        else find_order_number(connection, asked.caller.account_id, number_id)
    )
    if number is None:
        return _not_found("number order phone number", asked.path())
    return _data(number_order_phone_number(number))
