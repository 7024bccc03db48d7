"""The ``PaymentGateway`` contract, run against the in-memory fake, against
``RecurrenteGateway`` talking over HTTP to the Recurrente imitation server, and against
the ``SandboxGateway`` on a migrated database (SQLite and PostgreSQL).

For the Recurrente param every test also checks the exact HTTP request sent (method, path,
headers, JSON body); for the sandbox, what it stored for each checkout created. Tests after
the shared suite cover what only a real HTTP adapter has: retries of reads (and never of
writes), timeouts, dropped connections, bad keys; and what only the sandbox has: paying
and declining through its hosted page's calls, which return signed webhooks.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from sqlalchemy import event, func, select

from webmagic_adapters.payments.imitation import DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY, RecurrenteImitation
from webmagic_adapters.payments.imitation_wire import Fault, RecordedRequest
from webmagic_adapters.payments.recurrente import RecurrenteGateway
from webmagic_adapters.payments.recurrente_events import RecurrenteEventTranslator
from webmagic_adapters.payments.sandbox import SandboxGateway
from webmagic_adapters.payments.sandbox_delivery import (
    SandboxWebhook,
    deliver_in_process,
    deliver_over_http,
    webhook_url,
)
from webmagic_adapters.payments.svix import SvixWebhookSigner, SvixWebhookVerifier, generate_secret
from webmagic_adapters.sqlalchemy import tables
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.clock import SystemClock
from webmagic_core.errors import Conflict, TransientError, ValidationError
from webmagic_core.money import Money
from webmagic_core.payments.events import (
    PaymentEvent,
    PaymentFailed,
    PaymentSucceeded,
    SubscriptionChange,
    SubscriptionChanged,
)
from webmagic_core.payments.gateway import (
    Checkout,
    CheckoutInfo,
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    FreeTrial,
    GatewayError,
    GatewayNotFound,
    GatewayUnavailable,
    PaymentGateway,
    SubscriptionInfo,
    SubscriptionStatus,
    TrialInterval,
)
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.payments.webhooks import VerifiedWebhook
from webmagic_core.testing import FakeClock
from webmagic_core.testing.payments import FakePaymentGateway

RETRIES = 2
UTC = dt.UTC
parse_event = RecurrenteEventTranslator().translate

# Which HTTP call each port method makes: (method, route below /api with {id}).
ROUTES = {
    "create_checkout": ("POST", "/checkouts"),
    "get_checkout": ("GET", "/checkouts/{id}"),
    "get_subscription": ("GET", "/subscriptions/{id}"),
    "cancel_subscription": ("DELETE", "/subscriptions/{id}"),
    "refund": ("POST", "/refunds"),
    "expire_checkout": ("PATCH", "/checkouts/{id}"),
    "list_checkouts": ("GET", "/checkouts"),
}


@attrs.define
class RecordingGateway:
    """Passes every call to ``gateway`` and records it: (method, argument, result or None)."""

    gateway: PaymentGateway
    calls: list[tuple[str, str, object]] = attrs.field(factory=list)

    def _record(self, method: str, argument: str, result: object = None) -> None:
        self.calls.append((method, argument, result))

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        self._record("create_checkout", request.item_name)
        checkout = self.gateway.create_checkout(request)
        self.calls[-1] = ("create_checkout", request.item_name, checkout)
        return checkout

    def get_checkout(self, checkout_id: str) -> CheckoutInfo:
        self._record("get_checkout", checkout_id)
        return self.gateway.get_checkout(checkout_id)

    def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        self._record("get_subscription", subscription_id)
        return self.gateway.get_subscription(subscription_id)

    def cancel_subscription(self, subscription_id: str) -> None:
        self._record("cancel_subscription", subscription_id)
        self.gateway.cancel_subscription(subscription_id)

    def refund(self, payment_id: str) -> None:
        self._record("refund", payment_id)
        self.gateway.refund(payment_id)

    def expire_checkout(self, checkout_id: str, at: dt.datetime) -> None:
        self._record("expire_checkout", checkout_id)
        self.gateway.expire_checkout(checkout_id, at)

    def list_checkouts(self, since: dt.datetime, *, limit: int = 500) -> Sequence[CheckoutInfo]:
        self._record("list_checkouts", since.isoformat())
        return self.gateway.list_checkouts(since, limit=limit)


@attrs.define
class Harness:
    """A gateway plus the provider-side controls a test needs, for each implementation."""

    name: str
    gateway: PaymentGateway
    fake: FakePaymentGateway | None = None
    imitation: RecurrenteImitation | None = None
    sandbox: SandboxGateway | None = None
    database: Database | None = None
    recorder: RecordingGateway | None = None

    def pay(self, checkout_id: str) -> None:
        if self.fake is not None:
            self.fake.pay(checkout_id)
        elif self.sandbox is not None:
            self.sandbox.pay(checkout_id)
        else:
            assert self.imitation is not None
            self.imitation.mark_paid(checkout_id)

    def set_checkout_status(self, checkout_id: str, status: CheckoutStatus) -> None:
        if self.fake is not None:
            self.fake.set_status(checkout_id, status)
        elif self.sandbox is not None:
            self.sandbox.set_status(checkout_id, status)
        else:
            assert self.imitation is not None
            self.imitation.set_checkout_status(checkout_id, status.value)

    def put_subscription(self, subscription: SubscriptionInfo) -> None:
        if self.fake is not None:
            self.fake.put_subscription(subscription)
        elif self.sandbox is not None:
            self.sandbox.put_subscription(subscription)
        else:
            assert self.imitation is not None
            self.imitation.set_subscription(
                subscription.id,
                status=subscription.status.value,
                checkout_id=subscription.checkout_id,
                current_period_start=subscription.current_period_start,
                current_period_end=subscription.current_period_end,
                next_payment_attempt_at=subscription.next_payment_attempt_at,
            )

    def outage(self, port_method: str) -> None:
        """The next call of ``port_method`` meets a provider outage (every retry included)."""
        if self.fake is not None:
            self.fake.fail_next(1, method=port_method)
        elif self.database is not None:
            database_outage(self.database)
        else:
            assert self.imitation is not None
            method, route = ROUTES[port_method]
            times = 1 + RETRIES if method == "GET" else 1
            self.imitation.inject(Fault.error(503), method=method, path=route.split("{")[0], times=times)

    def assert_last_call(
        self, port_method: str, *, id: str | None = None, json: Any = None, count: int = 1
    ) -> None:
        """The last ``count`` calls were ``port_method``; for Recurrente, the exact HTTP requests."""
        if self.fake is not None:
            assert [name for name, _ in self.fake.calls[-count:]] == [port_method] * count
            return
        if self.sandbox is not None:
            assert self.recorder is not None
            calls = self.recorder.calls[-count:]
            assert [name for name, _, _ in calls] == [port_method] * count
            if id is not None:
                assert all(argument == id for _, argument, _ in calls)
            if port_method == "create_checkout" and json is not None:
                for _, _, checkout in calls:
                    if isinstance(checkout, Checkout):
                        assert self.stored_as_body(checkout.id) == json
            return
        assert self.imitation is not None
        method, route = ROUTES[port_method]
        path = "/api" + route.format(id=id)
        for sent in self.imitation.requests[-count:]:
            assert_request(sent, method, path, json)

    def http_requests(self) -> int:
        """How many calls reached the provider (port calls for the fake and the sandbox, HTTP
        for Recurrente)."""
        if self.fake is not None:
            return len(self.fake.calls)
        if self.recorder is not None:
            return len(self.recorder.calls)
        assert self.imitation is not None
        return len(self.imitation.requests)

    def stored_checkouts(self) -> int:
        """How many checkouts the sandbox keeps."""
        assert self.database is not None
        with self.database.engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(tables.sandbox_checkouts)).scalar_one()
            )

    def stored_as_body(self, checkout_id: str) -> dict[str, Any]:
        """A sandbox checkout as stored, written as the ``POST /checkouts`` body it stands for."""
        assert self.sandbox is not None
        stored = self.sandbox.checkout(checkout_id)
        request = CheckoutRequest(
            kind=stored.kind,
            item_name=stored.item_name,
            amount=stored.amount,
            success_url=stored.success_url,
            cancel_url=stored.cancel_url,
            metadata=stored.metadata,
            expires_at=stored.expires_at,
            description=stored.description,
            free_trial=stored.free_trial,
        )
        return body_for(request)

    def is_payable(self, checkout_id: str) -> bool:
        """Whether the provider's hosted page would still take a payment for it."""
        if self.fake is not None:
            return self.fake.is_open(checkout_id)
        if self.sandbox is not None:
            stored = self.sandbox.checkout(checkout_id)
            return stored.status is not CheckoutStatus.PAID and not stored.expired(dt.datetime.now(UTC))
        assert self.imitation is not None
        return self.imitation.is_payable(checkout_id)


def database_outage(database: Database) -> None:
    """The next statement on ``database`` fails as an unreachable server would."""
    engine = database.engine

    def fail_once(*_: Any) -> None:
        event.remove(engine, "before_cursor_execute", fail_once)
        raise engine.dialect.loaded_dbapi.OperationalError("simulated outage: server closed the connection")

    event.listen(engine, "before_cursor_execute", fail_once)


def assert_request(sent: RecordedRequest, method: str, path: str, json: Any) -> None:
    assert (sent.method, sent.path, sent.query) == (method, path, "")
    assert sent.headers["x-public-key"] == DEFAULT_PUBLIC_KEY
    assert sent.headers["x-secret-key"] == DEFAULT_SECRET_KEY
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "application/json"
    assert sent.json == json
    if json is None:
        assert sent.body == b""


def recurrente_gateway(imitation: RecurrenteImitation, **options: Any) -> RecurrenteGateway:
    settings: dict[str, Any] = {"timeout": 2.0, "retries": RETRIES, "backoff": 0.001}
    settings.update(options)
    return RecurrenteGateway(imitation.api_base, imitation.public_key, imitation.secret_key, **settings)


@pytest.fixture
def imitation() -> Iterator[RecurrenteImitation]:
    with RecurrenteImitation() as running:
        yield running


@pytest.fixture(
    params=["fake", "recurrente", "sandbox", pytest.param("sandbox-postgresql", marks=pytest.mark.postgres)]
)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "fake":
        fake = FakePaymentGateway()
        yield Harness("fake", fake, fake=fake)
        return
    if request.param.startswith("sandbox"):
        if request.param == "sandbox":
            url = f"sqlite:///{(tmp_path / 'sandbox.db').as_posix()}"
        else:
            url = request.getfixturevalue("postgres_url")
        database = Database(url)
        database.upgrade()
        sandbox = SandboxGateway(
            database,
            public_url="https://webmagic.example",
            signer=SvixWebhookSigner(generate_secret()),
            clock=SystemClock(),
        )
        recorder = RecordingGateway(sandbox)
        yield Harness(request.param, recorder, sandbox=sandbox, database=database, recorder=recorder)
        database.dispose()
        return
    imitation: RecurrenteImitation = request.getfixturevalue("imitation")
    gateway = recurrente_gateway(imitation)
    yield Harness("recurrente", gateway, imitation=imitation)
    gateway.close()


def checkout_request(kind: CheckoutKind = CheckoutKind.ONE_TIME, **changes: Any) -> CheckoutRequest:
    fields: dict[str, Any] = {
        "kind": kind,
        "item_name": "Website: Panadería Lupita",
        "amount": Money(49500, "USD") if kind is CheckoutKind.ONE_TIME else Money(9500, "USD"),
        "success_url": "https://webmagic.example/purchase/thanks",
        "cancel_url": "https://webmagic.example/purchase/cancelled?site=lupita",
        "metadata": {"purchase_id": "0b9d7f3e-purchase", "site": "lupita"},
    }
    fields.update(changes)
    return CheckoutRequest(**fields)


def body_for(request: CheckoutRequest) -> dict[str, Any]:
    """What docs/payments.md says ``POST /checkouts`` must carry for ``request``."""
    item: dict[str, Any] = {
        "name": request.item_name,
        "currency": request.amount.currency,
        "amount_in_cents": request.amount.amount_in_cents,
        "quantity": 1,
    }
    if request.description is not None:
        item["description"] = request.description
    if request.kind is CheckoutKind.MONTHLY:
        item |= {"charge_type": "recurring", "billing_interval": "month", "billing_interval_count": 1}
    if request.free_trial is not None:
        item |= {
            "free_trial_interval": request.free_trial.interval.value,
            "free_trial_interval_count": request.free_trial.count,
        }
    body: dict[str, Any] = {
        "items": [item],
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "metadata": dict(request.metadata),
    }
    if request.expires_at is not None:
        body["expires_at"] = request.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return body


def body_time(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_utc(value: dt.datetime | None) -> dt.datetime:
    assert value is not None
    assert value.utcoffset() == dt.timedelta(0)
    return value


# --- the shared contract ---------------------------------------------------------------------


def test_a_new_checkout_is_unpaid(harness: Harness) -> None:
    request = checkout_request()
    checkout = harness.gateway.create_checkout(request)
    assert checkout.id.startswith("ch_")
    assert checkout.url.startswith("http")
    assert checkout.id in checkout.url
    harness.assert_last_call("create_checkout", json=body_for(request))

    info = harness.gateway.get_checkout(checkout.id)
    harness.assert_last_call("get_checkout", id=checkout.id)
    assert info.id == checkout.id
    assert info.status is CheckoutStatus.UNPAID
    assert info.amount == Money(49500, "USD")
    assert info.metadata == {"purchase_id": "0b9d7f3e-purchase", "site": "lupita"}
    assert info.live_mode is False
    assert (info.payment_id, info.subscription_id) == (None, None)


def test_checkouts_are_distinct(harness: Harness) -> None:
    ids = {harness.gateway.create_checkout(checkout_request()).id for _ in range(3)}
    assert len(ids) == 3


def test_a_paid_checkout_names_its_payment(harness: Harness) -> None:
    checkout = harness.gateway.create_checkout(checkout_request())
    harness.pay(checkout.id)
    info = harness.gateway.get_checkout(checkout.id)
    harness.assert_last_call("get_checkout", id=checkout.id)
    assert info.status is CheckoutStatus.PAID
    assert info.amount == Money(49500, "USD")
    assert info.payment_id is not None
    assert info.payment_id.startswith("pa_")
    assert info.subscription_id is None
    assert info.metadata["purchase_id"] == "0b9d7f3e-purchase"


def test_a_payment_in_progress_is_reported(harness: Harness) -> None:
    checkout = harness.gateway.create_checkout(checkout_request())
    harness.set_checkout_status(checkout.id, CheckoutStatus.IN_PROGRESS)
    assert harness.gateway.get_checkout(checkout.id).status is CheckoutStatus.IN_PROGRESS


def test_a_monthly_checkout_starts_a_subscription_when_paid(harness: Harness) -> None:
    request = checkout_request(
        CheckoutKind.MONTHLY,
        description="Hosting, TLS and small edits",
        expires_at=dt.datetime.now(UTC).replace(microsecond=0) + dt.timedelta(minutes=30),
    )
    checkout = harness.gateway.create_checkout(request)
    harness.assert_last_call("create_checkout", json=body_for(request))
    harness.pay(checkout.id)

    info = harness.gateway.get_checkout(checkout.id)
    assert info.status is CheckoutStatus.PAID
    assert info.amount == Money(9500, "USD")
    assert info.subscription_id is not None
    assert info.subscription_id.startswith("su_")

    subscription = harness.gateway.get_subscription(info.subscription_id)
    harness.assert_last_call("get_subscription", id=info.subscription_id)
    assert subscription.id == info.subscription_id
    assert subscription.status is SubscriptionStatus.ACTIVE
    assert subscription.checkout_id == checkout.id
    start = assert_utc(subscription.current_period_start)
    end = assert_utc(subscription.current_period_end)
    assert dt.timedelta(days=28) <= end - start <= dt.timedelta(days=31)


def test_a_scripted_subscription_is_reported_as_set(harness: Harness) -> None:
    scripted = SubscriptionInfo(
        id="su_scripted1",
        status=SubscriptionStatus.PAST_DUE,
        current_period_start=dt.datetime(2026, 1, 1, 6, 0, tzinfo=UTC),
        current_period_end=dt.datetime(2026, 2, 1, 6, 0, tzinfo=UTC),
        next_payment_attempt_at=dt.datetime(2026, 2, 4, 6, 0, tzinfo=UTC),
        checkout_id="ch_scripted1",
    )
    harness.put_subscription(scripted)
    subscription = harness.gateway.get_subscription("su_scripted1")
    assert subscription.status is SubscriptionStatus.PAST_DUE
    assert subscription.checkout_id == "ch_scripted1"
    assert assert_utc(subscription.current_period_start) == dt.datetime(2026, 1, 1, 6, tzinfo=UTC)
    assert assert_utc(subscription.current_period_end) == dt.datetime(2026, 2, 1, 6, tzinfo=UTC)
    assert assert_utc(subscription.next_payment_attempt_at) == dt.datetime(2026, 2, 4, 6, tzinfo=UTC)


def test_closing_a_checkout_stops_payments_and_reports_the_expiry(harness: Harness) -> None:
    checkout = harness.gateway.create_checkout(checkout_request())
    assert harness.is_payable(checkout.id)
    now = dt.datetime.now(UTC).replace(microsecond=0)
    harness.gateway.expire_checkout(checkout.id, now)
    harness.assert_last_call("expire_checkout", id=checkout.id, json={"expires_at": body_time(now)})
    assert not harness.is_payable(checkout.id)
    info = harness.gateway.get_checkout(checkout.id)
    assert info.status is CheckoutStatus.UNPAID
    assert assert_utc(info.expires_at) == now
    assert info.created_at is not None


def test_a_paid_checkout_cannot_be_closed(harness: Harness) -> None:
    checkout = harness.gateway.create_checkout(checkout_request())
    harness.pay(checkout.id)
    with pytest.raises(GatewayError) as refused:
        harness.gateway.expire_checkout(checkout.id, dt.datetime.now(UTC))
    assert not isinstance(refused.value, GatewayNotFound)
    assert harness.gateway.get_checkout(checkout.id).status is CheckoutStatus.PAID


def test_closing_an_unknown_checkout_is_not_found(harness: Harness) -> None:
    with pytest.raises(GatewayNotFound):
        harness.gateway.expire_checkout("ch_unknown0000", dt.datetime.now(UTC))


def test_the_checkout_list_holds_the_recent_ones_newest_first(harness: Harness) -> None:
    since = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
    created = [harness.gateway.create_checkout(checkout_request()).id for _ in range(5)]
    harness.pay(created[1])
    listed = harness.gateway.list_checkouts(since)
    assert {info.id for info in listed} == set(created)
    stamps = [assert_utc(info.created_at) for info in listed]
    assert stamps == sorted(stamps, reverse=True)
    paid = next(info for info in listed if info.id == created[1])
    assert paid.status is CheckoutStatus.PAID
    assert paid.payment_id is not None
    assert paid.metadata["purchase_id"] == "0b9d7f3e-purchase"
    later = dt.datetime.now(UTC) + dt.timedelta(minutes=5)
    assert list(harness.gateway.list_checkouts(later)) == []
    assert len(harness.gateway.list_checkouts(since, limit=2)) == 2


def test_a_free_trial_puts_the_first_charge_at_its_end(harness: Harness) -> None:
    request = checkout_request(CheckoutKind.MONTHLY, free_trial=FreeTrial(TrialInterval.WEEK, 4))
    checkout = harness.gateway.create_checkout(request)
    harness.assert_last_call("create_checkout", json=body_for(request))
    harness.pay(checkout.id)
    subscription_id = harness.gateway.get_checkout(checkout.id).subscription_id
    assert subscription_id is not None
    subscription = harness.gateway.get_subscription(subscription_id)
    start = assert_utc(subscription.current_period_start)
    assert assert_utc(subscription.current_period_end) - start == dt.timedelta(weeks=4)
    assert assert_utc(subscription.next_payment_attempt_at) - start == dt.timedelta(weeks=4)


def test_a_free_trial_on_a_one_time_item_is_refused(harness: Harness) -> None:
    with pytest.raises((GatewayError, ValidationError)):
        harness.gateway.create_checkout(checkout_request(free_trial=FreeTrial(TrialInterval.MONTH, 1)))


def test_cancelling_a_subscription_is_idempotent(harness: Harness) -> None:
    checkout = harness.gateway.create_checkout(checkout_request(CheckoutKind.MONTHLY))
    harness.pay(checkout.id)
    subscription_id = harness.gateway.get_checkout(checkout.id).subscription_id
    assert subscription_id is not None

    harness.gateway.cancel_subscription(subscription_id)
    harness.assert_last_call("cancel_subscription", id=subscription_id)
    assert harness.gateway.get_subscription(subscription_id).status is SubscriptionStatus.CANCELLED
    harness.gateway.cancel_subscription(subscription_id)  # a second cancel is not an error
    assert harness.gateway.get_subscription(subscription_id).status is SubscriptionStatus.CANCELLED


def test_cancelling_keeps_the_period_and_stops_the_charges(harness: Harness) -> None:
    checkout = harness.gateway.create_checkout(checkout_request(CheckoutKind.MONTHLY))
    harness.pay(checkout.id)
    subscription_id = harness.gateway.get_checkout(checkout.id).subscription_id
    assert subscription_id is not None
    before = harness.gateway.get_subscription(subscription_id)

    harness.gateway.cancel_subscription(subscription_id)

    after = harness.gateway.get_subscription(subscription_id)
    assert (after.status, after.next_payment_attempt_at) == (SubscriptionStatus.CANCELLED, None)
    # The paid period is still reported: the site may stay online until its end.
    assert (after.current_period_start, after.current_period_end, after.checkout_id) == (
        before.current_period_start,
        before.current_period_end,
        checkout.id,
    )


@pytest.mark.parametrize("status", [SubscriptionStatus.PAST_DUE, SubscriptionStatus.PAUSED])
def test_a_past_due_or_paused_subscription_can_be_cancelled(
    harness: Harness, status: SubscriptionStatus
) -> None:
    harness.put_subscription(
        SubscriptionInfo(
            id=f"su_{status.value.replace('_', '')}1",
            status=status,
            current_period_start=dt.datetime(2026, 1, 1, 6, 0, tzinfo=UTC),
            current_period_end=dt.datetime(2026, 2, 1, 6, 0, tzinfo=UTC),
            next_payment_attempt_at=None,
            checkout_id=None,
        )
    )
    harness.gateway.cancel_subscription(f"su_{status.value.replace('_', '')}1")
    cancelled = harness.gateway.get_subscription(f"su_{status.value.replace('_', '')}1")
    assert cancelled.status is SubscriptionStatus.CANCELLED
    assert assert_utc(cancelled.current_period_end) == dt.datetime(2026, 2, 1, 6, tzinfo=UTC)


def test_a_payment_is_refunded_once(harness: Harness) -> None:
    checkout = harness.gateway.create_checkout(checkout_request())
    harness.pay(checkout.id)
    payment_id = harness.gateway.get_checkout(checkout.id).payment_id
    assert payment_id is not None

    harness.gateway.refund(payment_id)
    harness.assert_last_call("refund", json={"payment_intent_id": payment_id})
    with pytest.raises(GatewayError) as again:
        harness.gateway.refund(payment_id)
    assert not isinstance(again.value, GatewayNotFound)
    assert again.value.status == 422


@pytest.mark.parametrize(
    ("method", "argument"),
    [
        ("get_checkout", "ch_doesnotexist"),
        ("get_subscription", "su_doesnotexist"),
        ("cancel_subscription", "su_doesnotexist"),
        ("refund", "pa_doesnotexist"),
    ],
)
def test_unknown_ids_are_not_found(harness: Harness, method: str, argument: str) -> None:
    with pytest.raises(GatewayNotFound) as caught:
        getattr(harness.gateway, method)(argument)
    assert caught.value.status == 404
    assert isinstance(caught.value, GatewayError)
    harness.assert_last_call(
        method, id=argument, json={"payment_intent_id": argument} if method == "refund" else None
    )


def test_a_request_the_provider_refuses_is_a_gateway_error(harness: Harness) -> None:
    request = checkout_request(success_url="not a url")
    with pytest.raises(GatewayError) as caught:
        harness.gateway.create_checkout(request)
    assert type(caught.value) is GatewayError
    assert caught.value.status == 422
    assert "success_url" in caught.value.detail
    harness.assert_last_call("create_checkout", json=body_for(request))


@pytest.mark.parametrize(
    "metadata",
    [
        {f"key{i}": "v" for i in range(51)},
        {"k" * 41: "v"},
        {"site": "v" * 501},
    ],
    ids=["51 keys", "long key", "long value"],
)
def test_metadata_beyond_the_limits_is_refused(harness: Harness, metadata: dict[str, str]) -> None:
    before = harness.http_requests()
    # The Recurrente adapter refuses before sending (ValidationError); the fake answers as the
    # provider would (GatewayError 422). Either way no checkout exists afterwards.
    with pytest.raises((ValidationError, GatewayError)):
        harness.gateway.create_checkout(checkout_request(metadata=metadata))
    if harness.imitation is not None:
        assert harness.http_requests() == before
        assert harness.imitation.checkouts == {}
    if harness.fake is not None:
        assert harness.fake.created == []
    if harness.sandbox is not None:
        assert harness.stored_checkouts() == 0


def test_metadata_at_the_limits_is_accepted(harness: Harness) -> None:
    metadata = {f"k{i:02d}".ljust(40, "x"): "v" * 500 for i in range(50)}
    checkout = harness.gateway.create_checkout(checkout_request(metadata=metadata))
    assert harness.gateway.get_checkout(checkout.id).metadata == metadata


@pytest.mark.parametrize("method", ["create_checkout", "get_checkout"])
def test_an_outage_is_transient_and_passes(harness: Harness, method: str) -> None:
    checkout = harness.gateway.create_checkout(checkout_request())
    harness.outage(method)
    call = (
        (lambda: harness.gateway.create_checkout(checkout_request()))
        if method == "create_checkout"
        else (lambda: harness.gateway.get_checkout(checkout.id))
    )
    with pytest.raises(GatewayUnavailable) as caught:
        call()
    assert isinstance(caught.value, TransientError)
    call()  # the outage is over


# --- Recurrente over HTTP only: retries, timeouts, transport faults ---------------------------


@pytest.fixture
def gateway(imitation: RecurrenteImitation) -> Iterator[RecurrenteGateway]:
    gw = recurrente_gateway(imitation)
    yield gw
    gw.close()


@pytest.fixture
def checkout_id(gateway: RecurrenteGateway, imitation: RecurrenteImitation) -> str:
    checkout_id = gateway.create_checkout(checkout_request()).id
    imitation.clear_requests()
    return checkout_id


def test_a_500_on_a_read_is_retried(
    gateway: RecurrenteGateway, imitation: RecurrenteImitation, checkout_id: str
) -> None:
    imitation.inject(Fault.error(500), method="GET", times=RETRIES)
    assert gateway.get_checkout(checkout_id).status is CheckoutStatus.UNPAID
    assert len(imitation.requests_to("GET", f"/checkouts/{checkout_id}")) == RETRIES + 1
    for sent in imitation.requests:
        assert_request(sent, "GET", f"/api/checkouts/{checkout_id}", None)


def test_a_read_gives_up_after_the_retries(
    gateway: RecurrenteGateway, imitation: RecurrenteImitation, checkout_id: str
) -> None:
    imitation.inject(Fault.error(502), method="GET", times=RETRIES + 5)
    with pytest.raises(GatewayUnavailable, match="502"):
        gateway.get_checkout(checkout_id)
    assert len(imitation.requests) == RETRIES + 1


def test_a_subscription_read_is_retried_too(
    gateway: RecurrenteGateway, imitation: RecurrenteImitation
) -> None:
    imitation.set_subscription("su_retry1", status="paused")
    imitation.inject(Fault.drop(), method="GET")
    imitation.inject(Fault.malformed_json(), method="GET")
    assert gateway.get_subscription("su_retry1").status is SubscriptionStatus.PAUSED
    assert len(imitation.requests_to("GET", "/subscriptions/su_retry1")) == 3


@pytest.mark.parametrize(
    "fault", [Fault.error(500), Fault.drop(), Fault.malformed_json()], ids=["500", "drop", "malformed"]
)
def test_a_failed_create_is_not_retried(
    gateway: RecurrenteGateway, imitation: RecurrenteImitation, fault: Fault
) -> None:
    imitation.inject(fault, method="POST")
    with pytest.raises(GatewayUnavailable):
        gateway.create_checkout(checkout_request())
    assert len(imitation.requests_to("POST", "/checkouts")) == 1


def test_a_failed_refund_or_cancel_is_not_retried(
    gateway: RecurrenteGateway, imitation: RecurrenteImitation
) -> None:
    checkout = gateway.create_checkout(checkout_request(CheckoutKind.MONTHLY))
    paid = imitation.mark_paid(checkout.id)
    imitation.inject(Fault.error(500), times=10)
    with pytest.raises(GatewayUnavailable):
        gateway.refund(str(paid.payment_id))
    with pytest.raises(GatewayUnavailable):
        gateway.cancel_subscription(str(paid.paymentable_id))
    assert len(imitation.requests_to("POST", "/refunds")) == 1
    assert len(imitation.requests_to("DELETE", "/subscriptions")) == 1
    assert imitation.refunds == []
    assert imitation.subscriptions[str(paid.paymentable_id)].status == "active"


def test_a_slow_create_times_out_once(imitation: RecurrenteImitation) -> None:
    imitation.inject(Fault.slow(3.0), method="POST")
    with recurrente_gateway(imitation, timeout=0.2) as gateway:
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable, match="in time"):
            gateway.create_checkout(checkout_request())
        assert time.monotonic() - started < 2.0
    assert len(imitation.requests_to("POST", "/checkouts")) == 1


def test_a_slow_read_times_out_and_is_retried(imitation: RecurrenteImitation) -> None:
    with recurrente_gateway(imitation, timeout=0.2) as gateway:
        checkout = gateway.create_checkout(checkout_request())
        imitation.inject(Fault.slow(3.0), method="GET")
        assert gateway.get_checkout(checkout.id).id == checkout.id
        imitation.inject(Fault.slow(3.0), method="GET", times=RETRIES + 1)
        with pytest.raises(GatewayUnavailable, match="in time"):
            gateway.get_checkout(checkout.id)
    assert len(imitation.requests_to("GET", "/checkouts")) == 2 + RETRIES + 1


def test_wrong_keys_are_a_gateway_error_without_the_key(imitation: RecurrenteImitation) -> None:
    wrong = "sk_test_wrongwrongwrong"
    with RecurrenteGateway(imitation.api_base, imitation.public_key, wrong, retries=RETRIES) as gateway:
        with pytest.raises(GatewayError) as caught:
            gateway.create_checkout(checkout_request())
        assert caught.value.status == 401
        assert wrong not in str(caught.value)
        with pytest.raises(GatewayError):
            gateway.get_checkout("ch_1")
    assert len(imitation.requests) == 2  # a 401 is not retried, even for a read
    assert imitation.requests[0].headers["x-secret-key"] == wrong


def test_an_unreachable_provider_is_unavailable() -> None:
    with RecurrenteImitation() as stopped:
        api_base = stopped.api_base
    with RecurrenteGateway(api_base, DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY, backoff=0.001) as gateway:
        with pytest.raises(GatewayUnavailable, match="could not reach"):
            gateway.get_checkout("ch_1")
        with pytest.raises(GatewayUnavailable):
            gateway.create_checkout(checkout_request())


def test_the_connection_check(gateway: RecurrenteGateway, imitation: RecurrenteImitation) -> None:
    assert gateway.check_connection() == "Hello WebMagic Imitation"
    assert_request(imitation.requests[-1], "GET", "/api/test", None)


def test_the_gateway_is_safe_across_threads(
    gateway: RecurrenteGateway, imitation: RecurrenteImitation
) -> None:
    ids: list[str] = []
    errors: list[BaseException] = []

    def buy() -> None:
        try:
            checkout = gateway.create_checkout(checkout_request())
            ids.append(gateway.get_checkout(checkout.id).id)
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=buy) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert len(set(ids)) == 8
    assert set(ids) == set(imitation.checkouts)


# --- the sandbox only: what its hosted checkout page does -------------------------------------


@attrs.define
class Sandbox:
    gateway: SandboxGateway
    verifier: SvixWebhookVerifier
    clock: FakeClock
    url: str


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    url = f"sqlite:///{(tmp_path / 'sandbox.db').as_posix()}"
    database = Database(url)
    database.upgrade()
    secret, clock = generate_secret(), FakeClock()
    gateway = SandboxGateway(
        database, public_url="https://webmagic.example/", signer=SvixWebhookSigner(secret), clock=clock
    )
    yield Sandbox(gateway, SvixWebhookVerifier(secret, clock=clock), clock, url)
    database.dispose()


def sandbox_request(kind: CheckoutKind = CheckoutKind.ONE_TIME, **changes: Any) -> CheckoutRequest:
    return checkout_request(kind, expires_at=dt.datetime(2026, 1, 1, 12, 30, tzinfo=UTC), **changes)


def test_the_sandbox_checkout_page_is_on_the_public_url(sandbox: Sandbox) -> None:
    checkout = sandbox.gateway.create_checkout(sandbox_request())
    assert checkout.id.startswith("ch_sandbox_")
    assert checkout.url == f"https://webmagic.example/sandbox/checkout/{checkout.id}"
    shown = sandbox.gateway.checkout(checkout.id)
    assert (shown.item_name, shown.amount, shown.status) == (
        "Website: Panadería Lupita",
        Money(49500, "USD"),
        CheckoutStatus.UNPAID,
    )


def test_paying_returns_the_signed_succeeded_webhook_recurrente_would_send(sandbox: Sandbox) -> None:
    checkout = sandbox.gateway.create_checkout(sandbox_request())

    webhook = sandbox.gateway.pay(checkout.id, customer_email="rosa@example.com", customer_name="Rosa")

    verified = sandbox.verifier.verify(webhook.headers, webhook.body)
    assert verified.message_id == webhook.message_id
    assert webhook.headers["content-type"] == "application/json"
    event = parse_event(webhook.body)
    assert isinstance(event, PaymentSucceeded)
    info = sandbox.gateway.get_checkout(checkout.id)
    assert info.status is CheckoutStatus.PAID
    assert (event.checkout_id, event.amount, event.payment_id) == (
        checkout.id,
        Money(49500, "USD"),
        info.payment_id,
    )
    assert (event.for_subscription, event.subscription_id) == (False, None)
    assert event.metadata == {"purchase_id": "0b9d7f3e-purchase", "site": "lupita"}
    assert (event.customer_email, event.customer_name) == ("rosa@example.com", "Rosa")
    assert sandbox.gateway.checkout(checkout.id).paid_at == sandbox.clock.now()
    # Recurrente's shape: every field at the top level, no "data" envelope.
    payload = json.loads(webhook.body)
    assert payload["event_type"] == "payment_intent.succeeded"
    assert payload["checkout"]["id"] == checkout.id
    assert "data" not in payload


def test_a_paid_checkout_cannot_be_paid_or_declined_again(sandbox: Sandbox) -> None:
    checkout = sandbox.gateway.create_checkout(sandbox_request())
    sandbox.gateway.pay(checkout.id)
    paid = sandbox.gateway.get_checkout(checkout.id)

    with pytest.raises(Conflict, match="paid already"):
        sandbox.gateway.pay(checkout.id)
    with pytest.raises(Conflict, match="paid already"):
        sandbox.gateway.decline(checkout.id)
    assert sandbox.gateway.get_checkout(checkout.id) == paid


def test_declining_returns_a_signed_failed_webhook_and_leaves_the_checkout_open(sandbox: Sandbox) -> None:
    checkout = sandbox.gateway.create_checkout(sandbox_request())

    webhook = sandbox.gateway.decline(checkout.id)

    sandbox.verifier.verify(webhook.headers, webhook.body)
    event = parse_event(webhook.body)
    assert isinstance(event, PaymentFailed)
    assert event.checkout_id == checkout.id
    assert event.failure_reason == "the card was declined (sandbox)"
    assert event.metadata["purchase_id"] == "0b9d7f3e-purchase"
    assert sandbox.gateway.get_checkout(checkout.id).status is CheckoutStatus.UNPAID
    # As at the provider, the buyer may try again.
    assert isinstance(parse_event(sandbox.gateway.pay(checkout.id).body), PaymentSucceeded)


def test_an_expired_checkout_takes_no_payment(sandbox: Sandbox) -> None:
    checkout = sandbox.gateway.create_checkout(sandbox_request())
    sandbox.clock.advance(dt.timedelta(minutes=30))
    with pytest.raises(Conflict, match="expired"):
        sandbox.gateway.pay(checkout.id)
    with pytest.raises(Conflict, match="expired"):
        sandbox.gateway.decline(checkout.id)
    assert sandbox.gateway.get_checkout(checkout.id).status is CheckoutStatus.UNPAID


def test_a_paid_monthly_checkout_names_its_subscription_in_the_webhook(sandbox: Sandbox) -> None:
    checkout = sandbox.gateway.create_checkout(sandbox_request(CheckoutKind.MONTHLY))
    event = parse_event(sandbox.gateway.pay(checkout.id, customer_email="rosa@example.com").body)
    assert isinstance(event, PaymentSucceeded)
    assert event.for_subscription
    assert event.subscription_id is not None
    subscription = sandbox.gateway.get_subscription(event.subscription_id)
    assert subscription.status is SubscriptionStatus.ACTIVE
    assert (subscription.checkout_id, subscription.customer_email) == (checkout.id, "rosa@example.com")
    assert subscription.current_period_start == sandbox.clock.now()
    assert subscription.current_period_end == dt.datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def test_a_refund_is_recorded(sandbox: Sandbox) -> None:
    checkout = sandbox.gateway.create_checkout(sandbox_request())
    sandbox.gateway.pay(checkout.id)
    payment_id = str(sandbox.gateway.get_checkout(checkout.id).payment_id)

    sandbox.gateway.refund(payment_id)

    [refund] = sandbox.gateway.refunds()
    assert (refund.payment_id, refund.amount, refund.created_at) == (
        payment_id,
        Money(49500, "USD"),
        sandbox.clock.now(),
    )


def test_every_process_sharing_the_database_sees_the_same_checkouts(sandbox: Sandbox) -> None:
    checkout = sandbox.gateway.create_checkout(sandbox_request())
    other = Database(sandbox.url)  # another process: its own engine and connections
    try:
        elsewhere = SandboxGateway(
            other,
            public_url="https://webmagic.example",
            signer=SvixWebhookSigner(generate_secret()),
            clock=sandbox.clock,
        )
        assert elsewhere.get_checkout(checkout.id).status is CheckoutStatus.UNPAID
        elsewhere.pay(checkout.id)
        assert sandbox.gateway.get_checkout(checkout.id).status is CheckoutStatus.PAID
    finally:
        other.dispose()


def test_a_database_fault_crosses_the_port_as_a_gateway_error(sandbox: Sandbox, tmp_path: Path) -> None:
    unmigrated = Database(f"sqlite:///{(tmp_path / 'never-migrated.db').as_posix()}")
    try:
        gateway = SandboxGateway(
            unmigrated,
            public_url="https://webmagic.example",
            signer=SvixWebhookSigner(generate_secret()),
            clock=sandbox.clock,
        )
        with pytest.raises((GatewayError, GatewayUnavailable)) as caught:
            gateway.get_checkout("ch_sandbox_1")
        assert "sandbox_checkouts" in caught.value.detail
    finally:
        unmigrated.dispose()


# --- the sandbox only: its subscriptions, simulated the way the provider moves them ------------


def webhook_events(sandbox: Sandbox, webhooks: list[SandboxWebhook]) -> list[PaymentEvent]:
    """The events the webhooks carry, each checked to be signed with the app's secret."""
    for webhook in webhooks:
        sandbox.verifier.verify(webhook.headers, webhook.body)
        assert json.loads(webhook.body)["event_type"] == webhook.event_type
    assert len({webhook.message_id for webhook in webhooks}) == len(webhooks)
    return [parse_event(webhook.body) for webhook in webhooks]


def paid_subscription(sandbox: Sandbox) -> str:
    checkout = sandbox.gateway.create_checkout(sandbox_request(CheckoutKind.MONTHLY))
    sandbox.gateway.pay(checkout.id, customer_email="rosa@example.com")
    subscription_id = sandbox.gateway.get_checkout(checkout.id).subscription_id
    assert subscription_id is not None
    assert subscription_id.startswith("su_sandbox_")
    return subscription_id


def jan(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, 0, tzinfo=UTC)


def test_paying_a_monthly_checkout_sends_the_payment_then_the_subscription_create(sandbox: Sandbox) -> None:
    checkout = sandbox.gateway.create_checkout(sandbox_request(CheckoutKind.MONTHLY))

    webhooks = sandbox.gateway.pay_all(checkout.id, customer_email="rosa@example.com", customer_name="Rosa")

    payment, created = webhook_events(sandbox, webhooks)
    subscription_id = sandbox.gateway.get_checkout(checkout.id).subscription_id
    assert isinstance(payment, PaymentSucceeded)
    assert (payment.checkout_id, payment.for_subscription, payment.subscription_id) == (
        checkout.id,
        True,
        subscription_id,
    )
    assert payment.amount == Money(9500, "USD")
    assert isinstance(created, SubscriptionChanged)
    assert (created.label, created.change, created.subscription_id, created.payment_id) == (
        "subscription.create",
        SubscriptionChange.CREATED,
        subscription_id,
        payment.payment_id,
    )
    assert (created.customer_email, created.customer_name) == ("rosa@example.com", "Rosa")


def test_paying_a_one_time_checkout_sends_the_payment_only(sandbox: Sandbox) -> None:
    checkout = sandbox.gateway.create_checkout(sandbox_request())
    [payment] = webhook_events(sandbox, sandbox.gateway.pay_all(checkout.id))
    assert isinstance(payment, PaymentSucceeded)
    assert (payment.for_subscription, payment.subscription_id) == (False, None)


def test_a_renewal_at_the_period_end_opens_the_next_paid_period(sandbox: Sandbox) -> None:
    subscription_id = paid_subscription(sandbox)
    sandbox.clock.current = dt.datetime(2026, 2, 1, 12, 5, tzinfo=UTC)

    [payment] = webhook_events(sandbox, sandbox.gateway.renew(subscription_id))

    renewed = sandbox.gateway.get_subscription(subscription_id)
    assert renewed.status is SubscriptionStatus.ACTIVE
    # The next period starts where the last one ended, not when the charge went through.
    assert (renewed.current_period_start, renewed.current_period_end, renewed.next_payment_attempt_at) == (
        dt.datetime(2026, 2, 1, 12, 0, tzinfo=UTC),
        dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    )
    assert isinstance(payment, PaymentSucceeded)
    # A renewal names no checkout: it is matched through the su_... id.
    assert (payment.checkout_id, payment.for_subscription, payment.subscription_id) == (
        None,
        True,
        subscription_id,
    )
    assert (payment.amount, payment.occurred_at, payment.customer_email) == (
        Money(9500, "USD"),
        sandbox.clock.now(),
        "rosa@example.com",
    )
    assert payment.payment_id is not None
    assert payment.payment_id.startswith("pa_sandbox_")


def test_a_renewal_before_the_period_end_ends_that_period_now(sandbox: Sandbox) -> None:
    subscription_id = paid_subscription(sandbox)
    sandbox.clock.current = jan(10)

    sandbox.gateway.renew(subscription_id)

    renewed = sandbox.gateway.get_subscription(subscription_id)
    assert (renewed.current_period_start, renewed.current_period_end) == (
        jan(10),
        dt.datetime(2026, 2, 10, 12, tzinfo=UTC),
    )


def test_a_failed_renewal_opens_the_next_period_unpaid_and_a_retry_may_fail_again(sandbox: Sandbox) -> None:
    subscription_id = paid_subscription(sandbox)
    sandbox.clock.current = dt.datetime(2026, 2, 1, 12, 0, tzinfo=UTC)

    failed, past_due = webhook_events(
        sandbox, sandbox.gateway.fail(subscription_id, reason="insufficient funds")
    )

    info = sandbox.gateway.get_subscription(subscription_id)
    assert info.status is SubscriptionStatus.PAST_DUE
    assert (info.current_period_start, info.current_period_end, info.next_payment_attempt_at) == (
        dt.datetime(2026, 2, 1, 12, tzinfo=UTC),
        dt.datetime(2026, 3, 1, 12, tzinfo=UTC),
        dt.datetime(2026, 2, 4, 12, tzinfo=UTC),
    )
    assert isinstance(failed, PaymentFailed)
    assert (failed.subscription_id, failed.failure_reason, failed.amount) == (
        subscription_id,
        "insufficient funds",
        Money(9500, "USD"),
    )
    assert isinstance(past_due, SubscriptionChanged)
    assert (past_due.label, past_due.change, past_due.subscription_id) == (
        "subscription.past_due",
        SubscriptionChange.PAST_DUE,
        subscription_id,
    )

    sandbox.clock.advance(dt.timedelta(days=3))
    [retry] = webhook_events(sandbox, sandbox.gateway.fail(subscription_id))
    assert isinstance(retry, PaymentFailed)
    again = sandbox.gateway.get_subscription(subscription_id)
    assert (again.status, again.current_period_end, again.next_payment_attempt_at) == (
        SubscriptionStatus.PAST_DUE,
        dt.datetime(2026, 3, 1, 12, tzinfo=UTC),
        dt.datetime(2026, 2, 7, 12, tzinfo=UTC),
    )


def test_a_recovery_pays_the_period_the_failed_renewal_opened(sandbox: Sandbox) -> None:
    subscription_id = paid_subscription(sandbox)
    sandbox.clock.current = dt.datetime(2026, 2, 1, 12, tzinfo=UTC)
    sandbox.gateway.fail(subscription_id)
    sandbox.clock.advance(dt.timedelta(days=3))

    [payment] = webhook_events(sandbox, sandbox.gateway.recover(subscription_id))

    info = sandbox.gateway.get_subscription(subscription_id)
    assert (
        info.status,
        info.current_period_start,
        info.current_period_end,
        info.next_payment_attempt_at,
    ) == (
        SubscriptionStatus.ACTIVE,
        dt.datetime(2026, 2, 1, 12, tzinfo=UTC),
        dt.datetime(2026, 3, 1, 12, tzinfo=UTC),
        dt.datetime(2026, 3, 1, 12, tzinfo=UTC),
    )
    assert isinstance(payment, PaymentSucceeded)
    assert (payment.subscription_id, payment.occurred_at) == (subscription_id, sandbox.clock.now())


def test_a_cancel_at_the_provider_sends_subscription_cancel_once(sandbox: Sandbox) -> None:
    subscription_id = paid_subscription(sandbox)

    [cancelled] = webhook_events(sandbox, sandbox.gateway.cancel(subscription_id))

    assert isinstance(cancelled, SubscriptionChanged)
    assert (cancelled.label, cancelled.change, cancelled.subscription_id) == (
        "subscription.cancel",
        SubscriptionChange.CANCELLED,
        subscription_id,
    )
    info = sandbox.gateway.get_subscription(subscription_id)
    assert (info.status, info.next_payment_attempt_at, info.current_period_end) == (
        SubscriptionStatus.CANCELLED,
        None,
        dt.datetime(2026, 2, 1, 12, tzinfo=UTC),
    )
    with pytest.raises(Conflict, match="is cancelled: it has ended already"):
        sandbox.gateway.cancel(subscription_id)
    sandbox.gateway.cancel_subscription(subscription_id)  # the port stays idempotent


@pytest.mark.parametrize(
    ("pause_event", "unpause_event"),
    [("subscription.pause", "subscription.unpause"), ("subscription.paused", "subscription.reactivate")],
)
def test_a_pause_and_an_unpause(sandbox: Sandbox, pause_event: str, unpause_event: str) -> None:
    subscription_id = paid_subscription(sandbox)

    [paused] = webhook_events(sandbox, sandbox.gateway.pause(subscription_id, event_type=pause_event))
    info = sandbox.gateway.get_subscription(subscription_id)
    assert (info.status, info.next_payment_attempt_at) == (SubscriptionStatus.PAUSED, None)
    assert isinstance(paused, SubscriptionChanged)
    assert (paused.label, paused.change) == (pause_event, SubscriptionChange.PAUSED)

    [unpaused] = webhook_events(sandbox, sandbox.gateway.unpause(subscription_id, event_type=unpause_event))
    info = sandbox.gateway.get_subscription(subscription_id)
    assert (info.status, info.next_payment_attempt_at) == (
        SubscriptionStatus.ACTIVE,
        dt.datetime(2026, 2, 1, 12, tzinfo=UTC),
    )
    assert isinstance(unpaused, SubscriptionChanged)
    assert (unpaused.label, unpaused.change) == (
        unpause_event,
        SubscriptionChange.RESUMED
        if unpause_event == "subscription.unpause"
        else SubscriptionChange.REACTIVATED,
    )


def test_only_the_provider_events_of_pauses_are_sent(sandbox: Sandbox) -> None:
    subscription_id = paid_subscription(sandbox)
    with pytest.raises(ValueError, match=r"subscription\.pause"):
        sandbox.gateway.pause(subscription_id, event_type="subscription.sleep")
    with pytest.raises(ValueError, match=r"subscription\.unpause"):
        sandbox.gateway.unpause(subscription_id, event_type="subscription.wake")
    assert sandbox.gateway.get_subscription(subscription_id).status is SubscriptionStatus.ACTIVE


@pytest.mark.parametrize(
    ("setup", "change", "message"),
    [
        ((), "recover", "only a past_due subscription recovers"),
        ((), "unpause", "only a paused subscription can be unpaused"),
        (("fail",), "renew", "only an active subscription renews"),
        (("pause",), "renew", "only an active subscription renews"),
        (("pause",), "fail", "only an active or past_due subscription is charged"),
        (("pause",), "pause", "only an active or past_due subscription can be paused"),
        (("cancel",), "fail", "only an active or past_due subscription is charged"),
        (("cancel",), "unpause", "only a paused subscription can be unpaused"),
    ],
)
def test_a_change_the_provider_would_not_make_is_a_conflict(
    sandbox: Sandbox, setup: tuple[str, ...], change: str, message: str
) -> None:
    subscription_id = paid_subscription(sandbox)
    for step in setup:
        getattr(sandbox.gateway, step)(subscription_id)
    before = sandbox.gateway.get_subscription(subscription_id)

    with pytest.raises(Conflict, match=message):
        getattr(sandbox.gateway, change)(subscription_id)

    assert sandbox.gateway.get_subscription(subscription_id) == before


@pytest.mark.parametrize("change", ["renew", "fail", "recover", "cancel", "pause", "unpause"])
def test_simulating_an_unknown_subscription_is_not_found(sandbox: Sandbox, change: str) -> None:
    with pytest.raises(GatewayNotFound, match="su_sandbox_nope"):
        getattr(sandbox.gateway, change)("su_sandbox_nope")


def test_a_scripted_subscription_without_a_checkout_has_no_price_to_charge(sandbox: Sandbox) -> None:
    sandbox.gateway.put_subscription(
        SubscriptionInfo(
            id="su_sandbox_scripted",
            status=SubscriptionStatus.ACTIVE,
            current_period_start=jan(1),
            current_period_end=dt.datetime(2026, 2, 1, 12, tzinfo=UTC),
            next_payment_attempt_at=dt.datetime(2026, 2, 1, 12, tzinfo=UTC),
            checkout_id=None,
        )
    )
    with pytest.raises(Conflict, match="monthly price is unknown"):
        sandbox.gateway.renew("su_sandbox_scripted")
    # What needs no price still works.
    assert len(sandbox.gateway.cancel("su_sandbox_scripted")) == 1


# --- delivering them --------------------------------------------------------------------------


def test_webhooks_are_posted_in_order_to_the_apps_endpoint(sandbox: Sandbox) -> None:
    subscription_id = paid_subscription(sandbox)
    sandbox.clock.current = dt.datetime(2026, 2, 1, 12, tzinfo=UTC)
    webhooks = sandbox.gateway.fail(subscription_id)
    received: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        received.append(request)
        sandbox.verifier.verify(dict(request.headers), request.content)
        return httpx.Response(200, json={"status": "processed"})

    url = webhook_url("https://webmagic.example/")
    assert url == "https://webmagic.example/api/v1/webhooks/recurrente"
    results = deliver_over_http(webhooks, url, transport=httpx.MockTransport(endpoint))

    assert [(r.event_type, r.status, r.accepted) for r in results] == [
        ("payment_intent.failed", 200, True),
        ("subscription.past_due", 200, True),
    ]
    assert json.loads(results[0].body) == {"status": "processed"}
    assert [str(request.url) for request in received] == [url, url]
    assert [request.content for request in received] == [webhook.body for webhook in webhooks]


def test_delivery_stops_at_the_first_refusal(sandbox: Sandbox) -> None:
    subscription_id = paid_subscription(sandbox)
    webhooks = sandbox.gateway.pause(subscription_id) + sandbox.gateway.unpause(subscription_id)
    refused = deliver_over_http(
        webhooks,
        "https://webmagic.example/api/v1/webhooks/recurrente",
        transport=httpx.MockTransport(lambda _: httpx.Response(400, json={"detail": "bad signature"})),
    )
    assert [(r.message_id, r.status, r.accepted) for r in refused] == [(webhooks[0].message_id, 400, False)]
    assert "bad signature" in refused[0].body

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = deliver_over_http(
        webhooks, "https://webmagic.example/x", transport=httpx.MockTransport(unreachable)
    )
    assert [(r.status, r.accepted) for r in down] == [(None, False)]
    assert "ConnectError" in down[0].body


@attrs.define
class RecordingWebhookService:
    """Stands in for ``WebhookService``: records what it receives, answers from a script."""

    answers: list[WebhookOutcome | Exception]
    received: list[VerifiedWebhook] = attrs.field(factory=list)

    def receive(self, webhook: VerifiedWebhook) -> WebhookOutcome:
        self.received.append(webhook)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_webhooks_can_be_handed_to_the_pipeline_in_process(sandbox: Sandbox) -> None:
    subscription_id = paid_subscription(sandbox)
    sandbox.clock.current = dt.datetime(2026, 2, 1, 12, tzinfo=UTC)
    webhooks = sandbox.gateway.fail(subscription_id)
    service = RecordingWebhookService([WebhookOutcome.PROCESSED, WebhookOutcome.DUPLICATE])

    results = deliver_in_process(webhooks, sandbox.verifier, service)  # type: ignore[arg-type]

    assert [(r.status, json.loads(r.body)) for r in results] == [
        (200, {"status": "processed"}),
        (200, {"status": "duplicate"}),
    ]
    assert [w.message_id for w in service.received] == [w.message_id for w in webhooks]

    transient = RecordingWebhookService([TransientError("database busy")])
    [busy] = deliver_in_process(webhooks, sandbox.verifier, transient)  # type: ignore[arg-type]
    assert (busy.status, busy.body, len(transient.received)) == (503, "database busy", 1)

    forged = [attrs.evolve(webhooks[0], body=webhooks[0].body + b" ")]
    [refused] = deliver_in_process(forged, sandbox.verifier, RecordingWebhookService([]))  # type: ignore[arg-type]
    assert refused.status == 400


def test_the_checkout_list_reads_every_page(imitation: RecurrenteImitation) -> None:
    imitation.page_size = 2
    with recurrente_gateway(imitation) as gateway:
        since = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
        created = {gateway.create_checkout(checkout_request()).id for _ in range(5)}
        imitation.clear_requests()
        assert {info.id for info in gateway.list_checkouts(since)} == created
    pages = imitation.requests_to("GET", "/checkouts")
    assert [sent.query for sent in pages] == [
        f"from_time={body_time(since).replace(':', '%3A')}&page={page}" for page in (1, 2, 3, 4)
    ]
