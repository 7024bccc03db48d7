"""Data at rest: the data folder is 0700 and every file the app keeps there 0600; the SQLite
database and its -wal/-shm files are 0600 wherever the URL puts them. Checked under a
permissive umask (022), the usual one, so nothing relies on the caller's."""

from __future__ import annotations

import os
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from webmagic_adapters.body_cipher import SEALED_PREFIX
from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_adapters.sqlalchemy.tables import outbox_messages
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.testing.accounts import FakeMailer, FakePasswordHasher


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def welcome() -> EmailMessage:
    return EmailMessage(
        id=uuid.uuid4(),
        to="rosa@example.com",
        subject="Welcome",
        text="Set your password: https://app.example.com/portal/set-password?token=t\n",
        html="<p>Set your password</p>",
        template=EmailTemplate.SITE_RESTORED,
    )


def use(data_dir: Path, **overrides: object) -> None:
    """Start the app the way ``serve`` does, write to the database and send one mail."""
    container = bootstrap(load_settings(data_dir=data_dir, **overrides), hasher=FakePasswordHasher())
    try:
        container.database.upgrade()
        container.accounts.register("rosa@example.com", "correct horse battery", client="127.0.0.1")
        container.mailer.send(welcome())
        container.settings.secret_key_value()
    finally:
        container.close()


def test_the_data_folder_and_everything_in_it_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    use(data)

    assert mode(data) == 0o700
    for name in ("secret_key", "sandbox_webhook_secret", "webmagic.db"):
        assert mode(data / name) == 0o600, name
    assert mode(data / "mail") == 0o700
    mails = list((data / "mail").glob("*.eml"))
    assert mails
    assert {mode(mail) for mail in mails} == {0o600}
    side_files = [data / f"webmagic.db{suffix}" for suffix in ("-wal", "-shm")]
    for side in side_files:
        if side.exists():  # present while a connection is open; checked on their own below
            assert mode(side) == 0o600


def test_the_sqlite_files_are_owner_only_wherever_the_url_puts_them(tmp_path: Path) -> None:
    elsewhere = tmp_path / "db" / "nested" / "shop.db"
    container = bootstrap(
        load_settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{elsewhere}"),
        hasher=FakePasswordHasher(),
    )
    try:
        container.database.upgrade()
        container.accounts.register("rosa@example.com", "correct horse battery", client="127.0.0.1")
        # With a connection open, the write-ahead log and its index exist.
        with container.database.engine.connect() as connection:
            connection.exec_driver_sql("SELECT count(*) FROM customer_users").scalar_one()
            for suffix in ("", "-wal", "-shm"):
                assert mode(elsewhere.with_name(f"shop.db{suffix}")) == 0o600, suffix
    finally:
        container.close()
    assert mode(elsewhere.parent) == 0o700  # made by the app
    assert mode(tmp_path / "db") == 0o700


def test_an_older_data_folder_is_made_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "mail").mkdir(parents=True)
    for path, text in [(data / "secret_key", "k" * 64), (data / "mail" / "old.eml", "mail")]:
        path.write_text(text)
        path.chmod(0o644)
    (data / "webmagic.db").touch(mode=0o644)
    (data / "webmagic.db-wal").touch(mode=0o644)
    data.chmod(0o755)
    (data / "mail").chmod(0o755)
    unrelated = data / "notes.txt"  # not the app's: left as it is
    unrelated.write_text("mine")
    unrelated.chmod(0o644)

    use(data)

    assert mode(data) == 0o700
    assert mode(data / "mail") == 0o700
    for path in (data / "secret_key", data / "mail" / "old.eml", data / "webmagic.db"):
        assert mode(path) == 0o600, path
    assert mode(unrelated) == 0o644


def test_queued_mail_is_encrypted_at_rest_and_sent_whole(tmp_path: Path) -> None:
    """Wired as ``serve`` wires it: the verify mail of a sign-up is queued as its data (the
    link), held in the database only encrypted, and the relay renders and sends the link
    itself; once sent, neither data nor bodies remain."""
    mailer = FakeMailer()
    container = bootstrap(
        load_settings(data_dir=tmp_path / "data"), hasher=FakePasswordHasher(), mailer=mailer
    )
    try:
        container.database.upgrade()
        container.accounts.register("rosa@example.com", "correct horse battery", client="127.0.0.1")
        with container.database.engine.connect() as connection:
            text, html, data = connection.execute(
                select(outbox_messages.c.text, outbox_messages.c.html, outbox_messages.c.data)
            ).one()

        assert container.relay.drain().sent == 1

        (sent,) = mailer.sent
        token = re.search(r"token=([\w.-]+)", sent.text)
        assert token is not None
        assert token.group(1) in sent.html
        assert (text, html) == ("", "")  # not rendered while queued
        assert data.startswith(SEALED_PREFIX)
        assert token.group(1) not in data
        assert "token=" not in data
        with container.database.engine.connect() as connection:
            after = connection.execute(select(outbox_messages.c.data, outbox_messages.c.text)).one()
        assert after.data is None
        assert token.group(1) not in after.text
    finally:
        container.close()
