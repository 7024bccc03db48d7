"""``webmagic customers`` through Typer's CliRunner, and once through the installed script:
list (search, status, pages, JSON), show, deactivate (confirmation, reason, logins ended,
sites kept), reactivate, resend-link, and the one-line errors."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_installed_script import clean_env, webmagic_script
from typer.testing import Result

from webmagic_adapters.bootstrap import Container, bootstrap
from webmagic_adapters.settings import SettingsError, load_settings
from webmagic_core.accounts.customers import Customer, RefreshSession
from webmagic_core.errors import Unauthenticated
from webmagic_core.sites import Actor, Site, SiteStatus

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
EMAIL = "owner@example.com"

Invoke = Callable[..., Result]


@pytest.fixture
def container(migrated: None) -> Iterator[Container]:
    """The services on the test's database, to set up accounts and check what commands did."""
    built = bootstrap(load_settings())
    try:
        yield built
    finally:
        built.close()


def add_customer(
    container: Container, email: str, minutes: int = 0, *, verified: bool = True, **kw: str
) -> Customer:
    customer = Customer.new(
        email=email, now=T0 + dt.timedelta(minutes=minutes), password_hash="x", verified=verified, **kw
    )
    with container.database.unit_of_work() as uow:
        uow.customers.add(customer)
        uow.commit()
    return customer


@pytest.fixture
def owner(container: Container) -> tuple[Customer, Site, RefreshSession]:
    customer = add_customer(container, EMAIL, full_name="Olga Owner")
    site = Site.new_preview(slug="olgas-bakery", business_name="Olga's", now=T0, actor=Actor.ADMIN, cause="t")
    site.sell(customer.id, cause="bought", actor=Actor.WEBHOOK, at=T0)
    session, _ = RefreshSession.issue(customer_id=customer.id, now=dt.datetime.now(dt.UTC))
    with container.database.unit_of_work() as uow:
        uow.sites.add(site)
        uow.refresh_sessions.add(session)
        uow.commit()
    return customer, site, session


def test_list_newest_first_with_search_status_pages_and_json(container: Container, invoke: Invoke) -> None:
    add_customer(container, "ana@example.com", 1, full_name="Ana Bakery")
    add_customer(container, "bruno@example.com", 2)
    add_customer(container, "carla@example.com", 3, verified=False)
    listed = invoke("customers", "list")
    assert listed.exit_code == 0, listed.output
    order = [listed.output.index(e) for e in ("carla@example.com", "bruno@example.com", "ana@example.com")]
    assert order == sorted(order)
    found = json.loads(invoke("customers", "list", "--search", "BAKERY", "--json").output)
    assert [c["email"] for c in found["customers"]] == ["ana@example.com"]
    unverified = json.loads(invoke("customers", "list", "--status", "unverified", "--json").output)
    assert [(c["email"], c["status"]) for c in unverified["customers"]] == [
        ("carla@example.com", "unverified")
    ]
    page = json.loads(invoke("customers", "list", "--per-page", "2", "--page", "2", "--json").output)
    assert ([c["email"] for c in page["customers"]], page["total"], page["pages"]) == (
        ["ana@example.com"],
        3,
        2,
    )
    bad = invoke("customers", "list", "--status", "sleeping")
    assert bad.exit_code != 0


def test_deactivate_asks_ends_logins_keeps_sites_and_shows_in_both_histories(
    container: Container, invoke: Invoke, owner: tuple[Customer, Site, RefreshSession]
) -> None:
    customer, site, session = owner
    declined = invoke("customers", "deactivate", EMAIL, input="n\n")
    assert declined.exit_code == 1
    assert "Nothing changed" in declined.output

    done = invoke("customers", "deactivate", EMAIL, "--reason", "chargeback filed", "--yes")
    assert done.exit_code == 0, done.output
    with container.database.unit_of_work() as uow:
        assert not uow.refresh_sessions.login_live(session.family_id)
        kept = uow.sites.get(site.id)
    assert kept is not None
    assert kept.status is SiteStatus.OWNED
    with pytest.raises(Unauthenticated):
        container.accounts.authenticate(customer.id, customer.token_version, session.family_id)

    shown = json.loads(invoke("customers", "show", EMAIL, "--json").output)
    assert shown["status"] == "inactive"
    assert [s["slug"] for s in shown["sites"]] == ["olgas-bakery"]
    assert shown["active_logins"] == []
    assert "chargeback filed" in shown["history"][0]["detail"]
    timeline = invoke("sites", "show", "olgas-bakery")
    assert "chargeback filed" in timeline.output

    again = invoke("customers", "deactivate", EMAIL, "--yes")
    assert again.exit_code != 0
    assert "already deactivated" in again.output

    back = invoke("customers", "reactivate", EMAIL, "--reason", "resolved")
    assert back.exit_code == 0, back.output
    assert json.loads(invoke("customers", "show", EMAIL, "--json").output)["status"] == "active"


def test_show_lists_the_profile_sites_and_logins(
    invoke: Invoke, owner: tuple[Customer, Site, RefreshSession]
) -> None:
    shown = invoke("customers", "show", EMAIL)
    assert shown.exit_code == 0, shown.output
    for text in ("Olga Owner", "olgas-bakery", "owned", str(owner[2].family_id), "Email verified: yes"):
        assert text in shown.output


def test_resend_link_queues_a_mail_and_records_it(
    invoke: Invoke, owner: tuple[Customer, Site, RefreshSession]
) -> None:
    sent = invoke("customers", "resend-link", EMAIL)
    assert sent.exit_code == 0, sent.output
    assert "set-password link" in sent.output
    shown = json.loads(invoke("customers", "show", EMAIL, "--json").output)
    assert [(e["template"], e["status"]) for e in shown["emails"]] == [("password_reset", "pending")]
    assert shown["history"][0]["kind"] == "link_sent"


def test_unknown_and_malformed_addresses_are_one_line_and_a_non_zero_exit(
    migrated: None, invoke: Invoke
) -> None:
    for command in ("show", "reactivate", "resend-link"):
        result = invoke("customers", command, "nobody@example.com")
        assert result.exit_code != 0
        assert result.output.strip() == "Error: no account has the email address nobody@example.com"
    malformed = invoke("customers", "deactivate", "not-an-address", "--yes")
    assert malformed.exit_code != 0
    assert len(malformed.output.strip().splitlines()) == 1


def test_the_installed_script_deactivates_and_lists(tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = clean_env(**cli_env)

    def webmagic(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [webmagic_script(), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    assert webmagic("db", "upgrade", "--create").returncode == 0
    container = bootstrap(load_settings())
    try:
        add_customer(container, EMAIL)
    finally:
        container.close()
    done = webmagic("customers", "deactivate", EMAIL, "--reason", "by script", "--yes")
    assert done.returncode == 0, done.stderr
    listed = json.loads(webmagic("customers", "list", "--status", "inactive", "--json").stdout)
    assert [c["email"] for c in listed["customers"]] == [EMAIL]


def test_the_login_address_retention_is_90_days_by_default_and_checked(container: Container) -> None:
    assert container.customers.activity_retention == dt.timedelta(days=90)
    assert load_settings(login_address_retention_days=7).login_address_retention_days == 7
    with pytest.raises(SettingsError, match="WEBMAGIC_LOGIN_ADDRESS_RETENTION_DAYS"):
        load_settings(login_address_retention_days=0)


def test_the_lifecycle_sweep_forgets_login_addresses_past_the_retention(
    container: Container, invoke: Invoke
) -> None:
    now = dt.datetime.now(dt.UTC)
    old = add_customer(container, "old@example.com")
    recent = add_customer(container, "recent@example.com")
    with container.database.unit_of_work() as uow:
        for customer, days in ((old, 91), (recent, 89)):
            customer.last_login_at, customer.last_login_address = now - dt.timedelta(days=days), "192.0.2.1"
            uow.customers.save(customer)
        uow.commit()
    assert invoke("lifecycle", "sweep").exit_code == 0
    with container.database.unit_of_work() as uow:
        assert [uow.customers.get(c.id).last_login_address for c in (old, recent)] == [None, "192.0.2.1"]  # type: ignore[union-attr]
