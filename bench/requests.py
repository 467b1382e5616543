"""The kinds of list request the benchmark sends, each as a function drawing one query string.

The repeated mix draws a few queries per kind once, with a fixed seed, and asks them over and
over (as dashboards and sync jobs do); the fresh mix draws a new query for every request.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

from numbers_api.demo import CONNECTION_NAMES, TAGS

Draw = Callable[[random.Random, int], str]  # (rng, numbers in the account) -> query string


def _page(rng: random.Random, numbers: int) -> str:
    """One of the first 200 pages, in one of the usual sizes, as a user browsing would ask."""
    size = rng.choice([10, 20, 20, 25, 50, 100])
    last = max(1, min(200, numbers // size))
    return f"page[number]={rng.randint(1, last)}&page[size]={size}"


def _digits(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(length))


def _name_part(rng: random.Random, common: bool) -> str:
    """Part of a connection name, percent-encoded: a common word, or any 4 letters of a name."""
    name = rng.choice(CONNECTION_NAMES).lower()
    if common:
        return rng.choice(["main", "office", "center", "trunk", "queue", "desk"])
    start = rng.randrange(max(1, len(name) - 4))
    return quote(name[start : start + 4])


def _sorted(sort: str, rng: random.Random, numbers: int) -> str:
    return f"sort={sort}&{_page(rng, numbers)}"


@dataclass(frozen=True)
class RequestKind:
    name: str
    draw: Draw


KINDS = [
    RequestKind("no filter", _page),
    RequestKind("tag", lambda rng, n: f"filter[tag]={rng.choice(TAGS)}&{_page(rng, n)}"),
    RequestKind("without_tags", lambda rng, n: f"filter[without_tags]=true&{_page(rng, n)}"),
    RequestKind("phone_number common", lambda rng, n: f"filter[phone_number]={_digits(rng, 3)}"),
    RequestKind("phone_number rare", lambda rng, n: f"filter[phone_number]={_digits(rng, 7)}"),
    RequestKind(
        "status",
        lambda rng, n: (
            "filter[status]="
            + rng.choice(["active", "port-pending", "purchase-pending", "deleted"])
            + f"&{_page(rng, n)}"
        ),
    ),
    RequestKind(
        "country",
        lambda rng, n: (
            "filter[country_iso_alpha2]="
            + rng.choice(["US", "CA", "GB", "DE", "FR,AU", "US,CA"])
            + f"&{_page(rng, n)}"
        ),
    ),
    RequestKind(
        "connection_name contains common",
        lambda rng, n: (
            "filter[voice.connection_name][contains]="
            + _name_part(rng, common=True)
            + f"&{_page(rng, n)}"
        ),
    ),
    RequestKind(
        "connection_name contains rare",
        lambda rng, n: f"filter[voice.connection_name][contains]={_name_part(rng, common=False)}",
    ),
    RequestKind(
        "connection_name starts_with",
        lambda rng, n: (
            "filter[voice.connection_name][starts_with]="
            + quote(rng.choice(CONNECTION_NAMES)[:5].lower())
            + f"&{_page(rng, n)}"
        ),
    ),
    RequestKind(
        "connection_name eq",
        lambda rng, n: (
            "filter[voice.connection_name][eq]="
            + quote(rng.choice(CONNECTION_NAMES).upper())
            + f"&{_page(rng, n)}"
        ),
    ),
    RequestKind(
        "usage_payment_method",
        lambda rng, n: (
            "filter[voice.usage_payment_method]="
            + rng.choice(["channel", "pay-per-minute"])
            + f"&{_page(rng, n)}"
        ),
    ),
    RequestKind(
        "billing or emergency none",
        lambda rng, n: (
            rng.choice(["filter[billing_group_id]", "filter[emergency_address_id]"])
            + f"=null&{_page(rng, n)}"
        ),
    ),
    RequestKind(
        "customer_reference",
        lambda rng, n: f"filter[customer_reference]=CUST-{rng.randrange(600):05d}",
    ),
    RequestKind(
        "number_type",
        lambda rng, n: (
            "filter[number_type][eq]="
            + rng.choice(["local", "toll_free", "mobile"])
            + f"&{_page(rng, n)}"
        ),
    ),
    RequestKind(
        "source",
        lambda rng, n: f"filter[source]={rng.choice(['ported', 'purchased'])}&{_page(rng, n)}",
    ),
    RequestKind(
        "combination",
        lambda rng, n: (
            f"filter[status]=active&filter[tag]={rng.choice(TAGS)}"
            + f"&filter[country_iso_alpha2]={rng.choice(['US', 'US,CA', 'GB'])}&{_page(rng, n)}"
        ),
    ),
    *(
        RequestKind(f"sort={sort}", partial(_sorted, sort))
        for sort in ["purchased_at", "phone_number", "connection_name", "usage_payment_method"]
    ),
    RequestKind(
        "deep page",
        lambda rng, n: (
            f"page[number]={rng.randint(max(1, n // 40), max(1, n // 20))}"
            + rng.choice(["", "&sort=phone_number", "&sort=purchased_at"])
        ),
    ),
]

PATH = "/v2/phone_numbers"


def repeated_queries(numbers: int, per_kind: int = 2, seed: int = 7) -> dict[str, list[str]]:
    """A fixed set of queries for each kind: the same on every run."""
    rng = random.Random(seed)
    return {kind.name: [kind.draw(rng, numbers) for _ in range(per_kind)] for kind in KINDS}


def fresh_queries(kind: RequestKind, numbers: int, count: int, seed: int) -> list[str]:
    """Up to `count` different queries of one kind (fewer if the kind has fewer)."""
    rng = random.Random(seed)
    queries: dict[str, None] = {}
    for _ in range(count * 3):
        queries[kind.draw(rng, numbers)] = None
        if len(queries) == count:
            break
    return list(queries)
