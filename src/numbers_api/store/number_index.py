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
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

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
from numbers_api.store.accounts import Caller, data_version
from numbers_api.store.database import Connection, Database

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
)
# Read in the table's own order (a sequential scan, three times faster than through the order's
# index) and put in the default order here.
_ROWS = (
    "SELECT id, created_at, phone_number, purchased_at, "
    + ", ".join(f.value for f in EQUALITY_FIELDS)
    + " FROM phone_numbers WHERE +account_id = ? ORDER BY id"
)
_TAGS = "SELECT tag, phone_number_id FROM phone_number_tags WHERE account_id = ?"
_BATCH = 50_000
TRIGRAM = 3  # the digits filter takes at least three digits: one trigram is an exact answer
Positions = npt.NDArray[np.uint32]


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
        positions = np.lexsort(keys[::-1]).astype(np.uint32)
        ranks = np.empty_like(positions)
        ranks[positions] = np.arange(len(positions), dtype=np.uint32)
        return cls(positions, ranks)


@dataclass(slots=True)
class AccountIndex:
    account_id: int
    data_version: int
    ids: npt.NDArray[np.int64]  # by position
    phone_numbers: npt.NDArray[np.bytes_]  # by position, to confirm digit candidates
    everything: BitMap
    values: dict[Field, dict[str | None, BitMap]]
    tags: dict[str, BitMap]
    untagged: BitMap
    trigrams: dict[int, BitMap]  # three digits as a number (0-999) -> positions that contain them
    connection_names: dict[str, str | None]  # connection id -> casefolded name
    orderings: dict[tuple[SortKey, ...], Ordering] = field(default_factory=dict)

    def size_in_bytes(self) -> int:
        """About what the index holds in memory: its arrays and its bitmaps' containers (Python's
        own objects around them are not counted)."""
        arrays = [self.ids, self.phone_numbers]
        arrays += [a for o in self.orderings.values() for a in (o.positions, o.ranks)]
        bitmaps = [self.everything, self.untagged, *self.tags.values(), *self.trigrams.values()]
        bitmaps += [b for postings in self.values.values() for b in postings.values()]
        return sum(a.nbytes for a in arrays) + sum(_bitmap_bytes(b) for b in bitmaps)

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
                return BitMap.union(*(postings.get(v, BitMap()) for v in values))
            case IsNull(field_):
                return self.values[field_].get(None, BitMap())
            case TextMatches(Field.CONNECTION_NAME, match, text):
                test = _text_test(match, text.casefold())
                postings = self.values[Field.CONNECTION_ID]
                return BitMap.union(
                    BitMap(),
                    *(
                        postings.get(cid, BitMap())
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
        candidates = BitMap.intersection(*(self.trigrams.get(c, BitMap()) for c in codes))
        if len(digits) == TRIGRAM or not candidates:
            return candidates
        wanted = digits.encode()
        return BitMap(p for p in candidates if wanted in self.phone_numbers[p])


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
        self._codes = array.array("I")

    def extend(self, values: Sequence[Any]) -> None:
        for value in dict.fromkeys(values):
            self.code_of.setdefault(value, len(self.code_of))
        self._codes.extend(map(self.code_of.__getitem__, values))

    def array(self) -> Positions:
        return np.frombuffer(self._codes, dtype=np.uint32)


def _group(codes: Positions, code_of: dict[Any, int], positions: Positions) -> dict[Any, BitMap]:
    """Each value's positions, for the values' codes at the given positions."""
    # Fewer than 65,536 values (nearly every column) sort as 16-bit keys: numpy's radix sort.
    keys = codes.astype(np.uint16) if len(code_of) <= 1 << 16 else codes
    order = np.argsort(keys, kind="stable")
    grouped = positions[order]
    bounds = np.searchsorted(codes[order], np.arange(len(code_of) + 1))
    return {
        value: BitMap(array.array("I", grouped[bounds[code] : bounds[code + 1]].tobytes()))
        for value, code in code_of.items()
    }


def build_index(connection: Connection, caller: Caller) -> AccountIndex:
    """The index of the caller's account at the caller's data version: `connection` must be in a
    snapshot where that version is current."""
    started = time.perf_counter()
    read_ids, created, purchased = array.array("q"), array.array("q"), array.array("q")
    numbers: list[npt.NDArray[np.bytes_]] = []
    columns = {f: _Codes() for f in EQUALITY_FIELDS}
    # A batch at a time: a million rows as Python objects would take gigabytes.
    for batch in connection.batches(_ROWS, (caller.account_id,), _BATCH):
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
    values: dict[Field, dict[str | None, BitMap]] = {}
    codes: dict[Field, tuple[dict[Any, int], Positions]] = {}
    for field_, column in columns.items():
        codes[field_] = column.code_of, column.array()[row_at]
        values[field_] = _group(codes[field_][1], column.code_of, positions)
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
    tags = _group(tag_codes.array(), tag_codes.code_of, tag_positions)
    names = {
        row[0]: row[1]
        for row in connection.execute(
            "SELECT id, name_folded FROM connections WHERE account_id = ?", (caller.account_id,)
        )
    }
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
    )
    index.orderings = _orderings(
        index, np.frombuffer(purchased, dtype=np.int64)[row_at], codes, names
    )
    log.info(
        "index of account %d (data version %d, %d numbers) built in %.2f s, %.0f MB",
        caller.account_id,
        caller.data_version,
        len(ids),
        time.perf_counter() - started,
        index.size_in_bytes() / 2**20,
    )
    return index


def _trigrams(numbers: npt.NDArray[np.bytes_]) -> dict[int, BitMap]:
    """Every run of three digits of every number, by position."""
    if not len(numbers):
        return {}
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
    return _group(codes, {c: c for c in range(10**TRIGRAM)}, np.concatenate(positions_by_offset))


def _orderings(
    index: AccountIndex,
    purchased: npt.NDArray[np.int64],
    codes: dict[Field, tuple[dict[Any, int], Positions]],
    names: dict[str, str | None],
) -> dict[tuple[SortKey, ...], Ordering]:
    """Each sort's order, as SQL orders it: text in binary (code point) order, nulls last."""
    ids = index.ids
    connection_code_of, connections = codes[Field.CONNECTION_ID]
    name_of_code = {
        code: names.get(cid) if cid else None for cid, code in connection_code_of.items()
    }
    payment_code_of, payments = codes[Field.USAGE_PAYMENT_METHOD]
    keys: dict[str, tuple[npt.NDArray[Any], ...]] = {
        "purchased_at": (purchased, ids),
        "phone_number": (index.phone_numbers, ids),
        "connection_name": (_ranks(name_of_code)[connections], ids),
        "usage_payment_method": (_ranks({c: v for v, c in payment_code_of.items()})[payments], ids),
    }
    return {SORTS[name]: Ordering.by(*key) for name, key in keys.items()}


def _ranks(value_of_code: dict[int, str | None]) -> npt.NDArray[np.int64]:
    """For each code, the rank of its value: binary order, None last; equal values (two
    connections of one name, or none) share a rank, so that the id decides between them."""
    distinct = sorted(set(value_of_code.values()), key=lambda v: (v is None, v or ""))
    rank_of = {value: rank for rank, value in enumerate(distinct)}
    ranks = np.zeros(len(value_of_code), dtype=np.int64)
    for code, value in value_of_code.items():
        ranks[code] = rank_of[value]
    return ranks


class NumberIndexes:
    """The index of each account that has been asked for, kept at its newest data version."""

    def __init__(self, database: Database, mode: IndexMode) -> None:
        self.database = database
        self.mode = mode
        self._indexes: dict[int, AccountIndex] = {}
        self._building: set[int] = set()
        self._lock = threading.Lock()

    def get(self, connection: Connection, caller: Caller) -> AccountIndex | None:
        """The caller's index at its data version, or None: then the database answers."""
        index = self._indexes.get(caller.account_id)
        if index is not None and index.data_version == caller.data_version:
            return index
        if self.mode is IndexMode.INLINE:
            index = build_index(connection, caller)
            self._keep(index)
            return index
        if self.mode is IndexMode.BACKGROUND:
            with self._lock:
                if caller.account_id in self._building:
                    return None
                self._building.add(caller.account_id)
            threading.Thread(
                target=self._build, args=(caller.account_id,), daemon=True, name="index"
            ).start()
        return None

    def ready(self) -> list[AccountIndex]:
        """The indexes held now, whatever their versions."""
        with self._lock:
            return list(self._indexes.values())

    def _build(self, account_id: int) -> None:
        try:
            with self.database.snapshot() as connection:
                caller = Caller(account_id, data_version(connection, account_id))
                self._keep(build_index(connection, caller))
        except Exception:
            log.exception("building the index of account %d failed", account_id)
        finally:
            with self._lock:
                self._building.discard(account_id)
            self.database.close()  # this thread's connection

    def _keep(self, index: AccountIndex) -> None:
        with self._lock:
            current = self._indexes.get(index.account_id)
            if current is None or current.data_version < index.data_version:
                self._indexes[index.account_id] = index
        _release_free_memory()


def _release_free_memory() -> None:
    """glibc keeps the memory a build freed (hundreds of MB at a million numbers) in its arenas;
    give it back to the system. Elsewhere, nothing to do."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc_with_malloc_trim() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _libc_with_malloc_trim()
