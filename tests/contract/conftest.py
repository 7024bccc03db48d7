"""Backends for the contract suites: the in-memory fake, SQLite and PostgreSQL.

A suite asks for ``backend`` (all three) or ``database`` (the two real ones). Each test
gets an empty, migrated database: a SQLite file in ``tmp_path``, or a fresh PostgreSQL
schema (see ``postgres_url`` in tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from contract_support import ALL, REAL, Backend, open_database

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.ports import UnitOfWorkFactory
from webmagic_core.testing import FakeUnitOfWorkFactory


@pytest.fixture(params=ALL)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "fake":
        yield Backend("fake", None, FakeUnitOfWorkFactory())
    else:
        yield Backend(request.param, open_database(request, request.param, tmp_path))


@pytest.fixture
def uow(backend: Backend) -> UnitOfWorkFactory:
    return backend.uow


@pytest.fixture(params=REAL)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    return open_database(request, request.param, tmp_path)


@pytest.fixture
def sqlite_database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A migrated SQLite file, for what only SQLite's transactions show."""
    return open_database(request, "sqlite", tmp_path)


@pytest.fixture(params=REAL)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of a database with no tables yet (for migration tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'fresh' / 'webmagic.db').as_posix()}"
    url: str = request.getfixturevalue("postgres_url")
    return url
