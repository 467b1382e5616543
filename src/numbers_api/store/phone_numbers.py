"""Reading phone numbers: a `ListQuery` compiled to SQL with bound parameters only."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any

import orjson

from numbers_api.cache import LruCache
from numbers_api.domain import PhoneNumber
from numbers_api.query.conditions import (
    Condition,
    DigitsContain,
    Field,
    HasNoTags,
    HasTag,
    IsNotNull,
    IsNull,
    MatchesNothing,
    OneOf,
    SortKey,
    TextMatch,
    TextMatches,
)
from numbers_api.query.list_query import DEFAULT_ORDER, ListQuery
from numbers_api.serialisation import DETAILED_PROPERTIES, RECORD_TYPE, Rendering
from numbers_api.store.accounts import Caller
from numbers_api.store.database import Connection
from numbers_api.store.dialects import Dialect
from numbers_api.store.number_index import AccountIndex
from numbers_api.store.plans import Plan

COLUMNS: dict[Field, str] = {
    Field.ID: "p.id",
    Field.PHONE_NUMBER: "p.phone_number",
    Field.STATUS: "p.status",
    Field.COUNTRY: "p.country_iso_alpha2",
    Field.CONNECTION_ID: "p.connection_id",
    Field.CONNECTION_NAME: "c.name",
    Field.USAGE_PAYMENT_METHOD: "p.usage_payment_method",
    Field.BILLING_GROUP_ID: "p.billing_group_id",
    Field.EMERGENCY_ADDRESS_ID: "p.emergency_address_id",
    Field.CUSTOMER_REFERENCE: "p.customer_reference",
    Field.PHONE_NUMBER_TYPE: "p.phone_number_type",
    Field.SOURCE_TYPE: "p.source_type",
    Field.PURCHASED_AT: "p.purchased_at",
    Field.CREATED_AT: "p.created_at",
    Field.MESSAGING_PROFILE_ID: "p.messaging_profile_id",
    Field.BUNDLE_ID: "p.bundle_id",
}
# Case-insensitive comparisons use the casefolded copy kept beside each name.
FOLDED_COLUMNS = {Field.CONNECTION_NAME: "c.name_folded"}
NULLABLE = {
    Field.CONNECTION_ID,
    Field.CONNECTION_NAME,
    Field.BILLING_GROUP_ID,
    Field.EMERGENCY_ADDRESS_ID,
    Field.CUSTOMER_REFERENCE,
    Field.SOURCE_TYPE,
}
SELECT_LIST = """p.id, p.phone_number, p.country_iso_alpha2, p.status, p.tags, p.external_pin,
    p.connection_id, c.name, p.customer_reference, p.messaging_profile_id, p.billing_group_id,
    p.emergency_enabled, p.emergency_address_id, p.emergency_status, p.call_forwarding_enabled,
    p.cnam_listing_enabled, p.caller_id_name_enabled, p.call_recording_enabled,
    p.t38_fax_gateway_enabled, p.phone_number_type, p.inbound_call_screening,
    p.usage_payment_method, p.hd_voice_enabled, p.source_type, p.deletion_lock_enabled,
    p.purchased_at, p.created_at, p.updated_at"""
FROM = """FROM phone_numbers p
    LEFT JOIN connections c ON c.account_id = p.account_id AND c.id = p.connection_id"""


# Each number's messaging profile, for its name (`m.name`).
PROFILE_JOIN = """LEFT JOIN messaging_profiles m
    ON m.account_id = p.account_id AND m.id = p.messaging_profile_id"""


def _page_rows(columns: str) -> str:
    """A page's rows read by id, `columns` first and the account's data version last, all in one
    statement (one state): see `page_from_index`."""
    return f"""SELECT {columns}, (SELECT data_version FROM accounts WHERE id = ?)
    {FROM} {PROFILE_JOIN}"""


# Each row with its messaging profile's name.
PAGE_ROWS = _page_rows(f"{SELECT_LIST}, m.name")


# The columns of the properties of `PhoneNumberDetailed` not named as their column `p.<name>`.
DETAILED_COLUMNS = {"connection_name": "c.name", "messaging_profile_name": "m.name"}


class PageShape(Enum):
    """What a page's rows are read as."""

    NUMBERS = "numbers"  # `PhoneNumber`s with their messaging profiles' names, for any view
    # Each number's `PhoneNumberDetailed` as JSON, rendered by the database: the main list's
    # items, for less than reading the rows and making them in Python costs, on both engines
    # under load (docs/performance.md).
    DETAILED_JSON = "detailed_json"


@dataclass(frozen=True, slots=True)
class ListResult:
    total: int
    numbers: list[PhoneNumber]  # of a page read as NUMBERS
    profile_names: dict[str, str | None]  # of the numbers' messaging profiles, by id
    detailed_json: list[str] = field(default_factory=list)  # of a page read as DETAILED_JSON


def list_phone_numbers(
    connection: Connection,
    caller: Caller,
    query: ListQuery,
    counts: LruCache[int],
    index: AccountIndex | None = None,
    *,
    shape: PageShape = PageShape.NUMBERS,
) -> ListResult:
    """A page and the exact total, in `connection`'s snapshot (where the caller's data version was
    read): from the account's index when there is one at that version, else from SQL alone."""
    if index is not None and index.answers(query.conditions, query.order):
        result = connection.read(page_from_index(connection.dialect, caller, query, index, shape))
    else:
        result = _list_from_sql(connection, caller, query, counts, shape)
    assert result is not None, "a snapshot sees one data version"
    return result


def page_from_index(
    dialect: Dialect, caller: Caller, query: ListQuery, index: AccountIndex, shape: PageShape
) -> Plan[ListResult | None]:
    """The page from an index at the caller's data version, which must answer the query: no
    statement at all when the page is past the end of the matches. Outside a snapshot too: the
    page's rows are read by one statement, which also reads the account's data version, so None
    says that a write has moved it on since (then a snapshot must answer). On PostgreSQL that is
    one round trip instead of four (BEGIN, the version, the rows, COMMIT)."""
    matches = index.matches(query.conditions)
    total = len(matches)
    if query.page.offset >= total:
        return Plan.known(ListResult(total, [], {}))
    ids = index.page(matches, query.order, query.page.offset, query.page.size)
    return page_of(dialect, caller, total, ids, shape)


def _list_from_sql(
    connection: Connection,
    caller: Caller,
    query: ListQuery,
    counts: LruCache[int],
    shape: PageShape,
) -> ListResult | None:
    """`counts` keeps totals by (account, data version, conditions): a count is what dominates a
    list's time over a large match set, and dashboards ask the same filters page after page; the
    data version moves on with every write."""
    where, parameters = _where(connection.dialect, caller.account_id, query.conditions)
    count_key = (caller.account_id, caller.data_version, where, tuple(parameters))
    total = counts.get(count_key)
    if total is None:
        sql = f"SELECT count(*) {FROM} WHERE {where}"
        total = int(connection.execute(sql, parameters).fetchone()[0])
        counts.put(count_key, total)
    if query.page.offset >= total:
        return ListResult(total, [], {})
    ids = connection.execute(
        f"SELECT p.id {FROM} WHERE {where} ORDER BY {_order_by(query.order)} LIMIT ? OFFSET ?",
        [*parameters, query.page.size, query.page.offset],
    ).fetchall()
    return connection.read(
        page_of(connection.dialect, caller, total, [row[0] for row in ids], shape)
    )


def page_of(
    dialect: Dialect, caller: Caller, total: int, ids: list[int], shape: PageShape
) -> Plan[ListResult | None]:
    """The numbers with `ids`, in that order, if the database is still at the caller's version."""
    account = dialect.not_by_index.format(column="p.account_id")
    select = PAGE_ROWS if shape is PageShape.NUMBERS else _detailed_json_rows(dialect)
    among, id_parameters = dialect.among_ids("p.id", ids)
    return Plan(
        f"{select} WHERE {among} AND {account} = ?",
        [caller.account_id, *id_parameters, caller.account_id],
        _PageRows(caller, total, ids, shape).result,
    )


@dataclass(frozen=True, slots=True)
class _PageRows:
    """A page's result, made from the rows its statement read."""

    caller: Caller
    total: int
    ids: list[int]
    shape: PageShape

    def result(self, rows: list[tuple[Any, ...]]) -> ListResult | None:
        """The page, in the order of `ids`, if the database is still at the caller's version."""
        ids = self.ids
        if not ids:
            return ListResult(self.total, [], {})
        if len(rows) < len(ids) or rows[0][-1] != self.caller.data_version:
            return None
        by_id = {row[0]: row for row in rows}
        if self.shape is PageShape.DETAILED_JSON:
            return ListResult(self.total, [], {}, [by_id[i][1] for i in ids])
        numbers = [phone_number_from_row(by_id[i][:-2]) for i in ids]
        names = {n.messaging_profile_id: by_id[n.id][-2] for n in numbers if n.messaging_profile_id}
        return ListResult(self.total, numbers, names)


@cache
def _detailed_json_rows(dialect: Dialect) -> str:
    """Like `PAGE_ROWS`, with each number's `PhoneNumberDetailed` as JSON text in its second
    column, concatenated from each property's JSON: on PostgreSQL that costs its backend less than
    `json_build_object` (which spaces out its output, too), and no more on SQLite than
    `json_object` (docs/performance.md)."""
    quoted = "'\"' || {} || '\"'"
    values = {
        Rendering.ID: quoted.format("CAST({column} AS TEXT)"),
        Rendering.RECORD_TYPE: f"'\"{RECORD_TYPE}\"'",
        Rendering.TEXT: dialect.json_text,
        Rendering.KEYWORD: dialect.json_keyword,
        Rendering.ARRAY: dialect.json_array,
        Rendering.BOOLEAN: "CASE WHEN {column} THEN 'true' ELSE 'false' END",
        Rendering.TIMESTAMP: quoted.format(dialect.json_timestamp),
    }
    pieces = [
        f"'{',' if i else '{'}\"{name}\":' || "
        + values[how].format(column=DETAILED_COLUMNS.get(name, f"p.{name}"))
        for i, (name, how) in enumerate(DETAILED_PROPERTIES)
    ]
    return _page_rows(f"p.id, {' || '.join(pieces)} || '}}'")


def count_matching(connection: Connection, account_id: int, conditions: Sequence[Condition]) -> int:
    where, parameters = _where(connection.dialect, account_id, conditions)
    return int(
        connection.execute(f"SELECT count(*) {FROM} WHERE {where}", parameters).fetchone()[0]
    )


def matching_batches(
    connection: Connection, account_id: int, conditions: Sequence[Condition], size: int
) -> Iterator[list[tuple[PhoneNumber, str | None]]]:
    """Every number the conditions match, in the list's default order, `size` at a time, each
    with its messaging profile's name: an export of any size in bounded memory. The connection
    must be inside a transaction (see `Connection.batches`)."""
    where, parameters = _where(connection.dialect, account_id, conditions)
    sql = (
        f"SELECT {SELECT_LIST}, m.name {FROM} {PROFILE_JOIN} "
        f"WHERE {where} ORDER BY {_order_by(DEFAULT_ORDER)}"
    )
    for rows in connection.batches(sql, parameters, size):
        yield [(phone_number_from_row(row[:-1]), row[-1]) for row in rows]


def phone_number_from_row(row: Sequence[object]) -> PhoneNumber:
    values = list(row)
    values[4] = orjson.loads(row[4])  # type: ignore[arg-type]
    return PhoneNumber._make(values)


def _where(
    dialect: Dialect, account_id: int, conditions: Sequence[Condition]
) -> tuple[str, list[object]]:
    clauses = ["p.account_id = ?"]
    parameters: list[object] = [account_id]
    for condition in conditions:
        clause, values = _condition(dialect, condition)
        clauses.append(clause)
        parameters.extend(values)
    return " AND ".join(clauses), parameters


def _condition(dialect: Dialect, condition: Condition) -> tuple[str, Sequence[object]]:
    match condition:
        case OneOf(field, (value,)):
            return f"{COLUMNS[field]} = ?", (value,)
        case OneOf(field, values):
            return f"{COLUMNS[field]} IN ({', '.join('?' * len(values))})", values
        case IsNull(field):
            return f"{COLUMNS[field]} IS NULL", ()
        case IsNotNull(field):
            return f"{COLUMNS[field]} IS NOT NULL", ()
        case TextMatches(field, match, text):
            return _text_match(dialect, FOLDED_COLUMNS[field], match, text.casefold())
        case DigitsContain(digits):
            return dialect.digits_contain, (dialect.digits_value.format(digits=digits),)
        case HasTag(tag):
            return (
                "EXISTS (SELECT 1 FROM phone_number_tags t WHERE t.account_id = p.account_id "
                "AND t.tag = ? AND t.phone_number_id = p.id)",
                (tag,),
            )
        case HasNoTags():
            return "p.tags = '[]'", ()
        case MatchesNothing():
            return "FALSE", ()
    raise AssertionError(f"unhandled condition {condition!r}")


def _text_match(
    dialect: Dialect, column: str, match: TextMatch, text: str
) -> tuple[str, Sequence[object]]:
    if match is TextMatch.EQUALS:
        return f"{column} = ?", (text,)
    if match is TextMatch.CONTAINS:
        return dialect.contains.format(column=column), (text,)
    if match is TextMatch.STARTS_WITH:
        return f"substr({column}, 1, ?) = ?", (len(text), text)
    return dialect.ends_with.format(column=column), (len(text), text)


def _order_by(keys: Sequence[SortKey]) -> str:
    terms = []
    for key in keys:
        column = FOLDED_COLUMNS[key.field] if key.case_insensitive else COLUMNS[key.field]
        direction = " DESC" if key.descending else ""
        nulls = " NULLS LAST" if key.field in NULLABLE else ""
        terms.append(f"{column}{direction}{nulls}")
    return ", ".join(terms)
