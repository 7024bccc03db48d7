"""``webmagic webhooks list|show|replay`` through CliRunner, on a SQLite file per test, with
the services wired on a fake clock and payment gateway (see cli_payments_support)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cli_payments_support import BUYER, Shop
from typer.testing import Result

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.payments.webhook_log import WebhookOutcome

Invoke = Callable[..., Result]
ErrorLine = Callable[[Result], str]

EVENT_KEYS = {
    "id", "event_type", "received_at", "processed_at", "outcome", "error", "site_id", "site_slug",
    "purchase_id",
}  # fmt: skip
# An event type WebMagic stores and ignores.
REFUND = {"event_type": "bank_transfer_intent.pending", "id": "bt_123", "amount_in_cents": 49500}


def listed(invoke: Invoke, *args: str) -> list[dict[str, Any]]:
    result = invoke("webhooks", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


def row(result: Result, needle: str) -> str:
    [line] = [line for line in result.stdout.splitlines() if needle in line]
    return line


def sent_to_buyer(shop: Shop) -> list[EmailTemplate]:
    return sorted(item.message.template for item in shop.container.relay.list() if item.message.to == BUYER)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("webhooks",), "list them, inspect one, replay one"),
        (("webhooks", "list"), "List received webhooks"),
        (("webhooks", "show"), "Show one received webhook"),
        (("webhooks", "replay"), "Apply a stored webhook again"),
    ],
)
def test_help(invoke: Invoke, command: tuple[str, ...], expected: str) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert expected in result.stdout


@pytest.mark.parametrize("args", [("list",), ("show", "msg_1"), ("replay", "msg_1")])
def test_commands_need_a_migrated_database(
    invoke: Invoke, error_line: ErrorLine, args: tuple[str, ...]
) -> None:
    result = invoke("webhooks", *args)
    assert result.exit_code == 2, result.output
    assert "`webmagic db upgrade --create`" in error_line(result)


def test_list_shows_webhooks_newest_first_and_filters(invoke: Invoke, shop: Shop) -> None:
    assert "No webhooks received yet." in invoke("webhooks", "list").stdout
    paid_id, started = shop.buy()
    shop.later()
    refund_id, outcome = shop.deliver(REFUND, "msg_refund")
    assert outcome is WebhookOutcome.IGNORED

    result = invoke("webhooks", "list")

    assert result.exit_code == 0, result.output
    header = [cell.strip() for cell in result.stdout.splitlines()[0].split("┃")]
    assert header == ["ID", "Type", "Received", "Outcome", "Error"]
    line = row(result, paid_id)
    assert "payment_intent.succeeded" in line
    assert "2026-01-01 12:00:02 UTC" in line
    assert "processed" in line
    line = row(result, refund_id)
    assert "bank_transfer_intent.pending" in line
    assert "ignored" in line
    assert "bank_transfer_intent.pending events are not acted on" in line
    assert "2 webhooks (newest first)." in result.stdout
    assert BUYER not in result.stdout  # the bodies stay out of the list

    data = listed(invoke)
    assert [(e["id"], e["outcome"]) for e in data] == [(refund_id, "ignored"), (paid_id, "processed")]
    assert set(data[0]) == EVENT_KEYS
    refund, paid = data
    assert (refund["site_slug"], refund["purchase_id"]) == (None, None)
    assert (paid["site_slug"], paid["purchase_id"], paid["error"]) == (
        "casa-rosa", str(started.purchase_id), None,
    )  # fmt: skip
    assert paid["received_at"] == paid["processed_at"] == "2026-01-01T12:00:02+00:00"

    assert [e["id"] for e in listed(invoke, "--outcome", "PROCESSED")] == [paid_id]
    assert [e["id"] for e in listed(invoke, "-n", "1")] == [refund_id]
    assert "No anomaly webhooks." in invoke("webhooks", "list", "--outcome", "anomaly").stdout
    bad = invoke("webhooks", "list", "--outcome", "lost")
    assert bad.exit_code == 2
    assert "lost" in bad.stderr
    assert invoke("webhooks", "list", "--limit", "0").exit_code == 2


def test_show_prints_the_details_and_the_pretty_body(invoke: Invoke, shop: Shop) -> None:
    message_id, started = shop.buy()

    result = invoke("webhooks", "show", message_id)

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert message_id in out
    assert "payment_intent.succeeded" in out
    assert "Received   2026-01-01 12:00:02 UTC" in out
    assert "processed" in out
    assert "casa-rosa" in out
    assert str(started.purchase_id) in out
    body = out[out.index("Body") :]
    assert '  "event_type": "payment_intent.succeeded",' in body  # indented: pretty
    assert f'    "id": "{started.checkout_id}",' in body
    assert json.loads(body[len("Body") :])["customer"]["email"] == BUYER

    data = json.loads(invoke("webhooks", "show", message_id, "--json").stdout)
    assert set(data) == EVENT_KEYS | {"body"}
    assert (data["id"], data["outcome"], data["site_slug"]) == (message_id, "processed", "casa-rosa")
    assert data["body"]["checkout"]["id"] == started.checkout_id


def test_show_and_replay_refuse_an_unknown_id(invoke: Invoke, shop: Shop, error_line: ErrorLine) -> None:
    for command in ("show", "replay"):
        result = invoke("webhooks", command, "msg_nobody")
        assert result.exit_code == 1, result.output
        assert "no webhook event has the id 'msg_nobody'" in error_line(result)


def test_replay_is_idempotent(invoke: Invoke, shop: Shop) -> None:
    message_id, started = shop.buy()
    before = sent_to_buyer(shop)
    assert before == sorted([EmailTemplate.PURCHASE_CONFIRMATION, EmailTemplate.WELCOME_SET_PASSWORD])
    shop.later(60)

    result = invoke("webhooks", "replay", message_id)

    assert result.exit_code == 0, result.output
    assert f"Replayed {message_id} (payment_intent.succeeded): processed." in result.stdout
    assert sent_to_buyer(shop) == before  # no mail went out twice
    assert len(shop.container.purchases.list()) == 1
    assert shop.container.purchases.get(started.purchase_id).paid_at is not None
    [event] = listed(invoke)
    assert event["processed_at"] == "2026-01-01T12:01:02+00:00"
    assert event["outcome"] == "processed"


def test_replay_prints_an_anomaly_and_why(invoke: Invoke, shop: Shop) -> None:
    malformed = {"event_type": "payment_intent.succeeded", "checkout": {"id": "ch_123"}, "currency": "USD"}
    message_id, outcome = shop.deliver(malformed)
    assert outcome is WebhookOutcome.ANOMALY

    result = invoke("webhooks", "replay", message_id)

    assert result.exit_code == 0, result.output
    assert f"Replayed {message_id} (payment_intent.succeeded): anomaly." in result.stdout
    assert "amount_in_cents must be a whole number of cents" in result.stdout
    [anomaly] = shop.container.anomalies.list()  # the same problem is not recorded twice
    assert anomaly.webhook_event_id == message_id
