"""What ``webmagic sites create`` and ``publish`` read from the operator: ``--dir``, or the
``--html/--css/--js`` shortcut, checked and turned into a site's files."""

from __future__ import annotations

from pathlib import Path

from webmagic_adapters.bootstrap import read_folder_files, read_limited
from webmagic_cli import output
from webmagic_cli.errors import UsageProblem
from webmagic_core.errors import ValidationError
from webmagic_core.site_files import FileLimits, SiteFiles
from webmagic_core.sites import MAX_ASSET_BYTES, MAX_HTML_BYTES, SiteContent


def _read(path: Path | None, option: str, limit: int, label: str) -> bytes | None:
    if path is None:
        return None
    if path.is_dir():
        raise UsageProblem(f"{option} {str(path)!r} is a folder, not a file")
    try:
        return read_limited(path, limit, label)
    except OSError as exc:
        raise UsageProblem(f"cannot read the {option} file {str(path)!r}: {exc.strerror or exc}") from None


def _folder_files(directory: Path, limits: FileLimits) -> SiteFiles:
    """The whole site from ``--dir``; skipped files are warned about, one line each."""
    if not directory.is_dir():
        raise UsageProblem(f"--dir {str(directory)!r} is not a folder")
    read = read_folder_files(directory, limits)
    for line in read.skipped:
        output.warn(line)
    return read.files


def chosen_files(
    directory: Path | None,
    html: Path | None,
    css: Path | None,
    js: Path | None,
    limits: FileLimits,
    *,
    current: SiteFiles | None = None,
) -> SiteFiles:
    """``--dir``, or the ``--html/--css/--js`` shortcut (over ``current``'s other files)."""
    if directory is not None:
        if html or css or js:
            raise UsageProblem("give either --dir or --html/--css/--js, not both")
        return _folder_files(directory, limits)
    if html is None:
        raise UsageProblem("give the site's files: --dir FOLDER, or --html FILE [--css FILE] [--js FILE]")
    content = _content(html, css, js)
    bodies = dict(current.bodies) if current is not None else {}
    bodies["index.html"] = content.html.encode()
    for name, given, text in (("styles.css", css, content.css), ("app.js", js, content.js)):
        if given is None:
            continue  # kept from ``current`` (or absent)
        if text:
            bodies[name] = text.encode()
        else:
            bodies.pop(name, None)  # an empty file drops it
    return SiteFiles.build(bodies, limits)


def _content(html: Path, css: Path | None, js: Path | None) -> SiteContent:
    """Read the shortcut's files."""
    html_bytes = _read(html, "--html", MAX_HTML_BYTES, "HTML") or b""
    css_bytes = _read(css, "--css", MAX_ASSET_BYTES, "CSS")
    js_bytes = _read(js, "--js", MAX_ASSET_BYTES, "JS")
    try:
        return SiteContent.from_bytes(html_bytes, css_bytes or b"", js_bytes or b"")
    except ValidationError as exc:
        # Name the file the problem is in.
        path = {"html": html, "css": css, "js": js}.get(exc.field or "")
        if path is None:
            raise
        raise ValidationError(f"{path}: {exc.detail}", field=exc.field) from None
