"""The abuse scenario: a well-behaved client's latency, alone and while others misbehave at the
same time, against a real `numbers-api serve` with its limits on.

    .venv/bin/python -m bench.abuse [--numbers 100000] [--seconds 20]

The server: a SQLite database of `--numbers` demo numbers (account `demo`, made once in
`--workdir`) and an account `abuser`, served with 2 workers, `--rate-limit 200` and
`--index-memory 256`. The well-behaved client asks the repeated mix's queries
(`bench/requests.py`) with its own key, one at a time, paced at 50 a second, for `--seconds`:
first alone, then while, from other processes' threads, paced so that the load generators leave
the server its cores:
- bodies: 50 MB POSTs without a key (`Content-Length` given, the bytes streamed);
- long query strings: 100 KB query strings with the abuser's key;
- bad keys: a different made-up key each request;
- over the rate: the abuser's key at 1,000 a second, five times its limit;
each kind but the last at 200 requests a second.
It reports the well-behaved client's p50/p99 alone and under abuse (the target: p99 within 2x),
each kind's answers by status (the target: no 5xx), and each worker's peak private memory
(RssAnon), sampled every 0.2 s (the target: within `--index-memory` plus the fixed overhead of
docs/deployment.md).
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.synchronize
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.measure import ProcessPeaks
from bench.requests import PATH, repeated_queries
from bench.run import start_server

RATE_LIMIT = 200
INDEX_MEMORY_MB = 256
GOOD_PER_SECOND = 50
GOOD_CLIENT_ADDRESS = "127.0.0.2"
BODY_BYTES = 50 * 1024 * 1024
ABUSE_PER_SECOND = 200  # per kind (bodies: 2 at once, streamed as fast as the server reads)
OVER_RATE_PER_SECOND = 1_000  # the abuser's key, five times its limit


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--numbers", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/numbers-api-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    url, good_key, abuser_key = _database(args.workdir, args.numbers)
    log = args.workdir / "abuse-server.log"
    server, base = start_server(url, log, rate_limit=RATE_LIMIT, index_memory_mb=INDEX_MEMORY_MB)
    memory = ProcessPeaks(server.pid)
    try:
        queries = [q for qs in repeated_queries(args.numbers).values() for q in qs]
        _good_client(base, good_key, queries, 10)  # warm: every query cached, indexes built
        time.sleep(5)
        alone = _good_client(base, good_key, queries, args.seconds)
        stop = multiprocessing.Event()
        statuses: multiprocessing.Queue[tuple[str, Counter[int]]] = multiprocessing.Queue()
        abusers = [
            multiprocessing.Process(target=_abuse, args=(kind, base, abuser_key, stop, statuses))
            for kind in ABUSES
        ]
        for abuser in abusers:
            abuser.start()
        time.sleep(1)
        during = _good_client(base, good_key, queries, args.seconds)
        stop.set()
        answered = dict(statuses.get(timeout=60) for _ in abusers)
        for abuser in abusers:
            abuser.join(timeout=60)
    finally:
        memory.stop()
        server.terminate()
        server.wait()
    print("| the well-behaved client | requests | p50 ms | p99 ms | statuses |")
    print("|---|---|---|---|---|")
    for name, (latencies, codes) in (("alone", alone), ("under abuse", during)):
        print(
            f"| {name} | {len(latencies)} | {_percentile(latencies, 50):.2f} "
            f"| {_percentile(latencies, 99):.2f} | {dict(codes)} |"
        )
    print(
        f"\np99 under abuse / alone: {_percentile(during[0], 99) / _percentile(alone[0], 99):.2f}"
    )
    print("\n| abuse | answers by status |\n|---|---|")
    for kind, codes in answered.items():
        print(f"| {kind} | {dict(sorted(codes.items()))} |")
    print(f"\neach worker's peak private memory (RssAnon): {memory.peaks_mb()} MB")


def _database(workdir: Path, numbers: int) -> tuple[str, str, str]:
    path = workdir / f"abuse-{numbers}.db"
    keys = workdir / f"abuse-{numbers}.keys"
    url = f"sqlite:///{path}"
    if not keys.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        cli = [sys.executable, "-m", "numbers_api", "--database-url", url]
        demo = subprocess.run(
            [*cli, "demo", "--numbers", str(numbers)], check=True, capture_output=True, text=True
        )
        abuser = subprocess.run(
            [*cli, "accounts", "create", "abuser"], check=True, capture_output=True, text=True
        )
        last = [demo.stdout.strip().splitlines()[-1], abuser.stdout.strip().splitlines()[-1]]
        keys.write_text("\n".join(last))
    good, abuser_key = keys.read_text().split()
    return url, good, abuser_key


def _good_client(
    base: str, key: str, queries: list[str], seconds: float
) -> tuple[list[float], Counter[int]]:
    """Each request's latency in ms, paced at GOOD_PER_SECOND, and the statuses."""
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    # From an address of its own (the abusers' is 127.0.0.1): failed authentications are
    # limited per address, and a good key from a flooding address is refused with it.
    transport = httpx.HTTPTransport(local_address=GOOD_CLIENT_ADDRESS)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, transport=transport) as client:
        started = time.monotonic()
        for i in range(int(seconds * GOOD_PER_SECOND)):
            due = started + i / GOOD_PER_SECOND
            time.sleep(max(0.0, due - time.monotonic()))
            before = time.perf_counter()
            response = client.get(f"{PATH}?{queries[i % len(queries)]}")
            latencies.append((time.perf_counter() - before) * 1000)
            codes[response.status_code] += 1
    return latencies, codes


def _abuse(
    kind: str,
    base: str,
    key: str,
    stop: multiprocessing.synchronize.Event,
    statuses: multiprocessing.Queue[tuple[str, Counter[int]]],
) -> None:
    """One kind of abuse, paced at ABUSE_PER_SECOND, until `stop`; its statuses at the end."""
    codes: Counter[int] = Counter()
    ABUSES[kind](base, key, stop, codes)
    statuses.put((kind, codes))


def _paced(
    stop: multiprocessing.synchronize.Event,
    ask: Callable[[int], int],
    codes: Counter[int],
    per_second: int = ABUSE_PER_SECOND,
) -> None:
    started = time.monotonic()
    i = 0
    while not stop.is_set():
        due = started + i / per_second
        time.sleep(max(0.0, due - time.monotonic()))
        try:
            codes[ask(i)] += 1
        except (httpx.HTTPError, OSError):
            codes[-1] += 1  # a connection the server closed or refused
        i += 1


def _bodies(
    base: str, key: str, stop: multiprocessing.synchronize.Event, codes: Counter[int]
) -> None:
    host, port = base.removeprefix("http://").split(":")

    def send_one() -> None:
        while not stop.is_set():
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(
                    f"PATCH {PATH}/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {BODY_BYTES}\r\n\r\n".encode()
                )
                chunk = b" " * 65_536
                sent = 0
                try:
                    sock.settimeout(10)
                    while sent < BODY_BYTES and not stop.is_set():
                        sock.sendall(chunk)
                        sent += len(chunk)
                    answer = sock.recv(64)
                    codes[int(answer.split()[1]) if answer.startswith(b"HTTP/") else -1] += 1
                except OSError:
                    codes[-1] += 1  # the server closed the connection, as it should

    senders = [threading.Thread(target=send_one) for _ in range(2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()


def _long_queries(
    base: str, key: str, stop: multiprocessing.synchronize.Event, codes: Counter[int]
) -> None:
    """Over raw sockets: httpx refuses a URL this long before sending it."""
    host, port = base.removeprefix("http://").split(":")
    query = "filter[tag]=" + "x" * 100_000

    def ask(i: int) -> int:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                f"GET {PATH}?{query}{i} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}"
                "\r\nConnection: close\r\n\r\n".encode()
            )
            answer = sock.recv(64)
        return int(answer.split()[1]) if answer.startswith(b"HTTP/") else -1

    _paced(stop, ask, codes)


def _bad_keys(
    base: str, key: str, stop: multiprocessing.synchronize.Event, codes: Counter[int]
) -> None:
    rng = random.Random(5)
    with httpx.Client(base_url=base) as client:
        _paced(
            stop,
            lambda i: (
                client.get(
                    PATH, headers={"Authorization": f"Bearer KEY{rng.getrandbits(128):032x}"}
                ).status_code
            ),
            codes,
        )


def _over_rate(
    base: str, key: str, stop: multiprocessing.synchronize.Event, codes: Counter[int]
) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        _paced(
            stop,
            lambda i: client.get(f"{PATH}?page[number]={i % 50 + 1}").status_code,
            codes,
            OVER_RATE_PER_SECOND,
        )


ABUSES: dict[str, Callable[[str, str, multiprocessing.synchronize.Event, Counter[int]], None]] = {
    "50 MB bodies without a key": _bodies,
    "100 KB query strings": _long_queries,
    "bad keys": _bad_keys,
    f"one key over its rate ({OVER_RATE_PER_SECOND}/s against {RATE_LIMIT}/s)": _over_rate,
}


def _percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100)[percent - 1]


if __name__ == "__main__":
    main()
