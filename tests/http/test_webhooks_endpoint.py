"""``POST /api/v1/webhooks/recurrente``: Svix-signed deliveries, verified over the raw body,
stored once per message id and applied in the same transaction.

The real app on SQLite with the ``FakePaymentGateway``; deliveries are signed with the
app's webhook secret the way Svix signs them (payments_support)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from payments_support import WEBHOOK, Shop, open_shop, problem
from sqlalchemy import event, select

from webmagic_adapters.body_cipher import SEALED_PREFIX
from webmagic_adapters.mail.folder import FolderMailer
from webmagic_adapters.payments.svix import generate_secret
from webmagic_adapters.sqlalchemy import tables
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.outbox import OutboxRelay

# Litestar's test client warns about a bare "localhost"; it is the app's own host here.
pytestmark = pytest.mark.filterwarnings("ignore:The base_url .*localhost.* might cause issues")


# A host of the app's own (the fast path in front of Litestar) and any other (the route):
# every test here holds for both.
@pytest.fixture(params=["http://localhost", "http://testserver.local"], ids=["fast-path", "routed"])
def shop(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Shop]:
    with open_shop(tmp_path / "data", base_url=request.param) as running:
        running.preview()
        yield running


@pytest.fixture
def paid(shop: Shop) -> dict[str, Any]:
    """A purchase in progress and the ``payment_intent.succeeded`` body its payment sends."""
    started = shop.started()
    return {"started": started, "payload": shop.paid_payload(started["checkout_id"])}


def stored(shop: Shop) -> int:
    return len(shop.container.webhooks.list())


def test_a_payment_is_processed_and_the_site_sold(shop: Shop, paid: dict[str, Any]) -> None:
    response = shop.deliver(paid["payload"], message_id="msg_first")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"status":"processed"}'  # the same bytes on either path
    assert shop.purchase(paid["started"]["purchase_id"]).status is PurchaseStatus.PAID
    assert shop.site().status is SiteStatus.OWNED
    record = shop.container.webhooks.get("msg_first")
    assert (record.outcome, record.event_type) == (WebhookOutcome.PROCESSED, "payment_intent.succeeded")


def test_a_repeated_delivery_is_a_duplicate_without_side_effects(shop: Shop, paid: dict[str, Any]) -> None:
    body = json.dumps(paid["payload"]).encode()
    assert shop.deliver(body, message_id="msg_once").json() == {"status": "processed"}
    mails = len(shop.mail_to("rosa@example.com"))

    again = shop.deliver(body, message_id="msg_once")

    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert stored(shop) == 1
    assert len(shop.mail_to("rosa@example.com")) == mails


def test_an_event_type_not_acted_on_is_stored_and_ignored(shop: Shop) -> None:
    payload = {"id": "bt_1", "event_type": "bank_transfer_intent.pending", "amount_in_cents": 100}

    response = shop.deliver(payload, message_id="msg_bank")

    assert response.json() == {"status": "ignored"}
    assert shop.container.webhooks.get("msg_bank").outcome is WebhookOutcome.IGNORED


def test_a_payment_nobody_asked_for_is_received_and_kept_as_an_anomaly(
    shop: Shop, paid: dict[str, Any]
) -> None:
    payload = paid["payload"]
    payload["checkout"] = {"id": "ch_unknown", "status": "paid", "metadata": {}}

    response = shop.deliver(payload, message_id="msg_stranger")

    # Received and recorded: retrying would not change it, so the provider hears "processed".
    assert response.json() == {"status": "processed"}
    assert shop.container.webhooks.get("msg_stranger").outcome is WebhookOutcome.ANOMALY
    [anomaly] = shop.container.anomalies.list()
    assert "ch_unknown" in anomaly.summary


def test_the_standard_webhooks_header_names_are_accepted(shop: Shop, paid: dict[str, Any]) -> None:
    body = json.dumps(paid["payload"]).encode()
    headers = {name.replace("svix-", "webhook-"): value for name, value in shop.signed(body).items()}
    assert shop.client.post(WEBHOOK, content=body, headers=headers).json() == {"status": "processed"}


def refused(shop: Shop, response: Any) -> dict[str, Any]:
    """A 400 that stored and changed nothing."""
    body = problem(response, 400)
    assert stored(shop) == 0
    assert shop.site().status is SiteStatus.PREVIEW
    return body


def test_a_signature_made_with_another_secret_is_400(shop: Shop, paid: dict[str, Any]) -> None:
    body = json.dumps(paid["payload"]).encode()
    response = shop.client.post(WEBHOOK, content=body, headers=shop.signed(body, secret=generate_secret()))
    assert "no v1 signature matches" in refused(shop, response)["detail"]


def test_an_altered_body_is_400(shop: Shop, paid: dict[str, Any]) -> None:
    body = json.dumps(paid["payload"]).encode()
    headers = shop.signed(body)
    altered = body.replace(b"49500", b"100")
    refused(shop, shop.client.post(WEBHOOK, content=altered, headers=headers))


@pytest.mark.parametrize("offset", [dt.timedelta(seconds=-301), dt.timedelta(seconds=301)])
def test_a_stale_or_future_timestamp_is_400(shop: Shop, paid: dict[str, Any], offset: dt.timedelta) -> None:
    response = shop.deliver(paid["payload"], at=shop.clock.now() + offset)
    assert "300 s" in refused(shop, response)["detail"]


def test_a_timestamp_within_the_tolerance_is_accepted(shop: Shop, paid: dict[str, Any]) -> None:
    response = shop.deliver(paid["payload"], at=shop.clock.now() - dt.timedelta(seconds=290))
    assert response.json() == {"status": "processed"}


@pytest.mark.parametrize("missing", ["svix-id", "svix-timestamp", "svix-signature"])
def test_a_missing_header_is_400_naming_it(shop: Shop, paid: dict[str, Any], missing: str) -> None:
    body = json.dumps(paid["payload"]).encode()
    headers = {name: value for name, value in shop.signed(body).items() if name != missing}
    response = shop.client.post(WEBHOOK, content=body, headers=headers)
    body_of_problem = refused(shop, response)
    assert missing in body_of_problem["detail"]
    assert body_of_problem["errors"] == [{"field": "signature", "message": body_of_problem["detail"]}]


@pytest.mark.parametrize("body", [b"", b"not json", b"\xff\xfe", b"[1, 2]", b'"text"'])
def test_a_correctly_signed_but_unreadable_body_is_400(shop: Shop, body: bytes) -> None:
    response = shop.client.post(WEBHOOK, content=body, headers=shop.signed(body))
    assert refused(shop, response)["errors"][0]["field"] == "body"


def test_a_transient_fault_is_503_so_the_provider_delivers_again(shop: Shop, paid: dict[str, Any]) -> None:
    engine = shop.container.database.engine

    def outage(*_: Any) -> None:
        event.remove(engine, "before_cursor_execute", outage)
        raise engine.dialect.loaded_dbapi.OperationalError("database is locked")

    event.listen(engine, "before_cursor_execute", outage)
    body = json.dumps(paid["payload"]).encode()
    headers = shop.signed(body, message_id="msg_retry")

    response = shop.client.post(WEBHOOK, content=body, headers=headers)

    problem(response, 503)
    assert response.headers["retry-after"]
    assert stored(shop) == 0
    # The provider's retry carries the same id and signature: now it goes through, once.
    assert shop.client.post(WEBHOOK, content=body, headers=headers).json() == {"status": "processed"}
    assert shop.site().status is SiteStatus.OWNED


def test_the_endpoint_is_documented(shop: Shop) -> None:
    operation = shop.client.get("/schema/openapi.json").json()["paths"][WEBHOOK]["post"]
    assert {"200", "400", "503"} <= set(operation["responses"])


def test_a_payment_queues_its_mail_as_sealed_data_that_the_relay_renders_into_the_sent_mail(
    shop: Shop, paid: dict[str, Any], tmp_path: Path
) -> None:
    assert shop.deliver(paid["payload"], message_id="msg_mail").json() == {"status": "processed"}

    # Queued by the webhook's transaction: template, recipient and data (sealed); no bodies.
    outbox = tables.outbox_messages
    with shop.container.database.engine.connect() as connection:
        rows = connection.execute(
            select(
                outbox.c.id, outbox.c.template, outbox.c.subject, outbox.c.text, outbox.c.html, outbox.c.data
            )
        ).all()
    assert sorted(row.template for row in rows) == ["purchase_confirmation", "welcome_set_password"]
    for row in rows:
        assert (row.subject, row.text, row.html) == ("", "", "")
        assert row.data.startswith(SEALED_PREFIX)
        assert "set-password" not in row.data
        assert "Sunrise Bakery" not in row.data

    # The relay renders them as it sends them: the .eml files hold the content and the links.
    settings = shop.container.settings
    folder = tmp_path / "sent-mail"
    relay = OutboxRelay(
        uow=shop.container.database.unit_of_work,
        mailer=FolderMailer(folder, sender=settings.mail_from),
        clock=shop.clock,
        renderer=shop.container.renderer,
    )
    assert relay.drain().sent == 2
    sent = {path.name: path.read_bytes() for path in folder.glob("*.eml")}
    assert len(sent) == 2
    mails = [BytesParser(policy=policy.default).parsebytes(raw) for raw in sent.values()]
    by_subject = {str(mail["subject"]): mail for mail in mails}
    assert set(by_subject) == {
        "Receipt: the website for Sunrise Bakery",
        "Welcome to WebMagic: the website for Sunrise Bakery is yours",
    }
    ids = {f"<{row.id}@" for row in rows}
    assert {str(mail["message-id"])[: len(next(iter(ids)))] for mail in mails} == ids  # fixed when queued
    welcome = by_subject["Welcome to WebMagic: the website for Sunrise Bakery is yours"]
    text = welcome.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = welcome.get_body(("html",)).get_content()  # type: ignore[union-attr]
    link = portal_link_in(text, "set-password")
    assert link.replace("&", "&amp;") in html
    assert "Sunrise Bakery" in text
    receipt = by_subject["Receipt: the website for Sunrise Bakery"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "$495.00" in receipt
    assert "Hello Rosa Díaz" in receipt
    # Sent: the subject stays; the data and the bodies (the live link) do not.
    with shop.container.database.engine.connect() as connection:
        after = connection.execute(select(outbox.c.subject, outbox.c.data, outbox.c.text)).all()
    assert sorted(row.subject for row in after) == sorted(by_subject)
    assert all(row.data is None for row in after)
    assert all(link not in row.text for row in after)


def portal_link_in(text: str, page: str) -> str:
    [link] = [word for word in text.split() if f"/portal/{page}?token=" in word]
    return link
