"""Sites kept as folders of files: read them, and import them through the ``SiteService``.

One folder is one site::

    sunrise-bakery/          the folder name is the slug
        index.html           required
        styles.css, app.js   optional (linked from the page even when it forgets to)
        img/logo.png ...     any other files, in any sub-folders (see webmagic_core.site_files)
        site.json|site.toml  optional: {"business_name": "..."}; not a file of the site

Hidden files and folders (``.DS_Store``, ``.git/``) and symbolic links are skipped, each
with a warning; a file of a type that is not allowed, or over a size limit, fails the site
with one problem per file.

Without a ``business_name`` the HTML ``<title>`` names the business (up to the first
separator such as `` | ``), else the slug in title case. Both the CLI's ``sites import``
and the demo loader use this module, so a folder means the same thing everywhere.
"""

from __future__ import annotations

import enum
import html
import json
import os
import re
import stat
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from webmagic_core.errors import Conflict, ValidationError, WebMagicError
from webmagic_core.services.sites import SiteService
from webmagic_core.site_files import FileLimits, FileProblem, FilesRejected, SiteFiles
from webmagic_core.sites import Site, validate_business_name
from webmagic_core.slugs import validate_slug

HTML_FILE = "index.html"
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
class FolderFiles:
    """The files read from a folder tree, and what was skipped (one line each)."""

    files: SiteFiles
    skipped: tuple[str, ...] = ()


def read_folder_files(folder: Path, limits: FileLimits, *, ignore: Iterable[str] = ()) -> FolderFiles:
    """Every file under ``folder`` as a version's files; ``ignore`` names root files that
    are not part of the site (its metadata). Raises ``FilesRejected`` listing every file
    that breaks a rule; a file over the size limit is never read into memory."""
    ignored = set(ignore)
    skipped: list[str] = []
    problems: list[FileProblem] = []
    found: list[tuple[str, bytes]] = []
    for directory, subdirectories, names in os.walk(folder, onerror=_raise, followlinks=False):
        here = Path(directory)
        relative = here.relative_to(folder).as_posix()
        prefix = "" if relative == "." else relative + "/"
        for name in sorted(subdirectories):
            path = here / name
            if name.startswith(".") or path.is_symlink():
                skipped.append(f"{prefix}{name}/: {_why_skipped(name, path)}")
                subdirectories.remove(name)
        subdirectories.sort()
        for name in sorted(names):
            relative_path = prefix + name
            if not prefix and name in ignored:
                continue
            path = here / name
            try:
                info = path.lstat()
            except OSError as exc:
                problems.append(FileProblem(relative_path, f"cannot be read: {exc.strerror or exc}"))
                continue
            if name.startswith(".") or not stat.S_ISREG(info.st_mode):
                skipped.append(f"{relative_path}: {_why_skipped(name, path)}")
                continue
            if info.st_size > limits.max_file_bytes:
                problems.append(
                    FileProblem(
                        relative_path,
                        f"is {info.st_size:,} bytes; the limit is {limits.max_file_bytes:,} per file",
                    )
                )
                continue
            try:
                found.append((relative_path, read_limited(path, limits.max_file_bytes, relative_path)))
            except ValidationError as exc:
                problems.append(FileProblem(relative_path, exc.detail))
            except OSError as exc:
                problems.append(FileProblem(relative_path, f"cannot be read: {exc.strerror or exc}"))
    try:
        files = SiteFiles.build(found, limits)
    except FilesRejected as exc:
        raise FilesRejected([*problems, *exc.problems]) from None
    if problems:
        raise FilesRejected(problems)
    return FolderFiles(files=files, skipped=tuple(skipped))


def _raise(error: OSError) -> None:
    raise ValidationError(f"cannot read the folder {error.filename!r}: {error.strerror or error}")


def _why_skipped(name: str, path: Path) -> str:
    if path.is_symlink():
        return "skipped: symbolic links are not followed"
    if name.startswith("."):
        return "skipped: hidden files and folders are not part of a site"
    return "skipped: not a regular file"


@attrs.frozen
class SiteFolder:
    path: Path
    slug: str
    business_name: str
    files: SiteFiles
    skipped: tuple[str, ...] = ()

    @property
    def page(self) -> str:
        return self.files.text(HTML_FILE)


def read_site_folder(folder: Path, limits: FileLimits | None = None) -> SiteFolder:
    """Read and validate one site folder; every problem is a ``ValidationError`` naming it
    (``FilesRejected``, one problem per file, for the files)."""
    slug = validate_slug(folder.name)
    meta = _read_meta(folder)
    read = read_folder_files(folder, limits or FileLimits(), ignore=META_FILES)
    given = meta.get("business_name")
    if given is not None:
        if not isinstance(given, str):
            raise ValidationError("business_name in the site file must be a string", field="business_name")
        business_name = validate_business_name(given)
    else:
        business_name = default_business_name(slug, read.files.text(HTML_FILE))
    return SiteFolder(
        path=folder, slug=slug, business_name=business_name, files=read.files, skipped=read.skipped
    )


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
    # One line per file that failed the site (``error`` sums them up), and per file skipped.
    problems: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    slug_taken: bool = False  # failed only because a site already has the folder's slug

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
    skipped: tuple[str, ...] = ()
    try:
        found = read_site_folder(folder, sites.limits)
        skipped = found.skipped
        site = sites.create_preview(found.slug, found.business_name, found.files, cause=cause)
    except Conflict as exc:
        if skip_existing:
            return ImportResult(folder=folder, outcome=Outcome.EXISTS, error=exc.detail, skipped=skipped)
        return ImportResult(
            folder=folder, outcome=Outcome.FAILED, error=exc.detail, skipped=skipped, slug_taken=True
        )
    except FilesRejected as exc:
        lines = tuple(str(p) for p in exc.problems)
        if len(lines) == 1:
            return ImportResult(folder=folder, outcome=Outcome.FAILED, error=lines[0], skipped=skipped)
        return ImportResult(
            folder=folder,
            outcome=Outcome.FAILED,
            error=f"{len(lines)} file problems:",
            problems=lines,
            skipped=skipped,
        )
    except WebMagicError as exc:
        return ImportResult(folder=folder, outcome=Outcome.FAILED, error=exc.detail, skipped=skipped)
    return ImportResult(folder=folder, outcome=Outcome.CREATED, site=site, skipped=skipped)


def import_site_folders(
    sites: SiteService, folders: Iterable[Path], *, skip_existing: bool = False, cause: str = "imported"
) -> Iterator[ImportResult]:
    """Import each folder in turn, yielding as it goes (so callers can show progress)."""
    for folder in folders:
        yield import_site_folder(sites, folder, skip_existing=skip_existing, cause=cause)
