"""Sites kept as folders of files: read them, and import them through the ``SiteService``.

One folder is one site::

    sunrise-bakery/          the folder name is the slug
        index.html           required
        styles.css           optional
        app.js               optional
        site.json|site.toml  optional: {"business_name": "..."}

Without a ``business_name`` the HTML ``<title>`` names the business (up to the first
separator such as `` | ``), else the slug in title case. Both the CLI's ``sites import``
and the demo loader use this module, so a folder means the same thing everywhere.
"""

from __future__ import annotations

import enum
import html
import json
import re
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from webmagic_core.errors import Conflict, ValidationError, WebMagicError
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import MAX_ASSET_BYTES, MAX_HTML_BYTES, Site, SiteContent, validate_business_name
from webmagic_core.slugs import validate_slug

HTML_FILE = "index.html"
CSS_FILE = "styles.css"
JS_FILE = "app.js"
META_FILES = ("site.json", "site.toml")
META_KEYS = frozenset({"business_name"})

_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
# "Rosa's Bakery | Fresh bread daily" names "Rosa's Bakery".
_TITLE_SEPARATORS = re.compile(r"\s+(?:\||-|\u2013|\u2014|\u00b7|:)\s+")  # | - en/em dash, middle dot, colon


def read_limited(path: Path, limit: int, label: str) -> bytes:
    """Read a file of at most ``limit`` bytes without loading a larger one into memory.

    ``OSError`` (missing, unreadable, a directory) passes through for the caller to word.
    """
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
        if len(data) > limit:
            size = path.stat().st_size
            raise ValidationError(
                f"the {label} file {path.name!r} is {size:,} bytes; the limit is {limit:,} bytes",
                field=label.lower(),
            )
    return data


@attrs.frozen
class SiteFolder:
    path: Path
    slug: str
    business_name: str
    content: SiteContent


def read_site_folder(folder: Path) -> SiteFolder:
    """Read and validate one site folder; every problem is a ``ValidationError`` naming it."""
    slug = validate_slug(folder.name)
    files: dict[str, bytes] = {}
    for name, limit, label, required in (
        (HTML_FILE, MAX_HTML_BYTES, "HTML", True),
        (CSS_FILE, MAX_ASSET_BYTES, "CSS", False),
        (JS_FILE, MAX_ASSET_BYTES, "JS", False),
    ):
        path = folder / name
        if not path.exists():
            if required:
                raise ValidationError(f"{HTML_FILE} is missing", field="html")
            continue
        try:
            files[name] = read_limited(path, limit, label)
        except OSError as exc:
            raise ValidationError(f"cannot read {name}: {exc.strerror or exc}", field=label.lower()) from None
    content = SiteContent.from_bytes(files[HTML_FILE], files.get(CSS_FILE, b""), files.get(JS_FILE, b""))
    meta = _read_meta(folder)
    given = meta.get("business_name")
    if given is not None:
        if not isinstance(given, str):
            raise ValidationError("business_name in the site file must be a string", field="business_name")
        business_name = validate_business_name(given)
    else:
        business_name = default_business_name(slug, content.html)
    return SiteFolder(path=folder, slug=slug, business_name=business_name, content=content)


def _read_meta(folder: Path) -> dict[str, Any]:
    present = [folder / name for name in META_FILES if (folder / name).exists()]
    if not present:
        return {}
    if len(present) > 1:
        raise ValidationError(f"both {' and '.join(META_FILES)} exist; keep one")
    path = present[0]
    try:
        text = path.read_text(encoding="utf-8")
        data: object = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except OSError as exc:
        raise ValidationError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path.name} is not valid UTF-8") from None
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(f"{path.name} is not valid {path.suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path.name} must hold an object with a business_name")
    unknown = sorted(set(data) - META_KEYS)
    if unknown:
        raise ValidationError(
            f"{path.name} has unknown key(s) {', '.join(map(repr, unknown))}; allowed: business_name"
        )
    return data


def default_business_name(slug: str, page: str) -> str:
    """The HTML title up to its first separator, else the slug in title case."""
    match = _TITLE.search(page)
    if match:
        title = " ".join(html.unescape(re.sub(r"<[^>]*>", "", match.group(1))).split())
        title = _TITLE_SEPARATORS.split(title, maxsplit=1)[0].strip(" |-\u2013\u2014\u00b7:")
        try:
            return validate_business_name(title)
        except ValidationError:
            pass
    return slug.replace("-", " ").title()


def site_folders(root: Path) -> list[Path]:
    """The sub-folders of ``root`` (hidden ones skipped), sorted by name."""
    if not root.exists():
        raise ValidationError(f"the folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise ValidationError(f"{str(root)!r} is not a folder")
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise ValidationError(f"cannot list the folder {str(root)!r}: {exc.strerror or exc}") from None


class Outcome(enum.StrEnum):
    CREATED = "created"
    EXISTS = "exists"
    FAILED = "failed"


@attrs.frozen
class ImportResult:
    folder: Path
    outcome: Outcome
    site: Site | None = None
    error: str | None = None

    @property
    def slug(self) -> str:
        return self.site.slug if self.site else self.folder.name


def import_site_folder(
    sites: SiteService, folder: Path, *, skip_existing: bool = False, cause: str = "imported"
) -> ImportResult:
    """Create one preview site from a folder, in its own transaction.

    Errors caused by the folder or the slug are returned, not raised, so that a batch goes
    on; with ``skip_existing`` a taken slug counts as already imported.
    """
    try:
        found = read_site_folder(folder)
        site = sites.create_preview(found.slug, found.business_name, found.content, cause=cause)
    except Conflict as exc:
        if skip_existing:
            return ImportResult(folder=folder, outcome=Outcome.EXISTS, error=exc.detail)
        return ImportResult(folder=folder, outcome=Outcome.FAILED, error=exc.detail)
    except WebMagicError as exc:
        return ImportResult(folder=folder, outcome=Outcome.FAILED, error=exc.detail)
    return ImportResult(folder=folder, outcome=Outcome.CREATED, site=site)


def import_site_folders(
    sites: SiteService, folders: Iterable[Path], *, skip_existing: bool = False, cause: str = "imported"
) -> Iterator[ImportResult]:
    """Import each folder in turn, yielding as it goes (so callers can show progress)."""
    for folder in folders:
        yield import_site_folder(sites, folder, skip_existing=skip_existing, cause=cause)
