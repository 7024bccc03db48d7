"""The portal site page's custom domain (set, the records to create, verify, remove) and
versions (the list, one version's diff): forms with CSRF, another owner's site a 404,
refusals of the core as one line on the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from domains_support import SITES_DOMAIN, DomainShop, open_domain_shop
from payments_support import html
from portal_support import location, portal_form, signed_in_portal
from subscriptions_support import API, bearer

from webmagic_core.site_files import FileLimits, SiteFiles
from webmagic_http.portal_owner import HISTORY_SHOWN
from webmagic_http.portal_pages import STYLESHEET
from webmagic_http.portal_versions_view import VERSIONS_SHOWN

ROSA, ANA = "rosa@example.com", "ana@example.com"
SITE = "/portal/sites/sunrise-bakery"
LOGO = b"\x89PNG" + bytes(100)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[DomainShop]:
    with open_domain_shop(
        tmp_path / "data", public_url="https://app.webmagic.test", sites_domain=SITES_DOMAIN
    ) as running:
        yield running


@pytest.fixture
def rosa(shop: DomainShop) -> str:
    """Rosa owns sunrise-bakery and is signed in to the portal; her API token."""
    token = shop.owner(ROSA)
    signed_in_portal(shop, ROSA)
    return token


def page(shop: DomainShop, path: str = SITE, status: int = 200) -> str:
    return html(shop.client.get(path, follow_redirects=False), status)


def text(page_html: str) -> str:
    """The page's words, without tags (for phrases that span markup)."""
    inline = re.sub(r"</?(span|a|strong|time|code)\b[^>]*>", "", page_html)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", inline)))


def alerts(page_html: str) -> list[str]:
    return [text(a).strip() for a in re.findall(r'role="alert">(.*?)</div>', page_html, re.S)]


def api_domain(shop: DomainShop, token: str) -> Any:
    return shop.client.get(f"{API}/sunrise-bakery/domain", headers=bearer(token))


def post(shop: DomainShop, action: str, fields: dict[str, str] | None = None) -> Any:
    return portal_form(shop, SITE, f"{SITE}/{action}", fields or {})


def publish(shop: DomainShop, files: dict[str, bytes], cause: str) -> int:
    built = SiteFiles.build(files, FileLimits())
    return shop.container.sites.publish("sunrise-bakery", built, cause=cause).number


# --- custom domain ---------------------------------------------------------------------------


def test_setting_a_domain_shows_the_exact_records_to_create(shop: DomainShop, rosa: str) -> None:
    before = page(shop)
    assert 'action="/portal/sites/sunrise-bakery/domain"' in before
    assert "Waiting for verification" not in before

    response = post(shop, "domain", {"domain": "WWW.Sunrise-Bakery.example."})

    assert location(response) == f"{SITE}?notice=domain_set"
    shown = page(shop, location(response))
    assert "The domain is saved. Create the two DNS records shown, then verify." in shown
    body = api_domain(shop, rosa).json()
    assert body["domain"] == "www.sunrise-bakery.example"
    for record in body["dns_records"]:  # every name and value, each in a read-only field
        for value in (record["name"], record["value"]):
            assert re.search(
                rf'<textarea id="record-\d-(name|value)" readonly rows="1" spellcheck="false">'
                rf"{re.escape(value)}<",
                shown,
            )
    assert (
        f'"record-2-value" readonly rows="1" spellcheck="false">{SITES_DOMAIN}<' in shown
    )  # the CNAME's target
    assert "_webmagic-challenge.www.sunrise-bakery.example" in shown
    words = text(shown)
    assert "Waiting for verification" in words
    assert "Issued automatically once the domain is verified." in words
    # The copy buttons need the script: hidden without it, and the page may load only its own.
    assert shown.count('class="secondary copy"') == 4
    assert all("hidden" in b for b in re.findall(r"<button[^>]*class=\"secondary copy\"[^>]*>", shown))
    csp = shop.client.get(SITE).headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline'" not in csp.split("script-src")[1]


def test_the_styles_are_one_stylesheet_served_by_the_app_and_cached(shop: DomainShop, rosa: str) -> None:
    shown = page(shop)
    assert "<style>" in shown  # the page width, and nothing else
    assert "table.versions" not in shown
    href = re.findall(r'<link rel="stylesheet" href="([^"]+)">', shown)
    assert href == [STYLESHEET.url]
    assert re.fullmatch(r"/portal/style\.[0-9a-f]{16}\.css", href[0])
    assert "style-src 'self' 'unsafe-inline'" in shop.client.get(SITE).headers["content-security-policy"]

    response = shop.client.get(href[0])

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "max-age=31536000, private, immutable"
    assert "table.versions" in response.text
    assert "--page-width" in response.text
    assert "{#" not in response.text
    # Another fingerprint is not served (an old address never gets new styles under it).
    assert shop.client.get("/portal/style.0000000000000000.css").status_code == 404
    # The sign-in page links the same stylesheet.
    assert STYLESHEET.url in shop.client.get("/portal/login").text


def test_the_copy_script_is_served_by_the_app(shop: DomainShop) -> None:
    response = shop.client.get("/portal/copy.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "data-copy" in response.text


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("", 400, "Enter the domain name"),
        ("localhost", 400, None),
        ("192.0.2.10", 400, None),
        ("app.webmagic.test", 400, None),  # our own host name
    ],
)
def test_a_name_that_cannot_be_used_is_one_line_and_saves_nothing(
    shop: DomainShop, rosa: str, name: str, status: int, words: str | None
) -> None:
    shown = html(post(shop, "domain", {"domain": name}), status)

    [line] = alerts(shown)
    assert line
    assert "Traceback" not in line
    if words:
        assert words in line
    assert api_domain(shop, rosa).status_code == 404


def test_a_name_held_by_another_site_is_refused_in_one_line(shop: DomainShop, rosa: str) -> None:
    ana = shop.owner(ANA, "ana-salon", "Ana Salon")
    assert shop.put_domain(ana, "www.shared.example", "ana-salon").status_code == 201

    shown = html(post(shop, "domain", {"domain": "www.shared.example"}), 409)

    assert len(alerts(shown)) == 1
    assert api_domain(shop, rosa).status_code == 404


def test_verify_says_what_was_found_then_verifies_when_the_record_is_there(
    shop: DomainShop, rosa: str
) -> None:
    post(shop, "domain", {"domain": "www.sunrise-bakery.example"})

    response = post(shop, "domain/verify")

    assert location(response) == f"{SITE}?notice=domain_not_verified"
    words = text(page(shop, location(response)))
    assert "The domain is not verified yet" in words
    assert "No DNS record named _webmagic-challenge.www.sunrise-bakery.example exists yet" in words
    assert api_domain(shop, rosa).json()["status"] == "pending"

    txt = next(r for r in api_domain(shop, rosa).json()["dns_records"] if r["type"] == "TXT")
    shop.dns.set_txt(txt["name"], txt["value"])
    response = post(shop, "domain/verify")

    assert location(response) == f"{SITE}?notice=domain_verified"
    shown = page(shop, location(response))
    words = text(shown)
    assert "The domain is verified: it now shows your site." in words
    assert re.search(r"Verified on \w+ \d+, \d{4}: www.sunrise-bakery.example shows your site", words)
    assert "/domain/verify" not in shown  # nothing left to verify
    assert "DNS records to keep" in words
    assert api_domain(shop, rosa).json()["status"] == "verified"


def test_remove_asks_first_then_frees_the_name(shop: DomainShop, rosa: str) -> None:
    post(shop, "domain", {"domain": "www.sunrise-bakery.example"})
    shown = page(shop)
    # The confirmation step: the button sits inside a closed <details>.
    assert re.search(r"<details class=\"confirm\">\s*<summary>Remove this domain</summary>", shown)

    response = post(shop, "domain/remove")

    assert location(response) == f"{SITE}?notice=domain_removed"
    assert "The domain is removed" in page(shop, location(response))
    assert api_domain(shop, rosa).status_code == 404
    # Removed twice (a second tab): one line, not an error page.
    again = html(post(shop, "domain/remove"), 404)
    assert alerts(again) == ["This site has no custom domain."]
    assert "<h1>Sunrise Bakery</h1>" in again


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_domain_forms_without_the_right_csrf_token_are_refused_and_change_nothing(
    shop: DomainShop, rosa: str, token: str | None
) -> None:
    assert shop.put_domain(rosa, "www.sunrise-bakery.example").status_code == 201
    shop.dns.set_txt(
        "_webmagic-challenge.www.sunrise-bakery.example",
        api_domain(shop, rosa).json()["dns_records"][0]["value"],
    )
    extra = {} if token is None else {"_csrf_token": token}

    html(shop.client.post(f"{SITE}/domain", data={"domain": "www.other.example", **extra}), 403)
    html(shop.client.post(f"{SITE}/domain/verify", data=extra), 403)
    html(shop.client.post(f"{SITE}/domain/remove", data=extra), 403)

    body = api_domain(shop, rosa).json()
    assert (body["domain"], body["status"]) == ("www.sunrise-bakery.example", "pending")


def test_another_owners_site_is_a_404_and_its_domain_and_versions_stay_hidden(
    shop: DomainShop, rosa: str
) -> None:
    assert shop.put_domain(rosa, "www.sunrise-bakery.example").status_code == 201
    shop.client.cookies.clear()
    shop.owner(ANA, "ana-salon", "Ana Salon")
    signed_in_portal(shop, ANA)

    for action, fields in (
        ("domain", {"domain": "www.stolen.example"}),
        ("domain/verify", {}),
        ("domain/remove", {}),
    ):
        refused = html(portal_form(shop, "/portal", f"{SITE}/{action}", fields), 404)
        assert "Sunrise Bakery" not in refused
    for path in (f"{SITE}/versions/1", f"{SITE}/versions/99"):
        assert "Sunrise Bakery" not in page(shop, path, 404)

    body = api_domain(shop, rosa).json()
    assert (body["domain"], body["status"]) == ("www.sunrise-bakery.example", "pending")


# --- versions --------------------------------------------------------------------------------


def test_the_site_page_lists_every_version_newest_first_with_its_cause(shop: DomainShop, rosa: str) -> None:
    publish(shop, {"index.html": b"<h1>Sunrise</h1>\n"}, "new opening hours")
    three = publish(shop, {"index.html": b"<h1>Sunrise Bakery</h1>\n"}, "publish")

    shown = page(shop)

    links = re.findall(r'href="/portal/sites/sunrise-bakery/versions/(\d+)"', shown)
    assert links == [str(three), str(three - 1), *[str(n) for n in range(three - 2, 0, -1)]]
    words = text(shown)
    assert "New opening hours" in words
    assert "A new version was published" in words
    live = re.search(r"Version (\d+)</a> <span class=\"badge badge-ok\">Live</span>", shown)
    assert live
    assert int(live[1]) == three
    assert shown.count('<span class="badge badge-ok">Live</span>') == 1  # only the one served
    # Every version but the live one can be put back, after a confirmation.
    restores = re.findall(r'action="/portal/sites/sunrise-bakery/versions/(\d+)/restore"', shown)
    assert restores == [str(n) for n in range(three - 1, 0, -1)]


def test_the_site_page_lists_the_recent_versions_and_links_to_all_of_them(
    shop: DomainShop, rosa: str
) -> None:
    numbers = [
        publish(shop, {"index.html": f"<h1>Sunrise {n}</h1>\n".encode()}, f"week {n}") for n in range(12)
    ]
    newest = numbers[-1]

    shown = page(shop)

    listed = re.findall(r'href="/portal/sites/sunrise-bakery/versions/(\d+)"', shown)
    assert listed == [str(n) for n in range(newest, newest - VERSIONS_SHOWN, -1)]
    assert "Show all 13 versions" in shown
    every = page(shop, f"{SITE}?versions=all")
    assert re.findall(r'href="/portal/sites/sunrise-bakery/versions/(\d+)"', every) == [
        str(n) for n in range(newest, 0, -1)
    ]
    assert "?versions=all" not in every
    # Every version but the live one can still be put back from the full list.
    restores = re.findall(r'action="/portal/sites/sunrise-bakery/versions/(\d+)/restore"', every)
    assert restores == [str(n) for n in range(newest - 1, 0, -1)]
    response = post(shop, "versions/1/restore")
    assert location(response) == f"{SITE}?notice=version_restored#versions"
    after = page(shop)
    assert re.search(rf'Version {newest + 1}</a> <span class="badge badge-ok">Live</span>', after)
    assert "Version 1 was put back" in text(after)


def test_a_version_page_shows_its_diff_readably(shop: DomainShop, rosa: str) -> None:
    publish(
        shop,
        {"index.html": b"<h1>Sunrise</h1>\n<p>Open 7-5</p>\n", "img/logo.png": LOGO, "old.txt": b"bye\n"},
        "first",
    )
    number = publish(
        shop,
        {
            "index.html": b"<h1>Sunrise</h1>\n<p>Open 6-6</p>\n<script>alert(1)</script>\n",
            "img/logo.png": LOGO + b"v2",
            "img/new.png": LOGO,
        },
        "new opening hours",
    )

    shown = page(shop, f"{SITE}/versions/{number}")

    words = text(shown)
    assert f"Version {number}" in words
    assert "Live now" in words
    assert f"Compared with Version {number - 1}" in words
    assert "4 files changed: 2 lines added, 2 removed." in words
    assert '<span class="line del">-&lt;p&gt;Open 7-5&lt;/p&gt;\n</span>' in shown
    assert '<span class="line add">+&lt;p&gt;Open 6-6&lt;/p&gt;\n</span>' in shown
    assert '<span class="line add">+&lt;script&gt;alert(1)&lt;/script&gt;\n</span>' in shown  # escaped
    assert re.search(r'<span class="line hunk">@@ -1,2 \+1,3 @@\n</span>', shown)
    assert "--- a/index.html" not in shown  # the file name is the heading
    assert "Changed: 104 bytes before, 106 bytes now" in words
    assert "Added (104 bytes)" in words
    assert '<span class="tag tag-removed">Removed</span>' in shown
    assert "old.txt" in words


def test_an_unknown_version_is_a_404_page_leading_back_to_the_site(shop: DomainShop, rosa: str) -> None:
    shown = page(shop, f"{SITE}/versions/99", 404)
    assert "Sunrise Bakery has no version 99." in text(shown)
    assert 'href="/portal/sites/sunrise-bakery#versions"' in shown


def test_a_version_page_needs_a_session(shop: DomainShop, rosa: str) -> None:
    shop.client.cookies.clear()
    response = shop.client.get(f"{SITE}/versions/1", follow_redirects=False)
    assert location(response) == f"/portal/login?next={SITE}/versions/1"


def test_the_history_shows_the_recent_moments_and_links_to_all_of_them(shop: DomainShop, rosa: str) -> None:
    for n in range(14):
        publish(shop, {"index.html": f"<h1>Sunrise {n}</h1>\n".encode()}, f"week {n}")

    def moments(page_html: str) -> list[str]:
        timeline = re.search(r'<ol class="timeline">(.*?)</ol>', page_html, re.DOTALL)
        assert timeline
        return re.findall(r"\(version (\d+)\)", timeline[1])

    shown = page(shop)
    # Newest first: the most recent HISTORY_SHOWN moments, the latest publishes among them.
    assert shown.count("<li><time") == HISTORY_SHOWN
    assert moments(shown)[:8] == [str(n) for n in range(15, 7, -1)]
    total = re.search(
        r'href="/portal/sites/sunrise-bakery\?history=all#history">Show all (\d+) events', shown
    )
    assert total
    assert int(total[1]) > HISTORY_SHOWN
    every = page(shop, f"{SITE}?history=all")
    assert moments(every) == [str(n) for n in range(15, 1, -1)]
    assert every.count("<li><time") == int(total[1])
    assert "?history=all" not in every
