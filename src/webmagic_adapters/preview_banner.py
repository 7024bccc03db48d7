"""The preview banner, rendered into a preview's page when a version is written.

``HtmlPreviewBanner`` is the ``PreviewBanner`` port: the banner HTML (``banner_html``)
inserted at the end of the page's body by the rewriter's HTML parser. Its ``key`` is the
digest of the banner as the settings make it (price, purchase URL, the template itself)
with placeholders for the site's own words, so any change to those settings or to this
template makes every stored rendering stale (see ``webmagic_core.pages``).

A preview's page also says ``<meta name="robots" content="noindex">`` at the start of its
``<head>``: hosting sends ``X-Robots-Tag: noindex`` with it as well, but a front server
serving the published folder (``static_folder``) sends the bytes alone, and looking up
per request whether a site is a preview would cost it more than the file does.
"""

from __future__ import annotations

import hashlib
import html
import re

from selectolax.lexbor import LexborHTMLParser

from webmagic_core.ports import SiteRewriter

KEY_CHARS = 16
NOINDEX_META = '<meta name="robots" content="noindex">'
# The start of a document up to its <head> start tag, when nothing but a doctype and the
# <html> start tag comes first (attributes without < or >): the meta goes right after it,
# with no parse. Anything else is parsed.
_HEAD_START = re.compile(
    rb"\A\s*(?:<!doctype[^<>]*>\s*)?<html(?:\s[^<>]*)?>\s*<head(?:\s[^<>]*)?>", re.IGNORECASE
)


def banner_html(*, business_name: str, price: str, purchase_url: str) -> str:
    """The preview banner: self-contained (inline styles only, no external assets).

    Fixed to the bottom of the viewport so it takes no part in the site's own layout
    (flex or grid bodies stay as designed); it is a labelled landmark, meets WCAG AA
    contrast, and can be hidden with its close button.
    """
    name = html.escape(business_name)
    url = html.escape(purchase_url, quote=True)
    price_text = html.escape(price)
    font = "font:16px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    reset = "margin:0;padding:0;border:0;box-sizing:border-box;letter-spacing:normal;text-transform:none;"
    return (
        "\n<!-- WebMagic preview banner -->\n"
        '<div role="region" aria-label="Buy this website" data-webmagic-banner="" '
        f'style="{reset}position:fixed;left:0;right:0;bottom:0;z-index:2147483647;'
        "display:flex;flex-wrap:wrap;align-items:center;justify-content:center;gap:8px 16px;"
        f"padding:12px 48px 12px 16px;background:#111827;color:#ffffff;{font}text-align:center;"
        'box-shadow:0 -2px 8px rgba(0,0,0,.3)">'
        f'<p style="{reset}display:block;color:#ffffff;{font}">'
        f'This is a preview of the website for <strong style="{reset}font-weight:700;color:#ffffff">'
        f"{name}</strong>. Make it yours for {price_text}.</p>"
        f'<a href="{url}" style="{reset}display:inline-block;padding:8px 18px;border-radius:6px;'
        f'background:#facc15;color:#111827;{font}font-weight:700;text-decoration:none">Buy this site</a>'
        '<button type="button" aria-label="Hide this banner" '
        'onclick="this.parentNode.remove()" '
        f'style="{reset}position:absolute;top:50%;right:12px;transform:translateY(-50%);'
        "width:32px;height:32px;border-radius:16px;background:transparent;color:#ffffff;"
        f'{font}font-size:22px;line-height:32px;cursor:pointer">&times;</button>'
        "</div>\n"
    )


class HtmlPreviewBanner:
    def __init__(self, rewriter: SiteRewriter, *, price: str, purchase_base_url: str) -> None:
        self._rewriter = rewriter
        self._price = price
        self._purchase_base_url = purchase_base_url.rstrip("/")
        template = banner_html(business_name="\0", price=price, purchase_url=self.purchase_url("\0"))
        self._key = hashlib.sha256((NOINDEX_META + template).encode("utf-8")).hexdigest()[:KEY_CHARS]

    @property
    def key(self) -> str:
        return self._key

    def purchase_url(self, slug: str) -> str:
        return f"{self._purchase_base_url}/purchase/{slug}"

    def render(self, page: bytes, *, slug: str, business_name: str, rewritten: bool) -> bytes:
        banner = banner_html(
            business_name=business_name, price=self._price, purchase_url=self.purchase_url(slug)
        )
        return with_noindex(self._rewriter.insert_banner(page, banner, rewritten=rewritten))


def with_noindex(page: bytes) -> bytes:
    """``page`` with ``NOINDEX_META`` first in its ``<head>``."""
    start = _HEAD_START.match(page)
    if start is not None:
        return page[: start.end()] + NOINDEX_META.encode() + page[start.end() :]
    tree = LexborHTMLParser(page.decode("utf-8"))
    head = tree.head
    snippet = LexborHTMLParser(f"<!doctype html><html><head>{NOINDEX_META}</head><body></body></html>").head
    if head is None or snippet is None:  # the parser always makes both; kept for the type checker
        return NOINDEX_META.encode() + page
    meta = snippet.child
    assert meta is not None
    if head.child is not None:
        head.child.insert_before(meta)
    else:
        head.insert_child(meta)
    return (tree.html or "").encode("utf-8")
