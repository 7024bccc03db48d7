"""A preview's page says noindex in its own ``<head>``: a front server serving the
published bytes sends no header of its own for it."""

from __future__ import annotations

import hashlib

import pytest

from webmagic_adapters.preview_banner import (
    KEY_CHARS,
    NOINDEX_META,
    HtmlPreviewBanner,
    banner_html,
    with_noindex,
)
from webmagic_adapters.site_rewriter import ParserSiteRewriter
from webmagic_core.site_files import FileLimits, SiteFiles

META = NOINDEX_META.encode()


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        # The rewriter's own serialisation: inserted after <head>, nothing else touched.
        (
            b'<!DOCTYPE html><html lang="en"><head><title>A</title></head><body>x</body></html>',
            b'<!DOCTYPE html><html lang="en"><head>' + META + b"<title>A</title></head><body>x</body></html>",
        ),
        (
            b"<!doctype html>\n<html>\n<head class='a'>\n<meta charset=utf-8></head>",
            b"<!doctype html>\n<html>\n<head class='a'>" + META + b"\n<meta charset=utf-8></head>",
        ),
    ],
)
def test_the_meta_goes_first_in_the_head(page: bytes, expected: bytes) -> None:
    assert with_noindex(page) == expected


@pytest.mark.parametrize(
    "page",
    [
        b"<p>a fragment without a head</p>",
        b"<!-- a comment first --><html><head><title>A</title></head></html>",
        b'<html data-x="a>b"><head><title>A</title></head></html>',  # not what it looks like
        b"<html><body><p>&lt;head&gt;</p></body></html>",
    ],
)
def test_any_other_page_is_parsed_and_gets_it_in_its_head(page: bytes) -> None:
    out = with_noindex(page).decode()
    head = out[out.index("<head>") : out.index("</head>")]
    assert head.startswith("<head>" + NOINDEX_META)
    assert out.count(NOINDEX_META) == 1


def test_the_banner_brings_the_meta_and_its_key_says_so() -> None:
    rewriter = ParserSiteRewriter()
    banner = HtmlPreviewBanner(rewriter, price="$495.00", purchase_base_url="https://shop.example.test")
    source = b'<html><head><link rel="stylesheet" href="a.css"></head><body>x</body></html>'
    files = SiteFiles.build({"index.html": source, "a.css": b"p{}"}, FileLimits())
    page = rewriter.rewrite(files, "/rosa")["index.html"]
    for given, rewritten in ((page, True), (source, False)):
        out = banner.render(given, slug="rosa", business_name="Rosa", rewritten=rewritten)
        assert out.count(META) == 1
        assert out.index(META) < out.index(b"</head>") < out.index(b"data-webmagic-banner")
    # Pages rendered before the meta existed are stale: `webmagic db upgrade` renders them again.
    template = banner_html(business_name="\0", price="$495.00", purchase_url=banner.purchase_url("\0"))
    assert banner.key != hashlib.sha256(template.encode()).hexdigest()[:KEY_CHARS]
