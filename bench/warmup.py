"""Time to full speed: from `numbers-api serve` to each worker holding the index of an account of
N numbers, under load all along, and what the requests cost meanwhile.

    .venv/bin/python -m bench.warmup --numbers 1000000
    .venv/bin/python -m bench.warmup --numbers 1000000 --database-url postgresql://127.0.0.1/test

The database is made once per size and engine (`warmup-N.db` in `--workdir`, or the schema
`warmup_N`), through the real import, like `bench.run`'s. Then `numbers-api serve --workers 2`
starts with every limit on (a rate limit wrk never reaches) and the default index memory, and
as soon as it answers, wrk runs the fresh mix (every request different, `bench/requests.py`) at
c32 in slices of `--slice` seconds, back to back, until both workers have logged the account's
index ready and `--after` more slices have run. It reports when each worker's index was ready,
counted from the launch of `serve`, and each slice's rate and p50/p99, those during the build
and those after it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.requests import KINDS, PATH, fresh_queries
from bench.run import (
    RATE_LIMIT,
    bench_arguments,
    bench_parser,
    build,
    cli,
    data_files,
    free_port,
    fresh_database,
    stop_processes,
    vacuum,
    wait_until_answering,
    wrk_run,
)

_READY = re.compile(
    r"^(\S+ \S+) INFO numbers_api\.index: index of account \d+ "
    r"\(data version \d+, (\d+) numbers\) ready: (.*)$",
    re.MULTILINE,
)


def main() -> None:
    parser = bench_parser(__doc__, numbers=1_000_000)
    parser.add_argument("--slice", type=int, default=2, help="seconds of each wrk run")
    parser.add_argument("--after", type=int, default=3, help="slices once both are ready")
    args = bench_arguments(parser)
    url, key = _database(args)
    paths = [
        f"{PATH}?{query}"
        for k, kind in enumerate(KINDS)
        for query in fresh_queries(kind, args.numbers, 40_000 // len(KINDS), seed=500 + k)
    ]
    random.Random(5).shuffle(paths)
    paths_file = args.workdir / "warmup-paths.txt"
    paths_file.write_text("".join(f"{path}\n" for path in paths))
    server_log = args.workdir / "warmup-server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    launched = time.time()
    with server_log.open("wb") as output:
        server = subprocess.Popen(
            cli(url, "serve", "--port", str(port), "--workers", "2"),
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NUMBERS_API_RATE_LIMIT": str(RATE_LIMIT)},
        )
    slices: list[dict[str, Any]] = []
    try:
        wait_until_answering("server", server, f"{base}/health", server_log)
        answering = time.time() - launched
        after = 0
        while after < args.after and time.time() - launched < 900:
            started = time.time() - launched
            figures = wrk_run(base, paths_file, key, connections=32, seconds=args.slice)
            figures["from_s"] = started
            figures["ready_workers"] = len(_ready(server_log, args.numbers))
            slices.append(figures)
            print(json.dumps(figures), file=sys.stderr, flush=True)
            if figures["ready_workers"] >= 2:
                after += 1
    finally:
        stop_processes(server)
    _report(args, answering, _ready(server_log, args.numbers), launched, slices)


def _database(args: argparse.Namespace) -> tuple[str, str]:
    """The database, made once per size and engine, and the measured account's key."""
    engine = "postgresql" if args.database_url else "sqlite"
    key_file = args.workdir / f"warmup-{engine}-{args.numbers}.key"
    url = fresh_database(args.database_url, args.workdir, args.numbers, name="warmup", keep=True)
    if key_file.exists():
        return url, key_file.read_text().strip()
    url = fresh_database(args.database_url, args.workdir, args.numbers, name="warmup")
    key, _ = build(url, data_files(args.workdir, args.numbers))
    vacuum(url)
    key_file.write_text(key)
    return url, key


def _ready(server_log: Path, numbers: int) -> list[tuple[float, str]]:
    """When each worker's index of the large account was ready (a Unix time), and how."""
    return [
        (datetime.strptime(when, "%Y-%m-%d %H:%M:%S,%f").timestamp(), how)
        for when, size, how in _READY.findall(server_log.read_text())
        if int(size) == numbers
    ]


def _report(
    args: argparse.Namespace,
    answering: float,
    ready: list[tuple[float, str]],
    launched: float,
    slices: list[dict[str, Any]],
) -> None:
    engine = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\n{engine}, {args.numbers:,} numbers; `serve` answered /health after {answering:.1f} s")
    for when, how in ready:
        print(f"- a worker's index ready {when - launched:.1f} s after launch ({how})")
    print("\n| from (s) | req/s | p50 ms | p99 ms | non-2xx | workers ready |")
    print("|---|---|---|---|---|---|")
    for figures in slices:
        print(
            f"| {figures['from_s']:.1f} | {figures['rps']:,.0f} | {figures['p50_ms']:.2f} | "
            f"{figures['p99_ms']:.2f} | {figures['failed']} | {figures['ready_workers']} |"
        )


if __name__ == "__main__":
    main()
