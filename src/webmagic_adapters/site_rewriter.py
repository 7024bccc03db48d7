"""What a version's files are served as: references rewritten once, when it is written.

A site is hosted at ``/{slug}`` (no trailing slash, per the HTTP contract) and, later, at
a custom domain's root. A page at ``/{slug}`` resolves ``img/logo.png`` to
``/img/logo.png``, outside the site, so every reference in HTML (``src``, ``href``,
``srcset``, ``poster``, ``imagesrcset``, the ``content`` of ``og:image``-like ``<meta>``,
``style`` attributes and ``<style>`` elements) and in CSS (``url()``, ``@import``) that
names a path inside the version is made absolute under the base the site is served at:
``""`` for a domain root, ``"/{slug}"`` for path hosting. ``#anchors``, ``?query``-only
references, absolute URLs and other schemes (``mailto:``, ``tel:``, ``data:``) are left
as they are, as are references that climb out of the site (``../``).

References to files of the version (not HTML pages) also carry the served bytes'
digest (``?v=<16 hex>``), so hosting can let browsers cache them for a year: a new
version of the file is a new URL. A reference that already has a query keeps it and is
not fingerprinted.

HTML is parsed with Lexbor (selectolax), a conforming HTML5 parser, and serialised again
only when something changed; CSS is scanned token by token for its comments, strings,
``url()`` and ``@import`` (``rewrite_css``), so untouched text is kept byte for byte.
The preview banner is inserted by the same HTML parser (``insert_banner``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from webmagic_core.site_files import INDEX, SiteFiles, digest_of, extension, resolve_reference

FINGERPRINT_CHARS = 16
# <meta property|name=...> whose content is a URL of the page's image (link previews).
_META_URL_KEYS = frozenset(
    {"og:image", "og:image:url", "og:image:secure_url", "og:video", "og:audio", "twitter:image"}
)
# Characters kept as they are when a version path is written back into a URL.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
# The generator's convention: a root styles.css / app.js belongs to index.html even when
# the page forgot to link it (hosting always did this; kept for every version).
AUTO_LINKED = ("styles.css", "app.js")

Rewrite = Callable[[str], str | None]
_DOCUMENT_END = b"</body></html>"


def fingerprint(digest: str) -> str:
    return digest[:FINGERPRINT_CHARS]


class ParserSiteRewriter:
    """The ``SiteRewriter`` port: pure functions of the files, no I/O."""

    def rewrite(self, files: SiteFiles, base: str) -> dict[str, bytes]:
        """The bytes each file is served as under ``base`` (``""`` or ``"/{slug}"``),
        for the files whose bytes differ from the uploaded ones."""
        served: dict[str, bytes] = {}
        digests = {path: digest_of(body) for path, body in files.bodies.items()}
        # Stylesheets first: a page's fingerprint of a stylesheet must be the digest of
        # the stylesheet as served, which carries its images' fingerprints.
        for path in files.bodies:
            if extension(path) == "css":
                # Stylesheet-to-stylesheet references are not fingerprinted (their served
                # digests may depend on each other); they are revalidated by ETag.
                css_digests = {p: d for p, d in digests.items() if extension(p) != "css"}
                new = rewrite_css(files.text(path), _reference_rewriter(files, path, base, css_digests))
                if new is not None:
                    served[path] = new.encode("utf-8")
        for path, body in served.items():
            digests[path] = digest_of(body)
        for path in files.bodies:
            if extension(path) == "html":
                new = rewrite_html(
                    files.text(path),
                    _reference_rewriter(files, path, base, digests),
                    auto_link=[name for name in AUTO_LINKED if name in files] if path == INDEX else [],
                    base=base,
                    digests=digests,
                )
                if new is not None:
                    served[path] = new.encode("utf-8")
        return served

    def insert_banner(self, page: bytes, banner: str, *, rewritten: bool = False) -> bytes:
        """``page`` with ``banner`` (HTML) appended to its ``<body>``.

        ``rewritten``: ``page`` is this rewriter's own serialisation (a page it rewrote).
        The parser's serialisation closes every element and ends with the body's end tag
        and the document's, so when it ends with ``</body></html>`` the body's end is
        right there, and the banner goes in without parsing 20 KB again on every render
        (~1 ms). Any other page (as uploaded, or with comments after ``</html>``) is
        parsed."""
        if rewritten and page.endswith(_DOCUMENT_END):
            return page[: -len(_DOCUMENT_END)] + banner.encode("utf-8") + _DOCUMENT_END
        tree = LexborHTMLParser(page.decode("utf-8"))
        body = tree.body
        fragment = LexborHTMLParser(f"<!doctype html><html><head></head><body>{banner}</body></html>").body
        if body is None or fragment is None:  # the parser always makes a body; kept for the type checker
            return page + banner.encode("utf-8")
        for node in list(fragment.iter(include_text=True)):
            body.insert_child(node)
        return _serialize(tree).encode("utf-8")


def _reference_rewriter(files: SiteFiles, from_path: str, base: str, digests: Mapping[str, str]) -> Rewrite:
    def rewrite(url: str) -> str | None:
        return rewrite_reference(url, from_path=from_path, base=base, files=files, digests=digests)

    return rewrite


def rewrite_reference(
    url: str, *, from_path: str, base: str, files: SiteFiles, digests: Mapping[str, str]
) -> str | None:
    """The URL to write instead of ``url`` in the file at ``from_path``, or None to keep it."""
    text = url.strip()
    if not text or text.startswith(("#", "?")):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme or parts.netloc or text.startswith("//"):
        return None
    path = unquote(parts.path)
    if path.startswith("/"):
        target = path.lstrip("/")
        if not target:  # href="/": the site's home
            return _join(base or "/", parts.query, parts.fragment)
        if target not in files:  # a root path of something else on the host: not ours
            return None
    else:
        resolved = resolve_reference(from_path, path)
        if resolved is None:
            return None
        target = resolved
    query = parts.query
    if not query and target in digests and extension(target) != "html":
        query = "v=" + fingerprint(digests[target])
    return _join(f"{base}/{quote(target, safe=_PATH_SAFE)}", query, parts.fragment)


def _join(path: str, query: str, fragment: str) -> str:
    return path + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")


# -- CSS ----------------------------------------------------------------------------

# One left-to-right scan over CSS, per CSS Syntax Level 3's tokens: a comment or a string
# is consumed whole (so nothing inside one is ever taken for a reference), then the two
# tokens that hold references: ``url(...)`` (unquoted, or with a string) and ``@import``
# followed by a string. Other text is passed over at C speed (a full tokenizer in Python,
# tinycss2, took ~60 ms for a 4 KB stylesheet: 30 times the rest of writing a version).
_CSS_TOKENS = re.compile(
    r"""
      (?P<comment>/\*[\s\S]*?(?:\*/|$))
    | (?<![\w\\-])(?P<url>[uU][rR][lL]\(\s*)
        (?: (?P<url_string>"(?:[^"\\\n]|\\[\s\S])*"|'(?:[^'\\\n]|\\[\s\S])*')
          | (?P<url_bare>[^\s()"'\\]*) )
        (?P<url_end>\s*\))
    | (?P<import>@[iI][mM][pP][oO][rR][tT]\s+)
        (?P<import_string>"(?:[^"\\\n]|\\[\s\S])*"|'(?:[^'\\\n]|\\[\s\S])*')
    | (?P<string>"(?:[^"\\\n]|\\[\s\S])*"?|'(?:[^'\\\n]|\\[\s\S])*'?)
    """,
    re.VERBOSE,
)


def rewrite_css(css: str, rewrite: Rewrite) -> str | None:
    """``css`` with its ``url()`` and ``@import`` references rewritten, or None if none
    changed. Everything else (comments, spacing, other strings) is kept byte for byte."""
    if "url(" not in css.lower() and "@import" not in css.lower():
        return None
    out: list[str] = []
    position = 0
    changed = False
    for match in _CSS_TOKENS.finditer(css):
        if match["url"] is not None:
            quoted = match["url_string"]
            value = _unquote_css(quoted) if quoted is not None else match["url_bare"]
            new = rewrite(value) if value is not None else None
            if new is None:
                continue
            out.append(css[position : match.start()])
            out.append(f"{match['url']}{_css_string(new)}{match['url_end']}")
        elif match["import"] is not None:
            value = _unquote_css(match["import_string"])
            new = rewrite(value) if value is not None else None
            if new is None:
                continue
            out.append(css[position : match.start()])
            out.append(match["import"] + _css_string(new))
        else:
            continue  # a comment or another string: kept as it is
        position = match.end()
        changed = True
    if not changed:
        return None
    out.append(css[position:])
    return "".join(out)


def _unquote_css(token: str) -> str | None:
    """A CSS string token's value; None for one with escapes (left untouched: rare, and
    rewriting it would need the whole escape grammar)."""
    body = token[1:-1]
    return None if "\\" in body else body


def _css_string(value: str) -> str:
    # The rewritten URL is percent-encoded (no quote, backslash or newline left in it).
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- HTML ---------------------------------------------------------------------------


def rewrite_html(
    page: str,
    rewrite: Rewrite,
    *,
    auto_link: Iterable[str] = (),
    base: str = "",
    digests: Mapping[str, str] | None = None,
) -> str | None:
    """``page`` with its references rewritten (and the ``auto_link`` files linked when
    the page does not refer to them), or None when nothing changed."""
    tree = LexborHTMLParser(page)
    changed = False
    referenced: set[str] = set()
    for node in tree.root.traverse(include_text=False) if tree.root is not None else ():
        attributes = node.attributes
        if not attributes and node.tag != "style":
            continue
        for name, value in attributes.items():
            if value is None:
                continue
            new = _rewrite_attribute(node, name, value, rewrite)
            if new is not None:
                referenced.add(new)
                node.attrs[name] = new
                changed = True
            elif name in ("href", "src"):
                referenced.add(value)
        if node.tag == "style":
            text = node.first_child
            if text is not None and text.is_text_node:
                css = rewrite_css(text.text_content or "", rewrite)
                if css is not None:
                    text.replace_with(css)
                    changed = True
    extra = ""
    for name in auto_link:
        if not any(_names(ref, name, base) for ref in referenced):
            url = rewrite(name) or name
            extra += (
                f'<link rel="stylesheet" href="{url}">'
                if name.endswith(".css")
                else f'<script src="{url}" defer></script>'
            )
    if extra:
        head = tree.head
        snippet = LexborHTMLParser(f"<!doctype html><html><head>{extra}</head><body></body></html>").head
        if head is not None and snippet is not None:
            for node in list(snippet.iter(include_text=True)):
                head.insert_child(node)
            changed = True
    return _serialize(tree) if changed else None


def _names(reference: str, name: str, base: str) -> bool:
    """Whether a (rewritten or kept) reference points at the root file ``name``."""
    path = urlsplit(reference.strip()).path
    return path in (name, f"./{name}", f"/{name}", f"{base}/{name}")


def _rewrite_attribute(node: LexborNode, name: str, value: str, rewrite: Rewrite) -> str | None:
    if name in ("src", "href", "poster"):
        return rewrite(value)
    if name in ("srcset", "imagesrcset"):
        return rewrite_srcset(value, rewrite)
    if name == "style":
        return rewrite_css(value, rewrite)
    if name == "content" and node.tag == "meta":
        key = (node.attributes.get("property") or node.attributes.get("name") or "").strip().lower()
        if key in _META_URL_KEYS:
            return rewrite(value)
    return None


def rewrite_srcset(value: str, rewrite: Rewrite) -> str | None:
    """A ``srcset`` with each candidate's URL rewritten (descriptors kept), or None."""
    candidates = []
    changed = False
    for candidate in _split_srcset(value):
        url, _, descriptor = candidate.partition(" ")
        new = rewrite(url)
        if new is not None:
            changed = True
            url = new
        candidates.append(f"{url} {descriptor.strip()}".strip())
    return ", ".join(candidates) if changed else None


def _split_srcset(value: str) -> list[str]:
    """Candidates of a ``srcset``: a URL (which may hold commas, as data: URLs do) then
    optional descriptors up to the next comma (HTML's "parse a srcset attribute")."""
    out: list[str] = []
    position, length = 0, len(value)
    while position < length:
        while position < length and (value[position].isspace() or value[position] == ","):
            position += 1
        start = position
        while position < length and not value[position].isspace():
            position += 1
        url = value[start:position]
        if url.endswith(","):
            url = url.rstrip(",")
            descriptor = ""
        else:
            begin = position
            depth = 0
            while position < length and (value[position] != "," or depth):
                depth += {"(": 1, ")": -1}.get(value[position], 0)
                position += 1
            descriptor = " ".join(value[begin:position].split())
        if url:
            out.append(f"{url} {descriptor}".strip())
    return out


def _serialize(tree: LexborHTMLParser) -> str:
    return tree.html or ""
