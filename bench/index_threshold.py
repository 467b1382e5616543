"""Below which size an account is as well answered by SQL as by its in-memory index: for accounts
of several sizes, the fresh mix's queries (`bench/requests.py`) timed through the store as a
request makes them, once with the account's index and once by SQL alone, each query once (no
cache), one thread, no server. Also each index's size (its arrays and bitmaps) and build time.

    .venv/bin/python -m bench.index_threshold                     # SQLite, a file in --workdir
    .venv/bin/python -m bench.index_threshold --database-url postgresql://127.0.0.1/test

The threshold (`number_indexes.SMALLEST_INDEXED`) is the largest size at which SQL's p99 stays
within a millisecond or so of the index's: below it an index saves nothing a client would see.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import psycopg

from bench.requests import KINDS, fresh_queries
from numbers_api.cache import LruCache
from numbers_api.demo import demo_records
from numbers_api.importing.run import import_records
from numbers_api.query.list_query import ListQuery, parse_list_query
from numbers_api.store.accounts import Caller, authentication, create_account
from numbers_api.store.database import Database
from numbers_api.store.number_index import AccountIndex, build_index
from numbers_api.store.phone_numbers import list_phone_numbers

SIZES = (250, 500, 1_000, 2_000, 5_000, 10_000, 20_000)
QUERIES_PER_KIND = 40


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/numbers-api-bench"))
    args = parser.parse_args()
    url = args.database_url
    if url is None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        path = args.workdir / "index-threshold.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("DROP SCHEMA IF EXISTS bench_threshold CASCADE")
            connection.execute("CREATE SCHEMA bench_threshold")
        url += ("&" if "?" in url else "?") + "options=-csearch_path%3Dbench_threshold,public"
    database = Database(url)
    taken: set[str] = set()
    print("| numbers | index: build, size | index p50 / p99 ms | SQL p50 / p99 ms |")
    print("|---|---|---|---|")
    for seed, numbers in enumerate(SIZES, start=1):
        name = f"account-{numbers}"
        key = create_account(database, name)
        records = demo_records(numbers, seed=seed, taken=taken)
        report = import_records(database, name, enumerate(records, 1), lambda *problem: None)
        assert report.ok
        caller = database.connection().read(authentication(key))
        assert caller is not None
        queries = [
            parse_list_query(q)
            for i, kind in enumerate(KINDS)
            for q in fresh_queries(kind, numbers, QUERIES_PER_KIND, seed=100 + i)
        ]  # the mix's queries are all valid
        with database.snapshot() as connection:
            started = time.perf_counter()
            index = build_index(connection, caller)
            built = time.perf_counter() - started
        with_index = _times(database, caller, queries, index)
        by_sql = _times(database, caller, queries, None)
        print(
            f"| {numbers:,} | {built * 1000:.0f} ms, {index.size_in_bytes() / 2**20:.1f} MB "
            f"| {_p(with_index, 50)} / {_p(with_index, 99)} "
            f"| {_p(by_sql, 50)} / {_p(by_sql, 99)} |",
            flush=True,
        )
    database.close()


def _times(
    database: Database, caller: Caller, queries: list[ListQuery], index: AccountIndex | None
) -> list[float]:
    """Each query's milliseconds, in its own snapshot, with a count cache of its own (fresh)."""
    times = []
    for query in queries:
        with database.snapshot() as connection:
            started = time.perf_counter()
            list_phone_numbers(connection, caller, query, LruCache(1), index)
            times.append((time.perf_counter() - started) * 1000)
    return times


def _p(times: list[float], percent: int) -> str:
    return f"{statistics.quantiles(times, n=100)[percent - 1]:.2f}"


if __name__ == "__main__":
    main()
