"""The files of a site version: paths, types, limits, digests.

A version is a set of files: ``index.html`` at the root and any static files below it.
Paths are normalised here once (``normalize_path``) so that a stored path can never
escape the version's folder, and so that one file has exactly one name. Bodies are
stored once per SHA-256 digest and shared by every version and site with those bytes.
"""

from __future__ import annotations

import hashlib
import posixpath
import unicodedata
from collections.abc import Iterable, Mapping

import attrs

from webmagic_core.errors import ValidationError

INDEX = "index.html"

# The types a site may hold, by extension (lower case). A pinned table rather than
# ``mimetypes.guess_type`` alone: the stdlib's answers depend on the platform's
# mime.types (``.js`` is application/javascript on some, ``.woff2`` unknown on others),
# and a served type must not change with the machine.
CONTENT_TYPES: Mapping[str, str] = {
    "html": "text/html; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "mjs": "text/javascript; charset=utf-8",
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "xml": "application/xml",
    "svg": "image/svg+xml",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "ico": "image/vnd.microsoft.icon",
    "woff": "font/woff",
    "woff2": "font/woff2",
    "ttf": "font/ttf",
    "otf": "font/otf",
    "pdf": "application/pdf",
    "mp4": "video/mp4",
    "webm": "video/webm",
}
# Files read as UTF-8 text: they are diffed line by line, given to edit engines, and
# (HTML and CSS) have their references rewritten.
TEXT_EXTENSIONS = frozenset({"html", "css", "js", "mjs", "json", "txt", "xml", "svg"})

MAX_PATH_CHARS = 255
MAX_SEGMENT_CHARS = 120


@attrs.frozen
class FileLimits:
    """What one version may hold (``WEBMAGIC_MAX_FILE_BYTES`` ... in the settings)."""

    max_file_bytes: int = 5 * 1024 * 1024
    max_version_bytes: int = 25 * 1024 * 1024
    max_files: int = 500


def extension(path: str) -> str:
    name = path.rpartition("/")[2]
    return name.rpartition(".")[2].lower() if "." in name else ""


def content_type(path: str) -> str | None:
    """The type a file is served with, or None when its extension is not allowed."""
    return CONTENT_TYPES.get(extension(path))


def is_text(path: str) -> bool:
    return extension(path) in TEXT_EXTENSIONS


def digest_of(body: bytes) -> str:
    """The content address of a body: SHA-256, lower-case hex."""
    return hashlib.sha256(body).hexdigest()


def normalize_path(raw: str) -> str:
    """The one name of a file inside a version, or ``ValidationError`` saying what is wrong.

    ``./a//b.css`` and ``a/b.css`` name the same file; ``a/./b`` too. Refused: empty paths,
    absolute paths, backslashes, control characters, ``..`` segments, dot-files and
    dot-folders, over-long names. Case is kept; Unicode is NFC (what macOS writes as NFD
    becomes the same name as everywhere else). Idempotent: a normalised path comes back
    unchanged.
    """
    shown = repr(raw[:80])
    path = unicodedata.normalize("NFC", raw)
    if not path:
        raise ValidationError("an empty file name", field="path")
    if "\\" in path:
        raise ValidationError(f"{shown}: backslashes are not allowed in file paths (use /)", field="path")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in path):
        raise ValidationError(f"{shown}: the path contains control characters", field="path")
    if path.startswith("/"):
        raise ValidationError(f"{shown}: absolute paths are not allowed", field="path")
    segments = [s for s in path.split("/") if s not in ("", ".")]
    if not segments:
        raise ValidationError(f"{shown}: names no file", field="path")
    for segment in segments:
        if segment == "..":
            raise ValidationError(f"{shown}: '..' would leave the site's folder", field="path")
        if segment.startswith("."):
            raise ValidationError(
                f"{shown}: hidden files and folders (starting with '.') are not allowed", field="path"
            )
        if segment != segment.strip() or len(segment) > MAX_SEGMENT_CHARS:
            raise ValidationError(
                f"{shown}: each part of a path must be 1-{MAX_SEGMENT_CHARS} characters without "
                "leading or trailing spaces",
                field="path",
            )
    normalized = "/".join(segments)
    if len(normalized) > MAX_PATH_CHARS:
        raise ValidationError(f"{shown}: the path is longer than {MAX_PATH_CHARS} characters", field="path")
    if path.endswith("/"):
        raise ValidationError(f"{shown}: names a folder, not a file", field="path")
    return normalized


def resolve_reference(from_path: str, reference_path: str) -> str | None:
    """The version path a relative URL path names from the file at ``from_path``, or None
    when it leaves the version's folder (``../../x``) or names a folder."""
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(from_path), reference_path))
    if joined.startswith("../") or joined in ("..", ".") or reference_path.endswith("/"):
        return None
    return joined.lstrip("/")


@attrs.frozen
class FileProblem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class FilesRejected(ValidationError):
    """One or more files of a version broke a rule; ``problems`` lists each, by file."""

    def __init__(self, problems: Iterable[FileProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems), field="files")


@attrs.frozen
class SiteFiles:
    """A validated set of files for one version: normalised path -> bytes, sorted by path.

    Build it with ``SiteFiles.build`` (which checks every rule and reports every broken
    one at once); ``index.html`` is always there.
    """

    bodies: Mapping[str, bytes]

    @classmethod
    def build(cls, files: Mapping[str, bytes] | Iterable[tuple[str, bytes]], limits: FileLimits) -> SiteFiles:
        items = files.items() if isinstance(files, Mapping) else files
        problems: list[FileProblem] = []
        bodies: dict[str, bytes] = {}
        total = 0
        for raw, body in items:
            try:
                path = normalize_path(raw)
            except ValidationError as exc:
                problems.append(FileProblem(raw, exc.detail.removeprefix(repr(raw[:80]) + ": ")))
                continue
            if path in bodies:
                problems.append(FileProblem(raw, f"names the same file as another path ({path})"))
                continue
            if content_type(path) is None:
                ext = extension(path)
                problems.append(
                    FileProblem(path, f"the type {'.' + ext if ext else '(no extension)'} is not allowed")
                )
                continue
            if len(body) > limits.max_file_bytes:
                problems.append(
                    FileProblem(
                        path, f"is {len(body):,} bytes; the limit is {limits.max_file_bytes:,} per file"
                    )
                )
                continue
            if is_text(path):
                try:
                    body.decode("utf-8")
                except UnicodeDecodeError as exc:
                    problems.append(FileProblem(path, f"is not valid UTF-8 text (byte {exc.start})"))
                    continue
                if path == INDEX:
                    body = body.removeprefix(b"\xef\xbb\xbf")
            bodies[path] = body
            total += len(body)
        if INDEX not in bodies and not any(p.path == INDEX for p in problems):
            problems.append(FileProblem(INDEX, "is missing (every site needs one at its root)"))
        elif INDEX in bodies and not bodies[INDEX].strip():
            problems.append(FileProblem(INDEX, "is empty"))
        if len(bodies) > limits.max_files:
            problems.append(
                FileProblem("(the site)", f"has {len(bodies):,} files; the limit is {limits.max_files:,}")
            )
        if total > limits.max_version_bytes:
            problems.append(
                FileProblem(
                    "(the site)", f"has {total:,} bytes of files; the limit is {limits.max_version_bytes:,}"
                )
            )
        if problems:
            raise FilesRejected(problems)
        return cls(dict(sorted(bodies.items())))

    def text(self, path: str) -> str:
        return self.bodies[path].decode("utf-8")

    def __contains__(self, path: object) -> bool:
        return path in self.bodies

    def __len__(self) -> int:
        return len(self.bodies)


@attrs.frozen
class VersionFile:
    """One file of a stored version. ``digest`` addresses the bytes as uploaded;
    ``slug_digest`` what is served under ``/{slug}`` and ``root_digest`` what is served
    at a custom domain's root (both equal ``digest`` when nothing needed rewriting)."""

    path: str
    digest: str
    size: int
    content_type: str
    slug_digest: str
    root_digest: str

    @property
    def is_text(self) -> bool:
        return is_text(self.path)


@attrs.frozen
class PreparedFiles:
    """A version's file list and every body it names (uploaded and served), by digest."""

    files: tuple[VersionFile, ...]
    bodies: dict[str, bytes]


def prepare_files(
    files: SiteFiles,
    under_slug: Mapping[str, bytes] | None = None,
    at_root: Mapping[str, bytes] | None = None,
) -> PreparedFiles:
    """The file list of a version of ``files``, whose served bytes are ``under_slug`` and
    ``at_root`` where they differ from the uploaded ones (see ``SiteRewriter``)."""
    under_slug, at_root = under_slug or {}, at_root or {}
    bodies: dict[str, bytes] = {}
    listed = []
    for path, body in files.bodies.items():
        digests = []
        for served in (body, under_slug.get(path, body), at_root.get(path, body)):
            digest = digest_of(served)
            bodies[digest] = served
            digests.append(digest)
        kind = content_type(path)
        if kind is None:  # SiteFiles admits only allowed types
            raise ValueError(f"{path}: no content type")
        listed.append(
            VersionFile(
                path=path,
                digest=digests[0],
                size=len(body),
                content_type=kind,
                slug_digest=digests[1],
                root_digest=digests[2],
            )
        )
    return PreparedFiles(files=tuple(listed), bodies=bodies)
