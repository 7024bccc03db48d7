"""``webmagic subscriptions list|sync`` through CliRunner, on a SQLite file per test, with the
services wired on a fake clock and a fake payment gateway that plays the provider
(see cli_payments_support and cli_subscriptions_support)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cli_payments_support import Shop
from cli_subscriptions_support import owner_of, simulator, site, subscribe
from typer.testing import Result

from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.gateway import GatewayUnavailable

Invoke = Callable[..., Result]
ErrorLine = Callable[[Result], str]

SUBSCRIPTION_KEYS = {
    "id", "site_id", "site_slug", "customer_id", "status", "amount_in_cents", "currency", "provider_id",
    "checkout_id", "current_period_start", "current_period_end", "next_payment_attempt_at",
    "cancel_at_period_end", "paid_through", "created_at", "started_at", "cancelled_at", "ended_at",
    "last_synced_at",
}  # fmt: skip


def as_json(invoke: Invoke, *args: str, code: int = 0) -> Any:
    result = invoke("subscriptions", *args, "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def row(result: Result, needle: str) -> str:
    [line] = [line for line in result.stdout.splitlines() if needle in line]
    return line


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("subscriptions",), "re-read one from the payment provider"),
        (("subscriptions", "list"), "List subscriptions, newest first"),
        (("subscriptions", "sync"), "Read one subscription from the payment provider again"),
    ],
)
def test_help(invoke: Invoke, command: tuple[str, ...], expected: str) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert expected in result.stdout


def test_list_help_documents_the_json_keys(invoke: Invoke) -> None:
    text = invoke("subscriptions", "list", "--help").stdout
    for key in SUBSCRIPTION_KEYS:
        assert f"{key}" in text


@pytest.mark.parametrize("args", [("list",), ("sync", "su_123")])
def test_commands_need_a_migrated_database(
    invoke: Invoke, error_line: ErrorLine, args: tuple[str, ...]
) -> None:
    result = invoke("subscriptions", *args)
    assert result.exit_code == 2, result.output
    assert "`webmagic db upgrade --create`" in error_line(result)


# --- list ---------------------------------------------------------------------------------------


def test_list_when_there_are_none(invoke: Invoke, shop: Shop) -> None:
    assert "No subscriptions yet." in invoke("subscriptions", "list").stdout
    assert "No past_due subscriptions." in invoke("subscriptions", "list", "--status", "past_due").stdout
    assert as_json(invoke, "list") == []


def test_list_shows_subscriptions_newest_first_and_filters(invoke: Invoke, shop: Shop) -> None:
    provider = simulator(shop)
    rosa, rosa_su = subscribe(shop, provider, "casa-rosa")
    luna, luna_su = subscribe(shop, provider, "luna-cafe")
    shop.container.subscriptions.cancel(owner_of(shop, "casa-rosa"), "casa-rosa")

    result = invoke("subscriptions", "list")

    assert result.exit_code == 0, result.output
    header = [cell.strip() for cell in result.stdout.splitlines()[0].split("┃")]
    assert header == [
        "ID", "Site", "Provider ID", "Status", "Period end", "Cancel at end", "Next attempt",
    ]  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if "-cafe" in line or "-rosa" in line]
    assert [("luna-cafe" in line) for line in lines] == [True, False]  # newest first
    cancelled = row(result, "casa-rosa")
    assert rosa.id.hex[:8] in cancelled
    assert rosa_su in cancelled
    assert "cancelled" in cancelled
    assert "yes" in cancelled
    assert "—" in cancelled  # no next payment attempt
    active = row(result, "luna-cafe")
    assert luna_su in active
    assert "active" in active
    assert " no " in active
    assert luna.current_period_end is not None
    assert luna.current_period_end.strftime("%Y-%m-%d %H:%M") in active
    assert "2 subscriptions (newest first; times in UTC)." in result.stdout

    only = invoke("subscriptions", "list", "--status", "ACTIVE")
    assert only.exit_code == 0, only.output
    assert "luna-cafe" in only.stdout
    assert "casa-rosa" not in only.stdout


def test_list_json(invoke: Invoke, shop: Shop) -> None:
    sub, provider_id = subscribe(shop, simulator(shop), "casa-rosa")

    [data] = as_json(invoke, "list")

    assert set(data) == SUBSCRIPTION_KEYS
    assert data["id"] == str(sub.id)
    assert data["site_slug"] == "casa-rosa"
    assert data["site_id"] == str(site(shop, "casa-rosa").id)
    assert data["customer_id"] == str(owner_of(shop, "casa-rosa"))
    assert data["status"] == "active"
    assert (data["amount_in_cents"], data["currency"]) == (9500, "USD")
    assert data["provider_id"] == provider_id
    assert data["checkout_id"] == sub.checkout_id
    assert data["cancel_at_period_end"] is False
    assert sub.current_period_end is not None
    assert data["current_period_end"] == sub.current_period_end.isoformat()
    assert data["paid_through"] == data["current_period_end"]
    assert data["ended_at"] is None
    assert as_json(invoke, "list", "--status", "paused") == []


def test_list_refuses_an_unknown_status(invoke: Invoke, shop: Shop) -> None:
    result = invoke("subscriptions", "list", "--status", "lapsed")
    assert result.exit_code == 2
    assert "lapsed" in result.stderr


# --- sync ---------------------------------------------------------------------------------------


def test_sync_applies_what_a_lost_webhook_said(invoke: Invoke, shop: Shop) -> None:
    provider = simulator(shop)
    sub, provider_id = subscribe(shop, provider, "casa-rosa")
    provider.fail_renewal(provider_id)  # its webhooks never arrive
    assert site(shop, "casa-rosa").status is SiteStatus.ACTIVE

    result = invoke("subscriptions", "sync", provider_id)

    assert result.exit_code == 0, result.output
    assert f"Synced {sub.id} ({provider_id}): applied." in result.stdout
    assert "past_due" in row(result, "Status")
    assert "casa-rosa" in row(result, "Site")
    assert "$95.00 per month" in result.stdout
    assert site(shop, "casa-rosa").status is SiteStatus.PAST_DUE


@pytest.mark.parametrize("by", ["id", "checkout"])
def test_sync_by_id_or_checkout_in_json(invoke: Invoke, shop: Shop, by: str) -> None:
    provider = simulator(shop)
    sub, provider_id = subscribe(shop, provider, "casa-rosa")
    provider.cancel(provider_id)
    reference = str(sub.id) if by == "id" else sub.checkout_id
    assert reference is not None

    data = as_json(invoke, "sync", reference)

    assert data["result"] == "applied"
    assert data["detail"] is None
    assert set(data["subscription"]) == SUBSCRIPTION_KEYS
    assert data["subscription"]["status"] == "cancelled"
    assert data["subscription"]["cancel_at_period_end"] is True  # the paid month is honoured
    assert site(shop, "casa-rosa").status is SiteStatus.ACTIVE


def test_sync_of_an_unpaid_checkout_leaves_it_pending(invoke: Invoke, shop: Shop) -> None:
    shop.buy("casa-rosa", "Casa Rosa")
    started = shop.container.subscriptions.start(owner_of(shop, "casa-rosa"), "casa-rosa")

    result = invoke("subscriptions", "sync", started.checkout_id)

    assert result.exit_code == 0, result.output
    assert f"Synced {started.subscription_id}: pending (checkout unpaid)." in result.stdout
    assert "pending" in row(result, "Status")


def test_sync_of_an_unknown_subscription(invoke: Invoke, shop: Shop, error_line: ErrorLine) -> None:
    unknown = str(uuid.uuid4())
    for reference in ("su_nobody", unknown):
        result = invoke("subscriptions", "sync", reference)
        assert result.exit_code == 1, result.output
        assert error_line(result) == f"Error: no subscription matches {reference!r}"


def test_sync_when_the_provider_cannot_be_asked(invoke: Invoke, shop: Shop) -> None:
    sub, provider_id = subscribe(shop, simulator(shop), "casa-rosa")
    shop.gateway.fail_next(method="get_subscription", error=GatewayUnavailable("the provider timed out"))

    result = invoke("subscriptions", "sync", provider_id)

    assert result.exit_code == 1, result.output
    assert f"Synced {sub.id} ({provider_id}): error (the provider timed out)." in result.stdout
    assert "active" in row(result, "Status")  # unchanged

    shop.gateway.fail_next(method="get_subscription", error=GatewayUnavailable("the provider timed out"))
    data = as_json(invoke, "sync", provider_id, code=1)
    assert (data["result"], data["detail"]) == ("error", "the provider timed out")


def test_sync_takes_a_short_id_or_the_sites_slug(invoke: Invoke, shop: Shop) -> None:
    sub, _ = subscribe(shop, simulator(shop), "casa-rosa")
    for reference in (sub.id.hex[:8], "casa-rosa"):
        result = invoke("subscriptions", "sync", reference, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["subscription"]["id"] == str(sub.id)
