"""The API docs page renders in Chromium with no request leaving the machine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from browser_support import LiveServer
from playwright.sync_api import Page, Request, expect


def test_swagger_ui_renders_offline(
    live_server: LiveServer, page_at: Callable[[int], Page], shoot: Callable[[Page, str], Path]
) -> None:
    page = page_at(1280)
    hosts: set[str] = set()

    def remember(request: Request) -> None:
        hosts.add(urlsplit(request.url).netloc)

    page.on("request", remember)
    page.goto(f"{live_server.url}/schema")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("WebMagic")
    expect(page.get_by_text("/api/v1/customer/login").first).to_be_visible()
    shoot(page, "api-docs")
    assert hosts == {urlsplit(live_server.url).netloc}
