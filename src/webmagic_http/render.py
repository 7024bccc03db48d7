"""Turning a stored site version into the bytes hosting serves, and the neutral pages.

Sites are stored as the generator wrote them: one HTML file that refers to
``styles.css`` and ``app.js`` next to it. Hosting serves the page at ``/{slug}`` (no
trailing slash, per API.md), where a relative ``styles.css`` would resolve to
``/styles.css``. Instead of a ``<base>`` element (which would also re-target in-page
links such as ``href="#contact"``) or a redirect (an extra round trip on every first
visit), the two asset references are rewritten to absolute paths under the site's
prefix, so ``/{slug}`` and ``/{slug}/`` serve the same bytes and both work.
"""

from __future__ import annotations

import html
import re

# href="styles.css", src='./app.js', href=/styles.css?v=2 ... inside a tag's attribute.
_ASSET_REF = re.compile(
    r"""(?P<attr>\b(?i:href|src)\s*=\s*)"""
    r"""(?P<q>["']?)(?:\.?/)?(?P<name>styles\.css|app\.js)(?P<rest>[?#][^"'\s>]*)?(?P=q)"""
    r"""(?=[\s/>])"""
)


def rewrite_asset_urls(page: str, prefix: str) -> tuple[str, set[str]]:
    """Point relative references to ``styles.css``/``app.js`` at ``{prefix}styles.css``...

    Returns the new HTML and the asset names it refers to.
    """
    found: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        found.add(match["name"])
        quote = match["q"] or '"'
        return f"{match['attr']}{quote}{prefix}{match['name']}{match['rest'] or ''}{quote}"

    return _ASSET_REF.sub(replace, page), found


def _insert_before_closing(page: str, tag: str, snippet: str, *, last: bool) -> str:
    """Insert ``snippet`` before ``</tag>`` (case-insensitive), or at the end if there is none."""
    lowered = page.lower()
    at = lowered.rfind(f"</{tag}") if last else lowered.find(f"</{tag}")
    if at < 0:
        return page + snippet
    return page[:at] + snippet + page[at:]


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


def render_page(
    source: str,
    *,
    prefix: str,
    has_css: bool,
    has_js: bool,
    banner: str | None = None,
) -> bytes:
    """The HTML to serve: asset URLs under ``prefix``, missing asset links added, banner injected."""
    page, referenced = rewrite_asset_urls(source, prefix)
    head_extra = ""
    if has_css and "styles.css" not in referenced:
        head_extra += f'<link rel="stylesheet" href="{prefix}styles.css">'
    if has_js and "app.js" not in referenced:
        head_extra += f'<script src="{prefix}app.js" defer></script>'
    if head_extra:
        lowered = page.lower()
        if "</head" in lowered:
            page = _insert_before_closing(page, "head", head_extra, last=False)
        else:
            page = head_extra + page
    if banner is not None:
        page = _insert_before_closing(page, "body", banner, last=True)
    return page.encode("utf-8")


def _neutral_page(title: str, message: str) -> bytes:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{title}</title></head>"
        '<body style="margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;'
        "background:#f9fafb;color:#111827;font:18px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,"
        'Helvetica,Arial,sans-serif;text-align:center">'
        f'<main style="padding:24px"><h1 style="font-size:28px;margin:0 0 8px">{title}</h1>'
        f'<p style="margin:0;color:#4b5563">{message}</p></main>'
        "</body></html>\n"
    ).encode()


NOT_FOUND_PAGE = _neutral_page("Page not found", "There is no website at this address.")
UNAVAILABLE_PAGE = _neutral_page(
    "Temporarily unavailable", "This website is temporarily unavailable. Please try again later."
)
