"""Backends for the contract suites: the in-memory fake, SQLite and PostgreSQL.

A suite asks for ``backend`` (all three) or ``database`` (the two real ones). Each test
gets an empty, migrated database: a SQLite file in ``tmp_path``, or a fresh PostgreSQL
schema (see ``postgres_url`` in tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from sqlalchemy import delete

from webmagic_adapters.keys import Keyring
from webmagic_adapters.sqlalchemy import tables
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.ports import UnitOfWorkFactory
from webmagic_core.testing import FakeUnitOfWorkFactory

# The keys the databases of the suites encrypt queued mail with.
TEST_KEYS = Keyring("contract-suite-secret-key-of-32-bytes-or-more")

REAL = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
ALL = ["fake", *REAL]


@attrs.define
class Backend:
    name: str
    database: Database | None
    _fake: FakeUnitOfWorkFactory | None = None

    @property
    def uow(self) -> UnitOfWorkFactory:
        if self.database is not None:
            return self.database.unit_of_work
        assert self._fake is not None
        return self._fake

    def reset(self) -> UnitOfWorkFactory:
        """Empty the store (between hypothesis examples) and return its factory."""
        if self.database is None:
            self._fake = FakeUnitOfWorkFactory()
        else:
            with self.database.engine.begin() as connection:
                for table in reversed(tables.metadata.sorted_tables):
                    connection.execute(delete(table))
        return self.uow


def open_database(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> Database:
    if name == "sqlite":
        url = f"sqlite:///{(tmp_path / 'data' / 'webmagic.db').as_posix()}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url, keys=TEST_KEYS)
    request.addfinalizer(database.dispose)
    database.upgrade()
    return database


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
