"""The benchmark: a database of N numbers built through the real import, the real server, and
wrk driving it from a second process.

    .venv/bin/python -m bench.run --numbers 1000000                      # SQLite
    .venv/bin/python -m bench.run --numbers 1000000 --database-url postgresql://127.0.0.1/test

It reports, for the ceiling (bench/ceiling.py: the bare framework, a Starlette app of one route
and no middleware under uvicorn with the server's workers and options, answering the bytes of the
server's first list page; started beside the server, on a port of its own), the repeated mix and
the fresh mix, at concurrency 1 and 32: requests per second, p50/p99 latency, each also as a ratio
to the ceiling, and the processor time each run cost per request (server or ceiling, PostgreSQL,
wrk); then every request kind alone at concurrency 1; the import's time and peak memory; and the
server's peak memory, sampled over the whole run (bench/measure.py: private, PSS, and VmHWM, which
counts mapped file pages). Results are also written as JSON to bench/results/; the server's own
output goes to WORKDIR/server-ENGINE-N.log, the ceiling's to WORKDIR/ceiling-ENGINE-N.log.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import psycopg

from bench.measure import PSS_EVERY, CpuUse, TreeMemory
from bench.requests import KINDS, PATH, fresh_queries, repeated_queries
from numbers_api.cli import UVICORN_OPTIONS
from numbers_api.demo import demo_records

HERE = Path(__file__).resolve().parent
OTHER_ACCOUNTS = 2  # accounts around the measured one, each a tenth of its size
# The server runs with every limit on, so that their cost is measured; its rate limit is one
# that wrk never reaches.
RATE_LIMIT = 1_000_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cli(database_url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "numbers_api", "--database-url", database_url, *args]


def start_server(
    database_url: str, log: Path, *, rate_limit: int = RATE_LIMIT, index_memory_mb: int
) -> tuple[subprocess.Popen[bytes], str]:
    """`numbers-api serve` with 2 workers and these limits on a free port, its output to `log`;
    the process and its base URL, once it answers."""
    port = free_port()
    options = ["--workers", "2", "--rate-limit", str(rate_limit)]
    options += ["--index-memory", str(index_memory_mb)]
    with log.open("wb") as output:
        server = subprocess.Popen(
            cli(database_url, "serve", "--port", str(port), *options),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    wait_until_answering("server", server, f"{base}/health", log)
    return server, base


def data_files(workdir: Path, numbers: int) -> list[tuple[str, Path]]:
    """(account, file) for the measured account and its neighbours, generated once per size."""
    files = [("bench", workdir / f"bench-{numbers}.jsonl")]
    files += [(f"other{i}", workdir / f"other{i}-{numbers}.jsonl") for i in range(OTHER_ACCOUNTS)]
    if all(path.exists() for _, path in files):
        return files
    log(f"generating {numbers:,} demo numbers (+{OTHER_ACCOUNTS} accounts of {numbers // 10:,})")
    taken: set[str] = set()
    for index, (_, path) in enumerate(files):
        count = numbers if index == 0 else numbers // 10
        with path.open("wb") as out:
            for record in demo_records(count, seed=index + 1, taken=taken):
                out.write(orjson.dumps(record) + b"\n")
    return files


def fresh_database(
    url: str | None, workdir: Path, numbers: int, name: str = "bench", *, keep: bool = False
) -> str:
    """The URL of the database `NAME-N` (a SQLite file in `workdir`, or a schema `NAME_N` of the
    PostgreSQL database at `url`), made empty unless `keep`."""
    if url is None:
        path = workdir / f"{name}-{numbers}.db"
        for suffix in ("", "-wal", "-shm"):
            if not keep:
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    schema = f"{name}_{numbers}"
    if not keep:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            connection.execute(f"CREATE SCHEMA {schema}")
    options = quote(f"-csearch_path={schema},public", safe="")
    return f"{url}{'&' if '?' in url else '?'}options={options}"


def build(database_url: str, files: list[tuple[str, Path]]) -> tuple[str, dict[str, Any]]:
    """Accounts and their numbers, loaded with `numbers-api import`; the measured account's key."""
    key = ""
    measured: dict[str, Any] = {}
    for account, path in files:
        created = subprocess.run(
            cli(database_url, "accounts", "create", account),
            check=True,
            capture_output=True,
            text=True,
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.measure",
                *cli(database_url, "import", str(path), "--account", account),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(result.stderr.strip().splitlines()[-1])
        if account == "bench":
            key = created.stdout.strip().splitlines()[-1]
            measured = figures
        log(f"imported {path.name}: {figures['seconds']:.1f} s, peak {figures['peak_mb']:.0f} MB")
    return key, measured


def vacuum(database_url: str) -> float | None:
    """On PostgreSQL, VACUUM ANALYZE after the imports, as an operator would after a bulk load:
    else autovacuum goes over the new rows in the middle of the measured runs. Its seconds."""
    if database_url.startswith("sqlite"):
        return None
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
    seconds = time.perf_counter() - started
    log(f"VACUUM ANALYZE after the imports: {seconds:.1f} s")
    return seconds


DAMON = Path("/sys/kernel/mm/damon/admin/kdamonds")


def damon_pageout() -> bool:
    """Whether the kernel pages out memory that has gone unused (DAMON running a `pageout`
    scheme): then rows untouched for a while are read from the disk again, which the figures of
    fresh requests include."""
    states = DAMON.glob("*/state")
    running = [path.parent for path in states if path.read_text().strip() == "on"]
    return any(
        action.read_text().strip() == "pageout"
        for kdamond in running
        for action in kdamond.glob("contexts/*/schemes/*/action")
    )


def stop_processes(*processes: subprocess.Popen[bytes] | None) -> None:
    """End each process started (the server, the ceiling) and wait for it."""
    for process in processes:
        if process is not None:
            process.terminate()
            process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wrk(
    paths: list[str],
    *,
    base: str,
    key: str,
    connections: int,
    seconds: int,
    workdir: Path,
    server_pid: int,
    database: str | None,
    settle_on: str,
    once: bool = False,
) -> dict[str, Any]:
    """One wrk run against `base` (the server or the ceiling, `server_pid` its process tree) over
    `paths`, in turn, once the server at `settle_on` has drained. `once` (one connection): each
    path is asked once at most, the run ending early if they run out (its rate is then 1 / its
    mean latency)."""
    assert not once or connections == 1, "one connection walks the paths in order"
    paths_file = workdir / "paths.txt"
    paths_file.write_text("".join(f"{path}\n" for path in paths))
    settle(settle_on, key)
    cpu = CpuUse(server_pid, database)
    summary = wrk_run(base, paths_file, key, connections=connections, seconds=seconds, once=once)
    if once and summary["requests"] >= len(paths):  # ended early; wrk counts the whole duration
        summary["rps"] = 1000 / summary["mean_ms"]
    summary["cpu_seconds"] = cpu.since()
    return summary


def wrk_run(
    base: str, paths_file: Path, key: str, *, connections: int, seconds: int, once: bool = False
) -> dict[str, Any]:
    """wrk over the paths in `paths_file` (`bench/load.lua`), now: its summary."""
    result = subprocess.run(
        [
            "wrk",
            f"-t{min(connections, 2)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(HERE / "load.lua"),
            base,
        ],
        env={
            **os.environ,
            "PATHS_FILE": str(paths_file),
            "API_KEY": key,
            **({"ONCE": "1"} if once else {}),
        },
        check=True,
        capture_output=True,
        text=True,
    )
    summary: dict[str, Any] = json.loads(
        [line for line in result.stdout.splitlines() if line.startswith("{")][-1]
    )
    summary["rps"] = summary["requests"] / summary["seconds"]
    return summary


def touch(base: str, key: str, tag: str) -> None:
    """A write to the measured account (its first number's tags): its data version moves on."""
    headers = {"Authorization": f"Bearer {key}"}
    first = httpx.get(f"{base}{PATH}?page[size]=1", headers=headers, timeout=60).json()
    number = first["data"][0]["id"]
    httpx.patch(
        f"{base}{PATH}/{number}", json={"tags": [tag]}, headers=headers, timeout=60
    ).raise_for_status()


def settle(base: str, key: str) -> None:
    """Wait until requests that wrk abandoned have drained: the server keeps working on them after
    wrk stops, and the next run must not measure that backlog."""
    probe = f"{base}{PATH}?filter[customer_reference]=bench-settle-probe"
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 600
    quick = 0
    # A new connection for each probe, so that they reach every worker; one client, so that what
    # is timed is the request, not making a client (tens of ms on a slow machine).
    no_keepalive = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(headers=headers, timeout=600, limits=no_keepalive) as client:
        while quick < 8 and time.monotonic() < deadline:  # several: each worker must be idle
            started = time.perf_counter()
            client.get(probe)
            quick = quick + 1 if time.perf_counter() - started < 0.05 else 0
            if not quick:
                time.sleep(0.5)


def wait_until_answering(
    name: str, process: subprocess.Popen[bytes], url: str, output: Path
) -> None:
    """Until `url` answers 200; the benchmark ends if `process` exits or never answers."""
    for _ in range(300):
        if process.poll() is not None:
            sys.exit(f"bench: the {name} exited ({process.returncode}), see {output}")
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sys.exit(f"bench: the {name} did not answer {url}, see {output}")


def first_page(base: str, key: str) -> bytes:
    """The bytes the server answers for the account's first list page: what the ceiling serves."""
    answer = httpx.get(f"{base}{PATH}", headers={"Authorization": f"Bearer {key}"}, timeout=60)
    answer.raise_for_status()
    return answer.content


def ratio_row(name: str, figures: dict[str, Any], ceiling: dict[str, Any]) -> str:
    per_request = {
        part: 1000 * seconds / max(figures["requests"], 1)
        for part, seconds in figures["cpu_seconds"].items()
    }
    return (
        f"| {name} | {figures['rps']:,.0f} | {figures['rps'] / ceiling['rps']:.0%} "
        f"| {figures['p50_ms']:.2f} | {figures['p99_ms']:.2f} "
        f"| {figures['p99_ms'] / ceiling['p99_ms']:.1f}x | {figures['failed']} "
        f"| {per_request['server']:.2f} / {per_request['database']:.2f}"
        f" / {per_request['load']:.2f} |"
    )


def bench_parser(description: str | None, *, numbers: int) -> argparse.ArgumentParser:
    """The options every wrk-driven benchmark takes: the account's size, the engine, the files."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--numbers", type=int, default=numbers, help="numbers in the account")
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/numbers-api-bench"))
    return parser


def bench_arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The parsed options, once wrk is known to be there and the working folder made."""
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench: needs wrk (Debian: apt-get install wrk)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args


def main() -> None:
    parser = bench_parser(__doc__, numbers=100_000)
    parser.add_argument("--seconds", type=int, default=8, help="seconds of each mixed run")
    parser.add_argument("--kind-seconds", type=int, default=3, help="seconds of each kind's run")
    args = bench_arguments(parser)
    engine = "postgresql" if args.database_url else "sqlite"

    files = data_files(args.workdir, args.numbers)
    database_url = fresh_database(args.database_url, args.workdir, args.numbers)
    key, imported = build(database_url, files)
    vacuumed = vacuum(database_url)

    workers = os.cpu_count() or 1
    port = free_port()
    server_log = args.workdir / f"server-{engine}-{args.numbers}.log"
    log(f"server log: {server_log}")
    with server_log.open("wb") as output:
        server = subprocess.Popen(
            cli(
                database_url,
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--rate-limit",
                str(RATE_LIMIT),
            ),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    memory = TreeMemory(server.pid).start()
    base = f"http://127.0.0.1:{port}"
    ceiling: subprocess.Popen[bytes] | None = None
    try:
        wait_until_answering("server", server, f"{base}/health", server_log)
        page = first_page(base, key)
        page_file = args.workdir / f"ceiling-{engine}-{args.numbers}.json"
        page_file.write_bytes(page)
        ceiling_port = free_port()
        ceiling_base = f"http://127.0.0.1:{ceiling_port}"
        ceiling_log = args.workdir / f"ceiling-{engine}-{args.numbers}.log"
        with ceiling_log.open("wb") as output:
            ceiling = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.ceiling",
                    str(page_file),
                    "--port",
                    str(ceiling_port),
                    "--workers",
                    str(workers),
                ],
                cwd=HERE.parent,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_until_answering("ceiling", ceiling, f"{ceiling_base}{PATH}", ceiling_log)
        if httpx.get(f"{ceiling_base}{PATH}").content != page:
            sys.exit(
                f"bench: the ceiling answers other bytes than the first page, see {ceiling_log}"
            )
        rng = random.Random(11)
        repeated = [f"{PATH}?{q}" for qs in repeated_queries(args.numbers).values() for q in qs]
        rng.shuffle(repeated)
        fresh_by_kind = {
            kind.name: [f"{PATH}?{q}" for q in fresh_queries(kind, args.numbers, 4000, seed=i)]
            for i, kind in enumerate(KINDS)
        }
        fresh = [path for paths in fresh_by_kind.values() for path in paths]
        rng.shuffle(fresh)

        results: dict[str, Any] = {
            "engine": engine,
            "numbers": args.numbers,
            "workers": workers,
            "import": imported,
            "vacuum_seconds": vacuumed,
            "machine": platform.platform(),
            "page_cache_pageout": damon_pageout(),
            "cores": os.cpu_count(),
            "ceiling": {
                "app": "bench/ceiling.py",
                "path": PATH,
                "page_bytes": len(page),
                "workers": workers,
                "uvicorn": UVICORN_OPTIONS,
            },
        }
        # Every run, the ceiling's too, waits for the server to drain: the two share the cores.
        measured = partial(
            wrk,
            key=key,
            workdir=args.workdir,
            database="postgres" if engine == "postgresql" else None,
            settle_on=base,
        )
        load = partial(measured, base=base, server_pid=server.pid)
        load_ceiling = partial(measured, base=ceiling_base, server_pid=ceiling.pid)
        load_ceiling([PATH], connections=32, seconds=2)  # warm-up
        # The repeated mix is measured in its steady state, once every worker has answered every
        # query: warm up until a whole run has no slow request.
        for _ in range(20):
            if load(repeated, connections=32, seconds=3)["p99_ms"] < 50:
                break
        # Fresh requests are answered from each worker's index of the account once it is built
        # (in the background, from the first request on): warm up, on queries of their own, until
        # a whole run has no slow request, so that no measured run shares the cores with a build.
        warm = [
            f"{PATH}?{q}"
            for i, kind in enumerate(KINDS)
            for q in fresh_queries(kind, args.numbers, 200, seed=1000 + i)
        ]
        for _ in range(40):
            if load(warm, connections=32, seconds=3)["p99_ms"] < 50:
                break
        mixes: dict[str, Any] = {}
        for c in (1, 32):
            mixes[f"ceiling c{c}"] = load_ceiling([PATH], connections=c, seconds=args.seconds)
            mixes[f"repeated c{c}"] = load(repeated, connections=c, seconds=args.seconds)
            offset = 0 if c == 1 else len(fresh) // 2  # never the same request twice
            mixes[f"fresh c{c}"] = load(fresh[offset:], connections=c, seconds=args.seconds)
            log(
                f"c{c}: "
                + ", ".join(
                    f"{name} {figures['rps']:,.0f}/s"
                    for name, figures in mixes.items()
                    if name.endswith(f" c{c}")
                )
            )
        kinds: dict[str, Any] = {}
        queries = repeated_queries(args.numbers)
        for i, kind in enumerate(KINDS):
            repeated_kind = load(
                [f"{PATH}?{q}" for q in queries[kind.name]],
                connections=1,
                seconds=args.kind_seconds,
            )
            # A kind's fresh run asks each of its queries once, after a write: no page that an
            # earlier run asked is in the response cache (some kinds have few possible queries).
            touch(base, key, f"bench-{i}")
            kinds[kind.name] = {
                "repeated": repeated_kind,
                "fresh": load(
                    [f"{PATH}?{q}" for q in fresh_queries(kind, args.numbers, 4000, seed=2000 + i)],
                    connections=1,
                    seconds=args.kind_seconds,
                    once=True,
                ),
            }
            log(
                f"{kind.name}: p99 {kinds[kind.name]['repeated']['p99_ms']:.1f} / "
                f"{kinds[kind.name]['fresh']['p99_ms']:.1f} ms"
            )
        results["mixes"] = mixes
        results["kinds"] = kinds
    finally:
        memory.stop()
        stop_processes(ceiling, server)
    results["server_memory"] = memory.figures()
    results["server_log"] = str(server_log)
    results["index_builds"] = index_builds(server_log)
    results["index_loads"] = index_loads(server_log)

    out = HERE / "results" / f"{engine}-{args.numbers}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(report(results))
    log(f"written to {out}; the server's log: {server_log}")


INDEX_BUILT = re.compile(
    r"index of account \d+ \(data version \d+, (\d+) numbers\) built in ([\d.]+) s, (\d+) MB"
)


INDEX_LOADED = re.compile(
    r"index of account \d+ \(data version \d+, (\d+) numbers\) ready: (.*), loaded in ([\d.]+) s"
)


def index_loads(server_log: Path) -> list[dict[str, Any]]:
    """Each index the server's workers loaded: numbers, how it was had, seconds."""
    found = INDEX_LOADED.findall(server_log.read_text("utf-8", errors="replace"))
    return [{"numbers": int(n), "how": how, "seconds": float(s)} for n, how, s in found]


def index_builds(server_log: Path) -> list[dict[str, float]]:
    """Each index build the server's workers logged: numbers, seconds and megabytes."""
    found = INDEX_BUILT.findall(server_log.read_text("utf-8", errors="replace"))
    return [{"numbers": int(n), "seconds": float(s), "mb": int(mb)} for n, s, mb in found]


def ceiling_used(ceiling: dict[str, Any]) -> str:
    options = ceiling["uvicorn"]
    return (
        f"Ceiling: `{ceiling['app']}`, a Starlette app of one route and no middleware under"
        f" uvicorn ({ceiling['workers']} workers, {options['http']}, {options['loop']}, as"
        f" `numbers-api serve`), answering `GET {ceiling['path']}` with the server's first page"
        f" ({ceiling['page_bytes']:,} bytes)."
    )


def report(results: dict[str, Any]) -> str:
    mixes, kinds, memory = results["mixes"], results["kinds"], results["server_memory"]
    heading = (
        f"### {results['engine']}, {results['numbers']:,} numbers ({results['workers']} workers)"
    )
    lines = [heading, ""]
    if results.get("page_cache_pageout"):
        lines += [
            "The kernel pages out memory unused for a while (DAMON `pageout`): rows that no"
            " request touched lately are read from the disk.",
            "",
        ]
    lines += [
        f"Import: {results['import']['seconds']:.1f} s,"
        f" peak {results['import']['peak_mb']:.0f} MB."
        + (
            f" Then VACUUM ANALYZE: {results['vacuum_seconds']:.1f} s."
            if results.get("vacuum_seconds") is not None
            else ""
        ),
        "",
        f"Server memory: peaks over the run of the sum over its {memory['processes']} processes:",
        "- server peak private memory (RssAnon, all processes):"
        f" {memory['rss_anon_peak_mb']:.0f} MB",
        f"- server peak PSS (all processes, sampled every {PSS_EVERY:.0f} s or less often):"
        f" {memory['pss_peak_mb']:.0f} MB",
        "- server peak summed VmHWM (includes mapped file pages, counted in every process that"
        f" maps them): {memory['vmhwm_sum_mb']:.0f} MB",
        "",
        "Index builds the server logged (the import builds and keeps the measured account's, "
        "which its workers load at start): "
        + (
            ", ".join(
                f"{b['numbers']:,} numbers in {b['seconds']:.1f} s ({b['mb']} MB)"
                for b in results["index_builds"]
            )
            or "none logged"
        )
        + ". Index loads: "
        + (
            ", ".join(
                f"{b['numbers']:,} numbers in {b['seconds']:.2f} s ({b['how']})"
                for b in results.get("index_loads", [])
            )
            or "none logged"
        )
        + ".",
        "",
        ceiling_used(results["ceiling"]),
        "",
        "CPU ms/request: processor time per request of the server's processes (the ceiling's, for"
        " the ceiling) / PostgreSQL's (0 on SQLite, which runs in the server) / wrk.",
        "",
        "| run | req/s | of ceiling | p50 ms | p99 ms | p99 / ceiling p99 | non-2xx"
        " | CPU ms/request |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, figures in mixes.items():
        lines.append(ratio_row(name, figures, mixes[f"ceiling {name.split()[-1]}"]))
    lines += [
        "",
        "Each kind alone at concurrency 1 (repeated / fresh). A fresh run asks each of its"
        " queries once, after a write to the account (so none is in the response cache); a kind"
        " with fewer possible queries than the run would ask ends early (its requests shown).",
        "",
        "| kind | req/s | p50 ms | p99 ms | p99 / ceiling p99 | fresh requests |",
        "|---|---|---|---|---|---|",
    ]
    ceiling = mixes["ceiling c1"]
    for name, both in kinds.items():
        r, f = both["repeated"], both["fresh"]
        lines.append(
            f"| {name} | {r['rps']:,.0f} / {f['rps']:,.0f} | {r['p50_ms']:.2f} / {f['p50_ms']:.2f}"
            f" | {r['p99_ms']:.2f} / {f['p99_ms']:.2f}"
            f" | {r['p99_ms'] / ceiling['p99_ms']:.1f}x / {f['p99_ms'] / ceiling['p99_ms']:.1f}x"
            f" | {f['requests']:,} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
