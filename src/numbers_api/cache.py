"""A small, thread-safe LRU map with a size budget, for results that are exact until the data
changes: every key includes the account's data version, so a write makes old entries unreachable
(they age out) and nothing stale is ever served."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


def footprint(key: Hashable) -> int:
    """The bytes a key holds, its tuples' items too: what a client's query string or filters
    make of it counts against the budget as much as the value does."""
    if isinstance(key, tuple):
        return sys.getsizeof(key) + sum(footprint(item) for item in key)
    return sys.getsizeof(key)


def entry_bytes(key: Hashable, value: object) -> int:
    """An entry's bytes: its key's and its value's (bytes, or a number)."""
    return footprint(key) + sys.getsizeof(value)


class LruCache(Generic[V]):
    """At most `budget` in all of `size(key, value)` over the entries, the least recently used
    going first."""

    def __init__(self, budget: int, size: Callable[[Hashable, V], int] = entry_bytes) -> None:
        self.budget = budget
        self._size = size
        self._used = 0
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        size = self._size(key, value)
        if size > self.budget:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._used -= self._size(key, old)
            self._entries[key] = value
            self._used += size
            while self._used > self.budget:
                evicted_key, evicted = self._entries.popitem(last=False)
                self._used -= self._size(evicted_key, evicted)

    @property
    def used(self) -> int:
        return self._used
