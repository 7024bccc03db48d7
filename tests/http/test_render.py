"""The preview banner, and conditional-request matching."""

from __future__ import annotations

import pytest

from webmagic_http.render import banner_html
from webmagic_http.site_responses import etag_matches


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
