"""What making a list page's items costs, both ways: the page's rows read as `PhoneNumber`s and
made into `PhoneNumberDetailed` JSON in Python (as `/{id}`, the other views and exports do), or
rendered as JSON by the database (`PageShape.DETAILED_JSON`, as `GET /v2/phone_numbers` does).
Each page is SIZE numbers drawn at random from the account, read by id with `page_of`, and
ends as the response's bytes; processor time per page (this process's, and on PostgreSQL its
backend's, read from /proc: run it on the database's machine), the best of `--rounds`, the two
ways alternating.

    .venv/bin/python -m bench.page_rendering --database-url sqlite:////tmp/numbers-api-bench/bench-1000000.db

Run it on a database made by `bench.run` (account `bench`); it only reads.
"""

from __future__ import annotations

import argparse
import random
import time

from bench.measure import cpu_seconds
from numbers_api.serialisation import encode, encode_page, pagination_meta, phone_number_detailed
from numbers_api.store.accounts import Caller, account_id, data_version
from numbers_api.store.database import Connection, Database
from numbers_api.store.phone_numbers import PageShape, page_of


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--account", default="bench")
    parser.add_argument(
        "--size", type=int, default=34, help="numbers per page (the fresh mix's mean)"
    )
    parser.add_argument("--pages", type=int, default=2000, help="pages per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    database = Database(args.database_url)
    connection = database.connection()
    account = account_id(connection, args.account)
    caller = Caller(account, data_version(connection, account))
    ids = [
        row[0]
        for row in connection.execute(
            "SELECT id FROM phone_numbers WHERE account_id = ?", (account,)
        )
    ]
    meta = pagination_meta(1, args.size, len(ids))

    def in_python(page: list[int]) -> bytes:
        result = connection.read(
            page_of(connection.dialect, caller, len(ids), page, PageShape.NUMBERS)
        )
        assert result is not None
        items = [phone_number_detailed(n, result.profile_names) for n in result.numbers]
        return encode({"data": items, "meta": meta})

    def by_the_database(page: list[int]) -> bytes:
        result = connection.read(
            page_of(connection.dialect, caller, len(ids), page, PageShape.DETAILED_JSON)
        )
        assert result is not None
        return encode_page(result.detailed_json, meta)

    backend = _backend_pid(connection) if database.dialect.name == "postgresql" else None
    ways = {"in Python": in_python, "by the database": by_the_database}
    best = {name: (float("inf"), 0.0) for name in ways}
    picker = random.Random(1)
    for _ in range(args.rounds):  # the ways alternate, each on the same pages
        pages = [picker.sample(ids, args.size) for _ in range(args.pages)]
        for name, make in ways.items():
            here, there = _processor_seconds(backend)
            for page in pages:
                make(page)
            here_after, there_after = _processor_seconds(backend)
            spent = (here_after - here, there_after - there)
            if sum(spent) < sum(best[name]):
                best[name] = spent
    print(f"{database.dialect.name}, {len(ids):,} numbers, pages of {args.size} random numbers")
    print("processor time per page, the best of the rounds: this process + the database's backend")
    for name, (here, there) in best.items():
        per_page = [1e6 * seconds / args.pages for seconds in (here, there)]
        print(f"{name}: {per_page[0]:,.0f} + {per_page[1]:,.0f} µs")


def _backend_pid(connection: Connection) -> int:
    pid: int = connection.execute("SELECT pg_backend_pid()").fetchone()[0]
    return pid


def _processor_seconds(backend: int | None) -> tuple[float, float]:
    """This process's processor time, and that of PostgreSQL's backend on this machine (0 on
    SQLite, which runs in this process)."""
    return time.process_time(), 0.0 if backend is None else cpu_seconds(backend)


if __name__ == "__main__":
    main()
