"""The same signed webhook delivered twice at the same moment, on SQLite and PostgreSQL.

Each delivery runs in its own thread on its own ``Database`` (its own engine and pool, as
two server processes would), through the Svix verifier and ``WebhookService.receive``
wired as the bootstrap wires them. Exactly one delivery is ``processed``; the other is
answered ``duplicate`` (never an error the provider would retry on), and the payment has
its effects once: one paid purchase, one ownership change, one confirmation email.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Mapping

import attrs
import pytest
from contract_support import TEST_KEYS

from webmagic_adapters.emails import normalize_email
from webmagic_adapters.mail.templates import JinjaEmailRenderer
from webmagic_adapters.payments.recurrente_events import RecurrenteEventTranslator
from webmagic_adapters.payments.svix import SvixWebhookSigner, SvixWebhookVerifier, generate_secret
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.outbox_repository import SqlAlchemyOutboxRepository
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.clock import SystemClock
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.outbox import OutboxMessage
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.accounts import AccountLinks
from webmagic_core.services.purchases import PurchaseConfig, PurchaseService
from webmagic_core.services.sites import SiteService
from webmagic_core.services.subscriptions import SubscriptionConfig
from webmagic_core.services.webhooks import WebhookService
from webmagic_core.services.wiring import Ports, Terms, wire
from webmagic_core.sites import SiteContent
from webmagic_core.testing.accounts import FakeMailer, FakePasswordHasher, FakeTokenSigner
from webmagic_core.testing.fakes import FakeRateLimiter
from webmagic_core.testing.payments import MONTHLY, FakePaymentGateway, payment_payload

PRICE = Money(49500, "USD")
SECRET = generate_secret()
CLOCK = SystemClock()


@attrs.define
class App:
    """What one server process holds: its own engine, and the services on it."""

    database: Database
    sites: SiteService
    purchases: PurchaseService
    webhooks: WebhookService
    verifier: SvixWebhookVerifier

    def deliver(self, headers: Mapping[str, str], body: bytes) -> WebhookOutcome:
        """What POST /api/v1/webhooks/recurrente does with a delivery."""
        return self.webhooks.receive(self.verifier.verify(headers, body))


def app(url: str, gateway: FakePaymentGateway) -> App:
    database = Database(url, keys=TEST_KEYS)
    uow = database.unit_of_work
    renderer = JinjaEmailRenderer()
    use = wire(
        Ports(
            uow=uow,
            clock=CLOCK,
            gateway=gateway,
            translator=RecurrenteEventTranslator(),
            mailer=FakeMailer(),
            renderer=renderer,
            hasher=FakePasswordHasher(),
            signer=FakeTokenSigner(clock=CLOCK),
            rate_limiter=FakeRateLimiter(CLOCK),
            policy=PasswordPolicy(frozenset()),
            normalize_email=normalize_email,
        ),
        Terms(
            purchase=PurchaseConfig(
                price=PRICE, public_url="https://app.example.com", sites_base_url="https://sites.example.com"
            ),
            subscription=SubscriptionConfig(
                price=MONTHLY,
                public_url="https://app.example.com",
                sites_base_url="https://sites.example.com",
            ),
            links=AccountLinks("https://app.example.com"),
            admin_email="ops@example.com",
        ),
    )
    return App(
        database=database,
        sites=SiteService(uow=uow, clock=CLOCK),
        purchases=use.purchases,
        webhooks=use.webhooks,
        verifier=SvixWebhookVerifier(SECRET, clock=CLOCK),
    )


@attrs.define
class Sale:
    slug: str
    purchase_id: uuid.UUID
    buyer: str
    body: bytes

    def signed(self, message_id: str) -> dict[str, str]:
        return dict(SvixWebhookSigner(SECRET).sign(message_id, CLOCK.now(), self.body))


@pytest.fixture
def url(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def gateway() -> FakePaymentGateway:
    return FakePaymentGateway(clock=CLOCK)


@pytest.fixture
def first(url: str, gateway: FakePaymentGateway) -> Iterator[App]:
    made = app(url, gateway)
    yield made
    made.database.dispose()


@pytest.fixture
def second(url: str, gateway: FakePaymentGateway) -> Iterator[App]:
    made = app(url, gateway)
    yield made
    made.database.dispose()


def new_sale(on: App, gateway: FakePaymentGateway, slug: str) -> Sale:
    """A preview with a pending purchase, paid at the (fake) provider: its webhook body."""
    on.sites.create_preview(slug, slug.replace("-", " ").title(), SiteContent(f"<h1>{slug}</h1>"))
    buyer = f"buyer-{slug}@example.com"
    started = on.purchases.start(slug, buyer, "Rosa Díaz")
    info = gateway.pay(started.checkout_id)
    body = json.dumps(payment_payload(info, customer_email=buyer)).encode()
    return Sale(slug, started.purchase_id, buyer, body)


def run_together(*deliveries: tuple[App, Mapping[str, str], bytes]) -> list[object]:
    """Deliver from one thread each, released at the same moment; outcomes or exceptions."""
    barrier = threading.Barrier(len(deliveries))
    results: list[object] = [None] * len(deliveries)

    def run(index: int, target: App, headers: Mapping[str, str], body: bytes) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = target.deliver(headers, body)
        except BaseException as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, *d)) for i, d in enumerate(deliveries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a delivery hung"
    return results


def assert_sold_once(on: App, sale: Sale) -> None:
    with on.database.unit_of_work() as work:
        site = work.sites.get_by_slug(sale.slug)
        assert site is not None
        purchases = work.purchases.for_site(site.id)
        events = work.sites.events(site.id)
        mails = work.outbox.for_site(site.id)
        customer = work.customers.get_by_email(sale.buyer)
        webhooks = work.webhook_events.for_site(site.id)
    assert site.status is SiteStatus.OWNED
    assert [(p.id, p.status) for p in purchases] == [(sale.purchase_id, PurchaseStatus.PAID)]
    assert customer is not None
    assert site.owner_id == customer.id
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, SiteStatus.PREVIEW),
        (SiteStatus.PREVIEW, SiteStatus.OWNED),
    ]
    templates = sorted(m.message.template.value for m in mails)
    assert templates == sorted(
        [EmailTemplate.PURCHASE_CONFIRMATION.value, EmailTemplate.WELCOME_SET_PASSWORD.value]
    )
    assert all(m.message.to == sale.buyer for m in mails)
    assert webhooks
    assert all(w.outcome is WebhookOutcome.PROCESSED for w in webhooks)


def test_the_same_delivery_racing_from_two_processes_is_processed_once(
    first: App, second: App, gateway: FakePaymentGateway
) -> None:
    for round_ in range(4):
        sale = new_sale(first, gateway, f"racing-site-{round_}")
        message_id = f"msg_{uuid.uuid4().hex}"
        headers = sale.signed(message_id)
        outcomes = run_together((first, headers, sale.body), (second, headers, sale.body))
        assert sorted(str(o) for o in outcomes) == ["duplicate", "processed"], outcomes
        assert_sold_once(first, sale)
        with first.database.unit_of_work() as work:
            stored = work.webhook_events.get(message_id)
        assert stored is not None
        assert stored.outcome is WebhookOutcome.PROCESSED


@attrs.define
class HeldQueue:
    """Queues mail like the real outbox, but holds the first purchase confirmation (inside
    the webhook's transaction, after the event row is inserted) until released."""

    inside: threading.Event = attrs.field(factory=threading.Event)
    release: threading.Event = attrs.field(factory=threading.Event)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        add = SqlAlchemyOutboxRepository.add

        def held_add(repository: SqlAlchemyOutboxRepository, item: OutboxMessage) -> None:
            if item.message.template is EmailTemplate.PURCHASE_CONFIRMATION and not self.inside.is_set():
                self.inside.set()
                assert self.release.wait(timeout=10), "never released"
            add(repository, item)

        monkeypatch.setattr(SqlAlchemyOutboxRepository, "add", held_add)


def test_a_duplicate_arriving_mid_transaction_waits_for_the_first_and_is_a_duplicate(
    url: str, second: App, gateway: FakePaymentGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldQueue()
    holder = app(url, gateway)
    try:
        sale = new_sale(holder, gateway, "held-site")
        held.install(monkeypatch)
        headers = sale.signed("msg_held")
        results: dict[str, object] = {}

        def deliver(name: str, target: App) -> None:
            try:
                results[name] = target.deliver(headers, sale.body)
            except BaseException as error:
                results[name] = error

        one = threading.Thread(target=deliver, args=("first", holder))
        one.start()
        assert held.inside.wait(timeout=10), "the first delivery never reached its emails"
        two = threading.Thread(target=deliver, args=("second", second))
        two.start()
        two.join(timeout=0.5)
        # PostgreSQL: the insert waits on the unique index; SQLite: on the write lock.
        assert two.is_alive(), "the second delivery did not wait for the first transaction"
        held.release.set()
        one.join(timeout=10)
        two.join(timeout=10)
        assert results == {"first": WebhookOutcome.PROCESSED, "second": WebhookOutcome.DUPLICATE}
        assert_sold_once(holder, sale)
    finally:
        held.release.set()
        holder.database.dispose()


def test_one_payment_under_two_message_ids_at_once_still_sells_the_site_once(
    first: App, second: App, gateway: FakePaymentGateway
) -> None:
    """Not a duplicate by id (a re-sent event, or reconciliation racing the webhook): the
    site and purchase row locks make the later one find the purchase already paid."""
    sale = new_sale(first, gateway, "twice-site")
    outcomes = run_together(
        (first, sale.signed("msg_one"), sale.body), (second, sale.signed("msg_two"), sale.body)
    )
    assert outcomes == [WebhookOutcome.PROCESSED, WebhookOutcome.PROCESSED]
    assert_sold_once(first, sale)
    with first.database.unit_of_work() as work:
        stored = [work.webhook_events.get(m) for m in ("msg_one", "msg_two")]
    assert [e.outcome if e else None for e in stored] == [WebhookOutcome.PROCESSED] * 2


def test_when_the_first_delivery_fails_the_retry_is_processed(
    first: App, second: App, gateway: FakePaymentGateway
) -> None:
    """A delivery whose transaction rolls back leaves no trace: the same id is then new."""
    sale = new_sale(first, gateway, "retried-site")
    headers = sale.signed("msg_retried")
    broken = attrs.evolve(first, webhooks=attrs.evolve(first.webhooks, purchases=Exploding()))
    with pytest.raises(RuntimeError, match="handler broke"):
        broken.deliver(headers, sale.body)
    with first.database.unit_of_work() as work:
        assert work.webhook_events.get("msg_retried") is None
    assert second.deliver(headers, sale.body) is WebhookOutcome.PROCESSED
    assert first.deliver(headers, sale.body) is WebhookOutcome.DUPLICATE
    assert_sold_once(first, sale)


class Exploding:
    def prefetch(self, *_args: object) -> None:
        return None

    def handle(self, *_args: object) -> object:
        raise RuntimeError("handler broke")
