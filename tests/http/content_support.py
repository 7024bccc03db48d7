"""The site content the HTTP tests create (``content``), apart from tests/http/conftest.py so
support modules import it by a name no other folder uses."""

from __future__ import annotations

from webmagic_core.sites import SiteContent

HTML = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{name}</title>'
    '<link rel="stylesheet" href="styles.css"><script src="app.js" defer></script></head>'
    '<body style="display:grid"><h1>{name}</h1><a href="#contact">Contact</a></body></html>'
)
CSS = "h1 { color: #123456; }"
JS = "document.documentElement.dataset.ready = '1';"


def content(name: str = "Sunrise Bakery", *, marker: str = "v1") -> SiteContent:
    return SiteContent(html=HTML.format(name=f"{name} {marker}"), css=CSS, js=JS)
