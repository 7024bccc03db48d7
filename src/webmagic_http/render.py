"""The neutral pages hosting serves (404, 503); the preview banner is rendered when a
version is written (``webmagic_adapters.preview_banner``, re-exported here)."""

from __future__ import annotations

from webmagic_adapters.bootstrap import banner_html

__all__ = ["NOT_FOUND_PAGE", "UNAVAILABLE_PAGE", "banner_html"]


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
