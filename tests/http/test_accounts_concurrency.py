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

# Three rounds of the password lane (one thread per CPU): the burst outlasts two quick reads.
LOGINS = 3 * max(2, os.cpu_count() or 1)


def test_slow_logins_do_not_block_healthz(tmp_path: Path) -> None:
    container, mailer, _ = accounts_container(tmp_path / "data", hasher=BcryptPasswordHasher(10))
    try:
        container.accounts.register("ana@example.com", PASSWORD)
        container.relay.drain()
        [mail] = mailer.to("ana@example.com")
        link = next(word for word in mail.text.split() if "/portal/verify-email?token=" in word)
        container.accounts.verify_email(token_of(link))
        app = create_app(container)

        async def scenario() -> tuple[bool, bool, list[int]]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                logins = [
                    asyncio.create_task(
                        client.post(
                            "/api/v1/customer/login", json={"email": "ana@example.com", "password": PASSWORD}
                        )
                    )
                    for _ in range(LOGINS)
                ]
                await asyncio.sleep(0)  # the logins are on their way
                health = await client.get("/healthz")
                pending_after_health = not all(task.done() for task in logins)
                assert health.status_code == 200
                # /readyz reads the database in the shared thread pool: free, not queued
                # behind the password work.
                assert (await client.get("/readyz")).status_code == 200
                pending_after_ready = not all(task.done() for task in logins)
                statuses = [response.status_code for response in await asyncio.gather(*logins)]
                return pending_after_health, pending_after_ready, statuses

        pending_after_health, pending_after_ready, statuses = asyncio.run(scenario())
    finally:
        container.close()

    assert statuses == [200] * LOGINS
    # Were the hashes run on the event loop (or queued in the shared pool ahead of the
    # database reads), these answers would wait for the whole burst. State, not wall time:
    # the suite runs in parallel on loaded machines, where latencies say little.
    assert pending_after_health, "/healthz answered only after every login had finished"
    assert pending_after_ready, "/readyz answered only after every login had finished"


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
