"""What differs between the two engines, in one place: SQL fragments and error classes.

Statements everywhere else are written once, with `?` placeholders, in the SQL both engines share;
the PostgreSQL connection turns `?` into psycopg's `%s`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg


def _one_per_value(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


# As the array's text: psycopg dumps a list one element at a time, in Python.
def _one_array_of_ids(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    return f"{column} = ANY(CAST(? AS BIGINT[]))", ["{" + ",".join(map(str, ids)) + "}"]


def _one_array_of_texts(column: str, texts: Sequence[str]) -> tuple[str, list[Any]]:
    quoted = ('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"' for text in texts)
    return f"{column} = ANY(CAST(? AS TEXT[]))", ["{" + ",".join(quoted) + "}"]


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    begin_write: str
    begin_read: str
    # `{column}` contains the bound text.
    contains: str
    # `{column}` ends with the bound text; bound as (length, text).
    ends_with: str
    # Rows of a phone number's tags (a JSON array in `{tags}`), as a table with a `value` column.
    tag_elements: str
    # The E.164 digits of a number contain the bound digits, through an index made for substrings;
    # `digits_value` makes the bound value from the digits (they need no escaping in either).
    digits_contain: str
    digits_value: str
    # `column` is one of `ids` (integers, never none): the condition and its parameters. On
    # PostgreSQL one array, so that the statement has one text for every number of ids: psycopg
    # parses a statement of more than 50 parameters again at every execution, in the server's
    # Python (docs/performance.md).
    among_ids: Callable[[str, Sequence[int]], tuple[str, list[Any]]]
    # The same for texts (a page of phone numbers, say).
    among_texts: Callable[[str, Sequence[str]], tuple[str, list[Any]]]
    integrity_errors: tuple[type[Exception], ...]
    # `{column}`, written so that the planner does not pick the column's index for it: where a
    # statement names rows by primary key, SQLite may read the account's index instead (its unary
    # + prevents that), while PostgreSQL's planner chooses well unaided and, given the +, loses the
    # column's statistics, expects one row and joins each row by a scan.
    not_by_index: str
    # The JSON text of a stored value, for a page's items to be concatenated from
    # (`PageShape.DETAILED_JSON`): of a text column (NULL as null), of one whose values never hold
    # what JSON escapes (`Rendering.KEYWORD`), of a stored JSON array, and of a timestamp
    # (milliseconds since the epoch) as `format_timestamp` writes it, without quotes.
    json_text: str
    json_keyword: str
    json_array: str
    json_timestamp: str
    # Ends a `SELECT` of rows to claim: rows another transaction holds are passed over, not
    # waited for (SQLite has one writer at a time, so nothing is ever held).
    skip_locked: str = ""
    # Ends a `SELECT` of rows to lock until the transaction ends (SQLite: its one writer at a
    # time holds them all already).
    for_update: str = ""
    # `{column}` with its ASCII letters in lower case, and no other character changed (SQLite's
    # lower(); PostgreSQL's folds every letter but in the "C" collation).
    ascii_lower: str = "lower({column})"
    # Ends an `EXISTS` subquery that is to be run for each row, by index, rather than turned into
    # a join: PostgreSQL makes a NOT EXISTS an anti-join, which reads every row of the other table
    # that the subquery's own conditions let through (a search's page: every hold in force) where
    # the page's few lookups would do. OFFSET keeps the subquery as it is.
    per_row: str = ""


SQLITE = Dialect(
    name="sqlite",
    # IMMEDIATE takes the write lock at once, so two writers never deadlock upgrading a read lock.
    begin_write="BEGIN IMMEDIATE",
    begin_read="BEGIN",
    contains="instr({column}, ?) > 0",
    ends_with="substr({column}, -?) = ?",
    tag_elements="json_each({tags}) AS j",
    # FTS5's trigram tokenizer finds any substring of three or more characters by index.
    digits_contain=(
        "p.id IN (SELECT rowid FROM phone_number_digits WHERE phone_number_digits MATCH ?)"
    ),
    digits_value='"{digits}"',  # an FTS5 phrase
    among_ids=_one_per_value,
    among_texts=_one_per_value,
    integrity_errors=(sqlite3.IntegrityError,),
    not_by_index="+{column}",
    json_text="json_quote({column})",
    json_keyword="json_quote({column})",  # no cheaper than this on SQLite
    json_array="json({column})",
    # Whole seconds and milliseconds rounded down, as Python's divmod does before 1970 too.
    json_timestamp=(
        "strftime('%Y-%m-%dT%H:%M:%S', ({column} - ({column} % 1000 + 1000) % 1000) / 1000, "
        "'unixepoch') || printf('.%03dZ', ({column} % 1000 + 1000) % 1000)"
    ),
)

POSTGRESQL = Dialect(
    name="postgresql",
    begin_write="BEGIN",
    begin_read="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    contains="strpos({column}, ?) > 0",
    ends_with="right({column}, ?) = ?",
    tag_elements="jsonb_array_elements_text({tags}::jsonb) AS j(value)",
    # pg_trgm's GIN index serves LIKE '%digits%'.
    digits_contain="p.phone_number LIKE ?",
    digits_value="%{digits}%",
    among_ids=_one_array_of_ids,
    among_texts=_one_array_of_texts,
    integrity_errors=(psycopg.errors.IntegrityError,),
    not_by_index="{column}",
    json_text="coalesce(to_json({column})::text, 'null')",
    json_keyword="""coalesce('"' || {column} || '"', 'null')""",
    json_array="{column}",  # the text as stored
    json_timestamp=(
        # Whole seconds and milliseconds apart: an interval times a number is worked out in floating
        # point, where milliseconds lose one some years away and whole seconds stay exact.
        "to_char(timestamp 'epoch' + ({column} - mod(mod({column}, 1000) + 1000, 1000)) / 1000 "
        "* interval '1 second' + mod(mod({column}, 1000) + 1000, 1000) * interval '1 millisecond', "
        '\'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\')'
    ),
    skip_locked=" FOR UPDATE SKIP LOCKED",
    for_update=" FOR UPDATE",
    ascii_lower='lower({column} COLLATE "C")',
    per_row=" OFFSET 0",
)
