"""Instructions per request of the app's own process, counted by valgrind (callgrind): an A/B
measure that this machine's noise cannot move (its requests-per-second drift by a third from one
minute to the next; counted instructions by under 1%).

    .venv/bin/python -m bench.instructions --source /path/to/checkout/src [--mix fresh]
    .venv/bin/python -m bench.instructions --source OLD/src --source NEW/src --rate-limit 0

For each `--source` (a tree holding `numbers_api`, imported instead of the installed one), in the
order given: the app is made in one process as `numbers-api serve` makes it (its lifespan run),
its account's index built, and then `--requests` list requests of the mix are answered through
the ASGI app, one at a time, the event loop and the request threads both counted (what a worker
spends, without uvicorn's HTTP parsing, which is the same for every commit). `repeated`: the
repeated mix's queries, each answered from the page cache after the first round; `fresh`:
queries never asked before, answered from the index and the database. The database: 10,000 demo
numbers made with `numbers-api demo`, SQLite unless `--database-url` names PostgreSQL (a schema
`bench_instructions` is made there). The database server's own work is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import uvloop

# Imported from the `--source` tree in the counted process (PYTHONPATH), the installed one here.
from bench.requests import KINDS, PATH, fresh_queries, repeated_queries
from numbers_api.http.app import create_app
from numbers_api.settings import Settings

HERE = Path(__file__).resolve().parent
NUMBERS = 10_000
STARTED, DONE = "instructions: counting", "instructions: done"
_CLI = [sys.executable, "-m", "numbers_api"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", action="append", type=Path, required=True)
    parser.add_argument("--mix", choices=("repeated", "fresh"), default="repeated")
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--rate-limit", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/numbers-api-bench"))
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        uvloop.run(_drive(args))  # the loop `numbers-api serve` runs
        return
    url, key = _database(args)
    for source in args.source:
        count = _counted(source, url, key, args)
        print(
            f"{source}: {args.mix} mix, {count / args.requests:,.0f} instructions a request "
            f"({count:,} for {args.requests:,})",
            flush=True,
        )


def _database(args: argparse.Namespace) -> tuple[str, str]:
    """The database of 10,000 demo numbers, made once, and its account's key."""
    args.workdir.mkdir(parents=True, exist_ok=True)
    engine = "postgresql" if args.database_url else "sqlite"
    key_file = args.workdir / f"instructions-{engine}.key"
    if args.database_url:
        url = args.database_url + ("&" if "?" in args.database_url else "?")
        url += "options=-csearch_path%3Dbench_instructions,public"
        if not key_file.exists():
            with psycopg.connect(args.database_url, autocommit=True) as connection:
                connection.execute("DROP SCHEMA IF EXISTS bench_instructions CASCADE")
                connection.execute("CREATE SCHEMA bench_instructions")
    else:
        path = args.workdir / "instructions.db"
        url = f"sqlite:///{path}"
        if not path.exists():
            key_file.unlink(missing_ok=True)
    if not key_file.exists():
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "numbers_api",
                "--database-url",
                url,
                "demo",
                "--numbers",
                str(NUMBERS),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        key_file.write_text(made.stdout.strip().splitlines()[-1])
    return url, key_file.read_text().strip()


def _counted(source: Path, url: str, key: str, args: argparse.Namespace) -> int:
    """The instructions `source`'s app spent on the measured requests."""
    out = args.workdir / "callgrind.out"
    for old in args.workdir.glob("callgrind.out*"):
        old.unlink()
    driver = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.instructions",
            "--drive",
            "--source",
            str(source),
            "--mix",
            args.mix,
            "--requests",
            str(args.requests),
            "--rate-limit",
            str(args.rate_limit),
            "--database-url",
            url,
            "--key",
            key,
        ],
        cwd=HERE.parent,
        env={**os.environ, "PYTHONPATH": f"{source}{os.pathsep}{HERE.parent}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert driver.stdout is not None
    for line in _lines(driver.stdout):
        if line == STARTED:
            _control("-i", "on", driver.pid)
        elif line == DONE:
            _control("-i", "off", driver.pid)
            _control("-d", None, driver.pid)
            break
    driver.terminate()
    driver.wait()
    (dump,) = [p for p in args.workdir.glob("callgrind.out*") if "Trigger: dump" in p.read_text()]
    totals = [line for line in dump.read_text().splitlines() if line.startswith("totals:")]
    return int(totals[0].split()[1])


def _lines(stream: Any) -> Iterator[str]:
    for line in stream:
        yield line.strip()


def _control(option: str, value: str | None, pid: int) -> None:
    subprocess.run(
        ["callgrind_control", option, *([value] if value else []), str(pid)],
        check=True,
        capture_output=True,
    )


async def _drive(args: argparse.Namespace) -> None:
    """In the counted process: the app, warmed up, then the measured requests."""
    key = args.key
    fields: dict[str, Any] = {"database_url": args.database_url, "faults": frozenset()}
    if "rate_limit" in Settings.__dataclass_fields__:
        fields["rate_limit"] = args.rate_limit
    app: Any = create_app(Settings(**fields))
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, startup.get, started.put)
    )
    await started.get()
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def ask(query: str) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [(b"authorization", f"Bearer {key}".encode()), (b"host", b"bench")],
            "client": ("127.0.0.1", 50000),
            "server": ("bench", 80),
            "state": {},
        }
        await app(scope, receive, send)

    repeated = [q for queries in repeated_queries(NUMBERS).values() for q in queries]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # until the index is built (in the background)
        for query in repeated:
            await ask(query)
        indexes = app.state.api.indexes
        if indexes.ready():
            break
        await asyncio.sleep(1)
    for query in repeated:
        await ask(query)
    measured = repeated
    if args.mix == "fresh":
        measured = [
            q for i, kind in enumerate(KINDS) for q in fresh_queries(kind, NUMBERS, 500, seed=i)
        ]
        random.Random(3).shuffle(measured)
    print(STARTED, flush=True)
    await asyncio.sleep(2)
    statuses.clear()
    for i in range(args.requests):
        await ask(measured[i % len(measured)])
    assert set(statuses) == {200}, set(statuses)
    print(DONE, flush=True)
    await asyncio.sleep(30)  # the dump is taken meanwhile
    await startup.put({"type": "lifespan.shutdown"})
    await lifespan


if __name__ == "__main__":
    main()
