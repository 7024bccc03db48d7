"""The dependency rule of docs/architecture.md, checked on the source of every module."""

from __future__ import annotations

import ast
import re
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
# The drivers reach the adapters through one door: the container and the names re-exported
# beside it. Nor do they use the persistence libraries the adapters wrap.
DRIVERS = {"webmagic_http", "webmagic_cli"}
DRIVER_DOOR = "webmagic_adapters.bootstrap"
DRIVER_FORBIDDEN_THIRD_PARTY = {"sqlalchemy", "alembic", "psycopg"}
CORE_ALLOWED_THIRD_PARTY = {"attrs"}
# The provider's pure modules (its webhook bodies read as core events; its model: state,
# rules and payload builders): stdlib, attrs and the core only. The in-memory test worlds of
# ``webmagic_core.testing`` imitate that provider, so they (and only they, in the core) may
# import these modules (the model is a package: its modules too); the core proper never does.
PURE_PROVIDER_MODULES = {
    "webmagic_adapters.payments.provider_model",
    "webmagic_adapters.payments.recurrente_events",
}
CORE_TEST_SUPPORT = "webmagic_core/testing/"


def is_pure_provider(module: str) -> bool:
    return any(module == pure or module.startswith(pure + ".") for pure in PURE_PROVIDER_MODULES)


def pure_provider_files() -> list[Path]:
    files = []
    for module in sorted(PURE_PROVIDER_MODULES):
        base = SRC / module.replace(".", "/")
        files += sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
    return files


# Recurrente's vocabulary (field names, type names, event types): the core speaks of
# neutral payment events; only the adapters (and the test support above) know these.
PROVIDER_VOCABULARY = re.compile(
    r"paymentable|payment_intent|OneTimePayment|event_type\s*==|refund\.create|dispute\.|"
    r"subscription\.(create|cancel|past_due|pause|paused|unpause|reactivate|update)\b"
)
# Driven adapters implement ports; they never call a use case (a service). The modules that
# do are the composition root and the adapters that *drive* the core: the bootstrap, the
# demo data and the site-folder importer (they feed files to ``SiteService``).
DRIVING_ADAPTERS = {
    "webmagic_adapters/bootstrap.py",
    "webmagic_adapters/demo/__init__.py",
    "webmagic_adapters/site_folders.py",
}


def imported_modules(path: Path, module_name: str | None = None) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, relative imports resolved against ``module_name`` (the
    dotted name of ``path``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if module_name is None:
                    raise AssertionError(f"{path}:{node.lineno}: relative import of an unnamed module")
                package = module_name.split(".")
                base = package[: len(package) - node.level + (path.name == "__init__.py")]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__") or (
            isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
        ):
            raise AssertionError(f"{path}:{node.lineno}: dynamic import hides a dependency")


def module_name_of(path: Path, root: Path = SRC) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def driver_problems(module: str) -> list[str]:
    """What is wrong with a driver (HTTP or CLI module) importing ``module``."""
    top = module.split(".")[0]
    # ``from webmagic_adapters import x`` is refused too: it would hide which module x is.
    if top == "webmagic_adapters" and module != DRIVER_DOOR:
        return [f"(the adapters are reached through {DRIVER_DOOR} only)"]
    if top in DRIVER_FORBIDDEN_THIRD_PARTY:
        return ["(persistence is the adapters' business)"]
    return []


def modules_of(package: str) -> list[Path]:
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"no modules found for {package}"
    return files


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_follow_the_rule(package: str) -> None:
    stdlib = sys.stdlib_module_names
    problems = []
    for path in modules_of(package):
        for line, module in imported_modules(path, module_name_of(path)):
            top = module.split(".")[0]
            where = f"{path.relative_to(SRC)}:{line} imports {module}"
            if top in FORBIDDEN.get(package, set()):
                problems.append(where)
            if package in DRIVERS:
                problems += [f"{where} {why}" for why in driver_problems(module)]
            if (
                package == "webmagic_adapters"
                and module.startswith("webmagic_core.services")
                and path.relative_to(SRC).as_posix() not in DRIVING_ADAPTERS
            ):
                problems.append(f"{where} (a driven adapter calling a use case)")
            test_support = path.relative_to(SRC).as_posix().startswith(CORE_TEST_SUPPORT)
            if (
                package == "webmagic_core"
                and top not in stdlib
                and top not in CORE_ALLOWED_THIRD_PARTY | {"webmagic_core"}
                and not (test_support and is_pure_provider(module))
            ):
                problems.append(where)
            if package == "webmagic_core" and not test_support and module.startswith("webmagic_core.testing"):
                problems.append(f"{where} (the core proper using its test support)")
    assert problems == [], "dependency rule broken:\n" + "\n".join(problems)


def test_the_pure_provider_modules_import_only_the_core() -> None:
    problems = []
    files = pure_provider_files()
    assert len(files) > len(PURE_PROVIDER_MODULES)  # the model's package was read, module by module
    for path in files:
        for line, imported in imported_modules(path, module_name_of(path)):
            top = imported.split(".")[0]
            allowed = (
                top in sys.stdlib_module_names
                or top in CORE_ALLOWED_THIRD_PARTY
                or is_pure_provider(imported)
                or (
                    top == "webmagic_core"
                    and not imported.startswith(("webmagic_core.services", "webmagic_core.testing"))
                )
            )
            if not allowed:
                problems.append(f"{path.relative_to(SRC)}:{line} imports {imported}")
    # Importing them must not drag the HTTP client or the database in through the package.
    package_init = SRC / "webmagic_adapters" / "payments" / "__init__.py"
    problems += [
        f"{package_init.relative_to(SRC)}:{line} imports {m}" for line, m in imported_modules(package_init)
    ]
    assert problems == [], "the provider's pure modules import more than the core:\n" + "\n".join(problems)


def test_the_core_speaks_no_provider_vocabulary() -> None:
    found = []
    for path in modules_of("webmagic_core"):
        if path.relative_to(SRC).as_posix().startswith(CORE_TEST_SUPPORT):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if match := PROVIDER_VOCABULARY.search(line):
                found.append(f"{path.relative_to(SRC)}:{number}: {match.group(0)!r}")
    assert found == [], "provider vocabulary in the core:\n" + "\n".join(found)


def test_the_vocabulary_check_sees_the_provider() -> None:
    for line in (
        'if info.paymentable_type == "Subscription":',
        'if event.event_type == "refund.create":',
        'read.text("payment_intent.id")',
        'case "subscription.cancel":',
    ):
        assert PROVIDER_VOCABULARY.search(line), line
    assert not PROVIDER_VOCABULARY.search("subscription.changed, refund due, a dispute")


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlalchemy\nfrom webmagic_http.app import create_app\n", encoding="utf-8")
    assert [m for _, m in imported_modules(bad)] == ["sqlalchemy", "webmagic_http.app"]


def test_the_checker_resolves_relative_imports(tmp_path: Path) -> None:
    package = tmp_path / "webmagic_cli"
    package.mkdir()
    (package / "__init__.py").write_text("from . import db\n", encoding="utf-8")
    (package / "db.py").write_text("from ..webmagic_adapters.sqlalchemy import backup\n", encoding="utf-8")
    assert [m for _, m in imported_modules(package / "__init__.py", "webmagic_cli")] == ["webmagic_cli"]
    found = [m for _, m in imported_modules(package / "db.py", module_name_of(package / "db.py", tmp_path))]
    assert found == ["webmagic_adapters.sqlalchemy"]


@pytest.mark.parametrize(
    ("module", "refused"),
    [
        ("webmagic_adapters.bootstrap", False),
        ("webmagic_core.services.sites", False),
        ("litestar", False),
        ("webmagic_adapters.keys", True),
        ("webmagic_adapters.sqlalchemy.database", True),
        ("webmagic_adapters", True),
        ("webmagic_adapters.bootstrap_extra", True),
        ("sqlalchemy.exc", True),
        ("alembic.script", True),
    ],
)
def test_the_driver_rule(module: str, refused: bool) -> None:
    assert bool(driver_problems(module)) is refused


def test_a_forbidden_driver_import_fails_the_rule(tmp_path: Path) -> None:
    """The whole check, on a copy of the CLI with one import added behind the container's back."""
    import shutil

    copy = tmp_path / "webmagic_cli"
    shutil.copytree(SRC / "webmagic_cli", copy)
    stats = copy / "stats.py"
    stats.write_text(
        stats.read_text(encoding="utf-8") + "\nfrom webmagic_adapters.money_format import format_money\n",
        encoding="utf-8",
    )
    found = [
        (path.name, module)
        for path in sorted(copy.rglob("*.py"))
        for _, module in imported_modules(path, module_name_of(path, tmp_path))
        if driver_problems(module)
    ]
    assert found == [("stats.py", "webmagic_adapters.money_format")]


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


def test_the_drivers_use_only_what_the_door_declares() -> None:
    """Every name the drivers take from the bootstrap is in its ``__all__`` (the door is
    declared, not whatever the module happens to import)."""
    import webmagic_adapters.bootstrap as door

    undeclared = []
    for package in sorted(DRIVERS):
        for path in modules_of(package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module == DRIVER_DOOR:
                    undeclared += [
                        f"{path.relative_to(SRC)}:{node.lineno} {alias.name}"
                        for alias in node.names
                        if alias.name not in door.__all__
                    ]
    assert undeclared == [], "names taken from the bootstrap outside its __all__:\n" + "\n".join(undeclared)
    assert [name for name in door.__all__ if not hasattr(door, name)] == []
