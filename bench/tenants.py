"""The tenants scenario: many accounts listed at once, each worker's memory against its index
budget, and the latency of small and large accounts against the ceiling.

    .venv/bin/python -m bench.tenants                                   # SQLite
    .venv/bin/python -m bench.tenants --database-url postgresql://127.0.0.1/test
    .venv/bin/python -m bench.tenants --accounts 100 --large 100000     # a quick look

The database (made once per size in `--workdir`, or in a schema `bench_tenants` on
PostgreSQL): `--accounts` accounts of 100 to 5,000 numbers each (uniformly drawn, seeded: about
2,550 on average) and one of `--large` numbers, imported through the real import, each account's
index then kept in the database as `numbers-api import` keeps it. The server: `numbers-api serve
--workers 2` with `--index-memory` (default 1,024, the server's) and every limit on (a rate limit
that wrk never reaches). After a warm-up under the same load, a round at least and until both
workers hold the large account's index (its length is reported), two wrk processes run at once
for `--seconds` each mix, the accounts' queries round-robin: the small accounts at c24 and the
large one at c8 (32 in all); first the repeated mix (each account's two queries of each kind,
`bench/requests.py`, asked over and over), then the fresh mix (every request different). The
ceiling (`bench/ceiling.py`, the large account's first page) is measured alone at c32 before
them.

It reports the peak private memory (RssAnon, sampled every 0.2 s) of each worker, against
`--index-memory` plus the fixed overhead (docs/deployment.md, "Memory"), and of each index
builder process; and for small and large accounts p50/p99 and their ratio to the ceiling's p99
(the target: within 10x).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg

from bench.measure import ProcessPeaks
from bench.requests import KINDS, PATH, fresh_queries, repeated_queries
from bench.run import (
    HERE,
    RATE_LIMIT,
    free_port,
    start_server,
    stop_processes,
    wait_until_answering,
    wrk,
)
from numbers_api.demo import demo_records
from numbers_api.importing.run import import_records
from numbers_api.store.accounts import create_account
from numbers_api.store.database import Database
from numbers_api.store.index_builder import build_into
from numbers_api.store.number_indexes import SMALLEST_INDEXED

SMALLEST, LARGEST = 100, 5_000
# A worker's terms besides its indexes (docs/deployment.md, "Memory"): 41 MB at start, 64 + 16 MiB
# of caches, SQLite's page caches (11 connections of 16 MiB); an index being loaded is not in it.
FIXED_OVERHEAD_MB = 300


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=120, help="seconds of each mix")
    parser.add_argument("--index-memory", type=int, default=1024, metavar="MB")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/numbers-api-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    url, accounts = _database(args)
    large_key, large_size = accounts[-1]
    log = args.workdir / "tenants-server.log"
    server, base = start_server(url, log, rate_limit=RATE_LIMIT, index_memory_mb=args.index_memory)
    peaks = ProcessPeaks(server.pid)
    ceiling: subprocess.Popen[bytes] | None = None
    results: dict[str, Any] = {}
    try:
        page = httpx.get(
            f"{base}{PATH}", headers={"Authorization": f"Bearer {large_key}"}, timeout=60
        ).content
        page_file = args.workdir / "tenants-ceiling.json"
        page_file.write_bytes(page)
        ceiling_port = free_port()
        ceiling = subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.ceiling", str(page_file)),
                *("--port", str(ceiling_port), "--workers", "2"),
            ],
            cwd=HERE.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ceiling_base = f"http://127.0.0.1:{ceiling_port}"
        wait_until_answering("ceiling", ceiling, f"{ceiling_base}{PATH}", log)
        measured = {"key": large_key, "workdir": args.workdir, "database": None}
        results["ceiling"] = wrk(
            [PATH],
            base=ceiling_base,
            connections=32,
            seconds=10,
            server_pid=ceiling.pid,
            settle_on=base,
            **measured,
        )
        rng = random.Random(17)
        # Warm up, a round at least, until both workers hold the large account's index (loaded
        # at start, as the import kept it): what follows is the steady state.
        warm_started = time.monotonic()
        warm_small = _paths(accounts[:-1], "fresh", random.Random(99))
        warm_large = _paths(accounts[-1:], "fresh", random.Random(99))
        ready = f"{large_size} numbers) ready:"
        rounds = 0
        while rounds == 0 or (
            log.read_text().count(ready) < 2 and time.monotonic() - warm_started < 600
        ):
            rounds += 1
            _both(
                base,
                server.pid,
                small=warm_small,
                large=warm_large,
                key=large_key,
                args=argparse.Namespace(**{**vars(args), "seconds": 10}),
            )
        results["warm_seconds"] = time.monotonic() - warm_started
        for mix in ("repeated", "fresh"):
            small = _paths(accounts[:-1], mix, rng)
            large = _paths(accounts[-1:], mix, rng)
            results[mix] = _both(
                base, server.pid, small=small, large=large, key=large_key, args=args
            )
            print(
                f"{mix}: small p50 {results[mix]['small']['p50_ms']:.2f} ms "
                f"p99 {results[mix]['small']['p99_ms']:.2f}, large p50 "
                f"{results[mix]['large']['p50_ms']:.2f} p99 {results[mix]['large']['p99_ms']:.2f}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        peaks.stop()
        stop_processes(ceiling, server)
    _report(results, peaks, args, large_size, len(accounts) - 1)


def _database(args: argparse.Namespace) -> tuple[str, list[tuple[str, int]]]:
    """The database, made once, and each account's key and size (the large one last)."""
    sizes = [random.Random(i).randint(SMALLEST, LARGEST) for i in range(args.accounts)]
    tag = f"{args.accounts}-{args.large}"
    keys_file = (
        args.workdir / f"tenants-{tag}-{'postgresql' if args.database_url else 'sqlite'}.keys"
    )
    if args.database_url:
        url = args.database_url + ("&" if "?" in args.database_url else "?")
        url += "options=" + quote("-csearch_path=bench_tenants,public", safe="")
    else:
        url = f"sqlite:///{args.workdir / f'tenants-{tag}.db'}"
    if keys_file.exists():
        keys = keys_file.read_text().split()
        _keep_indexes(url)
        return url, list(zip(keys, [*sizes, args.large], strict=True))
    if args.database_url:
        with psycopg.connect(args.database_url, autocommit=True) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
            connection.execute("DROP SCHEMA IF EXISTS bench_tenants CASCADE")
            connection.execute("CREATE SCHEMA bench_tenants")
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url.removeprefix('sqlite:///')}{suffix}").unlink(missing_ok=True)
    database = Database(url)
    taken: set[str] = set()
    keys = []
    started = time.perf_counter()
    for i, size in enumerate([*sizes, args.large]):
        name = f"tenant-{i}"
        keys.append(create_account(database, name))
        records = demo_records(size, seed=i + 1, taken=taken)
        report = import_records(database, name, enumerate(records, 1), lambda *problem: None)
        assert report.ok, name
        if i % 100 == 0:
            print(
                f"imported {i + 1} accounts, {time.perf_counter() - started:.0f} s", file=sys.stderr
            )
    database.close()
    keys_file.write_text("\n".join(keys))
    _keep_indexes(url)
    return url, list(zip(keys, [*sizes, args.large], strict=True))


def _keep_indexes(url: str) -> None:
    """Each account's index kept in the database, as `numbers-api import` leaves it."""
    database = Database(url)
    started = time.perf_counter()
    accounts = [row[0] for row in database.connection().execute("SELECT id FROM accounts")]
    built = [build_into(database, account, SMALLEST_INDEXED) for account in accounts]
    print(
        f"indexes kept: {sum(b.built_here for b in built)} built, "
        f"{sum(b.indexed and not b.built_here for b in built)} there already, "
        f"{sum(not b.indexed for b in built)} accounts too small, "
        f"{time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    database.close()


def _paths(accounts: list[tuple[str, int]], mix: str, rng: random.Random) -> list[str]:
    """`key<TAB>path` lines, the accounts taken in turn (round-robin)."""
    per_account: list[list[str]] = []
    for i, (key, size) in enumerate(accounts):
        if mix == "repeated":
            queries = [q for qs in repeated_queries(size, seed=i).values() for q in qs]
        else:
            count = max(4, 40_000 // len(accounts))  # every request different, in all
            queries = [
                q
                for k, kind in enumerate(KINDS)
                for q in fresh_queries(kind, size, count // len(KINDS) + 1, seed=i * 100 + k)
            ]
        rng.shuffle(queries)
        per_account.append([f"{key}\t{PATH}?{q}" for q in queries])
    longest = max(len(queries) for queries in per_account)
    return [q[n] for n in range(longest) for q in per_account if n < len(q)]


def _both(
    base: str,
    pid: int,
    *,
    small: list[str],
    large: list[str],
    key: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The two wrk runs at once: the small accounts at c24, the large one at c8 (`key`, the
    large account's, is what the runs wait for the server to drain with)."""
    workdirs = [args.workdir / "tenants-small", args.workdir / "tenants-large"]
    for workdir in workdirs:
        workdir.mkdir(exist_ok=True)
    runs: dict[str, Any] = {}

    def run(name: str, paths: list[str], connections: int, workdir: Path) -> None:
        runs[name] = wrk(
            paths,
            base=base,
            key=key,
            connections=connections,
            seconds=args.seconds,
            workdir=workdir,
            server_pid=pid,
            database=None,
            settle_on=base,
        )

    threads = [
        threading.Thread(target=run, args=("small", small, 24, workdirs[0])),
        threading.Thread(target=run, args=("large", large, 8, workdirs[1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return runs


def _report(
    results: dict[str, Any], peaks: ProcessPeaks, args: argparse.Namespace, large: int, small: int
) -> None:
    ceiling_p99 = results["ceiling"]["p99_ms"]
    print(
        f"\n{small:,} small accounts (100 to 5,000 numbers) and one of {large:,}; ceiling "
        f"c32 {results['ceiling']['rps']:,.0f} req/s, p99 {ceiling_p99:.2f} ms; warmed up (both "
        f"workers holding the large account's index) in {results['warm_seconds']:.0f} s\n"
    )
    print("| mix | accounts | req/s | p50 ms | p99 ms | p99 / ceiling's p99 | non-2xx |")
    print("|---|---|---|---|---|---|---|")
    for mix in ("repeated", "fresh"):
        for name in ("small", "large"):
            run = results[mix][name]
            print(
                f"| {mix} | {name} | {run['rps']:,.0f} | {run['p50_ms']:.2f} | "
                f"{run['p99_ms']:.2f} | {run['p99_ms'] / ceiling_p99:.1f}x | {run['failed']} |"
            )
    budget = args.index_memory + FIXED_OVERHEAD_MB
    print(
        f"\npeak private memory (MB) by process: {peaks.peaks_by_role_mb()}; "
        f"a worker's budget: {args.index_memory} MB of indexes + {FIXED_OVERHEAD_MB} MB "
        f"fixed = {budget} MB"
    )


if __name__ == "__main__":
    main()
