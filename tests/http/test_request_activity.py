"""Background work gives way to requests: ``RequestActivity`` counts the requests being
answered, ``give_way`` holds a worker thread while any is in flight (for a bounded time),
and the app's in-process relay sends its mail between requests."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from webmagic_http.activity import GIVE_WAY_AT_MOST, RequestActivity
from webmagic_http.head import WebMagicApp


def test_an_idle_server_gives_way_at_once() -> None:
    activity = RequestActivity(at_most=5)
    started = time.monotonic()
    activity.give_way()
    assert time.monotonic() - started < 0.5


def test_a_worker_waits_while_a_request_is_answered_and_goes_on_when_it_ends() -> None:
    activity = RequestActivity(at_most=10)
    activity.started()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (activity.give_way(), done.set()))
    worker.start()
    assert not done.wait(0.3)  # still held: the request has not finished
    activity.finished()
    assert done.wait(5)
    worker.join()


def test_a_busy_server_holds_a_worker_no_longer_than_at_most() -> None:
    activity = RequestActivity(at_most=0.2)
    activity.started()  # and never finishes: the relay must not starve
    started = time.monotonic()
    activity.give_way()
    assert 0.15 <= time.monotonic() - started < 2


def test_the_default_wait_keeps_a_paced_batch_inside_the_relays_lease() -> None:
    # 50 mails (the relay's batch), each waiting at most GIVE_WAY_AT_MOST: well under the
    # 5-minute lease, or another relay would claim mail still being sent.
    assert 0 < GIVE_WAY_AT_MOST <= 1
    assert RequestActivity().at_most == GIVE_WAY_AT_MOST
    with pytest.raises(ValueError, match="at_most"):
        RequestActivity(at_most=-1)


def test_the_app_counts_a_request_while_it_is_answered() -> None:
    activity = RequestActivity()
    seen: list[int] = []

    class Probe(WebMagicApp):
        async def _answer(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def, override]
            seen.append(activity.in_flight)
            if scope["path"] == "/boom":
                raise RuntimeError("handler failed")

    app = Probe(route_handlers=[])
    app.activity = activity

    async def call(path: str) -> None:
        await app({"type": "http", "path": path, "method": "GET"}, None, None)  # type: ignore[arg-type]

    asyncio.run(call("/"))
    with pytest.raises(RuntimeError):
        asyncio.run(call("/boom"))
    assert seen == [1, 1]
    assert activity.in_flight == 0  # counted down after a failure too
