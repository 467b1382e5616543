"""The list after writes: an index brought forward by the changes each write logs answers exactly
as the reference does, and as SQL does, without being built again."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numbers_api.store import number_index
from numbers_api.store.number_index import BITMAP_FROM, IndexMode
from tests.conftest import ApiClient
from tests.support.factories import Inventory, number_record
from tests.test_list_reference import (
    CONNECTIONS,
    Number,
    filters,
    inventories,
    matches,
    order_key,
    serving,
    sorts,
)

# What a PATCH may set, from values the reference's inventories use: connections and billing
# groups exist in the account only if some number was imported with them, so the test picks
# among those.
patches = st.fixed_dictionaries(
    {},
    optional={
        "tags": st.lists(st.sampled_from(["a", "b", "B", "c"]), unique=True, max_size=3),
        "connection": st.sampled_from(CONNECTIONS),
        "customer_reference": st.sampled_from(["R1", "r1", "R2"]),
        "billing_group_id": st.sampled_from(["g1", "g2", ""]),
    },
)
writes = st.tuples(st.integers(0, 10**6), st.one_of(patches, st.just("delete")))
# Asked after every step besides the step's random query: one for each value a write can move a
# number to or from, so that a number left behind in its old set is always seen.
EVERY_STEP: list[tuple[dict[str, str], str | None]] = [
    *(({"filter[tag]": tag}, None) for tag in ("a", "b", "B", "c")),
    ({"filter[without_tags]": "true"}, None),
    *(({"filter[customer_reference]": r}, None) for r in ("R1", "r1", "R2")),
    *(({"filter[billing_group_id]": g}, None) for g in ("g1", "g2", "null")),
    *(({"filter[connection_id]": c}, None) for c in ("c1", "c2", "c3", "c4")),
    ({"filter[voice.connection_name][contains]": "alp"}, None),
    ({}, "connection_name"),
    ({}, "phone_number"),
]


def apply_write(
    api: ApiClient, key: str, numbers: list[Number], pick: int, write: dict[str, Any] | str
) -> None:
    """One PATCH or DELETE through the API, and the same change to the reference's numbers."""
    position = pick % len(numbers)
    number = numbers[position]
    path = f"/v2/phone_numbers/{number.id}"
    if write == "delete":
        assert api.request("DELETE", path, key).status_code == 200
        del numbers[position]
        return
    assert isinstance(write, dict)
    body: dict[str, Any] = {k: v for k, v in write.items() if k != "connection"}
    known = {n.connection for n in numbers if n.connection is not None}
    changed = replace(number, **{k: v for k, v in body.items() if k != "tags"})
    if "tags" in body:
        changed = replace(changed, tags=tuple(body["tags"]))
    groups = {n.billing_group_id for n in numbers}  # only the account's billing groups are taken
    group = body.get("billing_group_id")
    if group == "":
        changed = replace(changed, billing_group_id=None)
    elif group is not None and group not in groups:
        del body["billing_group_id"]
        changed = replace(changed, billing_group_id=number.billing_group_id)
    if "connection" in write and (write["connection"] is None or write["connection"] in known):
        body["connection_id"] = "" if write["connection"] is None else write["connection"][0]
        changed = replace(changed, connection=write["connection"])
    assert api.request("PATCH", path, key, json=body).status_code == 200
    numbers[position] = changed


def check_list(
    api: ApiClient, key: str, numbers: list[Number], query: dict[str, str], sort: str | None
) -> None:
    params = {**query, "page[size]": "250"}
    if sort is not None:
        params["sort"] = sort
    expected = sorted(
        (n for n in numbers if all(matches(n, k, v) for k, v in query.items())),
        key=lambda n: order_key(sort, n),
    )
    body = api.get("/v2/phone_numbers", key, params).json()
    assert [item["id"] for item in body["data"]] == [str(n.id) for n in expected]
    assert body["meta"]["total_results"] == len(expected)


@pytest.mark.parametrize("index_mode", [IndexMode.INLINE, IndexMode.OFF], ids=["index", "sql"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    # Values held by this many numbers or more get a bitmap of their own (`Postings`).
    bitmap_from=st.sampled_from([1, 2, BITMAP_FROM]),
    inventory=inventories,
    steps=st.lists(st.tuples(st.lists(writes, max_size=3), filters, sorts), min_size=1, max_size=5),
)
def test_list_after_writes_agrees_with_the_reference(
    index_mode: IndexMode,
    bitmap_from: int,
    inventory: list[Number],
    steps: list[tuple[list[tuple[int, dict[str, Any] | str]], dict[str, str], str | None]],
) -> None:
    with (
        patch.object(number_index, "BITMAP_FROM", bitmap_from),
        serving(inventory, index_mode) as (api, key),
    ):
        numbers = list(inventory)
        check_list(api, key, numbers, {}, None)  # the index, at the imported version
        for step_writes, query, sort in steps:
            for pick, write in step_writes:
                if numbers:
                    apply_write(api, key, numbers, pick, write)
            for every_query, every_sort in [(query, sort), *EVERY_STEP]:
                check_list(api, key, numbers, every_query, every_sort)


@pytest.mark.parametrize("index_mode", [IndexMode.INLINE], ids=["index"])
def test_a_write_brings_the_index_forward_without_building_it_again(
    api: ApiClient, inventory: Inventory, caplog: pytest.LogCaptureFixture
) -> None:
    key = inventory.account("owner")
    inventory.load("owner", [number_record(tags=["a"]) for _ in range(5)])
    first = api.get("/v2/phone_numbers", key, {"filter[tag]": "b"}).json()["data"]
    number_id = api.get("/v2/phone_numbers", key).json()["data"][0]["id"]
    api.request("PATCH", f"/v2/phone_numbers/{number_id}", key, json={"tags": ["b"]})
    with caplog.at_level(logging.INFO, logger="numbers_api.index"):
        found = api.get("/v2/phone_numbers", key, {"filter[tag]": "b"}).json()["data"]
    assert first == []
    assert [n["id"] for n in found] == [number_id]
    assert not [r for r in caplog.records if "built" in r.getMessage()]
    (index,) = api.indexes().ready()
    assert index.data_version == 2  # the import's version, then the PATCH's


@pytest.mark.parametrize("index_mode", [IndexMode.INLINE], ids=["index"])
def test_an_import_builds_the_index_again(
    api: ApiClient, inventory: Inventory, caplog: pytest.LogCaptureFixture
) -> None:
    key = inventory.account("owner")
    inventory.load("owner", [number_record() for _ in range(3)])
    api.get("/v2/phone_numbers", key)
    inventory.load("owner", [number_record() for _ in range(2)])
    with caplog.at_level(logging.INFO, logger="numbers_api.index"):
        body = api.get("/v2/phone_numbers", key).json()
    assert body["meta"]["total_results"] == 5
    assert [r for r in caplog.records if "built" in r.getMessage()]
