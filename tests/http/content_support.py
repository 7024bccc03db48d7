"""The site content the HTTP tests create (``content``) and a counter of stored-page reads
(``count_page_body_reads``), apart from tests/http/conftest.py so support modules import
them by a name no other folder uses."""

from __future__ import annotations

import pytest

from webmagic_core.services.sites import SiteService
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


def count_page_body_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The digests ``SiteService.page_body`` is asked for from now on (database reads of
    a stored page), in order."""
    reads: list[str] = []
    original = SiteService.page_body

    def counting(self: SiteService, digest: str) -> bytes | None:
        reads.append(digest)
        return original(self, digest)

    monkeypatch.setattr(SiteService, "page_body", counting)
    return reads
