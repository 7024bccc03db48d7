"""SQLAlchemy 2 persistence: tables, repositories, unit of work, migrations."""
