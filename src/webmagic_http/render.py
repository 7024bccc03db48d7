"""The preview banner and the neutral pages hosting serves.

What a version's files are served as is computed when the version is written
(``webmagic_adapters.site_rewriter``); the banner is added to a preview's pages by the
same HTML parser, once per version and status (``webmagic_http.hosting``).
"""

from __future__ import annotations

import html


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
