"""Time `GET /v2/available_phone_numbers` on each country's pool, on a real `numbers-api serve`
(2 workers).

    .venv/bin/python -m bench.available_search --workdir /tmp/bench
    .venv/bin/python -m bench.available_search --database-url postgresql://127.0.0.1/test

A new database (SQLite in `--workdir`, or a schema `available_N` on PostgreSQL, dropped and
made again) holds an account with `--inventory` demo numbers, which no search may return
(those that are in a pool are marked so there). Then, one at a time, for each country: the
first search (which generates the country's pool), and each search of `SEARCHES` `--repeat`
times: p50, p95 and p99 of its latency. A search is a write (it records what it returned) and is
never cached, so every answer is computed. The pool's size is printed with each country. Last,
for comparison, list pages of the inventory, timed by the same client, each asked once so that
none is answered from the response cache.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.run import fresh_database, start_server, stop_processes
from numbers_api.demo import demo_records
from numbers_api.importing.run import import_records
from numbers_api.store.accounts import create_account
from numbers_api.store.database import Database

COUNTRIES = ("US", "CA", "GB", "DE")
SEARCHES = {
    "no filter (limit 50)": "",
    "type local, limit 250": "filter[phone_number_type]=local&filter[limit]=250",
    "locality": "filter[locality]={locality}",
    "administrative_area + features": "filter[administrative_area]={area}"
    "&filter[features]=sms,voice",
    "ndc + starts_with": "filter[national_destination_code]={ndc}"
    "&filter[phone_number][starts_with]=2",
    "contains 4 digits": "filter[phone_number][contains]=1234",
    "ends_with 2 digits": "filter[phone_number][ends_with]=00",
    "best_effort, unknown city": "filter[locality]=Nowhere&filter[best_effort]=true",
}
INDEX_MEMORY_MB = 256  # the owner's list index: no search uses it


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL database (default: SQLite)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/numbers-api-bench"))
    parser.add_argument("--inventory", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    url = fresh_database(args.database_url, args.workdir, args.inventory, "available")
    database = Database(url)
    key = create_account(database, "searcher")
    owner_key = create_account(database, "owner")
    records = enumerate(demo_records(args.inventory, seed=3), start=1)
    assert import_records(database, "owner", records, lambda *problem: None).ok
    database.close()
    engine = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{engine}, an inventory of {args.inventory:,} numbers", flush=True)
    log = args.workdir / "available-search-server.log"
    server, base = start_server(url, log, rate_limit=0, index_memory_mb=INDEX_MEMORY_MB)
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            for country in COUNTRIES:
                _country(client, f"{base}/v2/available_phone_numbers", country, args.repeat)
        with httpx.Client(headers={"Authorization": f"Bearer {owner_key}"}, timeout=60) as client:
            _list_pages(client, f"{base}/v2/phone_numbers", args.repeat, log)
    finally:
        stop_processes(server)


def _country(client: httpx.Client, search: str, country: str, repeat: int) -> None:
    started = time.perf_counter()
    first = client.get(f"{search}?filter[country_code]={country}&filter[limit]=1")
    first.raise_for_status()
    generated_ms = (time.perf_counter() - started) * 1000
    size = first.json()["meta"]["total_results"]
    [item] = first.json()["data"]
    regions = {r["region_type"]: r["region_name"] for r in item["region_information"]}
    values = {
        "locality": quote(regions.get("location", "Nowhere")),
        "area": regions.get("state", "ZZ"),
        "ndc": item["phone_number"][2:5] if country in ("US", "CA") else "20",
    }
    print(
        f"\n{country}: pool of {size:,} numbers; first search (generates it) {generated_ms:.0f} ms"
    )
    print(_HEADER)
    for name, template in SEARCHES.items():
        query = f"filter[country_code]={country}&" + template.format(**values)
        _timed(client, name, [f"{search}?{query}"] * repeat)


def _list_pages(client: httpx.Client, phone_numbers: str, repeat: int, log: Path) -> None:
    """For comparison, by the same client: list pages of the owner's inventory, each asked once
    (none in the response cache), once the worker that serves the client's one connection holds
    the account's index (until then a page is read by SQL)."""
    deadline = time.monotonic() + 120
    while not _INDEX_READY.search(log.read_text()):
        if time.monotonic() > deadline:
            raise SystemExit(f"the owner's index was not ready in 120 s: {log}")
        client.get(phone_numbers).raise_for_status()
        time.sleep(0.2)
    print(f"\nFor comparison, the owner's list\n{_HEADER}")
    for size in (50, 250):  # the searches' default limit, and their largest
        pages = [f"{phone_numbers}?page[size]={size}&page[number]={n + 1}" for n in range(repeat)]
        _timed(client, f"list page of {size}, each once", pages)


_INDEX_READY = re.compile(r"index of account \d+ .* ready: ")
_HEADER = f"  {'request':34} {'results':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"


def _timed(client: httpx.Client, name: str, urls: list[str]) -> None:
    timings = []
    total = 0
    for url in urls:
        t0 = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
        total = response.json()["meta"]["total_results"]
    cuts = statistics.quantiles(timings, n=100)
    p95, p99 = cuts[94], cuts[98]
    print(
        f"  {name:34} {total:>8,} {statistics.median(timings):>8.1f} {p95:>8.1f} {p99:>8.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
