"""The pre-encoded responses hosting sends, and the helpers every hosting route shares
(the custom-domain wrapper and the draft preview included): strong ETags, ``If-None-Match``,
the security headers, the request path of a site's file."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from litestar.types import Receive, Scope, Send

from webmagic_core.errors import ValidationError
from webmagic_core.site_files import INDEX, content_type, normalize_path
from webmagic_http.problems import ERROR_PAGE_HEADERS

if TYPE_CHECKING:
    from webmagic_core.site_files import VersionFile

# As written by the rewriter in ``?v=`` (webmagic_adapters.site_rewriter).
FINGERPRINT_CHARS = 16

Headers = list[tuple[bytes, bytes]]

# Pages change when a version is published, so browsers must revalidate (cheap: 304).
CACHE_CONTROL = b"no-cache"
# A file asked for with its digest in the URL (``?v=``, written by the rewriter) never
# changes at that URL.
IMMUTABLE = b"public, max-age=31536000, immutable"
RETRY_AFTER_SECONDS = 3600
# When sites share the portal's origin: each page runs in an opaque origin of its own,
# so its scripts cannot read the portal's cookies, CSRF tokens or storage, nor another
# site's (no allow-same-origin). Fonts and module scripts are then cross-origin requests
# from that opaque origin, hence ``Access-Control-Allow-Origin: *`` on the files (public
# bytes, never sent with credentials).
SANDBOX = b"sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox"
REFERRER_POLICY = b"strict-origin-when-cross-origin"
PAGE_TYPE = (content_type(INDEX) or "text/html; charset=utf-8").encode()


class RawResponse:
    """A pre-encoded response, sent as two ASGI events with nothing in between."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class RenderedPage:
    """One cached rendering of a file: its bytes, strong ETag (the SHA-256 of the bytes
    sent) and pre-encoded responses (the ``immutable`` ones for a URL carrying the
    fingerprint ``fingerprint``)."""

    __slots__ = (
        "body",
        "etag",
        "fingerprint",
        "immutable",
        "immutable_head",
        "immutable_not_modified",
        "not_modified",
        "ok",
        "ok_head",
        "size",
    )

    def __init__(
        self,
        body: bytes,
        content_type: bytes,
        *,
        noindex: bool,
        digest: str | None = None,
        cacheable: bool = False,
        extra: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self.body = body
        digest = digest or hashlib.sha256(body).hexdigest()
        self.etag = b'"' + digest.encode() + b'"'
        self.fingerprint = digest[:FINGERPRINT_CHARS].encode() if cacheable else None
        self.ok, self.ok_head, self.not_modified = self._responses(
            CACHE_CONTROL, content_type, noindex, extra
        )
        if cacheable:
            self.immutable, self.immutable_head, self.immutable_not_modified = self._responses(
                IMMUTABLE, content_type, noindex, extra
            )
        else:  # never asked for (no fingerprint to match): no second set to build and keep
            self.immutable, self.immutable_head, self.immutable_not_modified = (
                self.ok,
                self.ok_head,
                self.not_modified,
            )
        self.size = len(body) + 512  # a rough allowance for the entry's own objects

    def _responses(
        self, cache_control: bytes, content_type: bytes, noindex: bool, extra: Sequence[tuple[bytes, bytes]]
    ) -> tuple[RawResponse, RawResponse, RawResponse]:
        common = validator_headers(self.etag, cache_control, noindex, extra)
        ok_headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(self.body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            *common,
        ]
        return (
            RawResponse(200, ok_headers, self.body),
            RawResponse(200, ok_headers, b""),
            RawResponse(304, common, b""),
        )


def validator_headers(
    etag: bytes, cache_control: bytes, noindex: bool, extra: Sequence[tuple[bytes, bytes]]
) -> Headers:
    """The headers a 200 and its 304 share."""
    common: Headers = [(b"etag", etag), (b"cache-control", cache_control), *extra]
    if noindex:
        common.append((b"x-robots-tag", b"noindex"))
    return common


class FileListing:
    """A version's files by path, cached so that a miss (404) costs no database read."""

    __slots__ = ("files", "size")

    def __init__(self, files: Mapping[str, VersionFile]) -> None:
        self.files = files
        self.size = 256 + 200 * len(files)


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 ``If-None-Match``: a list of tags or ``*``, compared weakly."""
    if if_none_match == etag:
        return True
    for candidate in if_none_match.split(b","):
        tag = candidate.strip()
        if tag == b"*":
            return True
        if tag.startswith(b"W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def error_pair(status: int, body: bytes, extra: list[tuple[str, str]]) -> tuple[RawResponse, RawResponse]:
    headers: Headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *((name.encode(), value.encode()) for name, value in (*ERROR_PAGE_HEADERS.items(), *extra)),
    ]
    return RawResponse(status, headers, body), RawResponse(status, headers, b"")


def request_path(raw: str) -> str | None:
    """The version path a request names (``/{slug}/`` names the page), or None when it
    cannot name a file (``..``, a hidden file...): such a request is a 404, never an error."""
    raw = raw.lstrip("/")
    if not raw:
        return INDEX
    try:
        return normalize_path(raw)
    except ValidationError:
        return None


def query_fingerprint(query: bytes) -> bytes | None:
    for pair in query.split(b"&"):
        if pair.startswith(b"v="):
            return pair[2:]
    return None
