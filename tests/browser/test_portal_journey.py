"""An owner's life in the portal, in Chromium: buy in the sandbox → the welcome mail's link →
set a password → sign in → see the site → start the subscription → pay it in the sandbox →
cancel at period end → resume → the account → sign out → the pages refuse.

Runs at a desktop width and a phone width, saving a screenshot of every page on the way
(``test-artifacts/screenshots/portal-*``).
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
PASSWORD = "a long and private passphrase 42"


def _link(mail: str, path: str) -> str:
    body = quopri.decodestring(mail.encode()).decode("utf-8", "replace")
    match = re.search(rf"https?://[^\s\"'<>]+{re.escape(path)}\?token=[A-Za-z0-9._~%-]+", body)
    assert match, f"no {path} link in the mail"
    return match.group(0).replace("&amp;", "&")


def _buy(page: Page, server: LiveServer, email: str) -> None:
    page.goto(f"{server.url}/sunrise-bakery")
    page.get_by_role("region", name="Buy this website").get_by_role(
        "link", name=re.compile("Buy this site", re.I)
    ).click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Your name").fill("Ana Baker")
    page.get_by_role("button", name="Continue to payment").click()
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page.get_by_text("Your payment has arrived")).to_be_visible(timeout=20_000)


def _no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"


@pytest.mark.parametrize("width", [1280, 390])
def test_an_owner_runs_the_site_from_the_portal(
    live_server: LiveServer, page_at: OpenPage, shoot: Shoot, width: int
) -> None:
    page = page_at(width)
    email = f"portal-{width}@example.com"
    _buy(page, live_server, email)

    # The welcome mail's link: set a password, then sign in from the page it leads to.
    mail = live_server.wait_for_mail(lambda text: email in text and "set-password" in text)
    page.goto(_link(mail, "/portal/set-password"))
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the new password").fill(PASSWORD)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your password is set")
    page.get_by_role("link", name="Sign in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to WebMagic")
    shoot(page, "portal-01-sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The email address or the password is incorrect.")
    shoot(page, "portal-02-sign-in-error")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # My sites.
    expect(page.get_by_role("heading", level=1)).to_have_text("Your websites")
    card = page.get_by_role("listitem").filter(has_text="Sunrise Bakery")
    expect(card).to_contain_text("Online")
    expect(card).to_contain_text("Hosting is included until")
    _no_horizontal_scroll(page)
    shoot(page, "portal-03-my-sites")
    card.get_by_role("link", name="Manage Sunrise Bakery").click()

    # The site: start the subscription, pay it in the sandbox, come back.
    expect(page.get_by_role("heading", level=1)).to_have_text("Sunrise Bakery")
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    expect(page.get_by_text("You bought the website: it is yours.")).to_be_visible()
    _no_horizontal_scroll(page)
    shoot(page, "portal-04-site-owned")
    page.get_by_role("button", name="Start the subscription").click()
    expect(page.get_by_role("note")).to_contain_text("no real money moves")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page.get_by_role("heading", name="Payment received")).to_be_visible(timeout=20_000)
    shoot(page, "portal-05-subscription-paid")
    page.get_by_role("link", name="Manage the site in your account").click()

    expect(page.get_by_text(re.compile(r"Subscription active\. Next payment of .+ on "))).to_be_visible()
    expect(page.get_by_role("table")).to_contain_text("Paid until")
    shoot(page, "portal-06-site-active")

    # Cancel at period end (no JavaScript needed: the confirmation is a <details>).
    page.get_by_text("Cancel the subscription").click()
    page.get_by_role("button", name="Cancel at the end of the paid month").click()
    expect(page.get_by_role("status")).to_have_text(
        "Your subscription is cancelled. Nothing more will be charged."
    )
    expect(page.get_by_text(re.compile(r"the site goes offline on \w+ \d+, \d{4}"))).to_be_visible()
    expect(page.get_by_text("starts a new monthly subscription today", exact=False)).to_be_visible()
    shoot(page, "portal-07-site-cancelled")

    # Resume: a new checkout, paid again.
    page.get_by_role("button", name="Resume the subscription").click()
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page.get_by_role("heading", name="Payment received")).to_be_visible(timeout=20_000)
    page.get_by_role("link", name="Manage the site in your account").click()
    expect(page.get_by_text(re.compile(r"Subscription active\."))).to_be_visible()
    expect(page.get_by_role("button", name="Resume the subscription")).to_have_count(0)

    # The account.
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    page.get_by_label("Phone").fill("+502 5555 1234")
    page.get_by_role("button", name="Save details").click()
    expect(page.get_by_role("status")).to_have_text("Your details are saved.")
    expect(page.get_by_label("Phone")).to_have_value("+502 5555 1234")
    _no_horizontal_scroll(page)
    shoot(page, "portal-08-account")

    # Sign out; the pages refuse and ask to sign in again.
    page.get_by_role("button", name="Sign out", exact=True).first.click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    shoot(page, "portal-09-signed-out")
    for path in ("/portal", "/portal/sites/sunrise-bakery", "/portal/account"):
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to WebMagic")
        expect(page.get_by_text("Sunrise Bakery")).to_have_count(0)


def test_the_portal_works_with_javascript_off(live_server: LiveServer, browser: object, shoot: Shoot) -> None:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/portal/sites/sunrise-bakery")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to WebMagic")
        page.get_by_label("Email address").fill("nobody@example.com")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("The email address or the password is incorrect.")
        page.get_by_role("link", name="Forgot your password?").click()
        page.get_by_label("Email address").fill("nobody@example.com")
        page.get_by_role("button", name="Email me a link").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    finally:
        context.close()
