"""The caches' budgets: an entry costs its key's bytes as well as its value's."""

from __future__ import annotations

from numbers_api.cache import LruCache


def test_a_long_key_counts_against_the_budget() -> None:
    cache: LruCache[bytes] = LruCache(100_000)
    cache.put((1, 1, "/v2/phone_numbers", b"filter[customer_reference]=" + b"x" * 60_000), b"{}")
    assert cache.used > 60_000


def test_entries_with_long_keys_are_evicted_to_stay_within_the_budget() -> None:
    cache: LruCache[int] = LruCache(1_000_000)
    for i in range(100):
        cache.put((i, "x" * 60_000), i)
    assert cache.used <= 1_000_000
    assert cache.get((99, "x" * 60_000)) == 99
    assert cache.get((0, "x" * 60_000)) is None


def test_an_entry_larger_than_the_budget_is_not_kept() -> None:
    cache: LruCache[bytes] = LruCache(1_000)
    cache.put(("key",), b"x" * 2_000)
    assert cache.get(("key",)) is None
    assert cache.used == 0
