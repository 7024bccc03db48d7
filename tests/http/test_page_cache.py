"""The rendered-page cache: LRU within a byte budget, thread-safe."""

from __future__ import annotations

import threading

import attrs
import pytest

from webmagic_http.page_cache import PageCache


@attrs.frozen
class Entry:
    size: int


def test_get_returns_what_was_put() -> None:
    cache = PageCache[Entry](100)
    cache.put("a", Entry(10))
    assert cache.get("a") == Entry(10)
    assert cache.get("b") is None
    assert (len(cache), cache.bytes_used) == (1, 10)


def test_evicts_least_recently_used_entries_to_stay_within_budget() -> None:
    cache = PageCache[Entry](100)
    cache.put("a", Entry(40))
    cache.put("b", Entry(40))
    assert cache.get("a") is not None  # "a" is now more recent than "b"

    cache.put("c", Entry(40))  # 120 > 100: "b" goes

    assert "b" not in cache
    assert "a" in cache
    assert "c" in cache
    assert cache.bytes_used == 80

    cache.put("d", Entry(90))  # needs everything else gone
    assert ("a" in cache, "c" in cache, "d" in cache) == (False, False, True)
    assert cache.bytes_used == 90


def test_an_entry_larger_than_the_budget_is_not_cached_and_evicts_nothing() -> None:
    cache = PageCache[Entry](100)
    cache.put("small", Entry(30))
    cache.put("huge", Entry(101))
    assert "huge" not in cache
    assert "small" in cache
    assert cache.bytes_used == 30


def test_an_entry_exactly_the_budget_fits() -> None:
    cache = PageCache[Entry](100)
    cache.put("a", Entry(100))
    assert "a" in cache


def test_replacing_a_key_accounts_for_the_new_size() -> None:
    cache = PageCache[Entry](100)
    cache.put("a", Entry(60))
    cache.put("a", Entry(20))
    cache.put("b", Entry(70))
    assert ("a" in cache, "b" in cache, cache.bytes_used) == (True, True, 90)


def test_zero_budget_caches_nothing() -> None:
    cache = PageCache[Entry](0)
    cache.put("a", Entry(1))
    assert len(cache) == 0


def test_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        PageCache[Entry](-1)


def test_clear() -> None:
    cache = PageCache[Entry](100)
    cache.put("a", Entry(10))
    cache.clear()
    assert (len(cache), cache.bytes_used) == (0, 0)


def test_concurrent_use_keeps_the_accounting_exact() -> None:
    cache = PageCache[Entry](1_000)
    barrier = threading.Barrier(8)

    def work(worker: int) -> None:
        barrier.wait()
        for i in range(2_000):
            key = (worker * 7 + i) % 50
            cache.put(key, Entry(10 + key))
            cache.get((key + 1) % 50)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert cache.bytes_used <= 1_000
    assert cache.bytes_used == sum(10 + key for key in range(50) if key in cache)
