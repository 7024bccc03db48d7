"""Rendering a stored version into served HTML, and conditional-request matching."""

from __future__ import annotations

import pytest

from webmagic_http.hosting import etag_matches
from webmagic_http.render import banner_html, render_page, rewrite_asset_urls


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('<link rel="stylesheet" href="styles.css">', '<link rel="stylesheet" href="/s1/styles.css">'),
        ("<link rel=stylesheet href='./styles.css'>", "<link rel=stylesheet href='/s1/styles.css'>"),
        ("<link rel=stylesheet href=styles.css>", '<link rel=stylesheet href="/s1/styles.css">'),
        ('<script src="/app.js?v=3" defer></script>', '<script src="/s1/app.js?v=3" defer></script>'),
        ('<script SRC = "app.js"></script>', '<script SRC = "/s1/app.js"></script>'),
        ('<link href="styles.css"/>', '<link href="/s1/styles.css"/>'),
    ],
)
def test_asset_references_are_rewritten(source: str, expected: str) -> None:
    assert rewrite_asset_urls(source, "/s1/")[0] == expected


@pytest.mark.parametrize(
    "source",
    [
        '<a href="#contact">',
        '<link href="https://cdn.example.test/styles.css">',
        '<link href="css/styles.css">',
        '<link href="mystyles.css">',
        '<script src="app.jsx"></script>',
        "<p>styles.css and app.js</p>",
    ],
)
def test_other_references_are_left_alone(source: str) -> None:
    assert rewrite_asset_urls(source, "/s1/") == (source, set())


def test_banner_goes_before_the_last_closing_body() -> None:
    page = render_page(
        "<html><body><p>x</p><!-- </body> in a comment --></BODY></html>",
        prefix="/s1/",
        has_css=False,
        has_js=False,
        banner="<aside>B</aside>",
    ).decode()
    assert page.endswith("<aside>B</aside></BODY></html>")


def test_banner_is_appended_when_there_is_no_body_tag() -> None:
    page = render_page(
        "<p>fragment</p>", prefix="/s1/", has_css=True, has_js=False, banner="<aside>B</aside>"
    )
    assert page.decode() == '<link rel="stylesheet" href="/s1/styles.css"><p>fragment</p><aside>B</aside>'


def test_empty_assets_are_not_linked() -> None:
    page = render_page("<head></head><body></body>", prefix="/s1/", has_css=False, has_js=False)
    assert page == b"<head></head><body></body>"


def test_banner_escapes_what_it_shows() -> None:
    banner = banner_html(business_name='A "B" <C>', price="1.00 USD", purchase_url='https://x.test/p/"s"')
    assert "A &quot;B&quot; &lt;C&gt;" in banner
    assert 'href="https://x.test/p/&quot;s&quot;"' in banner


ETAG = b'"abc"'


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (b'"abc"', True),
        (b'W/"abc"', True),
        (b'"x", "abc"', True),
        (b'"x",W/"abc"', True),
        (b"*", True),
        (b'"abcd"', False),
        (b'"ab"', False),
        (b"abc", False),
        (b"", False),
        (b'"x", "y"', False),
    ],
)
def test_if_none_match(header: bytes, matches: bool) -> None:
    assert etag_matches(header, ETAG) is matches
