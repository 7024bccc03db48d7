"""Alembic environment. Runs only when Alembic runs a command, never on package import.

``Database.upgrade()`` passes its connection in ``config.attributes["connection"]``,
already inside a transaction. Without one (the ``alembic`` command line with a
``sqlalchemy.url`` option), a short-lived engine is made here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from webmagic_adapters.sqlalchemy.tables import metadata

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    from webmagic_adapters.sqlalchemy.database import Database

    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or run migrations with `webmagic db upgrade`")
    database = Database(url)
    try:
        with database.engine.connect() as own_connection:
            _configure(own_connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        database.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
