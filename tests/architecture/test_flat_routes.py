"""HTTP route modules stand side by side: each imports support modules (``common``, ``auth``,
``boundary``, ``problems``, ``api_bodies``...) and the core, never another route module; only
``webmagic_http.app`` assembles them."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
HTTP = SRC / "webmagic_http"
HANDLER_DECORATORS = {"get", "post", "put", "patch", "delete", "route", "websocket"}
ASSEMBLER = "app"
# Chains still standing, each to be undone by moving the shared piece into a support module;
# no new chain may join this list (none stands now).
KNOWN_CHAINS: dict[tuple[str, str], str] = {}


def defines_routes(tree: ast.Module) -> bool:
    """Handlers made with Litestar's decorators (``@get``, ``route(...)(handler)``) or a Router."""
    for node in ast.walk(tree):
        decorated = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            isinstance(d, ast.Name) and d.id in HANDLER_DECORATORS for d in node.decorator_list
        )
        called = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in HANDLER_DECORATORS | {"Router"}
        )
        if decorated or called:
            return True
    return False


def http_imports(tree: ast.Module) -> set[str]:
    """The sibling modules of ``webmagic_http`` a module imports."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("webmagic_http."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("webmagic_http.")}
    return found


def chains(package: Path) -> set[tuple[str, str]]:
    trees = {path.stem: ast.parse(path.read_text(encoding="utf-8")) for path in package.glob("*.py")}
    routes = {name for name, tree in trees.items() if name != ASSEMBLER and defines_routes(tree)}
    return {
        (name, imported)
        for name in routes
        for imported in http_imports(trees[name])
        if imported in routes and imported != name
    }


def test_route_modules_do_not_import_each_other() -> None:
    found = chains(HTTP)
    new = sorted(found - KNOWN_CHAINS.keys())
    listed = "\n".join(f"webmagic_http/{a}.py imports webmagic_http.{b}" for a, b in new)
    assert new == [], f"route modules importing route modules (share through a support module):\n{listed}"


def test_the_route_check_sees_a_chain(tmp_path: Path) -> None:
    (tmp_path / "common.py").write_text("X = 1\n", encoding="utf-8")
    (tmp_path / "one.py").write_text(
        "from litestar import get\nfrom webmagic_http.common import X\n\n@get('/one')\ndef one() -> int:\n"
        "    return X\n",
        encoding="utf-8",
    )
    (tmp_path / "two.py").write_text(
        "from litestar import Router\nfrom webmagic_http.one import one\n\n"
        "ROUTER = Router('/two', route_handlers=[one])\n",
        encoding="utf-8",
    )
    (tmp_path / "app.py").write_text(
        "from webmagic_http.one import one\nfrom webmagic_http.two import ROUTER\n"
    )
    assert chains(tmp_path) == {("two", "one")}
