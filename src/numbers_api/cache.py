"""A small, thread-safe LRU map with a size budget, for results that are exact until the data
changes: every key includes the account's data version, so a write makes old entries unreachable
(they age out) and nothing stale is ever served."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LruCache(Generic[V]):
    def __init__(self, budget: int, size: Callable[[V], int] = lambda _: 1) -> None:
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
        size = self._size(value)
        if size > self.budget:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._used -= self._size(old)
            self._entries[key] = value
            self._used += size
            while self._used > self.budget:
                _, evicted = self._entries.popitem(last=False)
                self._used -= self._size(evicted)
