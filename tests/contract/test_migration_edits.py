"""Revision 0011 (edit requests; versions say why they exist) on SQLite and PostgreSQL:
versions made before it keep their operator's words as ``note`` and get a cause (``import``
for the first, ``publish`` for the others); it goes down to 0010 with the words back in
``cause``, and up again. Nothing here assumes 0011 is the head."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import inspect, text

from webmagic_adapters.sqlalchemy.database import Database

T0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def _id(database: Database, value: uuid.UUID) -> Any:
    return value.hex if database.engine.dialect.name == "sqlite" else value


def versions(database: Database, site_id: uuid.UUID, columns: str) -> list[tuple[Any, ...]]:
    with database.engine.connect() as connection:
        rows = connection.execute(
            text(f"SELECT number, {columns} FROM site_versions WHERE site_id = :id ORDER BY number"),
            {"id": _id(database, site_id)},
        )
        return [tuple(row) for row in rows]


def test_0011_gives_old_versions_a_cause_and_keeps_their_words(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    site_id = uuid.uuid4()
    try:
        database.upgrade("0010")
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO sites"
                    " (id, slug, business_name, status, current_version, created_at, updated_at)"
                    " VALUES (:id, 'old-bakery', 'Old Bakery', 'preview', 2, :at, :at)"
                ),
                {"id": _id(database, site_id), "at": T0},
            )
            for number, words in ((1, "created from the CLI"), (2, "new opening hours")):
                connection.execute(
                    text(
                        "INSERT INTO site_versions (site_id, number, cause, created_by, created_at)"
                        " VALUES (:id, :n, :cause, 'admin', :at)"
                    ),
                    {"id": _id(database, site_id), "n": number, "cause": words, "at": T0},
                )
        database.upgrade("0011")
        assert versions(database, site_id, "cause, note, edit_id, restored_from") == [
            (1, "import", "created from the CLI", None, None),
            (2, "publish", "new opening hours", None, None),
        ]
        tables = set(inspect(database.engine).get_table_names())
        assert {"edit_requests", "edit_draft_files"} <= tables

        database.downgrade("0010")
        assert versions(database, site_id, "cause") == [(1, "created from the CLI"), (2, "new opening hours")]
        assert "edit_requests" not in set(inspect(database.engine).get_table_names())

        database.upgrade()
        assert versions(database, site_id, "cause, note") == [
            (1, "import", "created from the CLI"),
            (2, "publish", "new opening hours"),
        ]
    finally:
        database.dispose()
