"""The soak: mixed reads and writes at c64 for 10 minutes against `numbers-api serve`, with one
PostgreSQL restart in the middle; every write checked against the database afterwards.

    .venv/bin/python -m bench.soak                                # 600 s, c64, restart at 300 s
    .venv/bin/python -m bench.soak --seconds 60 --restart-at 30   # a quick look

The database is a PostgreSQL cluster of the bench's own (`tests/support/private_postgresql.py`:
initdb into a temporary folder, its own port, removed at the end), never the shared server. An
account `soak` of `--numbers` demo numbers (default 100,000: every filter and page realistic, the
import about 15 s) is loaded with `numbers-api accounts create` and `numbers-api
import`, then VACUUM ANALYZE. The server is `numbers-api serve --workers N --rate-limit 0`.

The load is this process: `--concurrency` asyncio tasks over httpx, each sending its next request
once the last is answered (or has timed out, `--timeout`, default 10 s), for `--seconds`, after a
5-second read-only warm-up that is not counted. Each request is drawn as:
- a list page (the rest): a fresh query of one of `bench/requests.py`'s kinds (filters, sorts,
  pages of 10 to 100), every request different;
- a retrieve (`--retrieves`, default 25%): `GET /v2/phone_numbers/{id}` of any of the numbers;
- a write (`--writes`, default 15%): `PATCH /v2/phone_numbers/{id}` setting `customer_reference`
  to a value unique to the write and `tags` to that value alone. Each task writes only numbers of
  its own (every `concurrency`-th number), one after the other and each a different number until
  it has written all of its own, so that a number's writes are in a known order and most
  acknowledged writes are the last one to their number.

At `--restart-at` seconds (default the middle) the cluster is stopped (`pg_ctl stop -m fast`, or
`--stop-mode immediate`, as a crash), kept down `--down` seconds (default 10), and started again.

Each response's status, latency and time are recorded, and which server worker answered it (the
worker process holding the server's end of the connection: `Workers`). A request with no answer
(timed out, refused, closed) is recorded as such, by the client's exception.

Afterwards, with the server stopped, the database is read directly:
- lost writes: numbers whose last acknowledged (2xx) write is not their final value, unless a
  later write to it that was not acknowledged (5xx, 503, no response) is: such a write may or may
  not have landed, and is counted as "unacknowledged, landed" or not, never as lost; a number whose
  final value is none of its writes' nor its original one counts as lost too;
- doubled writes: a PATCH sets values, so a write applied twice leaves the same row; it shows in
  the account's data version, which every committed write moves on by one: more versions than
  writes that may have landed (acknowledged + not acknowledged) is writes applied twice;
- torn writes: a number whose `tags` are not its `customer_reference` (one write's two fields),
  or whose `phone_number_tags` rows differ from its `tags`.

Reported: requests, statuses, throughput and p50/p99 before, during and after the outage (a
request is "during" if it was in flight at any time from the stop until the recovery); recovery
time, per worker (its answers) and overall (every request, unanswered ones included): from the
database accepting connections again until a write has been answered 2xx and no request has
failed (5xx, 503 included, or no answer) for a second (`recovered_at`); a per-second timeline
around the outage; and the target (0 lost, 0 doubled, 0 torn, every request answered, 0 statuses
other than 2xx/4xx/503). The summary is written to bench/results/soak-N.json, each request to
WORKDIR/soak-requests.csv, the server's log to WORKDIR/soak-server.log and PostgreSQL's to
WORKDIR/soak-postgresql.log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import uvloop
from tests.support import private_postgresql
from tests.support.private_postgresql import PrivateCluster, private_cluster

from bench.measure import cpu_seconds, tree
from bench.requests import KINDS, PATH, fresh_queries
from bench.run import HERE, cli, free_port, vacuum, wait_until_answering
from numbers_api.demo import demo_records

ACCOUNT = "soak"
WARMUP_SECONDS = 5.0
# Answers without a failure that mark a recovery (see `recovered_at`).
CLEAN_SECONDS = 1.0
# Request kinds, as recorded.
LIST, RETRIEVE, WRITE = "list", "retrieve", "write"
# Requests without an answer, recorded in place of a status.
TIMEOUT, CONNECTION_ERROR = -1, -2
NO_ANSWER = {TIMEOUT: "no response (timeout)", CONNECTION_ERROR: "no response (connection)"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(slots=True)
class Request:
    start: float  # seconds from the run's start
    end: float
    kind: str
    status: int  # or TIMEOUT / CONNECTION_ERROR
    worker: int | None  # the server worker's pid, if known
    write: int | None = None  # the write's sequence number


@dataclass(slots=True)
class Write:
    number: int
    value: str
    status: int = 0
    acknowledged_value: bool = True  # a 2xx's body carried the value set


@dataclass
class Outage:
    stop_at: float = 0.0  # the stop asked
    stopped_at: float = 0.0  # pg_ctl stop returned
    start_at: float = 0.0
    up_at: float = 0.0  # pg_ctl start returned: the cluster accepts connections
    error: str | None = None


@dataclass
class Load:
    requests: list[Request] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    by_task: dict[int, list[int]] = field(default_factory=dict)  # task -> its writes, in order
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # the server's, this process's
    unanswered: Counter[str] = field(default_factory=Counter)  # by the client's exception


# httpcore's trace events at which a new connection's worker is looked up, until found.
MAPPED_AT = {"http11.receive_response_headers.started", "http11.receive_response_headers.complete"}


class Workers:
    """Which worker of the server answered on a connection: the worker process holding the
    server's end of it, found by the connection's client port (`server_socket`, then the
    workers' descriptors in /proc). Looked up while a new connection's first request waits for
    its answer (a worker has taken the connection by then, or does by the time the answer
    starts, and may close it as soon as it has answered: after a 500, uvicorn does), and kept
    for the connection's later answers."""

    def __init__(self, server_pid: int, port: int) -> None:
        self.server_pid = server_pid
        self.port = port
        self.ports: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()
        self.known: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()
        self.seen: list[int] = []
        self.pids: list[int] = []

    def tracer(self) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
        """httpcore's trace hook for one request (`extensions={"trace": ...}`)."""
        connected: list[object] = []

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event == "connection.connect_tcp.complete":
                stream = info["return_value"]
                with contextlib.suppress(OSError, ValueError, TypeError):
                    self.ports[stream] = int(stream.get_extra_info("client_addr")[1])
                    connected.append(stream)
            elif event in MAPPED_AT and connected and connected[0] not in self.known:
                self._map(connected[0])

        return trace

    def of(self, response: httpx.Response) -> int | None:
        stream = response.extensions.get("network_stream")
        if stream is None:
            return None
        return self.known.get(stream) or self._map(stream)

    def _map(self, stream: object) -> int | None:
        port = self.ports.get(stream)
        pid = None if port is None else self._find(port)
        if pid is not None:
            self.known[stream] = pid
            if pid not in self.seen:
                self.seen.append(pid)
        return pid

    def _find(self, client_port: int) -> int | None:
        inode = server_socket(self.port, client_port)
        if inode is None:  # closed already
            return None
        target = f"socket:[{inode}]"
        for refresh in (False, True):
            if refresh or not self.pids:
                self.pids = children(self.server_pid)
            for pid in self.pids:
                with contextlib.suppress(OSError):  # exited meanwhile, or the descriptor closed
                    for fd in os.scandir(f"/proc/{pid}/fd"):
                        if os.readlink(fd.path) == target:
                            return pid
        return None


# The kernel's socket diagnostics (netlink, sock_diag(7)), asked for one TCP socket by its
# addresses: /proc/net/tcp lists every socket of the machine, thousands in TIME_WAIT after a run
# of 500s (uvicorn closes a connection after one), and took 9 ms a read.
NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST = 4, 20, 1
LOOPBACK = socket.inet_aton("127.0.0.1") + bytes(12)
NO_COOKIE = struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF)  # any interface, INET_DIAG_NOCOOKIE


def server_socket(server_port: int, client_port: int) -> int | None:
    """The inode of the server's end of the loopback connection from `client_port`, if open."""
    socket_id = struct.pack("!HH", server_port, client_port) + LOOPBACK * 2 + NO_COOKIE
    request = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)
    message = request + socket_id
    header = struct.pack("=IHHII", 16 + len(message), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as diag:
            diag.sendto(header + message, (0, 0))
            answer = diag.recv(8192)
    except OSError:
        return None
    # nlmsghdr (16 bytes), then inet_diag_msg: family, state, timer, retransmits, the socket's
    # id (source and destination ports at 4 and 6, ...), expires, queues, uid, inode (at 68).
    if len(answer) < 16 + 72 or struct.unpack_from("=H", answer, 4)[0] != SOCK_DIAG_BY_FAMILY:
        return None  # an error: no such socket
    if struct.unpack_from("!HH", answer, 16 + 4) != (server_port, client_port):
        return None  # the listening socket, answered for a connection gone
    inode = struct.unpack_from("=I", answer, 16 + 68)[0]
    return int(inode) or None


def children(pid: int) -> list[int]:
    """A process's children (the server's: its workers)."""
    found = []
    for threads in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in threads.read_text().split()]
    return found


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The description as written, each option's default shown."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--seconds", type=float, default=600, help="length of the run")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--workers", type=int, default=2, help="the server's worker processes")
    parser.add_argument("--numbers", type=int, default=100_000, help="numbers in the account")
    parser.add_argument(
        "--restart-at", type=float, help="seconds into the run the database stops (default: half)"
    )
    parser.add_argument("--down", type=float, default=10, help="seconds the database stays down")
    parser.add_argument("--stop-mode", choices=("fast", "immediate"), default="fast")
    parser.add_argument("--timeout", type=float, default=10, help="the client's, per request")
    parser.add_argument("--writes", type=float, default=0.15, help="share of PATCHes")
    parser.add_argument("--retrieves", type=float, default=0.25, help="share of GETs by id")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/numbers-api-bench"))
    args = parser.parse_args()
    if args.restart_at is None:
        args.restart_at = args.seconds / 2
    if not 0 <= args.restart_at < args.restart_at + args.down < args.seconds:
        sys.exit(
            "bench: the database must stop and start again within the run (--restart-at, --down)"
        )
    if not private_postgresql.available():
        sys.exit("bench: needs PostgreSQL's programs and a `postgres` user (a private cluster)")
    args.workdir.mkdir(parents=True, exist_ok=True)

    with private_cluster() as cluster:
        log(f"private PostgreSQL cluster on port {cluster.port}, in {cluster.folder}")
        key, account, ids, original = prepare(cluster.url, args)
        server_log = args.workdir / "soak-server.log"
        server, port = start_server(cluster.url, args.workers, server_log)
        workers = Workers(server.pid, port)
        base = f"http://127.0.0.1:{port}"
        try:
            version_before = data_version(cluster.url, account)
            load, outage = uvloop.run(
                soak(base=base, key=key, ids=ids, cluster=cluster, workers=workers, args=args)
            )
        finally:
            stop_server(server)
        checked = check_writes(cluster, account, load, original, version_before)
        shutil.copy(cluster.folder / "server.log", args.workdir / "soak-postgresql.log")

    results = summarise(args, load, outage, workers, checked)
    results["cpu_seconds"] = load.cpu_seconds
    results["server_log_errors"] = sum(
        " ERROR " in line for line in server_log.read_text("utf-8", errors="replace").splitlines()
    )
    write_requests(args.workdir / "soak-requests.csv", load)
    out = HERE / "results" / f"soak-{args.numbers}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(report(results))
    log(
        f"written to {out}; each request: {args.workdir / 'soak-requests.csv'}; the server's log:"
        f" {server_log}; PostgreSQL's: {args.workdir / 'soak-postgresql.log'}"
    )


def prepare(
    url: str, args: argparse.Namespace
) -> tuple[str, int, list[int], dict[int, str | None]]:
    """The account loaded through the CLI: its key, id, numbers' ids and original references."""
    data = args.workdir / f"soak-{args.numbers}-{args.seed}.jsonl"
    if not data.exists():
        log(f"generating {args.numbers:,} demo numbers")
        with data.open("wb") as out:
            for record in demo_records(args.numbers, seed=args.seed):
                out.write(orjson.dumps(record) + b"\n")
    created = subprocess.run(
        cli(url, "accounts", "create", ACCOUNT), check=True, capture_output=True, text=True
    )
    key = created.stdout.strip().splitlines()[-1]
    started = time.perf_counter()
    subprocess.run(
        cli(url, "import", str(data), "--account", ACCOUNT), check=True, capture_output=True
    )
    log(f"imported {args.numbers:,} numbers in {time.perf_counter() - started:.1f} s")
    vacuum(url)
    with psycopg.connect(url) as connection:
        (account,) = connection.execute(
            "SELECT id FROM accounts WHERE name = %s", (ACCOUNT,)
        ).fetchone() or (0,)
        rows = connection.execute(
            "SELECT id, customer_reference FROM phone_numbers WHERE account_id = %s ORDER BY id",
            (account,),
        ).fetchall()
    return key, account, [row[0] for row in rows], dict(rows)


def data_version(url: str, account: int) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT data_version FROM accounts WHERE id = %s", (account,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def start_server(url: str, workers: int, output: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    options = ["--port", str(port), "--workers", str(workers), "--rate-limit", "0"]
    with output.open("wb") as out:
        server = subprocess.Popen(cli(url, "serve", *options), stdout=out, stderr=subprocess.STDOUT)
    wait_until_answering("server", server, f"http://127.0.0.1:{port}/health", output)
    return server, port


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """The server ended, and its workers with it: killed if they do not stop within 30 s (a
    worker stuck on a database call may never)."""
    processes = tree(server.pid)
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        log("bench: the server did not stop within 30 s; killed")
        server.kill()
        server.wait()
    for pid in processes[1:]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def list_paths(numbers: int, seed: int) -> list[str]:
    """Fresh list queries of every kind, shuffled: each drawn once, at random, by the load."""
    paths = [
        f"{PATH}?{query}"
        for k, kind in enumerate(KINDS)
        for query in fresh_queries(kind, numbers, 2_000, seed=seed * 100 + k)
    ]
    random.Random(seed).shuffle(paths)
    return paths


async def soak(
    *,
    base: str,
    key: str,
    ids: list[int],
    cluster: PrivateCluster,
    workers: Workers,
    args: argparse.Namespace,
) -> tuple[Load, Outage]:
    """The load for `args.seconds`, the database restarted meanwhile: every request recorded."""
    paths = list_paths(len(ids), args.seed)
    run = secrets.token_hex(3)
    load, outage = Load(), Outage()
    # A client of one connection for each task: httpx's pool looks over every connection it
    # holds for each request, and at 64 that was 5 ms of this process's time a request.
    tls = ssl.create_default_context()  # made once: each client would load the certificates
    clients = [
        httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {key}"},
            timeout=args.timeout,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            trust_env=False,
            verify=tls,
        )
        for _ in range(args.concurrency)
    ]
    traffics = [Traffic(client, ids, paths, workers, args) for client in clients]
    try:
        log(f"warming up, reads only, {WARMUP_SECONDS:.0f} s")
        warm = Load()
        started = time.monotonic()
        await asyncio.gather(
            *(
                client_task(traffic, task, warm, started=started, seconds=WARMUP_SECONDS)
                for task, traffic in enumerate(traffics)
            )
        )
        log(f"soak: {args.seconds:.0f} s at c{args.concurrency}")
        cpu_before = processor_seconds(workers.server_pid)
        started = time.monotonic()
        restart = asyncio.create_task(restart_database(cluster, outage, args, started))
        await asyncio.gather(
            *(
                client_task(traffic, task, load, started=started, seconds=args.seconds, run=run)
                for task, traffic in enumerate(traffics)
            )
        )
        await restart
        load.cpu_seconds = {
            part: seconds - cpu_before[part]
            for part, seconds in processor_seconds(workers.server_pid).items()
        }
    finally:
        for client in clients:
            await client.aclose()
    return load, outage


def processor_seconds(server_pid: int) -> dict[str, float]:
    """Processor time so far of the server's processes (a worker that exited takes its own
    with it) and of this one, the load."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "server": sum(cpu_seconds(pid) for pid in tree(server_pid)),
        "load": own.ru_utime + own.ru_stime,
    }


async def restart_database(
    cluster: PrivateCluster, outage: Outage, args: argparse.Namespace, started: float
) -> None:
    await asyncio.sleep(max(0.0, started + args.restart_at - time.monotonic()))
    try:
        outage.stop_at = time.monotonic() - started
        log(f"{outage.stop_at:.1f} s: stopping the database ({args.stop_mode})")
        await asyncio.to_thread(cluster.stop, args.stop_mode)
        outage.stopped_at = time.monotonic() - started
        await asyncio.sleep(max(0.0, started + outage.stop_at + args.down - time.monotonic()))
        outage.start_at = time.monotonic() - started
        log(f"{outage.start_at:.1f} s: starting the database")
        await asyncio.to_thread(cluster.start)
        outage.up_at = time.monotonic() - started
        log(f"{outage.up_at:.1f} s: the database accepts connections")
    except subprocess.CalledProcessError as error:
        outage.error = f"{error}: {error.stderr!r}"
        log(f"bench: the restart failed: {outage.error}")


@dataclass
class Traffic:
    """What every client task shares."""

    client: httpx.AsyncClient
    ids: list[int]  # the account's numbers
    paths: list[str]  # list queries
    workers: Workers
    args: argparse.Namespace


async def client_task(
    traffic: Traffic, task: int, load: Load, *, started: float, seconds: float, run: str = ""
) -> None:
    """One client: a request at a time until `seconds` have passed; writes only if `run` (the
    values' prefix) is given, each to the next of this task's own numbers."""
    client, ids, paths, workers, args = (
        traffic.client,
        traffic.ids,
        traffic.paths,
        traffic.workers,
        traffic.args,
    )
    rng = random.Random(args.seed * 1_000 + task + (7 if run else 0))
    own = ids[task :: args.concurrency]
    rng.shuffle(own)
    written = 0
    mine = load.by_task.setdefault(task, [])
    while (now := time.monotonic()) - started < seconds:
        draw = rng.random()
        write: int | None = None
        if run and draw < args.writes:
            kind = WRITE
            number = own[written % len(own)]
            written += 1
            write = len(load.writes)
            value = f"soak-{run}-{write}"
            load.writes.append(Write(number, value))
            mine.append(write)
            call = client.patch(
                f"{PATH}/{number}",
                json={"customer_reference": value, "tags": [value]},
                extensions={"trace": workers.tracer()},
            )
        elif draw < args.writes + args.retrieves:
            kind = RETRIEVE
            call = client.get(f"{PATH}/{rng.choice(ids)}", extensions={"trace": workers.tracer()})
        else:
            kind = LIST
            call = client.get(rng.choice(paths), extensions={"trace": workers.tracer()})
        worker = None
        try:
            response = await call
            status = response.status_code
            worker = workers.of(response)
        except httpx.TimeoutException as error:
            status = TIMEOUT
            load.unanswered[type(error).__name__] += 1
        except httpx.HTTPError as error:  # refused, reset, closed without an answer
            status = CONNECTION_ERROR
            load.unanswered[type(error).__name__] += 1
        end = time.monotonic()
        if write is not None:
            load.writes[write].status = status
            if 200 <= status < 300:
                load.writes[write].acknowledged_value = value.encode() in response.content
        load.requests.append(Request(now - started, end - started, kind, status, worker, write))
        if status == CONNECTION_ERROR:  # refused at once while the server restarts: not a spin
            await asyncio.sleep(0.05)


def check_writes(
    cluster: PrivateCluster,
    account: int,
    load: Load,
    original: dict[int, str | None],
    version_before: int,
) -> dict[str, Any]:
    """Every write against the database as it is now (the server stopped)."""
    try:
        cluster.wait_ready(60)
    except psycopg.OperationalError as error:
        return {"error": f"the database did not come back: {error}"}
    numbers = sorted({write.number for write in load.writes})
    with psycopg.connect(cluster.url) as connection:
        final = {
            number: (reference, tags)
            for number, reference, tags in connection.execute(
                "SELECT id, customer_reference, tags FROM phone_numbers WHERE id = ANY(%s)",
                (numbers,),
            )
        }
        tag_rows: dict[int, set[str]] = {}
        for number, tag in connection.execute(
            "SELECT phone_number_id, tag FROM phone_number_tags WHERE phone_number_id = ANY(%s)",
            (numbers,),
        ):
            tag_rows.setdefault(number, set()).add(tag)
    version_after = data_version(cluster.url, account)

    by_number: dict[int, list[Write]] = {}
    for mine in load.by_task.values():  # each task's writes in the order it sent them
        for index in mine:
            by_number.setdefault(load.writes[index].number, []).append(load.writes[index])
    outcomes: Counter[str] = Counter()
    examples: dict[str, list[dict[str, Any]]] = {}
    torn = 0
    for number, writes in by_number.items():
        reference, tags_text = final.get(number, (None, "[]"))
        tags = orjson.loads(tags_text)
        ours = reference in {w.value for w in writes}
        if (ours and tags != [reference]) or set(tags) != tag_rows.get(number, set()):
            torn += 1
        outcome = final_outcome(writes, reference, original.get(number))
        outcomes[outcome] += 1
        if outcome.startswith("lost") and len(examples.setdefault(outcome, [])) < 5:
            examples[outcome].append(
                {
                    "number": number,
                    "final": reference,
                    "writes": [(w.value, w.status) for w in writes],
                }
            )
    acknowledged_writes = sum(200 <= w.status < 300 for w in load.writes)
    unacknowledged = len(load.writes) - acknowledged_writes
    applied = version_after - version_before
    return {
        "writes": len(load.writes),
        "acknowledged": acknowledged_writes,
        "not_acknowledged": unacknowledged,
        "acknowledged_without_value": sum(
            200 <= w.status < 300 and not w.acknowledged_value for w in load.writes
        ),
        "numbers_written": len(by_number),
        "outcomes": dict(outcomes),
        "lost": sum(n for outcome, n in outcomes.items() if outcome.startswith("lost")),
        "lost_examples": examples,
        "applied": applied,
        "doubled": max(0, applied - len(load.writes)),
        "applied_short_of_acknowledged": max(0, acknowledged_writes - applied),
        "torn": torn,
    }


def final_outcome(writes: list[Write], reference: str | None, original: str | None) -> str:
    """What a number's final value says of its writes (in the order they were sent)."""
    acknowledged = [i for i, w in enumerate(writes) if 200 <= w.status < 300]
    last = acknowledged[-1] if acknowledged else -1
    later = [w.value for w in writes[last + 1 :]]  # none acknowledged: may have landed
    if last >= 0 and reference == writes[last].value:
        return "last acknowledged write is the final value"
    if reference in later:
        return "a later unacknowledged write landed"
    if last < 0 and reference == original:
        return "no write acknowledged, none landed"
    if last >= 0 and reference in [w.value for w in writes[:last]]:
        return "lost: an earlier write's value"
    if last >= 0 and reference == original:
        return "lost: the original value"
    return "lost: a value no write set"


def percentile(values: list[float], percent: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


def status_name(status: int) -> str:
    return NO_ANSWER.get(status, str(status))


def off_target(status: int) -> bool:
    """Not 2xx, 4xx or 503 (an unanswered request counts too)."""
    return not (200 <= status < 300 or 400 <= status < 500 or status == 503)


def phase(requests: list[Request], start: float, end: float) -> dict[str, Any]:
    latencies = [1000 * (r.end - r.start) for r in requests if r.status > 0]
    seconds = max(end - start, 1e-9)
    statuses = Counter(status_name(r.status) for r in requests)
    return {
        "from_s": start,
        "to_s": end,
        "requests": len(requests),
        "per_second": len(requests) / seconds,
        "2xx_per_second": sum(200 <= r.status < 300 for r in requests) / seconds,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "statuses": dict(sorted(statuses.items())),
        "by_kind": {
            kind: dict(
                sorted(Counter(status_name(r.status) for r in requests if r.kind == kind).items())
            )
            for kind in (LIST, RETRIEVE, WRITE)
        },
    }


def recovered_at(requests: list[Request], up: float) -> dict[str, Any]:
    """When the answers after `up` succeed again: the later of the first 2xx write and the end
    of the last failure (a 5xx, 503 included, or no answer) that is followed by `CLEAN_SECONDS`
    of answers without one. Failures after that are counted apart: not the outage's (a worker
    at capacity answers 503 at times, outage or not)."""
    first_write = None
    last_failure = up
    recovered = None
    failures = later = 0
    for r in sorted((r for r in requests if r.end >= up), key=lambda r: r.end):
        failed = r.status < 0 or r.status >= 500
        if recovered is not None:
            later += failed
        elif failed:
            last_failure = r.end
            failures += 1
        else:
            if first_write is None and r.kind == WRITE and r.status < 300:
                first_write = r.end
            if first_write is not None and r.end - last_failure >= CLEAN_SECONDS:
                recovered = max(first_write, last_failure)
    return {
        "requests": len(requests),
        "first_2xx_write_after_up_s": None if first_write is None else first_write - up,
        "failures_after_up": failures,
        "last_failure_after_up_s": last_failure - up if failures else None,
        "recovered_after_up_s": None if recovered is None else recovered - up,
        "failures_after_recovery": later,
    }


def recovery(load: Load, outage: Outage, workers: Workers, end: float) -> dict[str, Any]:
    """Recovery from the database accepting connections again (`up_at`), per worker (its
    answers) and overall (every request, those left unanswered included)."""
    up = outage.up_at
    overall = recovered_at(load.requests, up)
    recovered = overall["recovered_after_up_s"]
    return {
        "per_worker": {
            f"worker {number} (pid {pid})": recovered_at(
                [r for r in load.requests if r.worker == pid], up
            )
            for number, pid in enumerate(workers.seen, 1)
        },
        "of_no_known_worker": sum(r.worker is None for r in load.requests if r.end >= up),
        "overall": overall,
        "overall_s": recovered,
        "recovered_at_s": None if recovered is None else up + recovered,
        "run_end_s": end,
    }


def timeline(requests: list[Request], seconds: float) -> list[dict[str, Any]]:
    """Requests by the second they were answered in, by status class."""
    slots: list[Counter[str]] = [Counter() for _ in range(int(seconds) + 1 + 30)]
    for r in requests:
        slot = slots[min(int(r.end), len(slots) - 1)]
        slot["requests"] += 1
        slot[status_class(r.status)] += 1
    last = max((int(r.end) for r in requests), default=0)
    return [{"second": s, **slots[s]} for s in range(min(last + 1, len(slots)))]


def status_class(status: int) -> str:
    if status < 0:
        return "no response"
    if status == 503:
        return "503"
    return f"{status // 100}xx"


def summarise(
    args: argparse.Namespace,
    load: Load,
    outage: Outage,
    workers: Workers,
    checked: dict[str, Any],
) -> dict[str, Any]:
    end = max((r.end for r in load.requests), default=args.seconds)
    recovered = recovery(load, outage, workers, end)
    window_end = recovered["recovered_at_s"] or end
    before = [r for r in load.requests if r.end < outage.stop_at]
    after = [r for r in load.requests if r.start > window_end]
    during = [r for r in load.requests if r.end >= outage.stop_at and r.start <= window_end]
    statuses = Counter(status_name(r.status) for r in load.requests)
    off = Counter(status_name(r.status) for r in load.requests if off_target(r.status))
    met = (
        not off
        and "error" not in checked
        and checked["lost"] == 0
        and checked["doubled"] == 0
        and checked["torn"] == 0
        and checked["applied_short_of_acknowledged"] == 0
        and checked["acknowledged_without_value"] == 0
        and outage.error is None
    )
    return {
        "scenario": "soak",
        "engine": "postgresql (a private cluster)",
        "numbers": args.numbers,
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "mix": {"writes": args.writes, "retrieves": args.retrieves},
        "client_timeout_s": args.timeout,
        "stop_mode": args.stop_mode,
        "down_s": args.down,
        "machine": platform.platform(),
        "cores": os.cpu_count(),
        "outage": vars(outage),
        "requests": len(load.requests),
        "statuses": dict(sorted(statuses.items())),
        "off_target": dict(off),
        "unanswered_by_exception": dict(load.unanswered),
        "phases": {
            "before": phase(before, 0.0, outage.stop_at),
            "during": phase(during, outage.stop_at, window_end),
            "after": phase(after, window_end, end),
            "all": phase(load.requests, 0.0, end),
        },
        "recovery": recovered,
        "writes": checked,
        "worker_pids": workers.seen,
        "timeline": timeline(load.requests, end),
        "target_met": met,
    }


def write_requests(path: Path, load: Load) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["start_s", "end_s", "kind", "status", "worker_pid", "write", "number"])
        for r in load.requests:
            number = load.writes[r.write].number if r.write is not None else ""
            writer.writerow(
                [
                    f"{r.start:.4f}",
                    f"{r.end:.4f}",
                    r.kind,
                    status_name(r.status),
                    r.worker or "",
                    "" if r.write is None else r.write,
                    number,
                ]
            )


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def seconds_text(value: float | None) -> str:
    return "not recovered" if value is None else f"{value:.1f} s"


def after_text(value: float | None) -> str:
    return "none" if value is None else f"{value:.1f} s"


def report(results: dict[str, Any]) -> str:
    outage, recovered, writes = results["outage"], results["recovery"], results["writes"]
    lines = [
        f"### Soak: {results['seconds']:.0f} s at c{results['concurrency']}, "
        f"{results['workers']} workers, {results['numbers']:,} numbers, one PostgreSQL restart",
        "",
        f"Mix: {results['mix']['writes']:.0%} PATCH, {results['mix']['retrieves']:.0%} retrieve,"
        f" the rest list pages; client timeout {results['client_timeout_s']:.0f} s. Database"
        f" stopped ({results['stop_mode']}) at {outage['stop_at']:.1f} s (down at"
        f" {outage['stopped_at']:.1f} s), started at {outage['start_at']:.1f} s, accepting"
        f" connections at {outage['up_at']:.1f} s"
        + (f"; the restart failed: {outage['error']}" if outage["error"] else "")
        + ".",
        "",
        "| phase | seconds | requests | req/s | 2xx/s | p50 ms | p99 ms | statuses |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, figures in results["phases"].items():
        lines.append(
            f"| {name} | {figures['from_s']:.1f} to {figures['to_s']:.1f} | {figures['requests']:,}"
            f" | {figures['per_second']:,.0f} | {figures['2xx_per_second']:,.0f}"
            f" | {ms(figures['p50_ms'])} | {ms(figures['p99_ms'])}"
            f" | {', '.join(f'{s}: {n:,}' for s, n in figures['statuses'].items())} |"
        )
    lines += [
        "",
        '"during": every request in flight at any time from the stop until every worker'
        " recovered; p50/p99 over the requests answered (unanswered ones are counted apart).",
        "",
        "Recovery, from the database accepting connections again, until a write succeeded and"
        f" no request failed (5xx, 503 included, or no answer) for {CLEAN_SECONDS:.0f} s:",
        "",
        "| | recovered after | first 2xx write after | failures after up | last failure after"
        " | failures after recovery |",
        "|---|---|---|---|---|---|",
        *(
            f"| {name} | {seconds_text(w['recovered_after_up_s'])}"
            f" | {after_text(w['first_2xx_write_after_up_s'])} | {w['failures_after_up']:,}"
            f" | {after_text(w['last_failure_after_up_s'])} | {w['failures_after_recovery']:,} |"
            for name, w in [*recovered["per_worker"].items(), ("overall", recovered["overall"])]
        ),
        "",
        f"Answers after the database came up of no known worker (the server closed the"
        f" connection before it was looked up, or no answer): {recovered['of_no_known_worker']:,}.",
        "",
    ]
    if "error" in writes:
        lines.append(f"Writes: not checked: {writes['error']}.")
    else:
        lines += [
            f"Writes: {writes['writes']:,} sent to {writes['numbers_written']:,} numbers,"
            f" {writes['acknowledged']:,} acknowledged (2xx), {writes['not_acknowledged']:,} not"
            f" (may or may not have landed). Each number's final value: "
            + ", ".join(f"{outcome}: {n:,}" for outcome, n in writes["outcomes"].items())
            + ".",
            f"Lost: **{writes['lost']}**. Doubled: **{writes['doubled']}** (the data version moved"
            f" {writes['applied']:,} times for {writes['writes']:,} writes sent; "
            f"{writes['applied_short_of_acknowledged']} short of those acknowledged). Torn: "
            f"**{writes['torn']}**. 2xx without the value set: "
            f"{writes['acknowledged_without_value']}.",
        ]
    cpu = results.get("cpu_seconds")
    if cpu:
        per = 1000 / max(results["requests"], 1)
        lines += [
            "",
            f"Processor time a request: server {cpu['server'] * per:.2f} ms, this load client"
            f" {cpu['load'] * per:.2f} ms (PostgreSQL's not counted: it restarts).",
            f"Server log: {results.get('server_log_errors', 0)} ERROR lines.",
        ]
    lines += ["", *timeline_table(results)]
    off = results["off_target"]
    if results["unanswered_by_exception"]:
        lines += [
            "",
            "Requests without an answer, by the client's exception: "
            + ", ".join(f"{e}: {n:,}" for e, n in results["unanswered_by_exception"].items())
            + ".",
        ]
    lines += [
        "",
        "Target (0 lost, 0 doubled, 0 torn, every request answered, only 2xx/4xx/503): "
        + (
            "**met**."
            if results["target_met"]
            else "**not met**"
            + (f" ({', '.join(f'{s}: {n:,}' for s, n in off.items())})" if off else "")
            + "."
        ),
    ]
    return "\n".join(lines)


def timeline_table(results: dict[str, Any]) -> Iterator[str]:
    """Each second from 3 before the stop to 5 after the recovery (at most 40 rows)."""
    outage = results["outage"]
    recovered_at = results["recovery"]["recovered_at_s"] or results["recovery"]["run_end_s"]
    first = max(0, int(outage["stop_at"]) - 3)
    last = min(int(recovered_at) + 5, first + 39)
    classes = ["2xx", "4xx", "503", "5xx", "no response"]
    yield "Answered each second, around the outage:"
    yield ""
    yield "| second | requests | " + " | ".join(classes) + " |"
    yield "|---|---|" + "---|" * len(classes)
    for row in results["timeline"][first : last + 1]:
        yield (
            f"| {row['second']} | {row.get('requests', 0):,} | "
            + " | ".join(f"{row.get(c, 0):,}" for c in classes)
            + " |"
        )


if __name__ == "__main__":
    main()
