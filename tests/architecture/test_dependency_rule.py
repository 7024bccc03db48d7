"""The dependency rule of docs/architecture.md, checked on the source of every module."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGES = ("webmagic_core", "webmagic_adapters", "webmagic_http", "webmagic_cli")

FORBIDDEN: dict[str, set[str]] = {
    "webmagic_adapters": {"webmagic_http", "webmagic_cli"},
    "webmagic_http": {"webmagic_cli"},
    "webmagic_cli": {"webmagic_http"},
}
CORE_ALLOWED_THIRD_PARTY = {"attrs"}


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            raise AssertionError(f"{path}:{node.lineno}: dynamic import hides a dependency")


def modules_of(package: str) -> list[Path]:
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"no modules found for {package}"
    return files


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_follow_the_rule(package: str) -> None:
    stdlib = sys.stdlib_module_names
    problems = []
    for path in modules_of(package):
        for line, module in imported_modules(path):
            top = module.split(".")[0]
            where = f"{path.relative_to(SRC)}:{line} imports {module}"
            if top in FORBIDDEN.get(package, set()):
                problems.append(where)
            if (
                package == "webmagic_core"
                and top not in stdlib
                and top not in CORE_ALLOWED_THIRD_PARTY | {"webmagic_core"}
            ):
                problems.append(where)
    assert problems == [], "dependency rule broken:\n" + "\n".join(problems)


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlalchemy\nfrom webmagic_http.app import create_app\n", encoding="utf-8")
    assert [m for _, m in imported_modules(bad)] == ["sqlalchemy", "webmagic_http.app"]


def test_importing_the_packages_does_no_io() -> None:
    """Importing every module must not open a database or socket (no work at import time)."""
    import subprocess

    code = (
        "import socket, sqlite3, pkgutil, importlib\n"
        "def refuse(*a, **k): raise AssertionError('I/O at import time')\n"
        "socket.socket.connect = refuse; sqlite3.connect = refuse\n"
        f"for pkg in {PACKAGES!r}:\n"
        "    mod = importlib.import_module(pkg)\n"
        "    for info in pkgutil.walk_packages(mod.__path__, pkg + '.'):\n"
        "        if '.migrations.' in info.name: continue\n"
        "        importlib.import_module(info.name)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
