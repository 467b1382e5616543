"""Property test: the list endpoint agrees with a small reference implementation written apart
from the production code, over random inventories and random combinations of filters, sorts and
pages."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numbers_api.store import number_index
from numbers_api.store.database import Database
from numbers_api.store.number_index import BITMAP_FROM, IndexMode
from tests.conftest import ApiClient, started
from tests.support.databases import fresh_database_url
from tests.support.factories import Inventory

PHONE_NUMBERS = [
    *(f"+1720555{n:04d}" for n in range(0, 40, 3)),
    *(f"+1416555{n:04d}" for n in range(100, 110)),
    "+447400123456",
    "+447400654321",
    "+33612345678",
    "+18005550100",
    "+18885550123",
]
COUNTRY_OF = {"+1720": "US", "+1800": "US", "+1888": "US", "+1416": "CA", "+44": "GB", "+33": "FR"}
CONNECTIONS = [None, ("c1", "Alpha One"), ("c2", "beta"), ("c3", "ALPHA two"), ("c4", None)]
TIMES = ["2020-01-01T00:00:00.000Z", "2021-06-01T12:00:00.000Z", "2022-03-03T03:03:03.333Z"]


def country(number: str) -> str:
    return next(c for prefix, c in COUNTRY_OF.items() if number.startswith(prefix))


@dataclass(frozen=True)
class Number:
    id: int
    phone_number: str
    status: str
    tags: tuple[str, ...]
    connection: tuple[str, str | None] | None
    usage_payment_method: str
    billing_group_id: str | None
    emergency_address_id: str | None
    customer_reference: str | None
    phone_number_type: str
    source_type: str | None
    created_at: str
    purchased_at: str

    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "phone_number",
                "status",
                "usage_payment_method",
                "billing_group_id",
                "emergency_address_id",
                "customer_reference",
                "phone_number_type",
                "source_type",
                "created_at",
                "purchased_at",
            )
        }
        record.update(id=str(self.id), tags=list(self.tags))
        if self.connection is not None:
            record["connection_id"], record["connection_name"] = self.connection
        return record


numbers = st.builds(
    Number,
    id=st.integers(1, 2**63 - 1),
    phone_number=st.sampled_from(PHONE_NUMBERS),
    status=st.sampled_from(["active", "deleted", "port-pending", "provision-pending"]),
    tags=st.lists(st.sampled_from(["a", "b", "B"]), unique=True, max_size=3).map(tuple),
    connection=st.sampled_from(CONNECTIONS),
    usage_payment_method=st.sampled_from(["pay-per-minute", "channel"]),
    billing_group_id=st.sampled_from([None, "g1", "g2"]),
    emergency_address_id=st.sampled_from([None, "e1"]),
    customer_reference=st.sampled_from([None, "R1", "r1"]),
    phone_number_type=st.sampled_from(["local", "toll_free", "tollfree", "mobile", "national"]),
    source_type=st.sampled_from([None, "number_order", "port_request"]),
    created_at=st.sampled_from(TIMES),
    purchased_at=st.sampled_from(TIMES),
)
inventories = st.lists(
    numbers, min_size=3, max_size=25, unique_by=(lambda n: n.id, lambda n: n.phone_number)
)
filters = st.fixed_dictionaries(
    {},
    optional={
        "filter[tag]": st.sampled_from(["a", "b", "B", "c"]),
        "filter[without_tags]": st.sampled_from(["true", "false"]),
        "filter[phone_number]": st.sampled_from(["720", "+1416", "555", "4740", "0100", "12x"]),
        "filter[status]": st.sampled_from(["active", "deleted", "port-pending"]),
        "filter[country_iso_alpha2]": st.sampled_from(["US", "ca", "US,GB", "FR,ca"]),
        "filter[connection_id]": st.sampled_from(["c1", "c4", "zz"]),
        "filter[voice.connection_name][contains]": st.sampled_from(["alp", "ONE", "eta"]),
        "filter[voice.connection_name][starts_with]": st.sampled_from(["alpha", "BET"]),
        "filter[voice.connection_name][ends_with]": st.sampled_from(["two", "one", "Eta"]),
        "filter[voice.connection_name][eq]": st.sampled_from(["beta", "alpha one", "b"]),
        "filter[voice.usage_payment_method]": st.sampled_from(["pay-per-minute", "channel"]),
        "filter[billing_group_id]": st.sampled_from(["g1", "null"]),
        "filter[emergency_address_id]": st.sampled_from(["e1", "null"]),
        "filter[customer_reference]": st.sampled_from(["R1", "r1"]),
        "filter[number_type][eq]": st.sampled_from(["local", "toll_free", "mobile"]),
        "filter[source]": st.sampled_from(["ported", "purchased"]),
    },
)
sorts = st.sampled_from(
    [None, "purchased_at", "phone_number", "connection_name", "usage_payment_method"]
)


def matches(number: Number, name: str, value: str) -> bool:
    connection_name = (number.connection[1] or None) if number.connection else None
    folded = connection_name.casefold() if connection_name else None
    match name:
        case "filter[tag]":
            return value in number.tags
        case "filter[without_tags]":
            return value == "false" or not number.tags
        case "filter[phone_number]":
            digits = value.removeprefix("+")
            return digits.isdigit() and digits in number.phone_number
        case "filter[country_iso_alpha2]":
            return country(number.phone_number) in value.upper().split(",")
        case "filter[connection_id]":
            return number.connection is not None and number.connection[0] == value
        case "filter[voice.connection_name][contains]":
            return folded is not None and value.casefold() in folded
        case "filter[voice.connection_name][starts_with]":
            return folded is not None and folded.startswith(value.casefold())
        case "filter[voice.connection_name][ends_with]":
            return folded is not None and folded.endswith(value.casefold())
        case "filter[voice.connection_name][eq]":
            return folded == value.casefold()
        case "filter[voice.usage_payment_method]":
            return number.usage_payment_method == value
        case "filter[billing_group_id]" | "filter[emergency_address_id]":
            field = getattr(number, name[7:-1])
            return field is None if value == "null" else field == value
        case "filter[number_type][eq]":
            legacy = {"toll_free": {"toll_free", "tollfree"}}
            return number.phone_number_type in legacy.get(value, {value})
        case "filter[source]":
            return (
                number.source_type == {"ported": "port_request", "purchased": "number_order"}[value]
            )
    return bool(getattr(number, name[7:-1]) == value)  # status, customer_reference


def order_key(sort: str | None, number: Number) -> tuple[Any, ...]:
    connection_name = number.connection[1] if number.connection else None
    if sort is None:
        return (tuple(-ord(c) for c in number.created_at), -number.id)
    if sort == "connection_name":
        return (connection_name is None, (connection_name or "").casefold(), number.id)
    return (getattr(number, sort), number.id)


@contextmanager
def serving(inventory: list[Number], index_mode: IndexMode) -> Iterator[tuple[ApiClient, str]]:
    """The app on a fresh database holding the inventory in account `owner`, and its key."""
    with tempfile.TemporaryDirectory() as folder, fresh_database_url(Path(folder)) as url:
        database = Database(url)
        stock = Inventory(database)
        key = stock.account("owner")
        stock.load("owner", [n.record() for n in inventory])
        with started(url, index_mode=index_mode) as client:
            yield client, key
        database.close()


@pytest.mark.parametrize("index_mode", [IndexMode.INLINE, IndexMode.OFF], ids=["index", "sql"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    # Values held by this many numbers or more get a bitmap of their own (`Postings`).
    bitmap_from=st.sampled_from([1, 2, BITMAP_FROM]),
    inventory=inventories,
    queries=st.lists(
        st.tuples(filters, sorts, st.integers(1, 4), st.integers(1, 6)), min_size=1, max_size=4
    ),
)
def test_list_agrees_with_the_reference(
    index_mode: IndexMode,
    bitmap_from: int,
    inventory: list[Number],
    queries: list[tuple[dict[str, str], str | None, int, int]],
) -> None:
    with (
        patch.object(number_index, "BITMAP_FROM", bitmap_from),
        serving(inventory, index_mode) as (api, key),
    ):
        for query, sort, page_number, page_size in queries:
            params = {**query, "page[number]": str(page_number), "page[size]": str(page_size)}
            if sort is not None:
                params["sort"] = sort
            expected = sorted(
                (n for n in inventory if all(matches(n, k, v) for k, v in query.items())),
                key=lambda n: order_key(sort, n),
            )
            response = api.get("/v2/phone_numbers", key, params)
            assert response.status_code == 200, response.text
            body = response.json()
            start = (page_number - 1) * page_size
            assert [item["id"] for item in body["data"]] == [
                str(n.id) for n in expected[start : start + page_size]
            ]
            assert body["meta"]["total_results"] == len(expected)
