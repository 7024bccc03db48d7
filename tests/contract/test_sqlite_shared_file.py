"""SQLite shared by several processes (the server, the CLI, a relay): what one process
commits is seen by the others, even after the others open and close connections.

Regression: every new connection used to open and close the database file to make it
owner-only, which dropped the process's POSIX locks on it (closing any descriptor of a file
does); another process closing its last connection then believed it was the last user and
deleted the ``-wal`` file under the first process's connections, whose later commits went
to a deleted file nobody else could read (an owner's edit request invisible to
``webmagic edits list`` until the server stopped)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from webmagic_adapters.sqlalchemy.database import Database


def deleted_descriptors() -> list[str]:
    found = []
    for fd in Path(f"/proc/{os.getpid()}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.endswith(" (deleted)") and "webmagic.db" in target:
            found.append(target)
    return found


def test_another_process_closing_never_deletes_the_wal_under_this_one(tmp_path: Path) -> None:
    path = tmp_path / "data" / "webmagic.db"
    database = Database(f"sqlite:///{path.as_posix()}")
    try:
        database.upgrade()
        holder = database.engine.connect()  # a connection this process keeps open
        holder.execute(text("SELECT count(*) FROM sites")).all()
        holder.rollback()
        # A second connection of this process is made (each new one used to reopen the file).
        extra = database.engine.raw_connection()
        extra.close()
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sqlite3; c = sqlite3.connect({str(path)!r}); "
                "c.execute('select count(*) from sites').fetchall(); c.close()",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert other.returncode == 0, other.stderr
        assert deleted_descriptors() == []
        assert Path(f"{path}-wal").exists()
        holder.execute(text("INSERT INTO health_checks (id, checked_at) VALUES (7, CURRENT_TIMESTAMP)"))
        holder.commit()
        seen = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sqlite3; print(sqlite3.connect({str(path)!r})"
                ".execute('select count(*) from health_checks where id = 7').fetchone()[0])",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert seen.stdout.strip() == "1", seen.stderr
        holder.close()
    finally:
        database.dispose()
    assert os.stat(path).st_mode & 0o777 == 0o600
