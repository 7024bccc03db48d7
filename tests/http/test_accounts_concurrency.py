"""A burst of logins hashing with real bcrypt does not stall other requests: password work
runs in worker threads (the password lane), never on the event loop, and leaves the shared
thread pool free for requests that only read the database."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import httpx
import pytest
from accounts_support import PASSWORD, accounts_container, token_of

from webmagic_adapters.passwords import BcryptPasswordHasher
from webmagic_http.app import create_app
from webmagic_http.lanes import PasswordLane

LOGINS = 6


def test_slow_logins_do_not_block_healthz(tmp_path: Path) -> None:
    container, mailer, _ = accounts_container(tmp_path / "data", hasher=BcryptPasswordHasher(10))
    try:
        container.accounts.register("ana@example.com", PASSWORD)
        container.relay.drain()
        [mail] = mailer.to("ana@example.com")
        link = next(word for word in mail.text.split() if "/portal/verify-email?token=" in word)
        container.accounts.verify_email(token_of(link))
        app = create_app(container)

        async def scenario() -> tuple[float, float, bool, list[int], float]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                started = time.perf_counter()
                logins = [
                    asyncio.create_task(
                        client.post(
                            "/api/v1/customer/login", json={"email": "ana@example.com", "password": PASSWORD}
                        )
                    )
                    for _ in range(LOGINS)
                ]
                await asyncio.sleep(0)  # the logins are on their way
                asked = time.perf_counter()
                health = await client.get("/healthz")
                health_latency = time.perf_counter() - asked
                logins_pending = not all(task.done() for task in logins)
                assert health.status_code == 200
                # /readyz reads the database in the shared thread pool: free, not queued.
                asked = time.perf_counter()
                assert (await client.get("/readyz")).status_code == 200
                ready_latency = time.perf_counter() - asked
                statuses = [response.status_code for response in await asyncio.gather(*logins)]
                return health_latency, time.perf_counter() - started, logins_pending, statuses, ready_latency

        health_latency, burst, logins_pending, statuses, ready_latency = asyncio.run(scenario())
    finally:
        container.close()

    assert statuses == [200] * LOGINS
    # Were the hashes run on the event loop, /healthz would wait for the whole burst.
    assert logins_pending, "/healthz answered only after every login had finished"
    assert health_latency < burst / 2, (health_latency, burst)
    assert ready_latency < burst / 2, (ready_latency, burst)


def test_the_password_lane_runs_at_most_its_size_at_once() -> None:
    lane = PasswordLane(2)
    running, peak, threads = 0, 0, set()
    lock = threading.Lock()

    def work(number: int, *, scale: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.current_thread().name)
        time.sleep(0.02)
        with lock:
            running -= 1
        return number * scale

    async def scenario() -> list[int]:
        return list(await asyncio.gather(*(lane.run(work, n, scale=10) for n in range(8))))

    assert asyncio.run(scenario()) == [n * 10 for n in range(8)]
    assert peak == 2
    assert threading.main_thread().name not in threads
    assert lane.busy == 0


def test_the_lane_defaults_to_one_thread_per_cpu() -> None:
    assert PasswordLane().size == max(1, os.cpu_count() or 1)
    with pytest.raises(ValueError, match="at least one"):
        PasswordLane(0)
