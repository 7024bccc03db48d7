"""The account use cases on SQLite and PostgreSQL, wired by ``bootstrap`` as the app is
(real templates, token signer and SQL unit of work; a fast hasher and a recording mailer):
the SQL repositories carry every flow, and the outbox delivers each mail once."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from pydantic import SecretStr

from webmagic_adapters.bootstrap import Container, bootstrap
from webmagic_adapters.settings import Settings
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.accounts.customers import REFRESH_TOKEN_LIFETIME
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.accounts.errors import InvalidToken
from webmagic_core.errors import PermissionDenied, Unauthenticated
from webmagic_core.outbox import OutboxStatus
from webmagic_core.services.accounts import LoginResult
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakeMailer, FakePasswordHasher

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another long passphrase"
CLIENT = "203.0.113.7"
_TOKEN = re.compile(r"[?&]token=([^\s&\"'<>]+)")


@pytest.fixture
def app(database: Database, tmp_path: Path) -> Iterator[Container]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database.engine.url.render_as_string(hide_password=False),
        secret_key=SecretStr("test-secret-key-for-the-sql-account-flows"),
        public_url="https://app.example.com",
        redis_url=None,
    )
    container = bootstrap(settings, clock=FakeClock(), mailer=FakeMailer(), hasher=FakePasswordHasher())
    yield container
    container.close()


def mailer(app: Container) -> FakeMailer:
    assert isinstance(app.mailer, FakeMailer)
    return app.mailer


def deliver(app: Container, template: EmailTemplate, to: str) -> EmailMessage:
    """Run the relay; the one new message must be ``template`` to ``to``."""
    before = len(mailer(app).sent)
    assert app.relay.drain().sent == 1
    (message,) = mailer(app).sent[before:]
    assert (message.template, message.to) == (template, to)
    return message


def token_in(message: EmailMessage) -> str:
    found = _TOKEN.search(message.text)
    assert found is not None, message.text
    assert found.group(1) in message.html  # the HTML part carries the same link
    return unquote(found.group(1))


def test_register_verify_login_refresh_reset(app: Container) -> None:
    accounts, clock = app.accounts, app.clock
    assert isinstance(clock, FakeClock)

    accounts.register("  Rosa@Example.COM ", PASSWORD, "Rosa Díaz", "+34 600 123 456", client=CLIENT)
    verify = deliver(app, EmailTemplate.VERIFY_EMAIL, "rosa@example.com")
    with pytest.raises(PermissionDenied):
        accounts.login("rosa@example.com", PASSWORD, CLIENT)

    customer = accounts.verify_email(token_in(verify))
    assert customer.email_verified
    with pytest.raises(InvalidToken):
        accounts.verify_email(token_in(verify))  # works once
    assert accounts.me(customer.id).email_verified_at == clock.now()

    first = accounts.login("ROSA@example.com", PASSWORD, CLIENT)
    assert first.customer.id == customer.id
    assert (
        accounts.authenticate(customer.id, first.customer.token_version, first.login_id).full_name
        == "Rosa Díaz"
    )
    clock.advance(dt.timedelta(minutes=20))
    second = accounts.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.refresh_expires_at == clock.now() + REFRESH_TOKEN_LIFETIME

    # A spent token presented again ends that whole login, the fresh token with it.
    with pytest.raises(Unauthenticated):
        accounts.refresh(first.refresh_token)
    with pytest.raises(Unauthenticated):
        accounts.refresh(second.refresh_token)
    with pytest.raises(Unauthenticated):  # and the access tokens of that login
        accounts.authenticate(customer.id, customer.token_version, second.login_id)

    other_login = accounts.login("rosa@example.com", PASSWORD, CLIENT)
    accounts.logout(other_login.refresh_token)
    with pytest.raises(Unauthenticated):
        accounts.refresh(other_login.refresh_token)

    kept_login = accounts.login("rosa@example.com", PASSWORD, CLIENT)
    accounts.forgot_password("rosa@example.com", client=CLIENT)
    reset = deliver(app, EmailTemplate.PASSWORD_RESET, "rosa@example.com")
    changed = accounts.reset_password(token_in(reset), NEW_PASSWORD)
    assert changed.token_version == customer.token_version + 1
    deliver(app, EmailTemplate.PASSWORD_CHANGED, "rosa@example.com")
    with pytest.raises(InvalidToken):
        accounts.reset_password(token_in(reset), "yet another passphrase")  # works once
    # The reset ended every login and every access token.
    with pytest.raises(Unauthenticated):
        accounts.refresh(kept_login.refresh_token)
    with pytest.raises(Unauthenticated):
        accounts.authenticate(customer.id, customer.token_version, kept_login.login_id)
    with pytest.raises(Unauthenticated):
        accounts.login("rosa@example.com", PASSWORD, CLIENT)
    assert accounts.login("rosa@example.com", NEW_PASSWORD, CLIENT).customer.token_version == 2

    # Registering again mails the owner instead; still one account.
    accounts.register("rosa@example.com", "some other passphrase", client=CLIENT)
    deliver(app, EmailTemplate.ACCOUNT_EXISTS, "rosa@example.com")
    updated = accounts.update_profile(customer.id, full_name="  Rosa   Díaz López ", phone=None)
    assert (updated.full_name, updated.phone) == ("Rosa Díaz López", None)
    assert accounts.me(customer.id) == updated

    assert app.relay.counts() == {OutboxStatus.PENDING: 0, OutboxStatus.SENT: 4, OutboxStatus.DEAD: 0}
    assert [m.template for m in mailer(app).sent] == [
        EmailTemplate.VERIFY_EMAIL,
        EmailTemplate.PASSWORD_RESET,
        EmailTemplate.PASSWORD_CHANGED,
        EmailTemplate.ACCOUNT_EXISTS,
    ]


def run_together(*calls: object) -> list[object]:
    """Run the calls in threads started at once; each result or the exception raised."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call: object) -> None:
        try:
            barrier.wait()
            assert callable(call)
            results[index] = call()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_registering_one_address_twice_at_once_makes_one_account(app: Container) -> None:
    results = run_together(
        lambda: app.accounts.register("rosa@example.com", PASSWORD),
        lambda: app.accounts.register("rosa@example.com", NEW_PASSWORD),
    )
    assert results == [None, None]
    assert app.relay.drain().sent == 2
    templates = sorted(m.template.value for m in mailer(app).sent)
    assert templates == [EmailTemplate.ACCOUNT_EXISTS.value, EmailTemplate.VERIFY_EMAIL.value]


def test_a_refresh_token_used_twice_at_once_rotates_once_and_ends_the_login(app: Container) -> None:
    app.accounts.register("rosa@example.com", PASSWORD)
    app.accounts.verify_email(token_in(deliver(app, EmailTemplate.VERIFY_EMAIL, "rosa@example.com")))
    login = app.accounts.login("rosa@example.com", PASSWORD, CLIENT)

    results = run_together(
        lambda: app.accounts.refresh(login.refresh_token), lambda: app.accounts.refresh(login.refresh_token)
    )

    winners = [r for r in results if isinstance(r, LoginResult)]
    assert len(winners) == 1, results
    assert sum(isinstance(r, Unauthenticated) for r in results) == 1, results
    # The second use revoked the family, the token the winner got included.
    with pytest.raises(Unauthenticated):
        app.accounts.refresh(winners[0].refresh_token)
