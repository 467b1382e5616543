"""Time `GET /v2/available_phone_numbers` on each country's pool, on a real `numbers-api serve`
(2 workers).

    .venv/bin/python -m bench.available_search --workdir /tmp/bench
    .venv/bin/python -m bench.available_search --database-url postgresql://127.0.0.1/test

A new database (SQLite in `--workdir`, or a schema `available_N` on PostgreSQL, dropped and
made again) holds an account with `--inventory` demo numbers, whose numbers no search may
return, so every search checks its candidates against a real inventory. Then, one at a time, for
each country: the first search (which generates the country's pool), and each search of
`SEARCHES` `--repeat` times: p50 and p95 of its latency. A search is a write (it records what it
returned) and is never cached, so every answer is computed. The pool's size is printed with each
country.
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    url = fresh_database(args.database_url, args.workdir, args.inventory, "available")
    database = Database(url)
    key = create_account(database, "searcher")
    create_account(database, "owner")
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
    print(f"  {'search':34} {'results':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for name, template in SEARCHES.items():
        query = f"filter[country_code]={country}&" + template.format(**values)
        timings = []
        total = 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            response = client.get(f"{search}?{query}")
            timings.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
            total = response.json()["meta"]["total_results"]
        timings.sort()
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        print(f"  {name:34} {total:>8,} {statistics.median(timings):>8.1f} {p95:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
