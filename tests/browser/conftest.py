"""Browser tests: the real server in a subprocess, driven by Debian's Chromium through Playwright.

``live_server`` starts ``webmagic serve --demo`` on a free loopback port with its own data
folder (SQLite, sandbox payments, mail written to files) and waits until it answers.
``page_at(width)`` opens a fresh browser page of that width. ``shoot(page, name)`` saves a
full-page screenshot under ``test-artifacts/screenshots/`` (``WEBMAGIC_TEST_ARTIFACTS``
moves it) so a person can look at what the tests saw.

Chromium is ``/usr/bin/chromium`` (``WEBMAGIC_TEST_CHROMIUM`` overrides it). When it is
missing the tests are skipped locally and fail in CI, like the PostgreSQL tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from browser_support import LiveServer

CHROMIUM = os.environ.get("WEBMAGIC_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("WEBMAGIC_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)
# Without these, Chromium keeps trying to reach Google's hosts on a machine with no network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message}; browser tests must run in CI.", pytrace=False)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def server_env() -> dict[str, str]:
    """More settings for ``live_server`` (a test module overrides this fixture)."""
    return {}


@pytest.fixture
def live_server(tmp_path: Path, server_env: dict[str, str]) -> Iterator[LiveServer]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBMAGIC_")}
    env.update(
        {
            # The database is the data folder's own file, made on first use like a newcomer's.
            "WEBMAGIC_DATA_DIR": str(data_dir),
            "WEBMAGIC_PUBLIC_URL": url,
            **server_env,
        }
    )
    script = Path(sys.executable).with_name("webmagic")
    log = (tmp_path / "server.log").open("w", encoding="utf-8")
    process = subprocess.Popen(
        [str(script), "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not become ready within 60 s")
            time.sleep(0.2)
        yield LiveServer(url, data_dir, env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[object]:
    # Module scope, not session: Playwright's sync API keeps an event loop running in this
    # thread while it is open, and a later test in the same worker calling asyncio.run()
    # would fail. pytest closes module fixtures before moving to another module's tests.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page_at(browser: object) -> Iterator[Callable[[int], object]]:
    from playwright.sync_api import Browser, BrowserContext

    assert isinstance(browser, Browser)
    contexts: list[BrowserContext] = []

    def open_page(width: int) -> object:
        height = 900 if width >= 800 else 844
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Callable[[object, str], Path]:
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: object, name: str) -> Path:
        from playwright.sync_api import Page

        assert isinstance(page, Page)
        width = page.viewport_size["width"] if page.viewport_size else 0
        path = folder / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
