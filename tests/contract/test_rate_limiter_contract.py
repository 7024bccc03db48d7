"""The ``RateLimiter`` contract, run against the ``limits``-backed limiter on its memory and
its Redis storage, and against the core's fake.

All are driven by a ``FakeClock`` (the adapters take their time from the clock, not from
``time.time()`` or Redis), so every answer can be pinned to the second; the Redis storage is
also checked answer for answer against the memory one over random sequences of calls.
Each Redis limiter works under a key prefix of its own, deleted after the test.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webmagic_adapters.ratelimit import (
    DEFAULT_SWEEP_EVERY,
    KEY_PREFIX,
    LimitsRateLimiter,
    memory_rate_limiter,
    redis_rate_limiter,
)
from webmagic_adapters.settings import SettingsError
from webmagic_core.clock import SystemClock
from webmagic_core.errors import TransientError
from webmagic_core.ports import Clock, RateLimiter
from webmagic_core.testing import FakeClock, FakeRateLimiter

MINUTE = dt.timedelta(minutes=1)
SECOND = dt.timedelta(seconds=1)

MakeLimiter = Callable[[Clock], RateLimiter]


@pytest.fixture
def redis_limiters(redis_url: str) -> Iterator[Callable[[Clock], LimitsRateLimiter]]:
    """Redis limiters, each under a fresh key prefix; every key under them deleted after."""
    prefixes: list[str] = []
    made: list[LimitsRateLimiter] = []

    def make(clock: Clock) -> LimitsRateLimiter:
        prefixes.append(f"webmagic-test:rl:{uuid.uuid4().hex}:")
        made.append(redis_rate_limiter(redis_url, clock=clock, prefix=prefixes[-1]))
        return made[-1]

    yield make
    client = redis.Redis.from_url(redis_url)
    try:
        for prefix in prefixes:
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
    finally:
        client.close()
        for limiter in made:
            limiter.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis), "fake"])
def make_limiter(request: pytest.FixtureRequest) -> MakeLimiter:
    if request.param == "memory":
        return memory_rate_limiter
    if request.param == "fake":
        return FakeRateLimiter
    factory: MakeLimiter = request.getfixturevalue("redis_limiters")
    return factory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(make_limiter: MakeLimiter, clock: FakeClock) -> RateLimiter:
    return make_limiter(clock)


# --- the behaviour both must have -------------------------------------------------------------


def test_counts_up_to_the_limit_then_says_how_long_to_wait(limiter: RateLimiter, clock: FakeClock) -> None:
    assert [limiter.hit("k", limit=3, window=MINUTE) for _ in range(3)] == [None, None, None]
    assert limiter.hit("k", limit=3, window=MINUTE) == 60
    clock.advance(45 * SECOND)
    assert limiter.hit("k", limit=3, window=MINUTE) == 15


def test_a_refused_event_is_not_counted(limiter: RateLimiter, clock: FakeClock) -> None:
    start = clock.now()
    limiter.hit("k", limit=1, window=MINUTE)
    for _ in range(10):
        clock.advance(5 * SECOND)
        assert limiter.hit("k", limit=1, window=MINUTE) is not None
    clock.current = start + MINUTE
    assert limiter.hit("k", limit=1, window=MINUTE) is None


def test_the_window_slides(limiter: RateLimiter, clock: FakeClock) -> None:
    limiter.hit("k", limit=2, window=MINUTE)
    clock.advance(40 * SECOND)
    limiter.hit("k", limit=2, window=MINUTE)
    clock.advance(10 * SECOND)
    assert limiter.hit("k", limit=2, window=MINUTE) == 10
    clock.advance(10 * SECOND)
    assert limiter.hit("k", limit=2, window=MINUTE) is None
    assert limiter.hit("k", limit=2, window=MINUTE) == 40


def test_an_event_leaves_the_window_exactly_when_it_ends(limiter: RateLimiter, clock: FakeClock) -> None:
    limiter.hit("k", limit=1, window=MINUTE)
    clock.advance(MINUTE - dt.timedelta(milliseconds=1))
    assert limiter.hit("k", limit=1, window=MINUTE) == 1  # one millisecond to go
    clock.advance(dt.timedelta(milliseconds=1))
    assert limiter.hit("k", limit=1, window=MINUTE) is None


def test_waits_are_whole_seconds_rounded_up_and_at_least_one(limiter: RateLimiter, clock: FakeClock) -> None:
    limiter.hit("k", limit=1, window=MINUTE)
    clock.advance(dt.timedelta(seconds=59, milliseconds=900))
    assert limiter.hit("k", limit=1, window=MINUTE) == 1
    clock.advance(dt.timedelta(seconds=10, microseconds=1))
    limiter.hit("k2", limit=1, window=2 * SECOND)
    clock.advance(dt.timedelta(milliseconds=500))
    assert limiter.hit("k2", limit=1, window=2 * SECOND) == 2
    clock.advance(dt.timedelta(milliseconds=501))
    assert limiter.hit("k2", limit=1, window=2 * SECOND) == 1


def test_peek_answers_like_hit_without_counting(limiter: RateLimiter) -> None:
    for _ in range(2):
        assert limiter.peek("k", limit=2, window=MINUTE) is None
        limiter.hit("k", limit=2, window=MINUTE)
    assert limiter.peek("k", limit=2, window=MINUTE) == 60
    assert limiter.peek("unknown", limit=1, window=MINUTE) is None
    assert limiter.peek("unknown", limit=1, window=MINUTE) is None
    assert limiter.hit("unknown", limit=1, window=MINUTE) is None


def test_keys_are_independent_and_reset_forgets_one(limiter: RateLimiter) -> None:
    limiter.hit("a", limit=1, window=MINUTE)
    limiter.hit("b", limit=1, window=MINUTE)
    limiter.reset("a")
    limiter.reset("never-seen")
    assert limiter.hit("a", limit=1, window=MINUTE) is None
    assert limiter.hit("b", limit=1, window=MINUTE) == 60


def test_keys_may_hold_any_text(limiter: RateLimiter) -> None:
    keys = ["login:email:Ana@Example.com", "login:ip:2001:db8::1", "ñandú ✓", "a*b?[c]", ""]
    for key in keys:
        assert limiter.hit(key, limit=1, window=MINUTE) is None
    for key in keys:
        assert limiter.hit(key, limit=1, window=MINUTE) == 60


def test_a_lower_limit_counts_the_events_already_there(limiter: RateLimiter, clock: FakeClock) -> None:
    for _ in range(4):
        limiter.hit("k", limit=5, window=MINUTE)
        clock.advance(10 * SECOND)
    # Four events at 0, 10, 20, 30 s; now 40 s. Two more must leave for a limit of 2.
    assert limiter.hit("k", limit=2, window=MINUTE) == 40
    assert limiter.peek("k", limit=4, window=MINUTE) == 20
    # A shorter window drops the events it no longer covers (0 and 10 s; 20 and 30 s stay).
    assert limiter.hit("k", limit=2, window=25 * SECOND) == 5
    assert limiter.hit("k", limit=3, window=25 * SECOND) is None


@pytest.mark.parametrize(("limit", "window"), [(0, MINUTE), (-1, MINUTE), (1, dt.timedelta(0))])
def test_nonsense_limits_are_refused(limiter: RateLimiter, limit: int, window: dt.timedelta) -> None:
    with pytest.raises(ValueError, match=r"rate-limit window|at least one event"):
        limiter.hit("k", limit=limit, window=window)
    with pytest.raises(ValueError, match=r"rate-limit window|at least one event"):
        limiter.peek("k", limit=limit, window=window)


def test_a_clock_stepped_back_never_blocks_longer_than_the_window(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    limiter.hit("k", limit=1, window=MINUTE)
    clock.advance(-dt.timedelta(hours=2))
    assert limiter.hit("k", limit=1, window=MINUTE) == 60


def test_fifty_threads_on_one_key_get_exactly_the_limit(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(SystemClock())
    start = threading.Barrier(50)
    answers: list[int | None] = []
    lock = threading.Lock()

    def worker() -> None:
        start.wait()
        answer = limiter.hit("shared", limit=10, window=dt.timedelta(hours=1))
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 50
    assert answers.count(None) == 10
    assert all(answer is not None and 3599 <= answer <= 3600 for answer in answers if answer is not None)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    limit=st.integers(1, 5),
    window_s=st.integers(1, 120),
    steps=st.lists(st.tuples(st.integers(0, 90_000), st.booleans()), max_size=40),
)
def test_never_more_than_limit_events_in_any_window_and_waits_are_exact(
    make_limiter: MakeLimiter, limit: int, window_s: int, steps: list[tuple[int, bool]]
) -> None:
    clock = FakeClock()
    limiter = make_limiter(clock)
    window = dt.timedelta(seconds=window_s)
    counted: list[dt.datetime] = []
    for advance_ms, use_peek in steps:
        clock.advance(dt.timedelta(milliseconds=advance_ms))
        now = clock.now()
        peeked = limiter.peek("k", limit=limit, window=window)
        if use_peek:
            assert limiter.peek("k", limit=limit, window=window) == peeked
            continue
        wait = limiter.hit("k", limit=limit, window=window)
        assert wait == peeked
        in_window = [t for t in counted if t + window > now]
        if wait is None:
            assert len(in_window) < limit
            counted.append(now)
        else:
            assert len(in_window) >= limit
            assert 1 <= wait <= window_s
            frees_at = in_window[len(in_window) - limit] + window
            assert now + (wait - 1) * SECOND < frees_at <= now + wait * SECOND


# --- Redis: the same answers as in memory, and what only Redis has -------------------------------

_operation = st.tuples(
    st.sampled_from(["hit", "hit", "hit", "peek", "reset"]),
    st.sampled_from(["a", "b"]),
    st.integers(1, 4),  # limit
    st.sampled_from([1, 2, 30, 60]),  # window, seconds
    # Forward, to the millisecond. (A clock stepped back leaves each storage's list out of
    # order, where their searches may answer differently; each still never blocks longer
    # than the window, as test_a_clock_stepped_back_never_blocks_longer_than_the_window holds.)
    st.one_of(st.integers(0, 3_000), st.integers(0, 70_000)),
)


@pytest.mark.redis
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(operations=st.lists(_operation, max_size=60))
def test_redis_answers_exactly_like_memory(
    redis_limiters: Callable[[Clock], LimitsRateLimiter],
    operations: list[tuple[str, str, int, int, int]],
) -> None:
    clock = FakeClock()
    memory, shared, fake = memory_rate_limiter(clock), redis_limiters(clock), FakeRateLimiter(clock)
    for name, key, limit, window_s, advance_ms in operations:
        clock.advance(dt.timedelta(milliseconds=advance_ms))
        window = window_s * SECOND
        if name == "reset":
            memory.reset(key)
            shared.reset(key)
            fake.reset(key)
        elif name == "hit":
            answer = memory.hit(key, limit=limit, window=window)
            assert shared.hit(key, limit=limit, window=window) == answer
            assert fake.hit(key, limit=limit, window=window) == answer
        else:
            answer = memory.peek(key, limit=limit, window=window)
            assert shared.peek(key, limit=limit, window=window) == answer
            assert fake.peek(key, limit=limit, window=window) == answer


@pytest.mark.redis
def test_redis_keys_are_namespaced_and_expire_after_their_window(redis_url: str) -> None:
    limiter = redis_rate_limiter(redis_url)
    client = redis.Redis.from_url(redis_url)
    key = f"test-{uuid.uuid4().hex}"
    try:
        assert limiter.peek(key, limit=1, window=MINUTE) is None
        assert not client.exists(KEY_PREFIX + key)  # peeking creates nothing
        limiter.hit(key, limit=1, window=MINUTE)
        # A key frees itself once its newest event has left the window, not before.
        assert 59_000 < client.pttl(KEY_PREFIX + key) <= 60_000
        assert limiter.hit(key, limit=1, window=MINUTE) is not None
        limiter.reset(key)
        assert not client.exists(KEY_PREFIX + key)
    finally:
        client.delete(KEY_PREFIX + key)
        client.close()
        limiter.close()


@pytest.mark.redis
def test_two_limiters_on_one_redis_share_their_counts(
    redis_limiters: Callable[[Clock], LimitsRateLimiter], clock: FakeClock, redis_url: str
) -> None:
    first = redis_limiters(clock)
    prefix = first.storage.key_prefix  # type: ignore[attr-defined]
    second = redis_rate_limiter(redis_url, clock=clock, prefix=prefix)  # another app instance
    assert first.hit("k", limit=2, window=MINUTE) is None
    assert second.hit("k", limit=2, window=MINUTE) is None
    assert first.hit("k", limit=2, window=MINUTE) == 60
    second.reset("k")
    assert first.peek("k", limit=2, window=MINUTE) is None
    second.close()


def test_an_unreachable_redis_is_a_transient_error_without_the_password() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    limiter = redis_rate_limiter(f"redis://user:s3cret-pw@127.0.0.1:{port}/3")
    for call in (
        lambda: limiter.hit("k", limit=1, window=MINUTE),
        lambda: limiter.peek("k", limit=1, window=MINUTE),
        lambda: limiter.reset("k"),
    ):
        with pytest.raises(TransientError) as caught:
            call()
        assert "s3cret" not in caught.value.detail
        assert f"Redis at 127.0.0.1:{port}/3" in caught.value.detail
        assert "unavailable" in caught.value.detail


def test_a_redis_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        limiter = redis_rate_limiter(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        started = time.monotonic()
        with pytest.raises(TransientError, match="unavailable"):
            limiter.hit("k", limit=1, window=MINUTE)
        # Two tries (one retry) of 0.2 s each, not the client's default of seconds per try.
        assert time.monotonic() - started < 2


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "redis://:pw@host:not-a-port/0"])
def test_a_malformed_url_is_a_settings_error_without_the_url(url: str) -> None:
    with pytest.raises(SettingsError, match="WEBMAGIC_REDIS_URL") as caught:
        redis_rate_limiter(url)
    assert "pw" not in str(caught.value)
    assert "host" not in str(caught.value)


# --- memory: the sweep that keeps a flood of keys bounded ----------------------------------------


def _tracked(limiter: LimitsRateLimiter) -> int:
    return len(limiter.storage)  # type: ignore[arg-type]


def test_the_memory_sweep_runs_every_1024_calls_by_default_and_frees_idle_keys(clock: FakeClock) -> None:
    limiter = memory_rate_limiter(clock)  # the production default, not an injected interval
    assert DEFAULT_SWEEP_EVERY == 1024
    for n in range(600):
        limiter.hit(f"guess-{n}@example.com", limit=5, window=MINUTE)
    clock.advance(MINUTE)
    for n in range(DEFAULT_SWEEP_EVERY - 601):
        limiter.hit(f"later-{n}", limit=5, window=MINUTE)
    assert _tracked(limiter) == DEFAULT_SWEEP_EVERY - 1  # no sweep yet
    limiter.hit("the-1024th-call", limit=5, window=MINUTE)
    assert _tracked(limiter) == DEFAULT_SWEEP_EVERY - 600  # the 600 idle guesses are gone


def test_the_sweep_keeps_every_key_still_inside_its_window(clock: FakeClock) -> None:
    limiter = memory_rate_limiter(clock, sweep_every=4)
    limiter.hit("long", limit=1, window=dt.timedelta(hours=1))
    limiter.hit("edge", limit=1, window=MINUTE)
    clock.advance(MINUTE - dt.timedelta(milliseconds=1))  # "edge" has a millisecond to go
    limiter.hit("x", limit=5, window=MINUTE)
    limiter.hit("y", limit=5, window=MINUTE)  # the fourth call: a sweep
    assert limiter.peek("edge", limit=1, window=MINUTE) == 1
    assert limiter.peek("long", limit=1, window=dt.timedelta(hours=1)) == 3541
    assert _tracked(limiter) == 4
    clock.advance(dt.timedelta(milliseconds=1))  # now it has left
    for n in range(4):
        limiter.hit(f"z{n}", limit=5, window=MINUTE)
    tracked = set(limiter.storage.events)  # type: ignore[attr-defined]
    assert "edge" not in tracked  # swept once idle
    assert {"long", "x", "y"} <= tracked
    assert limiter.peek("long", limit=1, window=dt.timedelta(hours=1)) == 3540


def test_the_fake_records_hits_and_resets(clock: FakeClock) -> None:
    fake = FakeRateLimiter(clock)
    fake.hit("a", limit=1, window=MINUTE)
    fake.hit("a", limit=1, window=MINUTE)
    fake.reset("a")
    assert fake.hits == [("a", True), ("a", False)]
    assert fake.resets == ["a"]
    assert fake.hit("a", limit=1, window=MINUTE) is None


def test_the_sweep_runs_on_exactly_every_nth_call_and_counts_again_from_zero(clock: FakeClock) -> None:
    limiter = memory_rate_limiter(clock, sweep_every=4)
    for round_ in range(3):
        limiter.hit(f"idle-{round_}", limit=5, window=MINUTE)  # call 1 of this round
        clock.advance(MINUTE)
        for n in range(2):  # calls 2 and 3: no sweep yet
            limiter.hit(f"busy-{round_}-{n}", limit=5, window=dt.timedelta(hours=1))
            assert f"idle-{round_}" in limiter.storage.events  # type: ignore[attr-defined]
        limiter.hit(f"busy-{round_}-2", limit=5, window=dt.timedelta(hours=1))  # call 4: a sweep
        assert f"idle-{round_}" not in limiter.storage.events  # type: ignore[attr-defined]


def test_the_sweep_drops_the_lock_of_a_swept_key_and_keeps_those_of_live_keys(clock: FakeClock) -> None:
    limiter = memory_rate_limiter(clock, sweep_every=3)
    storage = limiter.storage
    limiter.hit("idle", limit=5, window=MINUTE)
    limiter.hit("live", limit=5, window=dt.timedelta(hours=1))
    live_lock = storage.locks["live"]  # type: ignore[attr-defined]
    clock.advance(MINUTE)
    limiter.hit("live", limit=5, window=dt.timedelta(hours=1))  # the third call: a sweep
    assert "idle" not in storage.locks  # type: ignore[attr-defined]
    assert storage.locks["live"] is live_lock  # type: ignore[attr-defined]
