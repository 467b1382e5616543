"""What a write costs the in-memory index: build an account's index, then make single-number
writes and time how long the next request takes to bring the index forward (`advance_index`),
against building it again.

    .venv/bin/python -m bench.index_advance --database-url sqlite:////tmp/numbers-api-bench/bench-1000000.db

Run it on a database made by `bench.run` (account `bench`): it CHANGES that database (tags and
connections of a few numbers; `--deletes` releases some).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from numbers_api.store.accounts import Caller, account_id, bump_data_version, data_version
from numbers_api.store.database import Database
from numbers_api.store.number_index import AccountIndex, advance_index, build_index
from numbers_api.store.phone_number import DeletionLocked, delete_number, update_number


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--account", default="bench")
    parser.add_argument("--writes", type=int, default=20, help="writes of each kind")
    parser.add_argument("--deletes", type=int, default=5, help="numbers released")
    args = parser.parse_args()
    database = Database(args.database_url)
    with database.snapshot() as connection:
        account = account_id(connection, args.account)
        caller = Caller(account, data_version(connection, account))
        started = time.perf_counter()
        index = build_index(connection, caller)
        build_seconds = time.perf_counter() - started
        connections = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM connections WHERE account_id = ? LIMIT 20", (account,)
            )
        ]
    print(f"build: {build_seconds:.2f} s for {len(index.everything):,} numbers")
    picker = random.Random(1)
    now = int(time.time() * 1000)

    def retag(number_id: int) -> None:
        changes = {"tags": [picker.choice(["vip", "new", "x"])]}
        with database.transaction() as connection:
            update_number(connection, account, number_id, changes, now)

    def reconnect(number_id: int) -> None:
        changes = {"connection_id": picker.choice(connections)}
        with database.transaction() as connection:
            update_number(connection, account, number_id, changes, now)

    def release(number_id: int) -> None:
        try:
            with database.transaction() as connection:
                delete_number(connection, account, number_id, now)
        except DeletionLocked:  # then the write changes nothing; the index still moves on
            with database.transaction() as connection:
                bump_data_version(connection, account, [number_id])

    kinds: list[tuple[str, Callable[[int], None], int]] = [
        ("tags", retag, args.writes),
        ("connection_id", reconnect, args.writes),
        ("release", release, args.deletes),
    ]
    for name, write, count in kinds:
        timings = []
        for _ in range(count):
            position = picker.choice(
                list(index.everything[:: max(1, len(index.everything) // 997)])
            )
            write(int(index.ids[position]))
            index, seconds = _advance(database, index, account)
            timings.append(seconds * 1000)
        print(
            f"advance after one {name} write: median {statistics.median(timings):.1f} ms, "
            f"max {max(timings):.1f} ms ({count} writes)"
        )


def _advance(database: Database, index: AccountIndex, account: int) -> tuple[AccountIndex, float]:
    with database.snapshot() as connection:
        caller = Caller(account, data_version(connection, account))
        started = time.perf_counter()
        advanced = advance_index(index, connection, caller)
        seconds = time.perf_counter() - started
    if advanced is None:
        raise SystemExit("the index could not be brought forward")
    return advanced, seconds


if __name__ == "__main__":
    main()
