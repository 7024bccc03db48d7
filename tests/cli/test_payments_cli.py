"""``webmagic payments list|reconcile|anomalies|resolve`` through CliRunner, on a SQLite file
per test, with the services wired on a fake clock and payment gateway (see cli_payments_support)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cli_payments_support import BUYER, Shop
from typer.testing import Result

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.sites import SiteContent
from webmagic_core.testing.payments import payment_payload

Invoke = Callable[..., Result]
ErrorLine = Callable[[Result], str]

PURCHASE_KEYS = {
    "id", "site_id", "site_slug", "status", "amount_in_cents", "currency", "buyer_email", "buyer_name",
    "customer_id", "checkout_id", "payment_id", "created_at", "expires_at", "paid_at", "closed_at",
    "failure_reason",
}  # fmt: skip
ANOMALY_KEYS = {
    "id", "kind", "site_id", "site_slug", "purchase_id", "webhook_event_id", "summary", "details",
    "created_at", "resolved_at", "resolution",
}  # fmt: skip


def as_json(invoke: Invoke, *args: str, code: int = 0) -> Any:
    result = invoke("payments", *args, "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def row(result: Result, needle: str) -> str:
    """The one table line that holds ``needle``."""
    [line] = [line for line in result.stdout.splitlines() if needle in line]
    return line


def mismatch(shop: Shop, slug: str = "casa-rosa") -> str:
    """A purchase of ``slug`` paid with the wrong amount: an open amount-mismatch anomaly."""
    shop.preview(slug, slug.replace("-", " ").title())
    started = shop.start(slug)
    shop.later()
    message_id, outcome = shop.pay(started.checkout_id, amount=Money(100, "USD"))
    assert outcome is WebhookOutcome.ANOMALY
    return message_id


def unknown_checkout(shop: Shop) -> str:
    """A payment for a checkout nobody started: an anomaly about no site."""
    shop.preview("otra-casa", "Otra Casa")
    started = shop.start("otra-casa")
    info = shop.gateway.pay(started.checkout_id)
    payload = payment_payload(info, customer_email=BUYER)
    payload["checkout"] = {"id": "ch_nobody_knows", "status": "paid", "metadata": {}}
    shop.later()
    message_id, outcome = shop.deliver(payload)
    assert outcome is WebhookOutcome.ANOMALY
    return message_id


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("payments",), "reconcile the pending ones"),
        (("payments", "list"), "List purchases"),
        (("payments", "reconcile"), "Ask the payment provider about every pending purchase"),
        (("payments", "anomalies"), "did not fit"),
        (("payments", "resolve"), "Mark an anomaly resolved"),
    ],
)
def test_help(invoke: Invoke, command: tuple[str, ...], expected: str) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert expected in result.stdout


@pytest.mark.parametrize(
    "args",
    [("list",), ("reconcile",), ("anomalies",), ("resolve", str(uuid.uuid4()), "--note", "done")],
)
def test_commands_need_a_migrated_database(
    invoke: Invoke, error_line: ErrorLine, args: tuple[str, ...]
) -> None:
    result = invoke("payments", *args)
    assert result.exit_code == 2, result.output
    assert "`webmagic db upgrade --create`" in error_line(result)


# --- list ---------------------------------------------------------------------------------------


def test_list_shows_purchases_newest_first_and_filters(invoke: Invoke, shop: Shop) -> None:
    assert "No purchases yet." in invoke("payments", "list").stdout
    shop.buy("casa-rosa", "Casa Rosa")
    shop.later()
    shop.preview("luna-cafe", "Luna Café")
    pending = shop.start("luna-cafe", "luna@example.com")

    result = invoke("payments", "list")

    assert result.exit_code == 0, result.output
    header = [cell.strip() for cell in result.stdout.splitlines()[0].split("┃")]
    assert header == ["ID", "Site", "Buyer", "Amount", "Status", "Created", "Checkout"]
    line = row(result, "luna-cafe")
    assert pending.purchase_id.hex[:8] in line  # a short id; --json has it whole
    assert "luna@example.com" in line
    assert "$495.00" in line
    assert "pending" in line
    assert pending.checkout_id in line
    assert "paid" in row(result, "casa-rosa")
    assert "2 purchases (newest first)." in result.stdout

    data = as_json(invoke, "list")
    assert [(p["site_slug"], p["status"]) for p in data] == [("luna-cafe", "pending"), ("casa-rosa", "paid")]
    assert set(data[0]) == PURCHASE_KEYS
    newest, oldest = data
    assert (newest["amount_in_cents"], newest["currency"], newest["paid_at"]) == (49500, "USD", None)
    assert newest["expires_at"] == "2026-01-01T12:15:03+00:00"
    assert dt.datetime.fromisoformat(oldest["paid_at"]).utcoffset() == dt.timedelta(0)
    assert oldest["customer_id"] is not None
    assert oldest["payment_id"].startswith("pa_")

    assert [p["site_slug"] for p in as_json(invoke, "list", "--status", "PAID")] == ["casa-rosa"]
    assert [p["site_slug"] for p in as_json(invoke, "list", "--limit", "1")] == ["luna-cafe"]
    assert "No failed purchases." in invoke("payments", "list", "--status", "failed").stdout
    bad = invoke("payments", "list", "--status", "sold")
    assert bad.exit_code == 2
    assert "sold" in bad.stderr


# --- reconcile ----------------------------------------------------------------------------------


def test_reconcile_with_nothing_pending(invoke: Invoke, shop: Shop) -> None:
    result = invoke("payments", "reconcile")

    assert result.exit_code == 0, result.output
    assert "No pending purchases: nothing to reconcile." in result.stdout
    assert as_json(invoke, "reconcile") == {
        "items": [],
        "counts": {"paid": 0, "closed": 0, "anomaly": 0, "expired": 0, "pending": 0, "error": 0},
    }


def test_reconcile_applies_a_payment_whose_webhook_was_lost(invoke: Invoke, shop: Shop) -> None:
    shop.preview("casa-rosa")
    paid = shop.start("casa-rosa")
    shop.preview("luna-cafe", "Luna Café")
    waiting = shop.start("luna-cafe", "luna@example.com")
    shop.gateway.pay(paid.checkout_id)  # ...and no webhook ever comes
    shop.later(60)

    result = invoke("payments", "reconcile")

    assert result.exit_code == 0, result.output
    assert "Asking the sandbox payment gateway about the pending purchases." in result.stdout
    assert "paid" in row(result, str(paid.purchase_id))
    assert "casa-rosa" in row(result, str(paid.purchase_id))
    line = row(result, str(waiting.purchase_id))
    assert "pending" in line
    assert "not paid" in line
    assert waiting.checkout_id in line
    assert (
        "Reconciled 2 pending purchases: 1 paid, 0 checkouts closed, 0 anomalies, 0 expired, "
        "1 still pending, 0 errors." in result.stdout
    )
    site = shop.container.sites.details("casa-rosa").site
    assert site.status is SiteStatus.OWNED
    assert shop.container.purchases.get(paid.purchase_id).status is PurchaseStatus.PAID

    again = as_json(invoke, "reconcile")
    assert again["items"] == [
        {
            "purchase_id": str(waiting.purchase_id),
            "checkout_id": waiting.checkout_id,
            "result": "pending",
            "detail": "not paid",
        }
    ]
    assert again["counts"]["pending"] == 1


def test_reconcile_expires_unpaid_purchases_past_their_hold(invoke: Invoke, shop: Shop) -> None:
    shop.preview("casa-rosa")
    started = shop.start("casa-rosa")
    shop.later(31 * 60)

    data = as_json(invoke, "reconcile")

    assert [(i["purchase_id"], i["result"]) for i in data["items"]] == [(str(started.purchase_id), "expired")]
    assert data["counts"]["expired"] == 1
    assert shop.container.purchases.get(started.purchase_id).status is PurchaseStatus.EXPIRED


def test_reconcile_exits_1_when_the_provider_cannot_be_asked(
    invoke: Invoke, shop: Shop, error_line: ErrorLine
) -> None:
    shop.preview("casa-rosa")
    failing = shop.start("casa-rosa")
    shop.later()
    shop.preview("luna-cafe", "Luna Café")
    paid = shop.start("luna-cafe", "luna@example.com")
    shop.gateway.pay(paid.checkout_id)
    shop.gateway.fail_next(method="get_checkout")  # the oldest purchase is asked about first

    result = invoke("payments", "reconcile")

    assert result.exit_code == 1, result.output
    line = row(result, str(failing.purchase_id))
    assert "error" in line
    assert "fake gateway outage" in line
    assert "paid" in row(result, str(paid.purchase_id))
    assert "1 paid, 0 checkouts closed, 0 anomalies, 0 expired, 0 still pending, 1 error." in result.stdout
    assert result.stderr == ""

    shop.gateway.fail_next(method="get_checkout")
    data = as_json(invoke, "reconcile", code=1)
    assert data["counts"] == {"paid": 0, "closed": 0, "anomaly": 0, "expired": 0, "pending": 0, "error": 1}
    assert data["items"][0]["detail"] == "fake gateway outage"


def test_reconcile_records_an_anomaly_for_a_wrong_amount(invoke: Invoke, shop: Shop) -> None:
    shop.preview("casa-rosa")
    started = shop.start("casa-rosa")
    shop.gateway.pay(started.checkout_id, amount=Money(100, "USD"))

    result = invoke("payments", "reconcile")

    assert result.exit_code == 0, result.output
    assert "anomaly" in row(result, str(started.purchase_id))
    assert "1 anomaly" in result.stdout
    [anomaly] = shop.container.anomalies.list()
    assert anomaly.kind is AnomalyKind.AMOUNT_MISMATCH


def test_reconcile_and_webhooks_on_the_default_sandbox_gateway(invoke: Invoke, migrated: None) -> None:
    container = bootstrap(load_settings())
    try:
        sandbox = container.sandbox
        assert sandbox is not None
        for slug in ("casa-rosa", "luna-cafe"):
            container.sites.create_preview(slug, slug.title(), SiteContent(html="<h1>Hola</h1>"))
        lost = container.purchases.start("casa-rosa", BUYER)
        sandbox.pay(lost.checkout_id, customer_email=BUYER)  # its webhook never arrives
        delivered = container.purchases.start("luna-cafe", "luna@example.com")
        webhook = sandbox.pay(delivered.checkout_id, customer_email="luna@example.com")
        verified = container.verifier.verify(webhook.headers, webhook.body)
        assert container.webhooks.receive(verified) is WebhookOutcome.PROCESSED
    finally:
        container.close()

    result = invoke("payments", "reconcile")

    assert result.exit_code == 0, result.output
    assert "paid" in row(result, str(lost.purchase_id))
    assert "Reconciled 1 pending purchase: 1 paid," in result.stdout
    assert {p["site_slug"]: p["status"] for p in as_json(invoke, "list")} == {
        "casa-rosa": "paid",
        "luna-cafe": "paid",
    }
    webhooks = invoke("webhooks", "list", "--json")
    assert [(w["id"], w["site_slug"]) for w in json.loads(webhooks.stdout)] == [
        (webhook.message_id, "luna-cafe")
    ]


# --- anomalies and resolve ----------------------------------------------------------------------


def test_anomalies_lists_the_open_ones(invoke: Invoke, shop: Shop) -> None:
    assert "No open anomalies." in invoke("payments", "anomalies").stdout
    mismatch(shop)
    unknown_checkout(shop)
    newest, oldest = shop.container.anomalies.list()

    result = invoke("payments", "anomalies")

    assert result.exit_code == 0, result.output
    header = [cell.strip() for cell in result.stdout.splitlines()[0].split("┃")]
    assert header == ["ID", "Kind", "Site", "Summary", "Created"]
    line = row(result, oldest.id.hex[:8])
    assert "amount_mismatch" in line
    assert "casa-rosa" in line
    assert "amount mismatch on purchase" in line
    assert "paid 1.00 USD, but the purchase is for" in line  # the rest wraps
    assert "2026-01-01 12:00:01 UTC" in line
    line = row(result, newest.id.hex[:8])
    assert "unknown_checkout" in line
    assert "ch_nobody_knows" in line
    assert "—" in line  # about no site
    assert "2 open anomalies (newest first)." in result.stdout

    data = as_json(invoke, "anomalies")
    assert [a["kind"] for a in data] == ["unknown_checkout", "amount_mismatch"]
    assert set(data[0]) == ANOMALY_KEYS
    assert (data[0]["site_slug"], data[0]["resolved_at"]) == (None, None)
    assert data[1]["site_slug"] == "casa-rosa"
    assert data[1]["webhook_event_id"].startswith("msg_")
    assert "Refund the payment" in data[1]["details"]


def test_resolve_takes_an_anomaly_off_the_open_list(invoke: Invoke, shop: Shop) -> None:
    mismatch(shop)
    [anomaly] = shop.container.anomalies.list()
    shop.later(60)

    result = invoke("payments", "resolve", anomaly.id.hex[:8], "--note", "  refunded   pa_123 ")  # short id

    assert result.exit_code == 0, result.output
    assert f"Resolved {anomaly.id} (amount_mismatch): refunded pa_123" in result.stdout
    assert as_json(invoke, "anomalies") == []
    assert "No open anomalies." in invoke("payments", "anomalies").stdout
    [resolved] = as_json(invoke, "anomalies", "--all")
    assert (resolved["resolution"], resolved["resolved_at"]) == (
        "refunded pa_123",
        "2026-01-01T12:01:01+00:00",
    )
    table = invoke("payments", "anomalies", "--all")
    assert "2026-01-01 12:01:01 UTC: refunded pa_123" in row(table, anomaly.id.hex[:8])
    assert "1 anomaly (newest first)." in table.stdout


def test_resolve_refuses_unknown_malformed_and_resolved_anomalies(
    invoke: Invoke, shop: Shop, error_line: ErrorLine
) -> None:
    unknown = uuid.uuid4()
    result = invoke("payments", "resolve", str(unknown), "--note", "done")
    assert result.exit_code == 1
    assert f"no anomaly has the id {unknown}" in error_line(result)

    result = invoke("payments", "resolve", "not-an-id", "--note", "done")
    assert result.exit_code == 2
    assert "'not-an-id' is not an anomaly id" in error_line(result)
    result = invoke("payments", "resolve", "12345", "--note", "done")
    assert result.exit_code == 2
    assert "no anomaly id starts with '12345'" in error_line(result)

    mismatch(shop)
    [anomaly] = shop.container.anomalies.list()
    result = invoke("payments", "resolve", str(anomaly.id), "--note", "  ")
    assert result.exit_code == 2
    assert "--note must say how the anomaly was handled" in error_line(result)
    missing = invoke("payments", "resolve", str(anomaly.id))
    assert missing.exit_code == 2
    assert "--note" in missing.stderr

    assert invoke("payments", "resolve", str(anomaly.id), "--note", "refunded").exit_code == 0
    result = invoke("payments", "resolve", str(anomaly.id), "--note", "again")
    assert result.exit_code == 1
    assert f"anomaly {anomaly.id} was resolved on 2026-01-01T12:00:01" in error_line(result)
