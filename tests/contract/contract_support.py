"""What the contract suites share besides their fixtures (tests/contract/conftest.py): the
backends' names, the ``Backend`` wrapper and ``open_database``. A module of its own name,
so a test run that also collects another folder's ``conftest`` imports the right one."""

from __future__ import annotations

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
