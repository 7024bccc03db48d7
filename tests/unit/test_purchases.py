"""Buying a preview site against the fakes: starting a checkout (holds, conflicts, throttling,
gateway failures) and applying the payment (account, ownership, emails, anomalies)."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    Throttled,
    Unauthenticated,
    ValidationError,
)
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.money import Money
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.payments.gateway import CheckoutKind, GatewayError, GatewayUnavailable
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.purchases import CheckoutStarted, PurchaseConfig, PurchaseLimits
from webmagic_core.sites import Actor
from webmagic_core.testing.payments import (
    ADMIN_EMAIL,
    PRICE,
    PUBLIC_URL,
    SITES_URL,
    PaymentsWorld,
    payment_payload,
    payments_world,
)

BUYER = "rosa@example.com"
OTHER = "luis@example.com"
PASSWORD = "a long enough passphrase"


@pytest.fixture
def world() -> PaymentsWorld:
    w = payments_world()
    w.preview()
    return w


def start(
    world: PaymentsWorld, email: str = BUYER, slug: str = "casa-rosa", **kwargs: object
) -> CheckoutStarted:
    return world.purchases.start(slug, email, **kwargs)  # type: ignore[arg-type]


def pay(world: PaymentsWorld, started: CheckoutStarted, message_id: str | None = None) -> WebhookOutcome:
    return world.deliver(world.paid_payload(started.checkout_id), message_id)


def purchase_paid_events(world: PaymentsWorld) -> list[object]:
    return [e for e in world.store.events if e.to_status is SiteStatus.OWNED]


# --- the entity ---------------------------------------------------------------------------


def make_purchase(now: dt.datetime) -> Purchase:
    return Purchase.new(site_id=uuid.uuid4(), amount=PRICE, buyer_email=BUYER, now=now)


def test_a_new_purchase_holds_its_site_for_fifteen_minutes() -> None:
    # Short on purpose: a hold keeps everyone else away from the site (a squatting tool).
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    purchase = make_purchase(now)
    assert purchase.status is PurchaseStatus.PENDING
    assert purchase.expires_at == now + dt.timedelta(minutes=15)
    assert purchase.holds_site(now + dt.timedelta(minutes=14))
    assert not purchase.holds_site(now + dt.timedelta(minutes=15))
    assert purchase.is_stale(now + dt.timedelta(minutes=15))


@pytest.mark.parametrize("before", ["mark_failed", "mark_expired", "mark_cancelled"])
def test_a_purchase_that_stopped_pending_can_still_be_paid(before: str) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    purchase = make_purchase(now)
    getattr(purchase, before)(now, *(["why"] if before != "mark_expired" else []))
    customer_id = uuid.uuid4()
    purchase.mark_paid(now, payment_id="pa_1", customer_id=customer_id)
    assert (purchase.status, purchase.customer_id, purchase.closed_at) == (
        PurchaseStatus.PAID,
        customer_id,
        None,
    )
    assert purchase.failure_reason is None


@pytest.mark.parametrize("final", [PurchaseStatus.PAID, PurchaseStatus.REFUND_DUE])
def test_paid_and_refund_due_are_final(final: PurchaseStatus) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    purchase = attrs.evolve(make_purchase(now), status=final)
    assert purchase.is_final
    for change in (
        lambda: purchase.mark_failed(now, "x"),
        lambda: purchase.mark_expired(now),
        lambda: purchase.mark_cancelled(now),
        lambda: purchase.mark_paid(now, payment_id=None, customer_id=uuid.uuid4()),
        lambda: purchase.mark_refund_due(now, payment_id=None, reason="x"),
    ):
        with pytest.raises(InvalidTransition):
            change()
    assert purchase.status is final


def test_a_purchase_keeps_its_first_checkout_and_caps_its_reason() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    purchase = make_purchase(now)
    purchase.attach_checkout("ch_1", "https://pay.example/ch_1", now)
    purchase.attach_checkout("ch_1", "https://pay.example/ch_1", now)  # the same again is fine
    with pytest.raises(InvalidTransition):
        purchase.attach_checkout("ch_2", "https://pay.example/ch_2", now)
    purchase.mark_failed(now, "card\ndeclined " * 100)
    assert purchase.failure_reason is not None
    assert len(purchase.failure_reason) == 500
    assert "\n" not in purchase.failure_reason


# --- starting a purchase ------------------------------------------------------------------


def test_start_holds_the_site_and_creates_a_one_time_checkout_from_configuration(
    world: PaymentsWorld,
) -> None:
    started = start(world, " Rosa@Example.COM ", full_name="Rosa  Díaz", phone="+502 5555-1234")
    purchase = world.purchase(started.purchase_id)
    site = world.site()
    assert purchase.status is PurchaseStatus.PENDING
    assert (purchase.buyer_email, purchase.buyer_name, purchase.buyer_phone) == (
        BUYER,
        "Rosa Díaz",
        "+502 5555-1234",
    )
    assert purchase.amount == PRICE
    assert (purchase.checkout_id, purchase.checkout_url) == (started.checkout_id, started.checkout_url)
    assert purchase.checkout_created_at == world.clock.now()
    assert started.expires_at == purchase.expires_at == world.clock.now() + dt.timedelta(minutes=15)

    [request] = world.gateway.created
    assert request.kind is CheckoutKind.ONE_TIME
    assert request.item_name == "Casa Rosa"
    assert request.amount == PRICE
    token = world.purchases.config.return_token(purchase.id)
    assert (
        request.success_url == f"{PUBLIC_URL}/purchase/casa-rosa/thanks?purchase={purchase.id}&token={token}"
    )
    assert (
        request.cancel_url
        == f"{PUBLIC_URL}/purchase/casa-rosa/cancelled?purchase={purchase.id}&token={token}"
    )
    assert request.metadata == {
        "purchase_id": str(purchase.id),
        "site_slug": "casa-rosa",
        "site_id": str(site.id),
    }
    assert request.expires_at == purchase.expires_at
    assert world.gateway.checkout(started.checkout_id).metadata == request.metadata


def test_return_urls_come_only_from_the_configured_public_url() -> None:
    world = payments_world(public_url="https://shop.example.com/app/", price=Money(1000, "GTQ"))
    world.preview()
    started = start(world)
    [request] = world.gateway.created
    for url in (request.success_url, request.cancel_url):
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("https", "shop.example.com")
        assert parts.path.startswith("/app/purchase/casa-rosa/")
        assert parse_qs(parts.query) == {
            "purchase": [str(started.purchase_id)],
            "token": [world.purchases.config.return_token(started.purchase_id)],
        }
    assert request.amount == Money(1000, "GTQ")


@pytest.mark.parametrize(
    "public_url", ["ftp://example.com", "example.com", "https://example.com/?next=evil", "https://"]
)
def test_a_malformed_public_url_is_refused_at_configuration(public_url: str) -> None:
    with pytest.raises(ValueError, match="base URL"):
        PurchaseConfig(price=PRICE, public_url=public_url, sites_base_url=SITES_URL)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": None}, "email"),
        ({"email": BUYER, "full_name": "Rosa\nBcc: x"}, "full_name"),
        ({"email": BUYER, "phone": "call me"}, "phone"),
    ],
)
def test_start_refuses_bad_input_before_touching_anything(
    world: PaymentsWorld, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        world.purchases.start("casa-rosa", **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert world.store.purchases == {}
    assert world.gateway.calls == []


@pytest.mark.parametrize("slug", ["nope", "Casa-Rosa", "../etc", "api"])
def test_start_on_an_unknown_slug_is_not_found(world: PaymentsWorld, slug: str) -> None:
    with pytest.raises(NotFound):
        start(world, slug=slug)
    assert world.gateway.calls == []


def test_start_on_an_archived_site_is_not_found(world: PaymentsWorld) -> None:
    world.sites.archive("casa-rosa")
    with pytest.raises(NotFound):
        start(world)


def test_start_on_a_sold_site_is_a_conflict(world: PaymentsWorld) -> None:
    pay(world, start(world))
    with pytest.raises(Conflict, match="not for sale"):
        start(world, OTHER)
    assert len(world.gateway.created) == 1


def test_a_second_buyer_gets_a_conflict_while_the_first_holds_the_site(world: PaymentsWorld) -> None:
    start(world)
    world.clock.advance(dt.timedelta(minutes=5))
    with pytest.raises(Conflict, match="try again in 10 minute"):
        start(world, OTHER)
    assert len(world.gateway.created) == 1
    assert len(world.store.purchases) == 1


def test_the_same_buyer_gets_the_open_checkout_back(world: PaymentsWorld) -> None:
    first = start(world, client="203.0.113.7")
    world.clock.advance(dt.timedelta(minutes=5))
    assert start(world, BUYER.upper(), client="203.0.113.7") == first
    assert len(world.gateway.created) == 1


@pytest.mark.parametrize("client", [None, "198.51.100.66"])
def test_knowing_the_buyers_email_does_not_hand_over_their_checkout(
    world: PaymentsWorld, client: str | None
) -> None:
    start(world, client="203.0.113.7")
    with pytest.raises(Conflict, match="someone else is buying"):
        start(world, BUYER, client=client)
    assert len(world.gateway.created) == 1


def test_a_signed_in_buyer_gets_their_own_checkout_back(world: PaymentsWorld) -> None:
    world.accounts.register(BUYER, PASSWORD, "Rosa")
    customer = next(iter(world.store.customers.values()))
    first = world.purchases.start("casa-rosa", customer_id=customer.id, client="203.0.113.7")
    assert world.purchases.start("casa-rosa", customer_id=customer.id, client="198.51.100.1") == first


def test_after_the_hold_another_buyer_may_start_and_the_old_purchase_expires(world: PaymentsWorld) -> None:
    first = start(world)
    world.clock.advance(dt.timedelta(minutes=30))
    second = start(world, OTHER)
    assert world.purchase(first.purchase_id).status is PurchaseStatus.EXPIRED
    assert world.purchase(first.purchase_id).closed_at == world.clock.now()
    assert world.purchase(second.purchase_id).status is PurchaseStatus.PENDING


def test_a_declined_card_keeps_the_hold_until_the_checkout_expires(world: PaymentsWorld) -> None:
    first = start(world)
    info = world.gateway.checkout(first.checkout_id)
    outcome = world.deliver(
        payment_payload(info, event_type="payment_intent.failed", failure_reason="card declined")
    )
    assert outcome is WebhookOutcome.PROCESSED
    purchase = world.purchase(first.purchase_id)
    # The same hosted checkout takes another card: the site stays held for this buyer.
    assert (purchase.status, purchase.failure_reason) == (PurchaseStatus.PENDING, "card declined")
    assert world.gateway.is_open(first.checkout_id)
    with pytest.raises(Conflict, match="someone else is buying"):
        start(world, OTHER)
    # Paid with another card: the site is sold to this buyer.
    assert pay(world, first) is WebhookOutcome.PROCESSED
    assert world.site().status is SiteStatus.OWNED
    assert world.purchase(first.purchase_id).status is PurchaseStatus.PAID


def test_after_a_decline_the_site_is_free_once_the_checkout_has_expired(world: PaymentsWorld) -> None:
    first = start(world)
    info = world.gateway.checkout(first.checkout_id)
    world.deliver(payment_payload(info, event_type="payment_intent.failed", failure_reason="declined"))
    world.clock.advance(world.purchases.config.hold)
    second = start(world, OTHER)
    assert world.purchase(first.purchase_id).status is PurchaseStatus.EXPIRED
    assert world.purchase(second.purchase_id).status is PurchaseStatus.PENDING


def test_a_cancelled_purchase_frees_the_site(world: PaymentsWorld) -> None:
    first = start(world)
    cancelled = world.purchases.cancel(first.purchase_id)
    assert cancelled.status is PurchaseStatus.CANCELLED
    assert world.purchase(first.purchase_id).status is PurchaseStatus.CANCELLED
    start(world, OTHER)
    # Cancelling again, or a purchase that is not pending, changes nothing.
    assert world.purchases.cancel(first.purchase_id).status is PurchaseStatus.CANCELLED
    with pytest.raises(NotFound):
        world.purchases.cancel(uuid.uuid4())


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (GatewayUnavailable("provider timed out"), GatewayUnavailable),
        (GatewayError("bad key", status=401), GatewayError),
    ],
)
def test_a_gateway_failure_fails_the_purchase_and_frees_the_site(
    world: PaymentsWorld, error: Exception, raised: type[Exception]
) -> None:
    world.gateway.fail_next(error=error)
    with pytest.raises(raised):
        start(world)
    [purchase] = world.store.purchases.values()
    assert purchase.status is PurchaseStatus.FAILED
    assert purchase.checkout_id is None
    assert purchase.failure_reason is not None
    assert "could not be created" in purchase.failure_reason
    # Nothing holds the site: the same buyer (or anyone) can try again at once.
    started = start(world)
    assert world.purchase(started.purchase_id).status is PurchaseStatus.PENDING


def test_start_is_throttled_per_email_and_per_client() -> None:
    many = PurchaseLimits(holds_per_email=100, holds_per_client=100)
    world = payments_world(limits=many)
    for n in range(8):
        world.preview(f"site-{n}", f"Site {n}")
    for n in range(5):
        world.purchases.start(f"site-{n}", BUYER, client="203.0.113.7")
    with pytest.raises(Throttled) as caught:
        world.purchases.start("site-5", BUYER, client="203.0.113.8")
    assert 0 < caught.value.retry_after <= 3600
    world.clock.advance(dt.timedelta(hours=1))
    world.purchases.start("site-5", BUYER)

    other = payments_world(limits=many)
    for n in range(21):
        other.preview(f"site-{n}", f"Site {n}")
    for n in range(20):
        other.purchases.start(f"site-{n}", f"buyer{n}@example.com", client="198.51.100.1")
    with pytest.raises(Throttled):
        other.purchases.start("site-20", "new@example.com", client="198.51.100.1")
    other.purchases.start("site-20", "new@example.com", client="198.51.100.2")


def test_a_signed_in_customer_buys_with_their_account(world: PaymentsWorld) -> None:
    world.accounts.register(BUYER, PASSWORD, "Rosa")
    customer = next(iter(world.store.customers.values()))
    started = world.purchases.start("casa-rosa", customer_id=customer.id)
    purchase = world.purchase(started.purchase_id)
    assert (purchase.buyer_email, purchase.buyer_name, purchase.customer_id) == (BUYER, "Rosa", customer.id)
    pay(world, started)
    assert world.site().owner_id == customer.id
    # The account has a password: a confirmation, no welcome.
    assert [m.message.template for m in world.mails(to=BUYER)] == [
        EmailTemplate.VERIFY_EMAIL,
        EmailTemplate.PURCHASE_CONFIRMATION,
    ]
    with pytest.raises(Unauthenticated):
        world.purchases.start("casa-rosa", customer_id=uuid.uuid4())


def test_a_pre_registered_unverified_account_cannot_capture_the_bought_site(world: PaymentsWorld) -> None:
    # Someone registers the buyer's address with their own password and never verifies it.
    world.accounts.register(BUYER, PASSWORD, "Squatter")
    squatter = next(iter(world.store.customers.values()))
    version = squatter.token_version
    started = start(world)
    assert pay(world, started) is WebhookOutcome.PROCESSED

    owner = world.store.customers[squatter.id]
    assert world.site().owner_id == owner.id
    # The password the buyer did not set is gone, and every token issued before is void.
    assert owner.password_hash is None
    assert owner.token_version > version
    with pytest.raises(Unauthenticated):
        world.accounts.login(BUYER, PASSWORD, "203.0.113.9")
    # The buyer gets the set-password link (the mailbox proves who they are).
    assert EmailTemplate.WELCOME_SET_PASSWORD in [m.message.template for m in world.mails(to=BUYER)]


def test_a_verified_account_keeps_its_password_when_it_buys(world: PaymentsWorld) -> None:
    world.accounts.register(BUYER, PASSWORD, "Rosa")
    customer = next(iter(world.store.customers.values()))
    customer.email_verified_at = world.clock.now()
    hashed = customer.password_hash
    pay(world, start(world))
    assert world.store.customers[customer.id].password_hash == hashed
    assert world.site().owner_id == customer.id
    assert EmailTemplate.WELCOME_SET_PASSWORD not in [m.message.template for m in world.mails(to=BUYER)]


def test_a_custom_hold_is_used() -> None:
    world = payments_world(hold=dt.timedelta(minutes=5))
    world.preview()
    started = start(world)
    assert started.expires_at == world.clock.now() + dt.timedelta(minutes=5)
    with pytest.raises(ValueError, match="positive"):
        PurchaseConfig(price=PRICE, public_url=PUBLIC_URL, sites_base_url=SITES_URL, hold=dt.timedelta(0))


# --- the payment -----------------------------------------------------------------------------


def test_a_payment_sells_the_site_creates_the_account_and_queues_the_emails(world: PaymentsWorld) -> None:
    started = start(world, full_name="Rosa Díaz")
    world.clock.advance(dt.timedelta(minutes=3))
    assert pay(world, started, "msg_paid") is WebhookOutcome.PROCESSED
    now = world.clock.now()

    purchase = world.purchase(started.purchase_id)
    assert (purchase.status, purchase.paid_at) == (PurchaseStatus.PAID, now)
    assert purchase.payment_id == world.gateway.checkout(started.checkout_id).payment_id
    [customer] = world.store.customers.values()
    assert (customer.email, customer.full_name, customer.password_hash) == (BUYER, "Rosa Díaz", None)
    assert purchase.customer_id == customer.id

    site = world.site()
    assert (site.status, site.owner_id, site.purchased_at, site.current_version) == (
        SiteStatus.OWNED,
        customer.id,
        now,
        1,
    )
    [event] = purchase_paid_events(world)
    assert (event.from_status, event.actor, event.reference) == (
        SiteStatus.PREVIEW,
        Actor.WEBHOOK,
        "msg_paid",
    )
    assert str(purchase.id) in event.cause

    confirmation, welcome = world.mails(to=BUYER)
    assert confirmation.message.template is EmailTemplate.PURCHASE_CONFIRMATION
    assert welcome.message.template is EmailTemplate.WELCOME_SET_PASSWORD
    assert confirmation.message.site_id == welcome.message.site_id == site.id
    [data] = [m.data for m in world.mails(EmailTemplate.PURCHASE_CONFIRMATION)]
    assert data == {
        "business_name": "Casa Rosa",
        "site_url": f"{SITES_URL}/casa-rosa",
        "amount": PRICE,
        "reference": purchase.payment_id,
        "full_name": "Rosa Díaz",
        "hosting_until": (now + dt.timedelta(days=30)).date(),
    }
    # The welcome link sets a password and the buyer can sign in.
    [welcome_data] = [m.data for m in world.mails(EmailTemplate.WELCOME_SET_PASSWORD)]
    url = str(welcome_data["set_password_url"])
    assert url.startswith(f"{PUBLIC_URL}/portal/set-password?token=")
    [token] = parse_qs(urlsplit(url).query)["token"]
    world.accounts.set_password(token, PASSWORD)
    assert world.accounts.login(BUYER, PASSWORD, "203.0.113.7").customer.id == customer.id
    assert world.store.anomalies == {}


def test_a_buyer_with_an_account_gets_no_welcome_and_may_own_several_sites(world: PaymentsWorld) -> None:
    world.preview("panaderia", "Panadería Luz")
    pay(world, start(world))
    [customer] = world.store.customers.values()
    # Still no password: the second purchase sends a fresh welcome link too.
    pay(world, start(world, slug="panaderia"))
    assert len(world.mails(EmailTemplate.WELCOME_SET_PASSWORD, BUYER)) == 2
    assert world.site("panaderia").owner_id == world.site().owner_id == customer.id
    assert len(world.store.customers) == 1

    world.preview("taller", "Taller Sol")
    welcome_data = world.mails(EmailTemplate.WELCOME_SET_PASSWORD, BUYER)[-1].data
    assert welcome_data is not None
    token = parse_qs(urlsplit(str(welcome_data["set_password_url"])).query)["token"][0]
    world.accounts.set_password(token, PASSWORD)
    pay(world, start(world, slug="taller"))
    assert len(world.mails(EmailTemplate.WELCOME_SET_PASSWORD, BUYER)) == 2
    assert len(world.mails(EmailTemplate.PURCHASE_CONFIRMATION, BUYER)) == 3


def test_hosting_until_is_left_out_without_included_hosting() -> None:
    world = payments_world(owned_hosting_days=0)
    world.preview()
    pay(world, start(world))
    [data] = [m.data for m in world.mails(EmailTemplate.PURCHASE_CONFIRMATION)]
    assert data["hosting_until"] is None


def test_the_same_payment_again_changes_nothing(world: PaymentsWorld) -> None:
    started = start(world)
    payload = world.paid_payload(started.checkout_id)
    assert world.deliver(payload, "msg_1") is WebhookOutcome.PROCESSED
    before = (len(world.store.outbox), len(world.store.events), len(world.store.customers))
    # A retry of the same delivery, then the same payment under another message id.
    assert world.deliver(payload, "msg_1") is WebhookOutcome.DUPLICATE
    assert world.deliver(payload, "msg_2") is WebhookOutcome.PROCESSED
    assert (len(world.store.outbox), len(world.store.events), len(world.store.customers)) == before
    assert world.store.webhook_events["msg_2"].outcome is WebhookOutcome.PROCESSED
    assert len(purchase_paid_events(world)) == 1


def test_a_payment_after_the_hold_expired_is_honoured(world: PaymentsWorld) -> None:
    started = start(world)
    world.clock.advance(dt.timedelta(hours=2))
    world.purchases.reconcile()  # marks it expired (still unpaid at the provider)
    assert world.purchase(started.purchase_id).status is PurchaseStatus.EXPIRED
    assert pay(world, started) is WebhookOutcome.PROCESSED
    assert world.purchase(started.purchase_id).status is PurchaseStatus.PAID
    assert world.site().status is SiteStatus.OWNED


def test_a_payment_after_a_failure_on_the_same_checkout_is_honoured(world: PaymentsWorld) -> None:
    started = start(world)
    info = world.gateway.checkout(started.checkout_id)
    world.deliver(payment_payload(info, event_type="payment_intent.failed"))
    assert world.purchase(started.purchase_id).failure_reason == "the payment failed"
    assert pay(world, started) is WebhookOutcome.PROCESSED
    assert world.site().status is SiteStatus.OWNED
    # A late failure for the paid purchase changes nothing.
    late = payment_payload(world.gateway.checkout(started.checkout_id), event_type="payment_intent.failed")
    assert world.deliver(late) is WebhookOutcome.PROCESSED
    assert world.purchase(started.purchase_id).status is PurchaseStatus.PAID


def test_a_failure_for_an_unknown_checkout_is_stored_and_ignored(world: PaymentsWorld) -> None:
    start(world)
    payload = {
        "id": "pa_x",
        "event_type": "payment_intent.failed",
        "checkout": {"id": "ch_nobody"},
        "failure_reason": "declined",
    }
    assert world.deliver(payload, "msg_f") is WebhookOutcome.IGNORED
    stored = world.store.webhook_events["msg_f"]
    assert stored.outcome is WebhookOutcome.IGNORED
    assert stored.error is not None
    assert "ch_nobody" in stored.error
    assert world.store.anomalies == {}


def payments_world_with_site() -> PaymentsWorld:
    world = payments_world()
    world.preview()
    return world


@pytest.mark.parametrize(
    "paid",
    [Money(100, "USD"), Money(49500, "GTQ"), Money(49501, "USD")],
    ids=["amount", "currency", "one-cent"],
)
def test_an_amount_mismatch_is_an_anomaly_and_the_site_is_not_handed_over(
    world: PaymentsWorld, paid: Money
) -> None:
    started = start(world)
    info = world.gateway.pay(started.checkout_id, amount=paid)
    assert world.deliver(payment_payload(info), "msg_m") is WebhookOutcome.ANOMALY
    purchase = world.purchase(started.purchase_id)
    assert purchase.status is PurchaseStatus.REFUND_DUE
    assert purchase.failure_reason is not None
    assert str(paid) in purchase.failure_reason
    assert world.site().status is SiteStatus.PREVIEW
    assert world.store.customers == {}
    [anomaly] = world.store.anomalies.values()
    assert (anomaly.kind, anomaly.purchase_id, anomaly.site_id, anomaly.webhook_event_id) == (
        AnomalyKind.AMOUNT_MISMATCH,
        purchase.id,
        purchase.site_id,
        "msg_m",
    )
    [alert] = world.mails(EmailTemplate.ANOMALY_ALERT)
    assert alert.message.to == ADMIN_EMAIL
    assert world.mails(to=BUYER) == []
    # The same payment again records nothing new; the site can be sold to someone else.
    assert world.deliver(payment_payload(info), "msg_m2") is WebhookOutcome.PROCESSED
    assert len(world.store.anomalies) == 1
    assert len(world.mails(EmailTemplate.ANOMALY_ALERT)) == 1
    pay(world, start(world, OTHER))
    assert world.site().status is SiteStatus.OWNED


def test_a_double_sale_is_an_anomaly_and_the_second_buyer_is_told_of_a_refund(world: PaymentsWorld) -> None:
    first = start(world)
    world.clock.advance(dt.timedelta(minutes=31))
    second = start(world, OTHER)
    assert pay(world, second, "msg_second") is WebhookOutcome.PROCESSED
    world.clock.advance(dt.timedelta(minutes=1))
    assert pay(world, first, "msg_first") is WebhookOutcome.ANOMALY

    winner, loser = world.purchase(second.purchase_id), world.purchase(first.purchase_id)
    assert winner.status is PurchaseStatus.PAID
    assert loser.status is PurchaseStatus.REFUND_DUE
    assert loser.payment_id == world.gateway.checkout(first.checkout_id).payment_id
    site = world.site()
    assert (site.status, site.owner_id) == (SiteStatus.OWNED, winner.customer_id)
    assert len(purchase_paid_events(world)) == 1
    [anomaly] = world.store.anomalies.values()
    assert (anomaly.kind, anomaly.purchase_id) == (AnomalyKind.DOUBLE_SALE, loser.id)
    [refund] = world.mails(EmailTemplate.DOUBLE_SALE_REFUND)
    assert (refund.message.to, refund.message.site_id) == (BUYER, site.id)
    [data] = [m.data for m in world.mails(EmailTemplate.DOUBLE_SALE_REFUND)]
    assert data["reference"] == loser.payment_id
    assert data["amount"] == PRICE
    assert len(world.mails(EmailTemplate.ANOMALY_ALERT, ADMIN_EMAIL)) == 1
    # No account for the buyer who did not get the site.
    assert [c.email for c in world.store.customers.values()] == [OTHER]
    # Replaying it is a no-op.
    assert world.webhooks.replay("msg_first") is WebhookOutcome.PROCESSED
    assert len(world.mails(EmailTemplate.DOUBLE_SALE_REFUND)) == 1


def test_a_payment_for_an_archived_site_is_an_anomaly_without_a_refund_mail(world: PaymentsWorld) -> None:
    started = start(world)
    world.sites.archive("casa-rosa")
    assert pay(world, started) is WebhookOutcome.ANOMALY
    assert world.purchase(started.purchase_id).status is PurchaseStatus.REFUND_DUE
    [anomaly] = world.store.anomalies.values()
    assert anomaly.kind is AnomalyKind.SITE_UNAVAILABLE
    assert world.mails(EmailTemplate.DOUBLE_SALE_REFUND) == []
    assert world.site().status is SiteStatus.ARCHIVED


def test_a_payment_for_an_unknown_checkout_is_an_anomaly_recorded_once(world: PaymentsWorld) -> None:
    other = payments_world_with_site()
    info = other.gateway.pay(start(other).checkout_id)  # a checkout this world never made
    assert world.deliver(payment_payload(info), "msg_u") is WebhookOutcome.ANOMALY
    [anomaly] = world.store.anomalies.values()
    assert anomaly.kind is AnomalyKind.UNKNOWN_CHECKOUT
    assert info.id in anomaly.summary
    assert anomaly.webhook_event_id == "msg_u"
    [alert] = world.mails(EmailTemplate.ANOMALY_ALERT)
    assert alert.message.to == ADMIN_EMAIL
    assert world.store.webhook_events["msg_u"].outcome is WebhookOutcome.ANOMALY
    # Delivered again under another id, and replayed: still one anomaly, one alert.
    assert world.deliver(payment_payload(info), "msg_u2") is WebhookOutcome.ANOMALY
    world.webhooks.replay("msg_u")
    assert len(world.store.anomalies) == 1
    assert len(world.mails(EmailTemplate.ANOMALY_ALERT)) == 1


def test_without_an_admin_address_anomalies_are_recorded_but_not_mailed() -> None:
    world = payments_world(admin_email=None)
    world.preview()
    started = start(world)
    info = world.gateway.pay(started.checkout_id, amount=Money(1, "USD"))
    assert world.deliver(payment_payload(info)) is WebhookOutcome.ANOMALY
    assert len(world.store.anomalies) == 1
    assert world.mails() == []


def test_the_purchase_is_found_by_its_metadata_when_its_checkout_id_was_lost(world: PaymentsWorld) -> None:
    started = start(world)
    # As if the second transaction of start() had failed after the checkout was created.
    world.store.purchases[started.purchase_id].checkout_id = None
    assert pay(world, started) is WebhookOutcome.PROCESSED
    purchase = world.purchase(started.purchase_id)
    assert (purchase.status, purchase.checkout_id) == (PurchaseStatus.PAID, started.checkout_id)


def test_metadata_naming_a_purchase_with_another_checkout_is_not_trusted(world: PaymentsWorld) -> None:
    started = start(world)
    forged = payment_payload(world.gateway.checkout(started.checkout_id))
    forged["checkout"] = {"id": "ch_elsewhere", "metadata": {"purchase_id": str(started.purchase_id)}}
    assert world.deliver(forged) is WebhookOutcome.ANOMALY
    assert world.purchase(started.purchase_id).status is PurchaseStatus.PENDING
    [anomaly] = world.store.anomalies.values()
    assert anomaly.kind is AnomalyKind.UNKNOWN_CHECKOUT


def test_a_purchase_can_be_listed_and_read(world: PaymentsWorld) -> None:
    first = start(world)
    world.clock.advance(dt.timedelta(minutes=40))
    second = start(world, OTHER)
    assert [p.id for p in world.purchases.list()] == [second.purchase_id, first.purchase_id]
    assert [p.id for p in world.purchases.list(status=PurchaseStatus.EXPIRED)] == [first.purchase_id]
    assert world.purchases.get(first.purchase_id).buyer_email == BUYER
    with pytest.raises(NotFound):
        world.purchases.get(uuid.uuid4())


def test_selling_a_site_goes_through_the_lifecycle_table(world: PaymentsWorld) -> None:
    site = world.site()
    site.sell(uuid.uuid4(), cause="test", actor=Actor.SYSTEM, at=world.clock.now())
    assert site.status is SiteStatus.OWNED
    assert not site.can(Trigger.PURCHASE_PAID)
    with pytest.raises(InvalidTransition):
        site.sell(uuid.uuid4(), cause="again", actor=Actor.SYSTEM, at=world.clock.now())
