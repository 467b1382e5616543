"""What differs between the two engines, in one place: SQL fragments and error classes.

Statements everywhere else are written once, with `?` placeholders, in the SQL both engines share;
the PostgreSQL connection turns `?` into psycopg's `%s`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import psycopg


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
    integrity_errors: tuple[type[Exception], ...]
    # `{column}`, written so that the planner does not pick the column's index for it: where a
    # statement names rows by primary key, SQLite may read the account's index instead (its unary
    # + prevents that), while PostgreSQL's planner chooses well unaided and, given the +, loses the
    # column's statistics, expects one row and joins each row by a scan.
    not_by_index: str
    # A JSON object rendered as text from `{pairs}` (`'key', value, ...`), and the JSON of a stored
    # boolean, of a stored JSON array (text) and of a timestamp (milliseconds since the epoch) as
    # `format_timestamp` writes it: the database renders a page's items (`PageShape.DETAILED_JSON`).
    json_object: str
    json_boolean: str
    json_array: str
    json_timestamp: str
    # Ends a `SELECT` of rows to claim: rows another transaction holds are passed over, not
    # waited for (SQLite has one writer at a time, so nothing is ever held).
    skip_locked: str = ""


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
    integrity_errors=(sqlite3.IntegrityError,),
    not_by_index="+{column}",
    json_object="json_object({pairs})",
    json_boolean="json(CASE WHEN {column} THEN 'true' ELSE 'false' END)",
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
    integrity_errors=(psycopg.errors.IntegrityError,),
    not_by_index="{column}",
    json_object="json_build_object({pairs})::text",
    json_boolean="{column}",
    json_array="{column}::json",
    json_timestamp=(
        # Whole seconds and milliseconds apart: an interval times a number is worked out in floating
        # point, where milliseconds lose one some years away and whole seconds stay exact.
        "to_char(timestamp 'epoch' + ({column} - mod(mod({column}, 1000) + 1000, 1000)) / 1000 "
        "* interval '1 second' + mod(mod({column}, 1000) + 1000, 1000) * interval '1 millisecond', "
        '\'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\')'
    ),
    skip_locked=" FOR UPDATE SKIP LOCKED",
)
