"""An owner's life in the portal, in Chromium: buy in the sandbox → the welcome mail's link →
set a password → sign in → see the site → start the subscription → pay it in the sandbox →
cancel at period end → resume → set a custom domain, copy its records, verify it against a
DNS server the test runs → a new version published at the CLI, its diff → remove the domain
→ the account → sign out → the pages refuse.

Runs at a desktop width and a phone width, saving a screenshot of every page on the way
(``test-artifacts/screenshots/portal-*``).
"""

from __future__ import annotations

import json
import quopri
import re
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path

import pytest
from browser_support import LiveServer
from playwright.sync_api import Page, expect

from dns_support import Zone, running_dns_server

OpenPage = Callable[[int], Page]
Shoot = Callable[[Page, str], Path]
PASSWORD = "a long and private passphrase 42"


@pytest.fixture
def dns_zone() -> Iterator[tuple[Zone, int]]:
    """A DNS server on loopback the server asks (the test adds the owner's TXT record)."""
    zone = Zone(txt={}, names=set(), servfail=set(), timeout=set())
    with running_dns_server(zone) as port:
        yield zone, port


@pytest.fixture
def server_env(dns_zone: tuple[Zone, int]) -> dict[str, str]:
    return {"WEBMAGIC_DNS_NAMESERVERS": f"127.0.0.1:{dns_zone[1]}"}


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
    live_server: LiveServer,
    page_at: OpenPage,
    shoot: Shoot,
    width: int,
    dns_zone: tuple[Zone, int],
    tmp_path: Path,
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
    payments = page.get_by_role("region", name="Hosting subscription").get_by_role("table")
    expect(payments).to_contain_text("Paid until")
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

    _custom_domain(page, shoot, dns_zone[0])
    _versions(page, shoot, live_server, tmp_path)
    _edits(page, shoot, live_server, tmp_path)
    _remove_domain(page)

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


def _custom_domain(page: Page, shoot: Shoot, zone: Zone) -> None:
    """Set a domain, copy its records, verify too early (told what was found), create the
    TXT record at the DNS server, verify again."""
    domain = "www.sunrise-bakery.example"
    section = page.get_by_role("region", name="Custom domain")
    section.get_by_label("Domain name").fill(domain.upper())
    section.get_by_role("button", name="Set the domain").click()
    expect(page.get_by_role("status")).to_have_text(
        "The domain is saved. Create the two DNS records shown, then verify."
    )
    section = page.get_by_role("region", name="Custom domain")
    expect(section.get_by_text("Waiting for verification")).to_be_visible()
    txt_name = section.locator("#record-1-name").input_value()
    txt_value = section.locator("#record-1-value").input_value()
    assert txt_name == f"_webmagic-challenge.{domain}"
    assert len(txt_value) >= 40
    expect(section.locator("#record-2-name")).to_have_value(domain)

    # The copy buttons (JavaScript on): the value lands on the clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy = section.get_by_role("button", name="Copy the TXT value")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == txt_value
    _no_horizontal_scroll(page)
    section.scroll_into_view_if_needed()
    shoot(page, "portal-07a-domain-pending")

    section.get_by_role("button", name="Verify the records now").click()
    expect(page.get_by_role("status")).to_contain_text("The domain is not verified yet")
    expect(page.get_by_text(f"No DNS record named {txt_name} exists yet", exact=False)).to_be_visible()

    zone.txt[txt_name] = [[txt_value]]
    page.get_by_role("region", name="Custom domain").get_by_role(
        "button", name="Verify the records now"
    ).click()
    expect(page.get_by_role("status")).to_have_text("The domain is verified: it now shows your site.")
    section = page.get_by_role("region", name="Custom domain")
    expect(section.get_by_text("Verified", exact=True)).to_be_visible()
    expect(
        section.get_by_text(re.compile(rf"Verified on \w+ \d+, \d{{4}}: {re.escape(domain)} shows"))
    ).to_be_visible()
    shoot(page, "portal-07b-domain-verified")


def _versions(page: Page, shoot: Shoot, server: LiveServer, tmp_path: Path) -> None:
    """The operator publishes new opening hours; the owner sees version 2 and its diff."""

    demo = files("webmagic_adapters.demo") / "sites" / "sunrise-bakery" / "index.html"
    html = demo.read_text(encoding="utf-8")
    changed = html.replace(
        "<th>Friday</th><td>7:00 \u2013 19:00</td>", "<th>Friday</th><td>7:00 \u2013 20:00</td>"
    )
    assert changed != html
    (tmp_path / "index.html").write_text(changed, encoding="utf-8")
    published = server.cli(
        "sites",
        "publish",
        "sunrise-bakery",
        "--html",
        str(tmp_path / "index.html"),
        "--cause",
        "new opening hours",
    )
    assert published.returncode == 0, published.stdout + published.stderr

    page.reload()
    versions = page.get_by_role("region", name="Versions")
    row = versions.get_by_role("row").filter(has_text="Version 2")
    expect(row).to_contain_text("New opening hours")
    expect(row).to_contain_text("Live")
    expect(versions.get_by_role("row").filter(has_text="Version 1")).to_contain_text("The website was set up")
    versions.scroll_into_view_if_needed()
    shoot(page, "portal-07c-versions")

    row.get_by_role("link", name=re.compile("Version 2")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Version 2")
    expect(page.get_by_text("1 file changed: 1 line added, 1 removed.")).to_be_visible()
    expect(page.locator(".line.del")).to_contain_text("7:00 \u2013 19:00")
    expect(page.locator(".line.add")).to_contain_text("7:00 \u2013 20:00")
    _no_horizontal_scroll(page)
    shoot(page, "portal-07d-version-diff")
    page.get_by_role("link", name="Back to Sunrise Bakery").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sunrise Bakery")


def _edits(page: Page, shoot: Shoot, server: LiveServer, tmp_path: Path) -> None:
    """Ask for a change; an operator drafts it at the CLI; preview it, approve it, see it
    live; then put the previous version back."""
    section = page.get_by_role("region", name="Changes to your website")
    section.get_by_label("What would you like to change?").fill("Please add: Fresh bread every morning.")
    section.get_by_role("button", name="Ask for this change").click()
    expect(page.get_by_role("status")).to_contain_text("We are working on your change")
    expect(page.get_by_role("region", name="Changes to your website")).to_contain_text("Being prepared")

    listed = server.cli("edits", "list", "--status", "pending", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    found = [e for e in json.loads(listed.stdout) if e["site"] == "sunrise-bakery"]
    assert len(found) == 1, listed.stdout
    (pending,) = found
    folder = tmp_path / "draft"
    shown = server.cli("edits", "show", pending["id"][:8], "--files", str(folder))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    page_html = (folder / "index.html").read_text(encoding="utf-8")
    assert "</h1>" in page_html
    (folder / "index.html").write_text(
        page_html.replace("</h1>", "</h1><p>Fresh bread every morning.</p>", 1), encoding="utf-8"
    )
    drafted = server.cli(
        "edits", "draft", pending["id"], "--html", str(folder / "index.html"), "--summary", "Added a line"
    )
    assert drafted.returncode == 0, drafted.stdout + drafted.stderr

    page.reload()
    section = page.get_by_role("region", name="Changes to your website")
    expect(section).to_contain_text("Ready for you to look at")
    expect(section).to_contain_text("Added a line")
    section.scroll_into_view_if_needed()
    _no_horizontal_scroll(page)
    shoot(page, "portal-07e-edit-ready")
    preview = section.get_by_role("link", name=re.compile("Preview the change")).get_attribute("href")
    assert preview
    site_page = page.url
    page.goto(preview)
    expect(page.get_by_role("region", name="Draft preview")).to_be_visible()
    expect(page.get_by_text("Fresh bread every morning.")).to_be_visible()
    shoot(page, "portal-07f-edit-preview")
    page.goto(site_page)
    section = page.get_by_role("region", name="Changes to your website")
    section.get_by_role("button", name="Approve and publish").click()
    expect(page.get_by_role("status")).to_have_text("Your change is live.")
    row = page.get_by_role("region", name="Versions").get_by_role("row").filter(has_text="Version 3")
    expect(row).to_contain_text("Your requested change: Added a line")
    expect(row).to_contain_text("Live")
    page.goto(f"{server.url}/sunrise-bakery")
    expect(page.get_by_text("Fresh bread every morning.")).to_be_visible()

    # Put version 2 back (behind a confirmation), and the line is gone again.
    page.goto(site_page)
    versions = page.get_by_role("region", name="Versions")
    two = versions.get_by_role("row").filter(has_text="Version 2")
    two.get_by_text("Put this version back").click()
    two.get_by_role("button", name="Yes, put version 2 back").click()
    expect(page.get_by_role("status")).to_contain_text("The earlier version is back online")
    expect(
        page.get_by_role("region", name="Versions").get_by_role("row").filter(has_text="Version 4")
    ).to_contain_text("Version 2 was put back")
    _no_horizontal_scroll(page)
    shoot(page, "portal-07g-version-restored")
    page.goto(f"{server.url}/sunrise-bakery")
    expect(page.get_by_text("Fresh bread every morning.")).to_have_count(0)
    page.goto(site_page)


def _remove_domain(page: Page) -> None:
    section = page.get_by_role("region", name="Custom domain")
    section.get_by_text("Remove this domain").click()
    section.get_by_role("button", name="Remove www.sunrise-bakery.example").click()
    expect(page.get_by_role("status")).to_have_text("The domain is removed: it no longer shows your site.")
    expect(
        page.get_by_role("region", name="Custom domain").get_by_role("button", name="Set the domain")
    ).to_be_visible()


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
