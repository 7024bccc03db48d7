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
    session.run("ruff", "check", "src", "tests", "benchmarks", "mutation", "noxfile.py")


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


@nox.session(python=PYTHON)
def mutate(session: nox.Session) -> None:
    """mutmut over the money, auth and throttling modules, each with its targeted tests.

    Prints `mutation: <module> killed K/T (P%)` per module and fails under 90%. CPU heavy
    (about 5 minutes on a quiet 2-core machine): not part of `nox` by default. `nox -s mutate -- purchases`
    runs one module; `-- --show` prints each surviving mutant's diff.
    """
    session.install("-e", ".[test]")
    session.run("python", "mutation/run.py", *session.posargs)
