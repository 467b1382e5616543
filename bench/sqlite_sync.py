"""What syncing every commit costs SQLite: one small write transaction at a time (BEGIN IMMEDIATE,
one UPDATE, COMMIT) on a file in WAL mode, with `synchronous=NORMAL` (commits may be lost on
power loss) and `synchronous=FULL` (what the server uses: docs/deployment.md, "Outages,
readiness and durability"), alternated in one sitting.

    .venv/bin/python -m bench.sqlite_sync [--workdir DIR] [--commits N] [--rounds R]

The folder should be on the disk the database would live on: the figure is that disk's fsync.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path


def commit_times(path: Path, synchronous: str, commits: int) -> list[float]:
    """Milliseconds per commit, sorted."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute("CREATE TABLE numbers (id INTEGER PRIMARY KEY, reference TEXT)")
        connection.executemany("INSERT INTO numbers VALUES (?, '')", [(i,) for i in range(1_000)])
        times = []
        for i in range(commits):
            started = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("UPDATE numbers SET reference = ? WHERE id = ?", (str(i), i % 1_000))
            connection.execute("COMMIT")
            times.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return sorted(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path.cwd(), help="where the files go")
    parser.add_argument("--commits", type=int, default=1_000, help="commits per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each setting, alternated")
    args = parser.parse_args()
    print("| round | synchronous | p50 ms | p99 ms | commits/s |")
    print("|---|---|---|---|---|")
    for round_ in range(1, args.rounds + 1):
        for synchronous in ("NORMAL", "FULL"):
            with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
                times = commit_times(Path(folder) / "sync.db", synchronous, args.commits)
            p50 = statistics.median(times)
            p99 = times[int(len(times) * 0.99)]
            rate = len(times) / (sum(times) / 1000)
            print(f"| {round_} | {synchronous} | {p50:.3f} | {p99:.3f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
