"""The available pool in the database: made on first search (generated) or loaded from a file,
searched, and asked whether numbers can be had (docs/ordering.md, "The available pool").

A number is *available* to an account when it is in the pool, its `available_from` has passed,
no account has it in its inventory (`in_inventory`, kept by the database's own triggers:
store/schema.py), and no other account holds it reserved. `unavailable_numbers`
says why a number is not, for an order or a reservation; `pool_rows` gives a pool number's
attributes; `record_searched` keeps what a search returned, the numbers an account may order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from phonenumbers import country_code_for_region

from numbers_api.pool.generate import generate_pool, generated_countries
from numbers_api.pool.stock import RATE_CENTER_COUNTRIES, AvailableNumber
from numbers_api.query.available_query import (
    MAX_LIMIT,
    WHERE_FIELDS,
    AvailableSearch,
    DigitsMatch,
    Equals,
    HasFeatures,
    IsTrue,
    PoolCondition,
    PoolField,
)
from numbers_api.query.conditions import TextMatch
from numbers_api.store.database import Connection, Database, in_chunks
from numbers_api.store.dialects import POSTGRESQL, Dialect

GENERATED, LOADED = "generated", "loaded"
# Why a number cannot be had (`unavailable_numbers`).
NOT_IN_POOL = "not_in_pool"
IN_INVENTORY = "in_inventory"
HELD = "held"
NOT_YET_AVAILABLE = "not_yet_available"
HELD_STATUS = "success"  # a reserved number's status while it holds the number
POOL_LOCK = 72628  # PostgreSQL: one pool written at a time (migrations hold 72627)
CHUNK = MAX_LIMIT  # numbers named in one statement: a search's page in one

COLUMNS = AvailableNumber._fields
SELECT_COLUMNS = ", ".join(f"a.{name}" for name in COLUMNS)
COLUMN_OF = {field: f"a.{field.value}" for field in PoolField}


def pool_row(number: AvailableNumber) -> tuple[Any, ...]:
    """The row as stored: features as a JSON array."""
    return (*number[:7], orjson.dumps(list(number.features)).decode(), *number[8:])


def from_row(row: Sequence[Any]) -> AvailableNumber:
    """A pool number from its row as `SELECT_COLUMNS` reads it."""
    values = list(row)
    values[7] = tuple(orjson.loads(values[7]))
    values[11], values[12] = bool(values[11]), bool(values[12])
    return AvailableNumber._make(values)


def ensure_pool(connection: Connection, country_code: str, now_ms: int) -> int:
    """The country's pool generated, unless it has one (generated or loaded) or phonenumbers
    knows no such country; inside the caller's transaction. The numbers generated (0 if none)."""
    if country_code not in generated_countries() or _has_pool(connection, country_code):
        return 0
    if connection.dialect is POSTGRESQL:
        connection.execute("SELECT pg_advisory_xact_lock(?)", (POOL_LOCK,))
        if _has_pool(connection, country_code):  # made by another while this one waited
            return 0
    numbers = generate_pool(country_code)
    connection.copy_rows("available_numbers", COLUMNS, [pool_row(n) for n in numbers])
    connection.execute(
        "INSERT INTO available_number_pools (country_code, source, numbers, made_at) "
        "VALUES (?, ?, ?, ?)",
        (country_code, GENERATED, len(numbers), now_ms),
    )
    connection.after_bulk_write(["available_numbers"], len(numbers))
    return len(numbers)


def tidy_pool(database: Database) -> None:
    """After numbers were added to the pool, outside the transaction that added them: the pool's
    planner statistics brought up to date, so that a filtered search reads its filter's index
    (SQLite, without them, would read the country's index of free numbers); on PostgreSQL by a
    vacuum, so that a count reads an index alone (an index-only scan needs its pages marked
    all-visible, which only a vacuum does, and autovacuum may be off or late)."""
    if database.dialect is POSTGRESQL:
        database.connection().execute("VACUUM (ANALYZE) available_numbers")
        return
    with database.transaction() as connection:
        connection.execute("ANALYZE available_numbers")


def _has_pool(connection: Connection, country_code: str) -> bool:
    row = connection.execute(
        "SELECT 1 FROM available_number_pools WHERE country_code = ?", (country_code,)
    ).fetchone()
    return row is not None


@dataclass(frozen=True, slots=True)
class Found:
    numbers: list[tuple[AvailableNumber, bool]]  # each with whether it is a best-effort one
    total: int  # the available numbers that match exactly
    best_effort: int  # of `numbers`, those that are best-effort
    pool_made: bool  # the search made its country's pool: `tidy_pool` once it is committed


def search_available(
    connection: Connection, account_id: int, search: AvailableSearch, now_ms: int
) -> Found:
    """The search answered (the country's pool made first if need be), and what it returned
    recorded for the account; inside the caller's write transaction."""
    made = ensure_pool(connection, search.country, now_ms)
    if connection.dialect is POSTGRESQL:
        # A count's lookups are costed high enough to be compiled, which takes longer than
        # running them (7 ms of 30 for the US pool).
        connection.execute("SET LOCAL jit = off")
    where, values = _where(connection.dialect, search.country, search.conditions)
    sql, parameters = _available(
        connection.dialect, account_id, search, now_ms, where=where, values=values
    )
    exact = _page(connection, sql, parameters, search.limit)
    total = len(exact)
    if total == search.limit:  # a page short of the limit holds every match: no count
        total = _count(connection, account_id, search, now_ms, where=where, values=values)
    found = [(number, False) for number in exact]
    wanted = search.limit - len(exact)
    if search.best_effort and wanted > 0 and search.country in RATE_CENTER_COUNTRIES:
        taken = {number.phone_number for number in exact}
        nearby = _nearby(connection, account_id, search, now_ms, len(exact) + wanted)
        found += [(n, True) for n in nearby if n.phone_number not in taken][:wanted]
    record_searched(connection, account_id, [n.phone_number for n, _ in found], now_ms)
    return Found(found, int(total), sum(best for _, best in found), made > 0)


def _nearby(
    connection: Connection, account_id: int, search: AvailableSearch, now_ms: int, limit: int
) -> list[AvailableNumber]:
    """Best effort: the search without its where-filters (destination code, locality, rate
    center, digit patterns), in the same state or province: the one asked for, else those of the
    pool's numbers that the where-filters match (none matched: none), else the whole country."""
    kept = [c for c in search.conditions if not _locates(c)]
    located = [c for c in search.conditions if isinstance(c, Equals) and c.field in WHERE_FIELDS]
    where, values = _where(connection.dialect, search.country, kept)
    asks_area = any(
        isinstance(c, Equals) and c.field is PoolField.ADMINISTRATIVE_AREA for c in kept
    )
    if located and not asks_area:
        located_where, located_values = _where(connection.dialect, search.country, located)
        areas = [
            area
            for (area,) in connection.execute(
                # Every pool number, in an inventory or not: the mark named so that the
                # pool's indexes of the where-filters serve.
                "SELECT DISTINCT a.administrative_area FROM available_numbers a "
                f"WHERE a.country_code = ? AND a.in_inventory IN (FALSE, TRUE) AND {located_where}",
                [search.country, *located_values],
            )
        ]
        if not areas:
            return []
        where += f" AND a.administrative_area IN ({', '.join('?' * len(areas))})"
        values += areas
    sql, parameters = _available(
        connection.dialect, account_id, search, now_ms, where=where, values=values
    )
    return _page(connection, sql, parameters, limit)


def _page(
    connection: Connection, sql: str, parameters: list[Any], limit: int
) -> list[AvailableNumber]:
    """The first `limit` numbers of `sql` (`FROM ... WHERE ...`), in number order: found by their
    numbers alone first, so that a filter of the number's digits reads only the index (PostgreSQL
    reads a row's page before its filter otherwise), then read whole by key."""
    numbers = [
        number
        for (number,) in connection.execute(
            f"SELECT a.phone_number {sql} ORDER BY a.phone_number LIMIT ?", [*parameters, limit]
        )
    ]
    rows = pool_rows(connection, numbers)
    return [rows[number] for number in numbers]


def _locates(condition: PoolCondition) -> bool:
    return isinstance(condition, DigitsMatch) or (
        isinstance(condition, Equals) and condition.field in WHERE_FIELDS
    )


def _available(
    dialect: Dialect,
    account_id: int,
    search: AvailableSearch,
    now_ms: int,
    *,
    where: str,
    values: list[Any],
) -> tuple[str, list[Any]]:
    """`FROM ... WHERE ...` of the pool's numbers of the country that `where` matches and the
    account can have now (and, with `exclude_held`, that it does not hold itself); the pool's own
    columns first, so that only their matches are looked up in the holds."""
    free, free_values = _free(search, now_ms, where, values)
    held, held_values = _held(account_id, search, now_ms)
    sql = (
        f"FROM available_numbers a WHERE {free} AND NOT EXISTS (SELECT 1 FROM "
        f"reserved_phone_numbers r WHERE r.phone_number = a.phone_number AND {held}"
        f"{dialect.per_row})"
    )
    return sql, [*free_values, *held_values]


def _count(
    connection: Connection,
    account_id: int,
    search: AvailableSearch,
    now_ms: int,
    *,
    where: str,
    values: list[Any],
) -> int:
    """How many numbers `_available` matches, without a lookup a candidate: the pool's free
    numbers that `where` matches (its index, `in_inventory` kept by the database), less those of
    them held now, found from the holds in force (few) by time."""
    free, free_values = _free(search, now_ms, where, values)
    held, held_values = _held(account_id, search, now_ms)
    (free_count,) = connection.execute(
        f"SELECT count(*) FROM available_numbers a WHERE {free}", free_values
    ).fetchone()
    # CROSS JOIN: SQLite then walks the holds in force and looks each up in the pool.
    (held_count,) = connection.execute(
        "SELECT count(DISTINCT a.phone_number) FROM reserved_phone_numbers r "
        f"CROSS JOIN available_numbers a WHERE {held} AND a.phone_number = r.phone_number "
        f"AND {free}",
        [*held_values, *free_values],
    ).fetchone()
    return int(free_count) - int(held_count)


def _free(
    search: AvailableSearch, now_ms: int, where: str, values: list[Any]
) -> tuple[str, list[Any]]:
    """The pool's numbers (`a`) of the country that `where` matches, in no inventory and not
    waiting to be back; with their values."""
    sql = f"a.country_code = ? AND a.in_inventory = FALSE AND a.available_from <= ? AND {where}"
    return sql, [search.country, now_ms, *values]


def _held(account_id: int, search: AvailableSearch, now_ms: int) -> tuple[str, list[Any]]:
    """The holds in force (`r`) that keep a number from the account: another account's, and with
    `exclude_held` its own too; with their values."""
    sql, values = "r.expires_at > ? AND r.status = ?", [now_ms, HELD_STATUS]
    if search.exclude_held:
        return sql, values
    return f"{sql} AND r.account_id <> ?", [*values, account_id]


def _where(
    dialect: Dialect, country: str, conditions: Iterable[PoolCondition]
) -> tuple[str, list[Any]]:
    clauses = ["TRUE"]
    parameters: list[Any] = []
    for condition in conditions:
        clause, values = _condition(dialect, country, condition)
        clauses.append(clause)
        parameters.extend(values)
    return " AND ".join(clauses), parameters


def _condition(
    dialect: Dialect, country: str, condition: PoolCondition
) -> tuple[str, Sequence[Any]]:
    match condition:
        case Equals(field, value, folded):
            if folded:
                return f"{dialect.ascii_lower.format(column=COLUMN_OF[field])} = ?", (
                    _ascii_lower(value),
                )
            return f"{COLUMN_OF[field]} = ?", (value,)
        case DigitsMatch(_, None, _):
            return "FALSE", ()
        case DigitsMatch(match, str(digits), skip):
            # The national number: past the + and the country's calling code.
            start = 2 + len(str(country_code_for_region(country))) + skip
            return _digits_match(match, digits, start)
        case HasFeatures(features):
            return (
                " AND ".join([dialect.contains.format(column="a.features")] * len(features)),
                [f'"{feature}"' for feature in features],
            )
        case IsTrue(field):
            return f"{COLUMN_OF[field]} = ?", (True,)
    raise AssertionError(f"unhandled condition {condition!r}")


def _digits_match(match: TextMatch, digits: str, start: int) -> tuple[str, Sequence[Any]]:
    """On the E.164 number's characters from `start` (1-based) on. `contains` as a LIKE pattern
    past the first `start - 1` characters: both engines test it faster than a substring cut out
    of each number (the digits hold no LIKE wildcard). `ends_with` as the range of the reversed
    digits that begin with the ones asked for, read from their index, in numbers long enough to
    hold them past `start`."""
    if match is TextMatch.STARTS_WITH:
        return "substr(a.phone_number, ?, ?) = ?", (start, len(digits), digits)
    if match is TextMatch.CONTAINS:
        return "a.phone_number LIKE ?", ("_" * (start - 1) + "%" + digits + "%",)
    least = digits[::-1]
    ending = "a.reversed_digits >= ? AND length(a.reversed_digits) >= ?"
    values: tuple[Any, ...] = (least, start - 2 + len(digits))
    beyond = _first_beyond(least)
    if beyond is None:  # all nines: every greater string of digits begins with them
        return ending, values
    return f"{ending} AND a.reversed_digits < ?", (*values, beyond)


def _first_beyond(prefix: str) -> str | None:
    """The least string of digits greater than every one that begins with `prefix` (digits), or
    None if there is none (`prefix` all nines)."""
    kept = prefix.rstrip("9")
    if not kept:
        return None
    return kept[:-1] + str(int(kept[-1]) + 1)


def _ascii_lower(text: str) -> str:
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)


def record_searched(
    connection: Connection, account_id: int, phone_numbers: Sequence[str], now_ms: int
) -> None:
    """Each number, a pool number, as searched by the account now (what it may order:
    docs/ordering.md); numbers not in the pool are not recorded."""
    for chunk in in_chunks(phone_numbers, CHUNK):
        among, numbers = connection.dialect.among_texts("a.phone_number", chunk)
        connection.fetch(
            "INSERT INTO searched_numbers (account_id, phone_number, searched_at) "
            f"SELECT ?, a.phone_number, ? FROM available_numbers a WHERE {among} "
            "ON CONFLICT (account_id, phone_number) DO UPDATE SET searched_at = "
            "excluded.searched_at",
            [account_id, now_ms, *numbers],
        )


def pool_rows(connection: Connection, phone_numbers: Sequence[str]) -> dict[str, AvailableNumber]:
    """The pool's rows of those numbers that are in it (available or not), by number."""
    found: dict[str, AvailableNumber] = {}
    for chunk in in_chunks(phone_numbers, CHUNK):
        among, numbers = connection.dialect.among_texts("a.phone_number", chunk)
        for row in connection.fetch(
            f"SELECT {SELECT_COLUMNS} FROM available_numbers a WHERE {among}", numbers
        ):
            number = from_row(row)
            found[number.phone_number] = number
    return found


def lock_numbers(connection: Connection, phone_numbers: Iterable[str]) -> None:
    """The numbers' rows in the pool locked until the transaction ends (PostgreSQL; SQLite has
    one writer at a time), in one order so that two writers never deadlock: a writer that
    reserves or orders numbers takes this first, then checks `unavailable_numbers`."""
    numbers = sorted(set(phone_numbers))
    for chunk in in_chunks(numbers, CHUNK):
        among, values = connection.dialect.among_texts("phone_number", chunk)
        connection.execute(
            f"SELECT phone_number FROM available_numbers WHERE {among} "
            f"ORDER BY phone_number{connection.dialect.for_update}",
            values,
        ).fetchall()


def unavailable_numbers(
    connection: Connection, account_id: int, phone_numbers: Sequence[str], now_ms: int
) -> dict[str, str]:
    """Of those numbers, the ones the account cannot have now, each with why: NOT_IN_POOL,
    IN_INVENTORY (any account's, its own included), HELD (reserved by another account), or
    NOT_YET_AVAILABLE (back in the pool after a deletion, not yet sellable); in that order of
    precedence. A number the account holds reserved itself is available to it."""
    reasons = dict.fromkeys(phone_numbers, NOT_IN_POOL)
    for chunk in in_chunks(list(dict.fromkeys(phone_numbers)), CHUNK):
        among, numbers = connection.dialect.among_texts("a.phone_number", chunk)
        for number, available_from, owned, held in connection.execute(
            "SELECT a.phone_number, a.available_from, a.in_inventory, "
            "EXISTS (SELECT 1 FROM reserved_phone_numbers r WHERE r.phone_number = a.phone_number "
            "AND r.status = ? AND r.expires_at > ? AND r.account_id <> ?) "
            f"FROM available_numbers a WHERE {among}",
            [HELD_STATUS, now_ms, account_id, *numbers],
        ):
            if owned:
                reasons[number] = IN_INVENTORY
            elif held:
                reasons[number] = HELD
            elif available_from > now_ms:
                reasons[number] = NOT_YET_AVAILABLE
            else:
                del reasons[number]
    return reasons


@dataclass(frozen=True, slots=True)
class Loaded:
    countries: dict[str, int]  # each country's loaded pool: its numbers after the load
    conflicts: list[str]  # numbers already in the pool, loaded before: nothing must be kept


def load_pool(
    connection: Connection,
    numbers: Sequence[AvailableNumber],
    *,
    replace: bool,
    now_ms: int,
) -> Loaded:
    """An operator's numbers into the pool, inside the caller's transaction. Each country given
    has its generated numbers removed and is marked loaded, so that none is generated again;
    with `replace`, every number loaded before is removed first. A number already in the pool
    (loaded before, without `replace`) is a conflict: the caller rolls back."""
    if connection.dialect is POSTGRESQL:
        connection.execute("SELECT pg_advisory_xact_lock(?)", (POOL_LOCK,))
    if replace:
        connection.execute("DELETE FROM available_numbers WHERE source = ?", (LOADED,))
        connection.execute("DELETE FROM available_number_pools WHERE source = ?", (LOADED,))
    countries = sorted({number.country_code for number in numbers})
    for country in countries:
        for table in ("available_numbers", "available_number_pools"):
            connection.execute(
                f"DELETE FROM {table} WHERE country_code = ? AND source = ?", (country, GENERATED)
            )
    conflicts = list(pool_rows(connection, [number.phone_number for number in numbers]))
    if conflicts:
        return Loaded({}, conflicts)
    connection.copy_rows("available_numbers", COLUMNS, [pool_row(n) for n in numbers])
    sizes: dict[str, int] = {}
    for country in countries:
        (size,) = connection.execute(
            "SELECT count(*) FROM available_numbers WHERE country_code = ? AND source = ?",
            (country, LOADED),
        ).fetchone()
        sizes[country] = int(size)
        connection.execute(
            "INSERT INTO available_number_pools (country_code, source, numbers, made_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (country_code, source) "
            "DO UPDATE SET numbers = excluded.numbers, made_at = excluded.made_at",
            (country, LOADED, size, now_ms),
        )
    connection.after_bulk_write(["available_numbers"], len(numbers))
    return Loaded(sizes, [])
