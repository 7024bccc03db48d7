"""What makes a draft acceptable, whoever wrote it (a language model or an operator).

A draft may replace the site's text files and add a stylesheet or a script; every page
must still be an HTML document that parses to the end (no unclosed script, style or
comment swallowing the rest), no file may exceed the size limit, and no page may load a
script from an origin the site did not already load scripts from (a model must not be
able to slip a tracker or worse into a customer's site).
"""

from __future__ import annotations

from collections.abc import Mapping
from html.parser import HTMLParser
from urllib.parse import urlsplit

from webmagic_core.edits.ports import Draft, DraftRequest
from webmagic_core.site_files import INDEX, extension, is_text

MAX_DRAFT_FILE_BYTES = 1024 * 1024
# Files a draft may add when the site has none of that name (DESIGN's three-file shape).
ADDABLE = frozenset({INDEX, "styles.css", "app.js"})
_RAW_TEXT = frozenset({"script", "style"})
_DOCUMENT = frozenset({"html", "body"})


class _PageReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.script_sources: list[str] = []
        self.open_raw: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag in _RAW_TEXT:
            self.open_raw = tag
        if tag == "script":
            for name, value in attrs:
                if name == "src" and value:
                    self.script_sources.append(value.strip())

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "script":
            self.open_raw = None

    def handle_endtag(self, tag: str) -> None:
        if tag == self.open_raw:
            self.open_raw = None


def _read(page: str) -> _PageReader | str:
    reader = _PageReader()
    try:
        reader.feed(page)
        # What the parser still holds at the end was never finished.
        leftover = reader.rawdata.lstrip()
        reader.close()
    except (AssertionError, ValueError) as error:  # html.parser's own complaints
        return f"it does not parse ({error})"
    if reader.open_raw is not None:
        return f"a <{reader.open_raw}> element is never closed"
    if leftover.startswith("<!--"):
        return "a comment (<!--) is never closed"
    if leftover.startswith("<"):
        return "it ends inside a tag"
    return reader


def _tags(page: str) -> set[str]:
    reader = _read(page)
    return set() if isinstance(reader, str) else reader.tags


def script_origins(page: str) -> set[str]:
    """The origins (``https://host[:port]``) a page loads scripts from; protocol-relative
    sources count as https."""
    reader = _read(page)
    if isinstance(reader, str):
        return set()
    origins = set()
    for source in reader.script_sources:
        if source.startswith("//"):
            source = "https:" + source
        parts = urlsplit(source)
        if parts.scheme in ("http", "https") and parts.netloc:
            origins.add(f"{parts.scheme}://{parts.netloc.lower()}")
        elif parts.scheme and parts.scheme not in ("http", "https"):
            origins.add(f"{parts.scheme}:")  # data:, javascript:... always "new"
    return origins


def draft_problems(
    request: DraftRequest, draft: Draft, *, max_bytes: int = MAX_DRAFT_FILE_BYTES
) -> list[str]:
    """Everything wrong with ``draft`` for the site ``request`` describes (empty: fine)."""
    problems: list[str] = []
    if not draft.summary.strip():
        problems.append("the summary is empty")
    if not draft.files:
        problems.append("the draft changes no file")
    known_origins: set[str] = set()
    for path, text in request.files.items():
        if extension(path) == "html":
            known_origins |= script_origins(text)
    for path, text in sorted(draft.files.items()):
        if not isinstance(text, str):
            problems.append(f"{path}: the content is not text")
            continue
        if path not in request.files and path not in ADDABLE:
            problems.append(
                f"{path}: a draft may only change the site's text files (or add {', '.join(sorted(ADDABLE))})"
            )
            continue
        if not is_text(path):
            problems.append(f"{path}: not a text file")
            continue
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            problems.append(f"{path}: {size:,} bytes; the limit is {max_bytes:,}")
            continue
        if "\x00" in text:
            problems.append(f"{path}: contains a NUL character")
            continue
        if extension(path) != "html":
            continue
        reader = _read(text)
        if isinstance(reader, str):
            problems.append(f"{path}: {reader}")
            continue
        was = request.files.get(path)
        whole = was is None or bool(_tags(was) & _DOCUMENT)
        if path == INDEX and whole and not reader.tags & _DOCUMENT:
            problems.append(f"{path}: not a whole HTML document any more (no <html> or <body>)")
            continue
        new = script_origins(text) - known_origins
        if new:
            problems.append(f"{path}: loads scripts from new origin(s) {', '.join(sorted(new))}")
    return problems


def merged(current: Mapping[str, str], draft: Draft) -> dict[str, str]:
    """The site's text files with the draft's replacements applied."""
    return {**current, **draft.files}
