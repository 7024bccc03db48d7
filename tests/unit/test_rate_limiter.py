"""The in-memory rate limiter (the production default and the fake): a sliding window
whose refused events are not counted, so ``retry_after`` is exact."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from webmagic_core.ratelimit import InMemoryRateLimiter
from webmagic_core.testing import FakeClock, FakeRateLimiter

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> InMemoryRateLimiter:
    return InMemoryRateLimiter(clock)


def test_counts_up_to_the_limit_then_says_how_long_to_wait(
    limiter: InMemoryRateLimiter, clock: FakeClock
) -> None:
    assert [limiter.hit("k", limit=3, window=MINUTE) for _ in range(3)] == [None, None, None]
    assert limiter.hit("k", limit=3, window=MINUTE) == 60
    clock.advance(dt.timedelta(seconds=45))
    assert limiter.hit("k", limit=3, window=MINUTE) == 15


def test_a_refused_event_is_not_counted(limiter: InMemoryRateLimiter, clock: FakeClock) -> None:
    start = clock.now()
    limiter.hit("k", limit=1, window=MINUTE)
    for _ in range(10):
        clock.advance(dt.timedelta(seconds=5))
        assert limiter.hit("k", limit=1, window=MINUTE) is not None
    # The wait announced is exact: knocking meanwhile did not push it back.
    clock.current = start + MINUTE
    assert limiter.hit("k", limit=1, window=MINUTE) is None


def test_the_window_slides(limiter: InMemoryRateLimiter, clock: FakeClock) -> None:
    limiter.hit("k", limit=2, window=MINUTE)
    clock.advance(dt.timedelta(seconds=40))
    limiter.hit("k", limit=2, window=MINUTE)
    clock.advance(dt.timedelta(seconds=10))
    # The first event frees its place 60 s after it, 10 s from now.
    assert limiter.hit("k", limit=2, window=MINUTE) == 10
    clock.advance(dt.timedelta(seconds=10))
    assert limiter.hit("k", limit=2, window=MINUTE) is None
    assert limiter.hit("k", limit=2, window=MINUTE) == 40  # the event at 40 s frees at 100 s


def test_waits_are_whole_seconds_rounded_up_and_at_least_one(
    limiter: InMemoryRateLimiter, clock: FakeClock
) -> None:
    limiter.hit("k", limit=1, window=MINUTE)
    clock.advance(dt.timedelta(seconds=59, milliseconds=900))
    assert limiter.hit("k", limit=1, window=MINUTE) == 1
    clock.advance(dt.timedelta(seconds=10, microseconds=1))
    limiter.hit("k2", limit=1, window=dt.timedelta(seconds=2))
    clock.advance(dt.timedelta(milliseconds=500))
    assert limiter.hit("k2", limit=1, window=dt.timedelta(seconds=2)) == 2


def test_peek_answers_like_hit_without_counting(limiter: InMemoryRateLimiter) -> None:
    for _ in range(2):
        assert limiter.peek("k", limit=2, window=MINUTE) is None
        limiter.hit("k", limit=2, window=MINUTE)
    assert limiter.peek("k", limit=2, window=MINUTE) == 60
    assert limiter.peek("unknown", limit=2, window=MINUTE) is None
    assert len(limiter) == 1  # peeking at a key does not start tracking it


def test_keys_are_independent_and_reset_forgets_one(limiter: InMemoryRateLimiter) -> None:
    limiter.hit("a", limit=1, window=MINUTE)
    limiter.hit("b", limit=1, window=MINUTE)
    limiter.reset("a")
    limiter.reset("never-seen")
    assert limiter.hit("a", limit=1, window=MINUTE) is None
    assert limiter.hit("b", limit=1, window=MINUTE) == 60


@pytest.mark.parametrize(("limit", "window"), [(0, MINUTE), (-1, MINUTE), (1, dt.timedelta(0))])
def test_nonsense_limits_are_refused(limiter: InMemoryRateLimiter, limit: int, window: dt.timedelta) -> None:
    with pytest.raises(ValueError, match=r"rate-limit window|at least one event"):
        limiter.hit("k", limit=limit, window=window)
    with pytest.raises(ValueError, match=r"rate-limit window|at least one event"):
        limiter.peek("k", limit=limit, window=window)


def test_a_clock_stepped_back_never_blocks_longer_than_the_window(
    limiter: InMemoryRateLimiter, clock: FakeClock
) -> None:
    limiter.hit("k", limit=1, window=MINUTE)
    clock.advance(-dt.timedelta(hours=2))
    assert limiter.hit("k", limit=1, window=MINUTE) == 60


def test_idle_keys_are_swept_so_memory_stays_bounded(clock: FakeClock) -> None:
    limiter = InMemoryRateLimiter(clock, sweep_every=100)
    for n in range(500):
        limiter.hit(f"guess-{n}@example.com", limit=5, window=MINUTE)
    clock.advance(MINUTE)
    for n in range(100):
        limiter.hit(f"later-{n}", limit=5, window=MINUTE)
    assert len(limiter) <= 100


def test_threads_never_get_more_than_the_limit() -> None:
    limiter = InMemoryRateLimiter()  # the system clock
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            ok = limiter.hit("shared", limit=100, window=dt.timedelta(hours=1)) is None
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 100
    assert len(allowed) == 400


def test_the_fake_records_hits_and_resets(clock: FakeClock) -> None:
    fake = FakeRateLimiter(clock)
    fake.hit("a", limit=1, window=MINUTE)
    fake.hit("a", limit=1, window=MINUTE)
    fake.reset("a")
    assert fake.hits == [("a", True), ("a", False)]
    assert fake.resets == ["a"]
    assert fake.hit("a", limit=1, window=MINUTE) is None
