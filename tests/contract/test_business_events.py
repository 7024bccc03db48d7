"""Business events as JSON log lines: one purchase, its webhooks and its mail, on the real
services (SQLite file, sandbox gateway, folder mailer), every log line of the run captured
through the production ``JsonFormatter``."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webmagic_adapters.bootstrap import Container, bootstrap
from webmagic_adapters.logs import JsonFormatter, RedactQueryValues
from webmagic_adapters.payments.sandbox_delivery import deliver_in_process
from webmagic_adapters.settings import load_settings
from webmagic_core.sites import SiteContent
from webmagic_core.testing import FakeClock

BUYER = "rosa@example.com"


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{(tmp_path / 'events.db').as_posix()}",
        mail_dir=tmp_path / "mail",
    )
    made = bootstrap(settings, clock=FakeClock())
    made.database.upgrade()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every record of every logger, as the server writes them with WEBMAGIC_LOG_FORMAT=json."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactQueryValues())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_purchase_its_webhooks_and_its_mail_are_logged_as_events_without_secrets(
    container: Container, log_lines: io.StringIO
) -> None:
    sandbox = container.sandbox
    assert sandbox is not None
    site = container.sites.create_preview("casa-rosa", "Casa Rosa", SiteContent(html="<h1>Casa Rosa</h1>"))
    started = container.purchases.start("casa-rosa", BUYER, "Rosa Díaz")
    deliveries = deliver_in_process(
        sandbox.pay_all(started.checkout_id, customer_email=BUYER), container.verifier, container.webhooks
    )
    assert all(delivery.accepted for delivery in deliveries)
    container.relay.run_once()

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    events: list[dict[str, Any]] = [line for line in lines if "event" in line]
    names = [event["event"] for event in events]
    for name in (
        "site.created",
        "purchase.started",
        "webhook.received",
        "purchase.paid",
        "site.state_changed",
    ):
        assert name in names, names
    assert names.index("purchase.started") < names.index("purchase.paid") < names.index("email.sent")

    [begun] = [e for e in events if e["event"] == "purchase.started"]
    assert begun["purchase_id"] == str(started.purchase_id)
    assert begun["site_id"] == str(site.id)
    assert begun["checkout_id"] == started.checkout_id
    assert begun["logger"] == "webmagic.events"
    assert begun["level"] == "info"
    [paid] = [e for e in events if e["event"] == "purchase.paid"]
    assert paid["purchase_id"] == str(started.purchase_id)
    assert paid["slug"] == "casa-rosa"
    received = [e for e in events if e["event"] == "webhook.received"]
    assert {e["webhook_event_id"] for e in received} == {d.message_id for d in deliveries}
    assert all(e["outcome"] in ("processed", "ignored") for e in received)
    assert "processed" in {e["outcome"] for e in received}
    [sold] = [e for e in events if e["event"] == "site.state_changed"]
    assert (sold["site_id"], sold["from_status"], sold["to_status"]) == (str(site.id), "preview", "owned")
    sent = [e for e in events if e["event"] == "email.sent"]
    assert {e["template"] for e in sent} >= {"welcome_set_password"}
    assert all(e["site_id"] == str(site.id) for e in sent)

    # No secret in any line: not the link tokens mailed, nor the keys and webhook secret.
    text = log_lines.getvalue()
    mailed = "\n".join(
        p.read_text(encoding="utf-8") for p in container.settings.mail_dir.rglob("*") if p.is_file()
    )
    tokens = re.findall(r"token=([A-Za-z0-9._\-]{20,})", mailed)
    assert tokens, "the welcome mail carries a set-password link"
    secrets = [*tokens, container.settings.webhook_secret_value()]
    assert all(secret not in text for secret in secrets)
    assert BUYER not in json.dumps(events)  # events carry ids, not addresses
