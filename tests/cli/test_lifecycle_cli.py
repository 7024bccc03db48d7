"""``webmagic lifecycle sweep`` through CliRunner, on a SQLite file per test, with the services
wired on a fake clock and a fake payment gateway (see cli_payments_support and
cli_subscriptions_support)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from cli_payments_support import Shop
from cli_subscriptions_support import owner_of, simulator, site, subscribe
from typer.testing import Result

from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.gateway import GatewayUnavailable
from webmagic_core.payments.subscriptions import SubscriptionState

Invoke = Callable[..., Result]
ErrorLine = Callable[[Result], str]

NOTHING = {
    "reminders_sent": 0,
    "hosting_expired": 0,
    "subscriptions_ended": 0,
    "sites_suspended": 0,
    "synced": 0,
    "checkouts_expired": 0,
    "archived_cancelled": 0,
    "purchases_paid": 0,
    "errors": [],
}
LABELS = {
    "reminders_sent": "Reminders sent",
    "hosting_expired": "Hosting expired",
    "subscriptions_ended": "Subscriptions ended",
    "sites_suspended": "Sites suspended",
    "synced": "Synced",
    "checkouts_expired": "Checkouts expired",
    "archived_cancelled": "Archived sites' subscriptions cancelled",
    "purchases_paid": "Lost purchase payments found",
}


def sweep_json(invoke: Invoke, code: int = 0) -> Any:
    result = invoke("lifecycle", "sweep", "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def counts(result: Result) -> dict[str, int]:
    """The table's counts by JSON key (and ``errors``)."""
    lines = [line.strip() for line in result.stdout.splitlines()]
    found: dict[str, int] = {}
    for key, label in [*LABELS.items(), ("errors", "Errors")]:
        [line] = [line for line in lines if line.startswith(label + " ")]
        found[key] = int(line.removeprefix(label).strip())
    return found


def days(shop: Shop, count: float) -> None:
    shop.clock.advance(dt.timedelta(days=count))


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("lifecycle",), "Time-based transitions"),
        (("lifecycle", "sweep"), "Run the lifecycle sweep once, now"),
    ],
)
def test_help(invoke: Invoke, command: tuple[str, ...], expected: str) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert expected in result.stdout


def test_help_documents_the_json_keys(invoke: Invoke) -> None:
    text = invoke("lifecycle", "sweep", "--help").stdout
    for key in NOTHING:
        assert key in text


def test_needs_a_migrated_database(invoke: Invoke, error_line: ErrorLine) -> None:
    result = invoke("lifecycle", "sweep")
    assert result.exit_code == 2, result.output
    assert "`webmagic db upgrade --create`" in error_line(result)


def test_nothing_to_do(invoke: Invoke, shop: Shop) -> None:
    shop.buy("casa-rosa", "Casa Rosa")  # bought just now: a month of hosting ahead

    result = invoke("lifecycle", "sweep")

    assert result.exit_code == 0, result.output
    assert counts(result) == {**dict.fromkeys(LABELS, 0), "errors": 0}
    assert "Nothing to do" in result.stdout
    assert sweep_json(invoke) == NOTHING


def test_included_hosting_reminds_then_suspends_once(invoke: Invoke, shop: Shop) -> None:
    shop.buy("casa-rosa", "Casa Rosa")
    days(shop, 23.5)  # 6.5 days of included hosting left

    first = invoke("lifecycle", "sweep")

    assert first.exit_code == 0, first.output
    assert counts(first)["reminders_sent"] == 1
    assert "Nothing to do" not in first.stdout
    assert sweep_json(invoke) == NOTHING  # the reminder is not sent twice
    assert site(shop, "casa-rosa").status is SiteStatus.OWNED

    days(shop, 6)
    assert sweep_json(invoke) == {**NOTHING, "reminders_sent": 1}  # the one-day reminder

    days(shop, 1)
    assert sweep_json(invoke) == {**NOTHING, "hosting_expired": 1, "sites_suspended": 1}
    assert site(shop, "casa-rosa").status is SiteStatus.SUSPENDED
    assert sweep_json(invoke) == NOTHING


def test_a_cancelled_subscription_ends_when_its_paid_time_is_over(invoke: Invoke, shop: Shop) -> None:
    sub, _ = subscribe(shop, simulator(shop), "casa-rosa")
    shop.container.subscriptions.cancel(owner_of(shop, "casa-rosa"), "casa-rosa")
    assert sweep_json(invoke) == NOTHING  # still paid for
    assert sub.current_period_end is not None
    shop.clock.current = sub.current_period_end + dt.timedelta(minutes=1)

    result = invoke("lifecycle", "sweep")

    assert result.exit_code == 0, result.output
    assert counts(result) == {
        **dict.fromkeys(LABELS, 0),
        "subscriptions_ended": 1,
        "sites_suspended": 1,
        "errors": 0,
    }
    assert site(shop, "casa-rosa").status is SiteStatus.SUSPENDED
    assert shop.container.subscriptions.find(str(sub.id)).ended_at is not None
    assert sweep_json(invoke) == NOTHING


def test_reads_a_subscription_whose_webhooks_were_lost(invoke: Invoke, shop: Shop) -> None:
    _, provider_id = subscribe(shop, simulator(shop), "casa-rosa")
    simulator(shop).fail_renewal(provider_id)  # moves the clock to the period's end; nothing delivered
    shop.clock.advance(dt.timedelta(hours=7))  # past the sweep's grace

    assert sweep_json(invoke) == {**NOTHING, "synced": 1}
    assert site(shop, "casa-rosa").status is SiteStatus.PAST_DUE


def test_expires_an_unpaid_subscription_checkout(invoke: Invoke, shop: Shop) -> None:
    shop.buy("casa-rosa", "Casa Rosa")
    started = shop.container.subscriptions.start(owner_of(shop, "casa-rosa"), "casa-rosa")
    shop.clock.advance(dt.timedelta(minutes=31))

    assert sweep_json(invoke) == {**NOTHING, "checkouts_expired": 1}
    expired = shop.container.subscriptions.find(started.checkout_id)
    assert expired.status is SubscriptionState.EXPIRED


def test_errors_are_listed_and_exit_1(invoke: Invoke, shop: Shop) -> None:
    _, provider_id = subscribe(shop, simulator(shop), "casa-rosa")
    simulator(shop).fail_renewal(provider_id)
    shop.clock.advance(dt.timedelta(hours=7))
    shop.gateway.fail_next(method="get_subscription", error=GatewayUnavailable("the provider timed out"))

    result = invoke("lifecycle", "sweep")

    assert result.exit_code == 1, result.output
    assert counts(result)["errors"] == 1
    [line] = [line for line in result.stdout.splitlines() if "✗" in line]
    assert "the provider timed out" in line
    assert site(shop, "casa-rosa").status is SiteStatus.ACTIVE  # tried again next time

    shop.gateway.fail_next(method="get_subscription", error=GatewayUnavailable("the provider timed out"))
    data = sweep_json(invoke, code=1)
    assert data["synced"] == 0
    [error] = data["errors"]
    assert "the provider timed out" in error

    assert sweep_json(invoke) == {**NOTHING, "synced": 1}  # the provider is back
    assert site(shop, "casa-rosa").status is SiteStatus.PAST_DUE
