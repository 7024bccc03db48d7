"""Site heads kept packed in memory (PostgreSQL's head cache) read back as they were,
and a head that does not fit the packing is kept as it is."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from webmagic_adapters.sqlalchemy.head_cache import _pack, _unpack
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.ports.sites import SiteHead

DIGEST = hashlib.sha256(b"page").hexdigest()


def head(**changes: object) -> SiteHead:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "slug": "sunrise-bakery",
        "business_name": "Sunrise Bakery",
        "status": SiteStatus.PREVIEW,
        "current_version": 3,
        "page_digest": DIGEST,
        "page_key": "banner-v2",
    }
    fields.update(changes)
    return SiteHead(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "original",
    [
        head(),
        head(page_digest=None, page_key=""),
        head(business_name="Panadería Ñandú — 日の出", status=SiteStatus.ACTIVE),
        head(business_name=""),
        head(current_version=2**32 - 1),
    ],
    ids=["plain", "no-page", "non-ascii", "empty-name", "largest-packed-version"],
)
def test_a_packed_head_reads_back_the_same(original: SiteHead) -> None:
    packed = _pack(original)
    assert isinstance(packed, bytes)
    assert _unpack(original.slug, packed) == original


@pytest.mark.parametrize(
    "original",
    [
        head(current_version=2**32),
        head(page_digest="not hex at all"),
        head(page_digest=DIGEST.upper()),
        head(page_digest=DIGEST[:40]),
    ],
    ids=["version-too-large", "not-hex", "uppercase", "short-digest"],
)
def test_a_head_that_does_not_pack_is_kept_as_it_is(original: SiteHead) -> None:
    kept = _pack(original)
    assert kept is original
    assert _unpack(original.slug, kept) == original
