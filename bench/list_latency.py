"""Import N demo numbers through the real CLI, then time page 1 of the list for each filter.

    .venv/bin/python -m bench.list_latency --numbers 1000000 --workdir /tmp/bench

Prints the import's wall time and peak memory (from the child's rusage), then for each request
the latency of its first answer (computed) and the median of `--repeat` - 1 more (cached), asked
one at a time of a real `numbers-api serve`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from numbers_api.demo import demo_records

REQUESTS = {
    "no filter": "",
    "tag": "filter[tag]=vip",
    "without_tags": "filter[without_tags]=true",
    "phone_number": "filter[phone_number]=970555",
    "status": "filter[status]=port-pending",
    "country_iso_alpha2": "filter[country_iso_alpha2]=GB,FR",
    "connection_id": "filter[connection_id]=1500000000000001007",
    "connection_name contains": "filter[voice.connection_name][contains]=desk",
    "connection_name starts_with": "filter[voice.connection_name][starts_with]=branch",
    "connection_name ends_with": "filter[voice.connection_name][ends_with]=queue",
    "connection_name eq": "filter[voice.connection_name][eq]=fax gateway",
    "usage_payment_method": "filter[voice.usage_payment_method]=channel",
    "billing_group_id null": "filter[billing_group_id]=null",
    "emergency_address_id null": "filter[emergency_address_id]=null",
    "customer_reference": "filter[customer_reference]=CUST-00042",
    "number_type": "filter[number_type][eq]=toll_free",
    "source": "filter[source]=ported",
    "sort=phone_number": "sort=phone_number",
    "sort=connection_name": "sort=connection_name",
    "page 1000": "page[number]=1000",
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--numbers", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/numbers-api-bench"))
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = args.workdir / f"demo-{args.numbers}.jsonl"
    database = args.workdir / f"bench-{args.numbers}.db"
    if not data.exists():
        started = time.perf_counter()
        with data.open("wb") as out:
            for record in demo_records(args.numbers, seed=1):
                out.write(orjson.dumps(record) + b"\n")
        print(f"generated {data} in {time.perf_counter() - started:.1f} s", flush=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    cli = [sys.executable, "-m", "numbers_api", "--database-url", url]
    key = (
        subprocess.run(
            [*cli, "accounts", "create", "bench"], check=True, capture_output=True, text=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    started = time.perf_counter()
    subprocess.run([*cli, "import", str(data), "--account", "bench"], check=True)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"import of {args.numbers:,} numbers: {seconds:.1f} s, peak RSS {peak_mb:.0f} MB",
        flush=True,
    )

    server = subprocess.Popen(
        [*cli, "serve", "--port", str(args.port), "--rate-limit", "0"],
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    try:
        base = f"http://127.0.0.1:{args.port}/v2/phone_numbers"
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            for _ in range(100):
                try:
                    client.get(f"http://127.0.0.1:{args.port}/health")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            print(f"{'request':32} {'results':>9} {'first ms':>9} {'again p50 ms':>13}")
            for name, query in REQUESTS.items():
                timings = []
                total = 0
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    response = client.get(f"{base}?{query}")
                    timings.append((time.perf_counter() - t0) * 1000)
                    response.raise_for_status()
                    total = response.json()["meta"]["total_results"]
                # The first answer is computed; the same request again is served from the cache.
                again = statistics.median(timings[1:]) if len(timings) > 1 else float("nan")
                print(f"{name:32} {total:>9,} {timings[0]:>9.1f} {again:>13.2f}", flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
