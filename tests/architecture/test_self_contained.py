"""The repository stands alone: no file points at documents outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Names of documents that live outside the repository, and any relative path leaving it.
OUTSIDE = re.compile(r"\.\./shared|\bDESIGN\.md|\bRECURRENTE\.md|(?<![\w/])API\.md")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def test_no_file_points_outside_the_repository() -> None:
    offenders = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # images, fonts: no references
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line) and path != Path(__file__):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert offenders == [], "references to documents outside the repository:\n" + "\n".join(offenders)


def test_the_docs_the_code_points_to_exist() -> None:
    named = set()
    for path in tracked_text_files():
        if path.suffix in {".py", ".md"}:
            named.update(re.findall(r"docs/[a-z_-]+\.md", path.read_text(encoding="utf-8", errors="ignore")))
    missing = sorted(name for name in named if not (ROOT / name).is_file())
    assert missing == [], f"documents named but missing: {missing}"
