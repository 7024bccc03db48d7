"""``webmagic stats`` through CliRunner, on a SQLite file per test."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from cli_payments_support import Shop
from cli_subscriptions_support import deliver_all, simulator, subscribe
from typer.testing import Result

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_core.money import Money
from webmagic_core.payments.webhook_log import WebhookOutcome

Invoke = Callable[..., Result]
ErrorLine = Callable[[Result], str]

EMPTY = {
    "previews": 0,
    "sites_total": 0,
    "sites_by_status": {
        "preview": 0, "owned": 0, "active": 0, "past_due": 0, "suspended": 0, "archived": 0,
    },
    "purchases_by_status": {
        "pending": 0, "paid": 0, "failed": 0, "expired": 0, "cancelled": 0, "refund_due": 0,
    },
    "revenue": [],
    "sites_purchased": 0,
    "conversion_percent": None,
    "open_anomalies": 0,
    "active_subscriptions": 0,
    "past_due_subscriptions": 0,
    "subscriptions_by_status": {
        "pending": 0, "expired": 0, "active": 0, "past_due": 0, "paused": 0, "cancelled": 0,
        "unable_to_start": 0,
    },
    "mrr": [],
    "churn_percent": None,
    "churn_subscriptions_at_start": 0,
    "churn_subscriptions_ended": 0,
}  # fmt: skip


def test_help_documents_the_json_keys(invoke: Invoke) -> None:
    result = invoke("stats", "--help")

    assert result.exit_code == 0, result.output
    for key in EMPTY:
        assert f"{key}" in result.stdout


def test_needs_a_migrated_database(invoke: Invoke, error_line: ErrorLine) -> None:
    result = invoke("stats")
    assert result.exit_code == 2, result.output
    assert "`webmagic db upgrade --create`" in error_line(result)


def test_on_an_empty_database(invoke: Invoke, shop: Shop) -> None:
    result = invoke("stats", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == EMPTY

    table = invoke("stats")
    assert table.exit_code == 0, table.output
    assert "— (no sites yet)" in table.stdout
    lines = {line.split("  ")[0]: line for line in table.stdout.splitlines() if line.strip()}
    assert "none yet" in lines["Revenue"]
    assert "0 active, 0 past_due, 0 paused, 0 cancelled, 0 pending" in lines["Subscriptions"]
    assert "none yet" in lines["MRR"]
    assert lines["Past due"].split() == ["Past", "due", "0"]
    assert "— (no subscriptions 30 days ago)" in lines["Churn (30 days)"]


def test_counts_sites_purchases_revenue_conversion_and_anomalies(invoke: Invoke, shop: Shop) -> None:
    shop.buy("casa-rosa", "Casa Rosa")  # sold: owned, one paid purchase
    shop.preview("luna-cafe", "Luna Café")  # paid the wrong amount: refund due, an anomaly
    started = shop.start("luna-cafe", "luna@example.com")
    _, outcome = shop.pay(started.checkout_id, amount=Money(100, "USD"))
    assert outcome is WebhookOutcome.ANOMALY
    shop.preview("sol-taller", "Sol Taller")  # someone is at the checkout
    shop.start("sol-taller", "sol@example.com")
    shop.preview("old-shop", "Old Shop")  # never sold, archived
    shop.container.sites.archive("old-shop")

    result = invoke("stats", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        **EMPTY,
        "previews": 2,
        "sites_total": 4,
        "sites_by_status": {**EMPTY["sites_by_status"], "preview": 2, "owned": 1, "archived": 1},
        "purchases_by_status": {**EMPTY["purchases_by_status"], "pending": 1, "paid": 1, "refund_due": 1},
        "revenue": [{"currency": "USD", "amount_in_cents": 49500, "formatted": "$495.00"}],
        "sites_purchased": 1,
        "conversion_percent": 25.0,
        "open_anomalies": 1,
    }

    table = invoke("stats")
    assert table.exit_code == 0, table.output
    lines = {line.split("  ")[0]: line for line in table.stdout.splitlines() if line.strip()}
    assert "2" in lines["Previews"]
    assert "4: 2 preview, 1 owned, 0 active, 0 past_due, 0 suspended, 1 archived" in lines["Sites"]
    assert "1 pending, 1 paid, 0 failed, 0 expired, 0 cancelled, 1 refund_due" in lines["Purchases"]
    assert "$495.00" in lines["Revenue"]
    assert "25.0 % of sites bought (1 of 4)" in lines["Conversion"]
    assert "1  (see `webmagic payments anomalies`)" in lines["Open anomalies"]


def test_revenue_per_currency_and_rounded_conversion(invoke: Invoke, shop: Shop) -> None:
    shop.buy("casa-rosa", "Casa Rosa")
    shop.preview("luna-cafe", "Luna Café")
    shop.preview("sol-taller", "Sol Taller")
    # Sold while the price was set in quetzales.
    settings = load_settings(currency="GTQ", site_price_cents=380000)
    quetzales = bootstrap(settings, clock=shop.clock, gateway=shop.gateway)
    try:
        started = quetzales.purchases.start("sol-taller", "sol@example.com")
    finally:
        quetzales.close()
    assert shop.pay(started.checkout_id)[1] is WebhookOutcome.PROCESSED

    data = json.loads(invoke("stats", "--json").stdout)

    assert data["revenue"] == [
        {"currency": "GTQ", "amount_in_cents": 380000, "formatted": "GTQ 3,800.00"},
        {"currency": "USD", "amount_in_cents": 49500, "formatted": "$495.00"},
    ]
    assert data["conversion_percent"] == 66.67
    table = invoke("stats").stdout
    assert "GTQ 3,800.00, $495.00" in table
    assert "66.7 % of sites bought (2 of 3)" in table


def test_subscriptions_mrr_past_due_and_churn(invoke: Invoke, shop: Shop) -> None:
    provider = simulator(shop)
    _, rosa = subscribe(shop, provider, "casa-rosa")
    _, luna = subscribe(shop, provider, "luna-cafe")
    _, sol = subscribe(shop, provider, "sol-taller")
    deliver_all(shop, provider.renew(rosa))  # a month later: renewed
    deliver_all(shop, provider.fail_renewal(luna))  # its renewal failed
    shop.clock.advance(dt.timedelta(days=2))
    deliver_all(shop, provider.cancel(sol))  # cancelled with no paid time left: ended
    subscribe(shop, provider, "mar-azul")  # started within the window: in neither term of churn

    data = json.loads(invoke("stats", "--json").stdout)

    assert data["active_subscriptions"] == 2
    assert data["past_due_subscriptions"] == 1
    assert data["subscriptions_by_status"] == {
        **EMPTY["subscriptions_by_status"], "active": 2, "past_due": 1, "cancelled": 1,
    }  # fmt: skip
    assert data["mrr"] == [{"currency": "USD", "amount_in_cents": 28500, "formatted": "$285.00"}]
    assert data["churn_percent"] == 33.33
    assert (data["churn_subscriptions_at_start"], data["churn_subscriptions_ended"]) == (3, 1)

    table = invoke("stats")
    assert table.exit_code == 0, table.output
    lines = {line.split("  ")[0]: line for line in table.stdout.splitlines() if line.strip()}
    assert "2 active, 1 past_due, 0 paused, 1 cancelled, 0 pending, 0 expired" in lines["Subscriptions"]
    assert "$285.00" in lines["MRR"]
    assert "1  (see `webmagic subscriptions list --status past_due`)" in lines["Past due"]
    assert "33.3 % (1 of 3 ended)" in lines["Churn (30 days)"]
