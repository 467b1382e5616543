"""An in-memory index of one account's numbers, to answer a list query's count and page without
scanning: the database stays the source of truth, and the index is a copy of one data version.

Each number has a position: its rank in the default order (newest first). Every filterable value
has the set of positions that hold it, as a compressed bitmap (Roaring), so a query's match set is
a few bitmap intersections, its exact count is the set's size, and a page in the default order is
a slice of it. Each other sort keeps its permutation of the positions, so a page in that order is
an array lookup for the whole account and a partial sort of the matches otherwise.

The index is exact or absent: it is used only when its data version is the caller's, and the
number rows of a page are still read from the database, in the request's own snapshot.
"""

from __future__ import annotations

import array
import ctypes
import ctypes.util
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from pyroaring import BitMap

from numbers_api.query.conditions import (
    Condition,
    DigitsContain,
    Field,
    HasNoTags,
    HasTag,
    IsNull,
    MatchesNothing,
    OneOf,
    SortKey,
    TextMatch,
    TextMatches,
)
from numbers_api.query.list_query import DEFAULT_ORDER, SORTS
from numbers_api.store.accounts import Caller, logged_changes
from numbers_api.store.database import Connection

log = logging.getLogger("numbers_api.index")

# The columns whose values are looked up by equality (OneOf, IsNull), in the order they are read.
EQUALITY_FIELDS = (
    Field.STATUS,
    Field.COUNTRY,
    Field.CONNECTION_ID,
    Field.USAGE_PAYMENT_METHOD,
    Field.BILLING_GROUP_ID,
    Field.EMERGENCY_ADDRESS_ID,
    Field.CUSTOMER_REFERENCE,
    Field.PHONE_NUMBER_TYPE,
    Field.SOURCE_TYPE,
    Field.MESSAGING_PROFILE_ID,
)
# Read in the table's own order, over the account's range of ids only (a sequential scan of that
# range, much faster than through the order's index, and a small account's range is not the
# whole table's; docs/performance.md), and put in the default order here.
_COLUMNS = "id, created_at, phone_number, purchased_at, " + ", ".join(
    f.value for f in EQUALITY_FIELDS
)
# `+ 0`: PostgreSQL would otherwise walk the whole primary key for min and max, filtering by
# account (0.77 s for a small account among 3,500,000 numbers), not read the account's index.
_ID_RANGE = "SELECT min(id + 0), max(id + 0) FROM phone_numbers WHERE account_id = ?"
_ROWS = (
    f"SELECT {_COLUMNS} FROM phone_numbers WHERE id BETWEEN ? AND ? AND +account_id = ? ORDER BY id"
)
_TAGS = "SELECT tag, phone_number_id FROM phone_number_tags WHERE account_id = ?"
_BATCH = 50_000
TRIGRAM = 3  # the digits filter takes at least three digits: one trigram is an exact answer
_TRIGRAM_CODES = {c: c for c in range(10**TRIGRAM)}  # a trigram is its own code
Positions = npt.NDArray[np.uint32]
K = TypeVar("K")
_Key_contra = TypeVar("_Key_contra", contravariant=True)


class IndexMode(Enum):
    """How the server keeps indexes: built on a thread while the database answers meanwhile
    (`background`, for serving), built by the request that needs it (`inline`, for tests that must
    know which path answered), or not at all (`off`: every query is SQL)."""

    BACKGROUND = "background"
    INLINE = "inline"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class Ordering:
    """A sort order over the positions: `positions[rank]` and its inverse `ranks[position]`."""

    positions: Positions
    ranks: Positions

    @classmethod
    def by(cls, *keys: npt.NDArray[Any]) -> Ordering:
        """Sorted by the keys, the first most significant (np.lexsort takes them the other way)."""
        return cls.of(np.lexsort(keys[::-1]).astype(np.uint32))

    @classmethod
    def of(cls, positions: Positions, size: int | None = None) -> Ordering:
        ranks = np.zeros(len(positions) if size is None else size, dtype=np.uint32)
        ranks[positions] = np.arange(len(positions), dtype=np.uint32)
        return cls(positions, ranks)

    def inserting(
        self, positions: Positions, ranks: npt.NDArray[np.int64], ids: npt.NDArray[np.int64]
    ) -> Ordering:
        """This order with the positions put in, for an order by (rank, id): each goes after
        those of a lower rank, and of its own rank, after the lower ids. O(n), not a sort."""
        here = self.positions
        order = np.lexsort((ids[positions], ranks[positions]))
        positions = positions[order]
        ranks_here, ids_here = ranks[here], ids[here]
        starts = np.searchsorted(ranks_here, ranks[positions], side="left")
        ends = np.searchsorted(ranks_here, ranks[positions], side="right")
        at = [
            start + int(np.searchsorted(ids_here[start:end], ids[p]))
            for p, start, end in zip(
                positions.tolist(), starts.tolist(), ends.tolist(), strict=True
            )
        ]
        return Ordering.of(np.insert(here, at, positions), len(self.ranks))

    def keeping(self, held: npt.NDArray[np.bool_]) -> Ordering:
        """The order of the held positions only (`held[position]`)."""
        return Ordering.of(self.positions[held[self.positions]], len(held))


# What `AccountIndex` holds and how, as kept in the database (`index_builder.py`): bumped with any
# change to its fields or their types, so that an index kept by an older version of the code is
# built again rather than loaded.
SNAPSHOT_FORMAT = 3


@dataclass(slots=True)
class AccountIndex:
    account_id: int
    data_version: int
    ids: npt.NDArray[np.int64]  # by position
    phone_numbers: npt.NDArray[np.bytes_]  # by position, to confirm digit candidates
    everything: BitMap
    values: dict[Field, Postings]
    tags: dict[str, BitMap]
    untagged: BitMap
    trigrams: Postings  # three digits as a number (0-999) -> positions that contain them
    connection_names: dict[str, str | None]  # connection id -> casefolded name
    # To bring the index forward (`advance_index`): each equality column's value codes by
    # position, their (shared, append-only) tables, and the positions of the ids in id order.
    codes: dict[Field, Positions]
    tables: dict[Field, _Codes]
    sorted_ids: npt.NDArray[np.int64]
    position_of_sorted: Positions
    orderings: dict[tuple[SortKey, ...], Ordering] = field(default_factory=dict)

    def size_in_bytes(self) -> int:
        """About what the index holds in memory: its arrays and its bitmaps' containers (Python's
        own objects around them are not counted)."""
        arrays = [self.ids, self.phone_numbers, self.sorted_ids, self.position_of_sorted]
        arrays += list(self.codes.values())
        arrays += [a for o in self.orderings.values() for a in (o.positions, o.ranks)]
        bitmaps = [self.everything, self.untagged, *self.tags.values()]
        return (
            sum(a.nbytes for a in arrays)
            + sum(_bitmap_bytes(b) for b in bitmaps)
            + sum(postings.size_in_bytes() for postings in self.values.values())
            + self.trigrams.size_in_bytes()
        )

    def answers(self, conditions: Iterable[Condition], order: tuple[SortKey, ...]) -> bool:
        """Whether the index holds what the query looks at (other queries go to SQL)."""
        return (order == DEFAULT_ORDER or order in self.orderings) and all(
            _indexed(condition) for condition in conditions
        )

    def matches(self, conditions: Iterable[Condition]) -> BitMap:
        result = self.everything
        for condition in conditions:
            result = result & self._matches(condition)
            if not result:
                break
        return result

    def page(
        self, matches: BitMap, order: tuple[SortKey, ...], offset: int, size: int
    ) -> list[int]:
        """The ids of `size` matches from `offset`, in `order`."""
        if order == DEFAULT_ORDER:
            return [int(self.ids[p]) for p in matches[offset : offset + size]]
        ordering = self.orderings[order]
        if len(matches) == len(self.everything):
            return self.ids[ordering.positions[offset : offset + size]].tolist()  # type: ignore[no-any-return]
        ranks = ordering.ranks[np.frombuffer(matches.to_array(), dtype=np.uint32)]
        end = min(offset + size, len(ranks))
        # Only the wanted ranks are put in place: O(matches), not a full sort.
        ranks = np.partition(ranks, [offset, end - 1])[offset:end]
        ranks.sort()
        return self.ids[ordering.positions[ranks]].tolist()  # type: ignore[no-any-return]

    def _matches(self, condition: Condition) -> BitMap:
        match condition:
            case OneOf(field_, values):
                postings = self.values[field_]
                return BitMap.union(BitMap(), *(postings.get(v) or BitMap() for v in values))
            case IsNull(field_):
                return self.values[field_].get(None) or BitMap()
            case TextMatches(Field.CONNECTION_NAME, match, text):
                test = _text_test(match, text.casefold())
                postings = self.values[Field.CONNECTION_ID]
                return BitMap.union(
                    BitMap(),
                    *(
                        postings.get(cid) or BitMap()
                        for cid, name in self.connection_names.items()
                        if name is not None and test(name)
                    ),
                )
            case DigitsContain(digits):
                return self._digits(digits)
            case HasTag(tag):
                return self.tags.get(tag, BitMap())
            case HasNoTags():
                return self.untagged
            case MatchesNothing():
                return BitMap()
        raise AssertionError(f"unhandled condition {condition!r}")

    def _digits(self, digits: str) -> BitMap:
        codes = {int(digits[i : i + TRIGRAM]) for i in range(len(digits) - TRIGRAM + 1)}
        candidates = BitMap.intersection(*(self.trigrams.get(c) or BitMap() for c in codes))
        if len(digits) == TRIGRAM or not candidates:
            return candidates
        wanted = digits.encode()
        return BitMap(p for p in candidates if wanted in self.phone_numbers[p])


def _indexed(condition: Condition) -> bool:
    match condition:
        case OneOf(field_, _) | IsNull(field_):
            return field_ in EQUALITY_FIELDS
        case TextMatches(field_, _, _):
            return field_ is Field.CONNECTION_NAME
        case DigitsContain() | HasTag() | HasNoTags() | MatchesNothing():
            return True
    return False


def _bitmap_bytes(bitmap: BitMap) -> int:
    statistics = bitmap.get_statistics()
    return (
        statistics["n_bytes_array_containers"]
        + statistics["n_bytes_run_containers"]
        + statistics["n_bytes_bitset_containers"]
    )


def _text_test(match: TextMatch, text: str) -> Callable[[str], bool]:
    """The same comparisons as the SQL (see `store/phone_numbers.py`), on casefolded names."""
    if match is TextMatch.EQUALS:
        return lambda name: name == text
    if match is TextMatch.CONTAINS:
        return lambda name: text in name
    if match is TextMatch.STARTS_WITH:
        return lambda name: name.startswith(text)
    return lambda name: name.endswith(text)


class _Codes:
    """A column's values as small integers, one per distinct value, taken a batch at a time."""

    def __init__(self) -> None:
        self.code_of: dict[Any, int] = {}
        self.values: list[Any] = []  # by code
        self._codes = array.array("I")

    def code(self, value: Any) -> int:
        """The value's code, given it if it has none yet. Codes are only ever added, so indexes
        of older versions can share the table."""
        code = self.code_of.get(value)
        if code is None:
            code = self.code_of[value] = len(self.values)
            self.values.append(value)
        return code

    def extend(self, values: Sequence[Any]) -> None:
        for value in dict.fromkeys(values):
            self.code(value)
        self._codes.extend(map(self.code_of.__getitem__, values))

    def take(self) -> Positions:
        """The codes extended so far, in that order; the table keeps only the values (an index
        holds its codes by position, not in the order read)."""
        taken = np.frombuffer(self._codes, dtype=np.uint32)
        self._codes = array.array("I")
        return taken


def _grouped(
    codes: Positions, code_of: dict[Any, int], positions: Positions
) -> tuple[Positions, npt.NDArray[np.intp]]:
    """The positions grouped by their values' codes, and where each code's group starts."""
    # Fewer than 65,536 values (nearly every column) sort as 16-bit keys: numpy's radix sort.
    keys = codes.astype(np.uint16) if len(code_of) <= 1 << 16 else codes
    order = np.argsort(keys, kind="stable")
    return positions[order], np.searchsorted(codes[order], np.arange(len(code_of) + 1))


def _bitmap(positions: Positions) -> BitMap:
    return BitMap(array.array("I", positions.tobytes()))


def _group(codes: Positions, code_of: dict[Any, int], positions: Positions) -> dict[Any, BitMap]:
    """Each value's positions, for the values' codes at the given positions."""
    grouped, bounds = _grouped(codes, code_of, positions)
    return {
        value: _bitmap(grouped[bounds[code] : bounds[code + 1]]) for value, code in code_of.items()
    }


# A value held by fewer positions than this keeps them in `Postings`' shared array, not a bitmap.
BITMAP_FROM = 64


@dataclass(slots=True)
class Postings:
    """A column's positions by value. A value held by many positions has a bitmap; the many
    values held by few (a customer reference is often one number's) share one array of positions
    grouped by value, a bitmap made when asked for: hundreds of thousands of small bitmaps cost
    far more memory, and time to load, than their positions (docs/performance.md)."""

    bitmaps: dict[Any, BitMap]  # the values' own bitmaps, and any a change has replaced
    code_of: dict[Any, int]  # the column's codes (`_Codes.code_of`, shared)
    grouped: Positions  # the positions, grouped by code
    bounds: npt.NDArray[np.intp]  # where each code's group starts in `grouped`

    @classmethod
    def of(cls, codes: Positions, code_of: dict[Any, int], positions: Positions) -> Postings:
        grouped, bounds = _grouped(codes, code_of, positions)
        many = np.flatnonzero(np.diff(bounds) >= BITMAP_FROM)
        value_of = dict(zip(code_of.values(), code_of.keys(), strict=True))
        bitmaps = {
            value_of[code]: _bitmap(grouped[bounds[code] : bounds[code + 1]])
            for code in many.tolist()
        }
        return cls(bitmaps, code_of, grouped, bounds)

    def get(self, value: Any) -> BitMap | None:
        bitmap = self.bitmaps.get(value)
        if bitmap is not None:
            return bitmap
        code = self.code_of.get(value)
        if code is None or code + 1 >= len(self.bounds):  # a value new since the build
            return None
        return _bitmap(self.grouped[self.bounds[code] : self.bounds[code + 1]])

    def __setitem__(self, value: Any, bitmap: BitMap) -> None:
        self.bitmaps[value] = bitmap

    def copy(self) -> Postings:
        """A copy whose values can be given new bitmaps; the shared array is never changed."""
        return Postings(dict(self.bitmaps), self.code_of, self.grouped, self.bounds)

    def size_in_bytes(self) -> int:
        return (
            self.grouped.nbytes
            + self.bounds.nbytes
            + sum(_bitmap_bytes(b) for b in self.bitmaps.values())
        )


def build_index(connection: Connection, caller: Caller) -> AccountIndex:
    """The index of the caller's account at the caller's data version: `connection` must be in a
    snapshot where that version is current."""
    started = time.perf_counter()
    read_ids, created, purchased = array.array("q"), array.array("q"), array.array("q")
    numbers: list[npt.NDArray[np.bytes_]] = []
    columns = {f: _Codes() for f in EQUALITY_FIELDS}
    # A batch at a time: a million rows as Python objects would take gigabytes.
    first, last = connection.execute(_ID_RANGE, (caller.account_id,)).fetchone()
    in_range = (first or 0, last or -1, caller.account_id)
    for batch in connection.batches(_ROWS, in_range, _BATCH):
        transposed = list(zip(*batch, strict=True))
        read_ids.extend(transposed[0])
        created.extend(transposed[1])
        numbers.append(np.array(transposed[2], dtype=np.bytes_))
        purchased.extend(transposed[3])
        for column, values_ in zip(columns.values(), transposed[4:], strict=True):
            column.extend(values_)
    row_ids = np.frombuffer(read_ids, dtype=np.int64)
    # The default order: newest first, then the higher id first.
    row_at = np.lexsort((row_ids, np.frombuffer(created, dtype=np.int64)))[::-1].astype(np.uint32)
    position_of_row = np.empty_like(row_at)
    position_of_row[row_at] = np.arange(len(row_at), dtype=np.uint32)
    positions = np.arange(len(row_at), dtype=np.uint32)
    codes = {field_: column.take()[row_at] for field_, column in columns.items()}
    values = {f: Postings.of(codes[f], column.code_of, positions) for f, column in columns.items()}
    ids = row_ids[row_at]
    phone_numbers = (np.concatenate(numbers) if numbers else np.array([], np.bytes_))[row_at]

    tag_codes = _Codes()
    tagged = array.array("q")
    for batch in connection.batches(_TAGS, (caller.account_id,), _BATCH):
        tags_, numbers_ = zip(*batch, strict=True)
        tag_codes.extend(tags_)
        tagged.extend(numbers_)
    tagged_ids = np.frombuffer(tagged, dtype=np.int64)
    tag_positions = position_of_row[np.searchsorted(row_ids, tagged_ids)]  # ids were read sorted
    tags = _group(tag_codes.take(), tag_codes.code_of, tag_positions)
    names = _connection_names(connection, caller.account_id)
    everything = BitMap(range(len(ids)))
    index = AccountIndex(
        account_id=caller.account_id,
        data_version=caller.data_version,
        ids=ids,
        phone_numbers=phone_numbers,
        everything=everything,
        values=values,
        tags=tags,
        untagged=everything - BitMap.union(BitMap(), *tags.values()),
        trigrams=_trigrams(phone_numbers),
        connection_names=names,
        codes=codes,
        tables=columns,
        sorted_ids=row_ids,
        position_of_sorted=position_of_row,
    )
    purchased_at = np.frombuffer(purchased, dtype=np.int64)[row_at]
    index.orderings = {
        SORTS["purchased_at"]: Ordering.by(purchased_at, ids),
        SORTS["phone_number"]: Ordering.by(phone_numbers, ids),
        **{sort: Ordering.by(_value_ranks(index, sort), ids) for sort in _ORDERED_BY_VALUE},
    }
    log.info(
        "index of account %d (data version %d, %d numbers) built in %.2f s, %.0f MB",
        caller.account_id,
        caller.data_version,
        len(ids),
        time.perf_counter() - started,
        index.size_in_bytes() / 2**20,
    )
    return index


def _connection_names(connection: Connection, account_id: int) -> dict[str, str | None]:
    rows = connection.execute(
        "SELECT id, name_folded FROM connections WHERE account_id = ?", (account_id,)
    )
    return {row[0]: row[1] for row in rows}


def _trigrams(numbers: npt.NDArray[np.bytes_]) -> Postings:
    """Every run of three digits of every number, by position."""
    if not len(numbers):
        return Postings.of(np.array([], np.uint32), _TRIGRAM_CODES, np.array([], np.uint32))
    width = numbers.dtype.itemsize
    chars = numbers.view(np.uint8).reshape(len(numbers), width)
    digits = chars.astype(np.int32) - ord("0")
    is_digit = (digits >= 0) & (digits <= 9)
    codes_by_offset = []
    positions_by_offset = []
    for start in range(width - TRIGRAM + 1):
        window = slice(start, start + TRIGRAM)
        valid = np.flatnonzero(is_digit[:, window].all(axis=1)).astype(np.uint32)
        d = digits[valid, window]
        codes_by_offset.append((d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]).astype(np.uint32))
        positions_by_offset.append(valid)
    codes = np.concatenate(codes_by_offset)
    return Postings.of(codes, _TRIGRAM_CODES, np.concatenate(positions_by_offset))


# The sorts by an equality column's value, as SQL orders them: text in binary (code point) order,
# nulls last. A write can change these columns, so their orders are made again by `advance_index`.
_ORDERED_BY_VALUE = {
    SORTS["connection_name"]: Field.CONNECTION_ID,
    SORTS["usage_payment_method"]: Field.USAGE_PAYMENT_METHOD,
}


def _value_ranks(index: AccountIndex, sort: tuple[SortKey, ...]) -> npt.NDArray[np.int64]:
    """Each position's rank under the sort's first key."""
    field_ = _ORDERED_BY_VALUE[sort]
    value_of_code = dict(enumerate(index.tables[field_].values))
    if field_ is Field.CONNECTION_ID:  # by the connection's name
        names = index.connection_names
        value_of_code = {
            code: names.get(cid) if cid else None for code, cid in value_of_code.items()
        }
    return _ranks(value_of_code)[index.codes[field_]]


def _ranks(value_of_code: dict[int, str | None]) -> npt.NDArray[np.int64]:
    """For each code, the rank of its value: binary order, None last; equal values (two
    connections of one name, or none) share a rank, so that the id decides between them."""
    distinct = sorted(set(value_of_code.values()), key=lambda v: (v is None, v or ""))
    rank_of = {value: rank for rank, value in enumerate(distinct)}
    ranks = np.zeros(len(value_of_code), dtype=np.int64)
    for code, value in value_of_code.items():
        ranks[code] = rank_of[value]
    return ranks


# More changed numbers than this, and building the index again is the quicker way forward.
MAX_ADVANCE = 5_000
_IDS_PER_STATEMENT = 500


def advance_index(
    index: AccountIndex, connection: Connection, caller: Caller
) -> AccountIndex | None:
    """The index brought forward to the caller's data version by the changes logged since its
    own (see `accounts.bump_data_version`), or None if it must be built again: too many changes,
    a log that no longer reaches back, or a number added. The index itself is left as it is (a
    request at its version may still be reading it): what changes is copied.

    `connection` must be in a snapshot where the caller's data version is current."""
    changed = logged_changes(connection, caller.account_id, index.data_version, caller.data_version)
    if changed is None or len(changed) > MAX_ADVANCE:
        return None
    rows: dict[int, Sequence[Any]] = {}
    tags: dict[int, list[str]] = {}
    ids = sorted(changed)
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        chunk = ids[start : start + _IDS_PER_STATEMENT]
        marks = ", ".join("?" * len(chunk))
        for row in connection.execute(
            f"SELECT {_COLUMNS} FROM phone_numbers WHERE id IN ({marks}) AND +account_id = ?",
            [*chunk, caller.account_id],
        ):
            rows[row[0]] = row
        for tag, number_id in connection.execute(
            "SELECT tag, phone_number_id FROM phone_number_tags "
            f"WHERE phone_number_id IN ({marks}) AND account_id = ?",
            [*chunk, caller.account_id],
        ):
            tags.setdefault(number_id, []).append(tag)
    positions = _positions_of(index, ids)
    released = BitMap(p for i, p in zip(ids, positions, strict=True) if p >= 0 and i not in rows)
    updated: dict[int, Sequence[Any]] = {}
    for number_id, position in zip(ids, positions, strict=True):
        row = rows.get(number_id)
        if row is None:
            continue
        if position < 0 or row[2].encode() != index.phone_numbers[position]:
            return None  # a new number: its position would move every other one
        updated[position] = row
    changes = _Changes(released, updated, tags)
    names = index.connection_names
    if any(cid not in (None, *names) for cid in changes.values(Field.CONNECTION_ID)):
        names = _connection_names(connection, caller.account_id)  # a connection new to the index
    codes, values, revalued = changes.equality_columns(index)
    if names is not index.connection_names:
        revalued.add(Field.CONNECTION_ID)
    advanced = dataclasses.replace(
        index,
        data_version=caller.data_version,
        everything=index.everything - released,
        values=values,
        tags=changes.tags_of(index),
        untagged=(index.untagged - changes.touched) | changes.untagged,
        trigrams=changes.trigrams_of(index),
        connection_names=names,
        codes=codes,
    )
    if released or revalued:
        advanced.orderings = changes.orderings_of(advanced, revalued)
    return advanced


@dataclass(frozen=True, slots=True)
class _Changes:
    """What an index's positions become: `released` ones are gone; `updated` ones (rows as
    `_COLUMNS` reads them, by position) take new values, `tags` (by number id) among them."""

    released: BitMap
    updated: dict[int, Sequence[Any]]
    tags: dict[int, list[str]]

    @property
    def touched(self) -> BitMap:
        return self.released | BitMap(self.updated)

    @property
    def untagged(self) -> BitMap:
        return BitMap(p for p, row in self.updated.items() if row[0] not in self.tags)

    def values(self, field_: Field) -> list[Any]:
        column = 4 + EQUALITY_FIELDS.index(field_)
        return [row[column] for row in self.updated.values()]

    def equality_columns(
        self, index: AccountIndex
    ) -> tuple[dict[Field, Positions], dict[Field, Postings], set[Field]]:
        """The columns' codes and postings, and the columns whose value changed for a number
        still held."""
        codes = dict(index.codes)
        values = dict(index.values)
        revalued: set[Field] = set()
        for field_ in EQUALITY_FIELDS:
            table = index.tables[field_]
            before = index.codes[field_]
            after = zip(self.updated, map(table.code, self.values(field_)), strict=True)
            moved = {p: code for p, code in after if code != before[p]}
            if not moved and not self.released:
                continue
            if moved:
                revalued.add(field_)
                codes[field_] = before.copy()
            postings = values[field_] = index.values[field_].copy()
            owned: set[str | None] = set()
            for p in [*moved, *self.released]:
                _owned(postings, owned, table.values[before[p]]).discard(p)
            for p, code in moved.items():
                codes[field_][p] = code
                _owned(postings, owned, table.values[code]).add(p)
        return codes, values, revalued

    def tags_of(self, index: AccountIndex) -> dict[str, BitMap]:
        tags = dict(index.tags)
        owned: set[str] = set()
        touched = self.touched
        for tag, bitmap in index.tags.items():
            if bitmap.intersect(touched):
                tags[tag] = bitmap - touched
                owned.add(tag)
        for p, row in self.updated.items():
            for tag in self.tags.get(row[0], []):
                _owned(tags, owned, tag).add(p)
        return tags

    def trigrams_of(self, index: AccountIndex) -> Postings:
        if not self.released:
            return index.trigrams  # an update never changes a number's digits
        trigrams = index.trigrams.copy()
        owned: set[int] = set()
        for p in self.released:
            digits = index.phone_numbers[p].decode()
            for start in range(len(digits) - TRIGRAM + 1):
                run = digits[start : start + TRIGRAM]
                if run.isdigit():
                    _owned(trigrams, owned, int(run)).discard(p)
        return trigrams

    def orderings_of(
        self, advanced: AccountIndex, revalued: set[Field]
    ) -> dict[tuple[SortKey, ...], Ordering]:
        """Each sort without the released positions; a sort by a revalued column also takes
        the updated positions out and puts them back where their new values sort them."""
        held = np.zeros(len(advanced.ids), dtype=bool)
        held[np.frombuffer(advanced.everything.to_array(), dtype=np.uint32)] = True
        updated = np.array(sorted(self.updated), dtype=np.uint32)
        orderings = {}
        for sort, ordering in advanced.orderings.items():
            if _ORDERED_BY_VALUE.get(sort) not in revalued:
                orderings[sort] = ordering.keeping(held) if self.released else ordering
                continue
            staying = held.copy()
            staying[updated] = False
            orderings[sort] = ordering.keeping(staying).inserting(
                updated, _value_ranks(advanced, sort), advanced.ids
            )
        return orderings


class _Bitmaps(Protocol[_Key_contra]):
    def get(self, key: _Key_contra, /) -> BitMap | None: ...
    def __setitem__(self, key: _Key_contra, bitmap: BitMap, /) -> None: ...


def _owned(bitmaps: _Bitmaps[K], owned: set[K], key: K) -> BitMap:
    """The key's bitmap, copied (or made) the first time this copy of the index changes it."""
    bitmap = bitmaps.get(key)
    if key in owned and bitmap is not None:
        return bitmap
    copy = BitMap() if bitmap is None else bitmap.copy()
    bitmaps[key] = copy
    owned.add(key)
    return copy


def _positions_of(index: AccountIndex, ids: Sequence[int]) -> list[int]:
    """Each id's position, -1 for an id the index does not hold (any more)."""
    found = np.searchsorted(index.sorted_ids, ids)
    positions = []
    for number_id, at in zip(ids, found.tolist(), strict=True):
        held = at < len(index.sorted_ids) and index.sorted_ids[at] == number_id
        position = int(index.position_of_sorted[at]) if held else -1
        positions.append(position if position in index.everything else -1)
    return positions


def release_free_memory() -> None:
    """glibc keeps the memory a build freed in its arenas, where the rest of the system cannot
    use it (how much: docs/performance.md); give it back. Elsewhere, nothing to do."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc_with_malloc_trim() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _libc_with_malloc_trim()
