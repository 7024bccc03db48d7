"""What one version of a site changed against another, file by file."""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Sequence

import attrs

from webmagic_core.site_files import VersionFile, is_text


class Change(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@attrs.frozen
class FileChange:
    """One file that differs. Text files carry a unified diff and the lines ``added`` and
    ``removed``; other files (images, fonts) only what happened and their sizes."""

    name: str
    change: Change
    binary: bool
    added: int
    removed: int
    unified_diff: str
    size_before: int | None
    size_after: int | None


@attrs.frozen
class VersionDiff:
    from_number: int | None
    to_number: int
    files: tuple[FileChange, ...]


def diff_files(
    before: Sequence[VersionFile], after: Sequence[VersionFile], body: Callable[[str], bytes]
) -> tuple[FileChange, ...]:
    """The files that differ between two file lists, by path; ``body(digest)`` reads a
    stored body (asked only for text files that changed)."""
    old = {f.path: f for f in before}
    new = {f.path: f for f in after}
    changes = []
    for path in sorted(old.keys() | new.keys()):
        was, now = old.get(path), new.get(path)
        if was is not None and now is not None and was.digest == now.digest:
            continue
        change = Change.ADDED if was is None else Change.REMOVED if now is None else Change.CHANGED
        size_before = was.size if was is not None else None
        size_after = now.size if now is not None else None
        if not is_text(path):
            changes.append(FileChange(path, change, True, 0, 0, "", size_before, size_after))
            continue
        old_lines = body(was.digest).decode("utf-8").splitlines(keepends=True) if was is not None else []
        new_lines = body(now.digest).decode("utf-8").splitlines(keepends=True) if now is not None else []
        lines = list(
            difflib.unified_diff(
                old_lines,
                new_lines,
                fromfile=f"a/{path}" if was is not None else "/dev/null",
                tofile=f"b/{path}" if now is not None else "/dev/null",
            )
        )
        added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
        removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
        text = "".join(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
        )
        changes.append(FileChange(path, change, False, added, removed, text, size_before, size_after))
    return tuple(changes)
