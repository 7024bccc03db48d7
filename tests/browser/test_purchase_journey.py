"""A buyer's first minutes, in Chromium: preview → buy → sandbox checkout → paid → set a password.

Runs at a desktop width and a phone width, saving a screenshot of every page on the way.
"""

from __future__ import annotations

import quopri
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from browser_support import LiveServer
from playwright.sync_api import Page, expect

OpenPage = Callable[[int], Page]
Shoot = Callable[[Page, str], Path]


def _link(mail: str, path: str) -> str:
    body = quopri.decodestring(mail.encode()).decode("utf-8", "replace")
    match = re.search(rf"https?://[^\s\"'<>]+{re.escape(path)}\?token=[A-Za-z0-9._~%-]+", body)
    assert match, f"no {path} link in the mail"
    return match.group(0).replace("&amp;", "&")


@pytest.mark.parametrize("width", [1280, 390])
def test_a_buyer_pays_in_the_sandbox_and_sets_a_password(
    live_server: LiveServer, page_at: OpenPage, shoot: Shoot, width: int
) -> None:
    page = page_at(width)
    email = f"owner-{width}@example.com"

    page.goto(f"{live_server.url}/sunrise-bakery")
    banner = page.get_by_role("region", name="Buy this website")
    expect(banner).to_be_visible()
    shoot(page, "01-preview")

    banner.get_by_role("link", name=re.compile("Buy this site", re.I)).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Your name").fill("Ana Baker")
    shoot(page, "02-purchase-form")
    page.get_by_role("button", name="Continue to payment").click()

    expect(page.get_by_role("note")).to_contain_text("no real money moves")
    shoot(page, "03-sandbox-checkout")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()

    # The success page polls until the signed webhook has been processed.
    expect(page.get_by_text("Your payment has arrived")).to_be_visible(timeout=20_000)
    shoot(page, "04-thanks")

    page.goto(f"{live_server.url}/sunrise-bakery")
    expect(page.get_by_role("region", name="Buy this website")).to_have_count(0)

    mail = live_server.wait_for_mail(lambda text: email in text and "set-password" in text)
    page.goto(_link(mail, "/portal/set-password"))
    shoot(page, "05-set-password")
    page.get_by_label("New password", exact=True).fill("a long and private passphrase 42")
    page.get_by_label(re.compile("(Repeat|Confirm|again)", re.I)).fill("a long and private passphrase 42")
    page.get_by_role("button").last.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your password is set")
    expect(page.get_by_role("alert")).to_have_count(0)
    shoot(page, "06-password-set")
