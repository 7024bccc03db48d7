"""Automation: `nox` runs lint, type checks and the whole test suite (what CI runs)."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff: style and common bugs."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Every test: unit, contract (fake, SQLite, PostgreSQL), HTTP, CLI, architecture."""
    session.install("-e", ".[test]")
    session.run("pytest", "-n", os.environ.get("WEBMAGIC_TEST_WORKERS", "auto"), *session.posargs)


@nox.session(python=PYTHON)
def contract(session: nox.Session) -> None:
    """Only the port contract suites, against every adapter and its fake."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/contract", *session.posargs)
