"""``webmagic sandbox renew|fail|recover|cancel|pause|unpause`` through CliRunner, on a SQLite
file per test, with the real sandbox gateway on a fake clock that the commands share.

Most tests deliver with ``--direct`` (the webhook pipeline in-process); the HTTP ones
deliver to a small local server: one that stands in for the app (it verifies and receives
like the real endpoint), one that fails, and an address where nothing listens."""

from __future__ import annotations

import datetime as dt
import functools
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
import pytest
from typer.testing import Result

from webmagic_adapters.bootstrap import Container, bootstrap
from webmagic_adapters.payments.sandbox import SandboxGateway
from webmagic_adapters.payments.sandbox_delivery import WEBHOOK_PATH, SandboxWebhook, deliver_in_process
from webmagic_adapters.settings import load_settings
from webmagic_cli import options
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.errors import ValidationError
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.gateway import CheckoutKind, CheckoutRequest
from webmagic_core.payments.subscriptions import Subscription, SubscriptionState
from webmagic_core.sites import Site, SiteContent
from webmagic_core.testing import FakeClock

Invoke = Callable[..., Result]
ErrorLine = Callable[[Result], str]

BUYER = "rosa@example.com"
COMMANDS = ("renew", "fail", "recover", "cancel", "pause", "unpause")


@attrs.define
class Sandbox:
    container: Container
    clock: FakeClock

    @property
    def gateway(self) -> SandboxGateway:
        sandbox = self.container.sandbox
        assert sandbox is not None
        return sandbox

    def deliver(self, webhooks: list[SandboxWebhook]) -> None:
        for delivery in deliver_in_process(webhooks, self.container.verifier, self.container.webhooks):
            assert delivery.accepted, delivery

    def buy(self, slug: str = "casa-rosa") -> None:
        self.container.sites.create_preview(slug, "Casa Rosa", SiteContent(html="<h1>Casa Rosa</h1>"))
        started = self.container.purchases.start(slug, BUYER, "Rosa Díaz")
        self.deliver(self.gateway.pay_all(started.checkout_id, customer_email=BUYER))

    def site(self, slug: str = "casa-rosa") -> Site:
        return self.container.sites.details(slug).site

    def owner(self, slug: str = "casa-rosa") -> uuid.UUID:
        owner = self.site(slug).owner_id
        assert owner is not None
        return owner

    def status(self, slug: str = "casa-rosa") -> SiteStatus:
        return self.site(slug).status

    def subscribe(self, slug: str = "casa-rosa") -> tuple[Subscription, str]:
        """Bought, and its subscription checkout paid in the sandbox: active."""
        self.buy(slug)
        started = self.container.subscriptions.start(self.owner(slug), slug)
        self.deliver(self.gateway.pay_all(started.checkout_id, customer_email=BUYER))
        sub = self.container.subscriptions.find(started.checkout_id)
        assert sub.provider_id is not None
        assert sub.provider_id.startswith("su_sandbox_")
        return sub, sub.provider_id

    def subscription(self, reference: str) -> Subscription:
        return self.container.subscriptions.find(reference)

    def mails(self, template: EmailTemplate) -> int:
        return sum(item.message.template is template for item in self.container.relay.list(limit=1000))


@pytest.fixture
def sandbox(migrated: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The services with the real sandbox gateway on a fake clock; the commands share the clock."""
    clock = FakeClock()
    monkeypatch.setattr(options, "bootstrap", functools.partial(bootstrap, clock=clock))
    container = bootstrap(load_settings(), clock=clock)
    try:
        yield Sandbox(container, clock)
    finally:
        container.close()


def lines_with(result: Result, needle: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if needle in line]


# --- help and refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_help(invoke: Invoke, command: str) -> None:
    result = invoke("sandbox", command, "--help")
    assert result.exit_code == 0, result.output
    assert "--direct" in result.stdout
    assert "--url" in result.stdout


def test_group_help(invoke: Invoke) -> None:
    result = invoke("sandbox", "--help")
    assert result.exit_code == 0, result.output
    assert "Sandbox payments only" in result.stdout
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_refused_with_real_payments(
    invoke: Invoke, error_line: ErrorLine, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("WEBMAGIC_PAYMENTS", "recurrente")
    monkeypatch.setenv("WEBMAGIC_RECURRENTE_PUBLIC_KEY", "pk_test_x")
    monkeypatch.setenv("WEBMAGIC_RECURRENTE_SECRET_KEY", "sk_test_x")
    monkeypatch.setenv("WEBMAGIC_RECURRENTE_WEBHOOK_SECRET", "whsec_c2VjcmV0c2VjcmV0c2VjcmV0")

    result = invoke("sandbox", command, "su_123", "--direct")

    assert result.exit_code == 2, result.output
    line = error_line(result)
    assert "only work with sandbox payments" in line
    assert "WEBMAGIC_PAYMENTS is recurrente" in line
    assert "sk_test_x" not in result.output


def test_needs_a_migrated_database(invoke: Invoke, error_line: ErrorLine) -> None:
    result = invoke("sandbox", "renew", "su_123", "--direct")
    assert result.exit_code == 2, result.output
    assert "`webmagic db upgrade --create`" in error_line(result)


# --- the whole lifecycle, delivered in-process ----------------------------------------------------


def test_the_whole_subscription_lifecycle_direct(invoke: Invoke, sandbox: Sandbox) -> None:
    sub, su = sandbox.subscribe()
    assert sandbox.status() is SiteStatus.ACTIVE

    failed = invoke("sandbox", "fail", "casa-rosa", "--direct")  # by slug

    assert failed.exit_code == 0, failed.output
    assert f"Simulated a failed charge of {su}: the sandbox subscription is past_due" in failed.stdout
    assert "Handing its webhooks to the app in this process:" in failed.stdout
    [payment] = lines_with(failed, "payment_intent.failed")
    [past_due] = lines_with(failed, "subscription.past_due")
    for line in (payment, past_due):
        assert line.strip().startswith("✓")
        assert "→ 200 processed" in line
        assert "msg_sandbox_" in line
    assert "Now: subscription past_due, site casa-rosa past_due." in failed.stdout
    assert sandbox.status() is SiteStatus.PAST_DUE
    assert sandbox.mails(EmailTemplate.PAYMENT_FAILED) == 1

    recovered = invoke("sandbox", "recover", su, "--direct")  # by su_ id
    assert recovered.exit_code == 0, recovered.output
    assert "Now: subscription active, site casa-rosa active." in recovered.stdout
    assert sandbox.status() is SiteStatus.ACTIVE

    paused = invoke("sandbox", "pause", str(sub.id), "--direct", "--event", "subscription.paused")  # by id
    assert paused.exit_code == 0, paused.output
    assert lines_with(paused, "subscription.paused")
    assert sandbox.status() is SiteStatus.SUSPENDED
    assert sandbox.mails(EmailTemplate.SITE_SUSPENDED) == 1

    assert sub.checkout_id is not None
    unpaused = invoke(
        "sandbox", "unpause", sub.checkout_id, "--direct", "--event", "subscription.reactivate"
    )  # by checkout
    assert unpaused.exit_code == 0, unpaused.output
    assert lines_with(unpaused, "subscription.reactivate")
    assert sandbox.status() is SiteStatus.ACTIVE
    assert sandbox.mails(EmailTemplate.SITE_RESTORED) == 1

    before = sandbox.subscription(su).current_period_end
    sandbox.clock.advance(dt.timedelta(days=10))  # the sandbox renews "now": the next month starts today
    renewed = invoke("sandbox", "renew", su, "--direct")
    assert renewed.exit_code == 0, renewed.output
    [receipt] = lines_with(renewed, "payment_intent.succeeded")
    assert "→ 200 processed" in receipt
    after = sandbox.subscription(su)
    assert before is not None
    assert after.current_period_end is not None
    assert after.current_period_end > before
    assert sandbox.mails(EmailTemplate.SUBSCRIPTION_RECEIPT) == 2  # the recovered payment, the renewal

    cancelled = invoke("sandbox", "cancel", su, "--direct")
    assert cancelled.exit_code == 0, cancelled.output
    assert lines_with(cancelled, "subscription.cancel")
    assert "Now: subscription cancelled, site casa-rosa active." in cancelled.stdout  # paid time left
    assert sandbox.subscription(su).status is SubscriptionState.CANCELLED
    assert sandbox.subscription(su).cancel_at_period_end
    assert sandbox.mails(EmailTemplate.SUBSCRIPTION_CANCELLED) == 1


def test_a_subscription_the_app_does_not_know_is_an_anomaly(invoke: Invoke, sandbox: Sandbox) -> None:
    # Someone paid a monthly checkout that the app never created.
    checkout = sandbox.gateway.create_checkout(
        CheckoutRequest(
            kind=CheckoutKind.MONTHLY,
            item_name="Hosting of someone else",
            amount=Money(9500, "USD"),
            success_url="https://example.com/done",
            cancel_url="https://example.com/cancelled",
        )
    )
    sandbox.gateway.pay_all(checkout.id)  # never delivered
    su = sandbox.gateway.get_checkout(checkout.id).subscription_id
    assert su is not None

    result = invoke("sandbox", "renew", su, "--direct")

    assert result.exit_code == 0, result.output
    [line] = lines_with(result, "payment_intent.succeeded")
    assert "→ 200 processed" in line  # received and recorded: the provider need not retry
    assert f"recorded anomaly: no subscription matches {su}" in line
    assert "Now:" not in result.stdout
    [anomaly] = sandbox.container.anomalies.list(open_only=True, limit=10)
    assert su in anomaly.summary


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("recover", "is active: only a past_due subscription recovers"),
        ("unpause", "is active: only a paused subscription can be unpaused"),
    ],
)
def test_a_change_the_provider_would_not_make(
    invoke: Invoke, sandbox: Sandbox, error_line: ErrorLine, command: str, message: str
) -> None:
    _, su = sandbox.subscribe()

    result = invoke("sandbox", command, su, "--direct")

    assert result.exit_code == 1, result.output
    assert error_line(result) == f"Error: subscription {su} {message}"
    assert sandbox.subscription(su).status is SubscriptionState.ACTIVE


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("su_sandbox_nope", "the sandbox has no subscription 'su_sandbox_nope'"),
        ("no-such-site", "no site has the slug 'no-such-site'"),
        ("Not A Slug!", "no subscription matches 'Not A Slug!'"),
    ],
)
def test_unknown_subscriptions(
    invoke: Invoke, sandbox: Sandbox, error_line: ErrorLine, reference: str, message: str
) -> None:
    result = invoke("sandbox", "renew", reference, "--direct")
    assert result.exit_code == 1, result.output
    assert error_line(result) == f"Error: {message}"


def test_a_site_without_subscription_or_with_an_unpaid_one(
    invoke: Invoke, sandbox: Sandbox, error_line: ErrorLine
) -> None:
    sandbox.buy()
    none_yet = invoke("sandbox", "renew", "casa-rosa", "--direct")
    assert none_yet.exit_code == 1, none_yet.output
    assert error_line(none_yet) == "Error: this site has no subscription"

    started = sandbox.container.subscriptions.start(sandbox.owner(), "casa-rosa")
    unpaid = invoke("sandbox", "renew", "casa-rosa", "--direct")
    assert unpaid.exit_code == 1, unpaid.output
    assert error_line(unpaid) == (
        f"Error: subscription {started.subscription_id} is pending: it has no sandbox subscription "
        "until its checkout is paid"
    )


# --- over HTTP ------------------------------------------------------------------------------------


@attrs.define
class Endpoint:
    """A local HTTP server; ``answer`` turns each request (headers, body) into (status, JSON)."""

    answer: Callable[[dict[str, str], bytes], tuple[int, dict[str, object]]]
    received: list[tuple[str, bytes]] = attrs.field(factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                endpoint.received.append((self.path, body))
                status, data = endpoint.answer(dict(self.headers.items()), body)
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Callable[..., Endpoint]]:
    started: list[Endpoint] = []

    def start(answer: Callable[[dict[str, str], bytes], tuple[int, dict[str, object]]]) -> Endpoint:
        server = Endpoint(answer)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_delivers_over_http_to_the_app(
    invoke: Invoke, sandbox: Sandbox, endpoint: Callable[..., Endpoint]
) -> None:
    _, su = sandbox.subscribe()

    def app(headers: dict[str, str], body: bytes) -> tuple[int, dict[str, object]]:
        """What the app's webhook endpoint does: verify over the raw body, then receive."""
        try:
            verified = sandbox.container.verifier.verify(headers, body)
        except ValidationError as error:
            return 400, {"detail": error.detail}
        return 200, {"status": sandbox.container.webhooks.receive(verified).answer}

    server = endpoint(app)

    result = invoke("sandbox", "fail", su, "--url", server.url)

    assert result.exit_code == 0, result.output
    assert f"Delivering its webhooks to {server.url}{WEBHOOK_PATH}:" in result.stdout
    assert [path for path, _ in server.received] == [WEBHOOK_PATH, WEBHOOK_PATH]
    assert "→ 200 processed" in lines_with(result, "payment_intent.failed")[0]
    assert "→ 200 processed" in lines_with(result, "subscription.past_due")[0]
    assert sandbox.status() is SiteStatus.PAST_DUE


def test_the_url_defaults_to_the_public_url(
    invoke: Invoke,
    sandbox: Sandbox,
    endpoint: Callable[..., Endpoint],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, su = sandbox.subscribe()
    server = endpoint(lambda headers, body: (200, {"status": "processed"}))
    monkeypatch.setenv("WEBMAGIC_PUBLIC_URL", server.url)

    result = invoke("sandbox", "renew", su)

    assert result.exit_code == 0, result.output
    assert f"Delivering its webhooks to {server.url}{WEBHOOK_PATH}:" in result.stdout
    assert len(server.received) == 1


def test_the_app_refuses_a_delivery(
    invoke: Invoke, sandbox: Sandbox, endpoint: Callable[..., Endpoint], error_line: ErrorLine
) -> None:
    _, su = sandbox.subscribe()
    server = endpoint(lambda headers, body: (400, {"title": "Bad Request", "detail": "bad signature"}))

    result = invoke("sandbox", "fail", su, "--url", server.url + WEBHOOK_PATH)

    assert result.exit_code == 1, result.output
    assert len(server.received) == 1  # the second webhook is not sent after a refusal
    [line] = lines_with(result, "payment_intent.failed")
    assert line.strip().startswith("✗")
    assert "→ 400 bad signature" in line
    assert error_line(result) == (
        "Error: the app answered 400 to payment_intent.failed: bad signature (1 more webhook not sent). "
        f"The sandbox subscription has changed all the same: apply it with `webmagic subscriptions sync {su}`"
        "; or deliver with --direct when the app is not running"
    )
    assert sandbox.status() is SiteStatus.ACTIVE
    assert sandbox.gateway.get_subscription(su).status.value == "past_due"


def test_nothing_listens_at_the_url(invoke: Invoke, sandbox: Sandbox, error_line: ErrorLine) -> None:
    _, su = sandbox.subscribe()
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    result = invoke("sandbox", "cancel", su, "--url", url)

    assert result.exit_code == 1, result.output
    [line] = lines_with(result, "subscription.cancel")
    assert "not delivered" in line
    message = error_line(result)
    assert message.startswith(f"Error: could not deliver subscription.cancel to {url}{WEBHOOK_PATH}: Connect")
    assert f"apply it with `webmagic subscriptions sync {su}`" in message

    # As the message says: the change is applied by a sync.
    synced = invoke("subscriptions", "sync", su)
    assert synced.exit_code == 0, synced.output
    assert sandbox.subscription(su).status is SubscriptionState.CANCELLED


def test_refuses_a_url_that_is_not_http(invoke: Invoke, sandbox: Sandbox, error_line: ErrorLine) -> None:
    _, su = sandbox.subscribe()
    before = sandbox.gateway.get_subscription(su)

    result = invoke("sandbox", "renew", su, "--url", "ftp://example.com")

    assert result.exit_code == 2, result.output
    assert error_line(result) == "Error: --url must be an http(s) URL, not 'ftp://example.com'"
    assert sandbox.gateway.get_subscription(su) == before  # refused before simulating anything
