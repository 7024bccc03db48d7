"""Hypothesis: any interleaving of payment webhooks (succeeded, failed, repeated, under
new or reused message ids, replayed), reconciliation runs, buyers leaving the checkout and
clock jumps ends with exactly one paid purchase, one account, one ownership change and one
confirmation; a declined card never frees a hold, and once the site is sold no other
checkout of it can be paid."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.purchases import CheckoutStarted
from webmagic_core.testing.payments import payment_payload, payments_world

BUYERS = ("rosa@example.com", "luis@example.com")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Scenario:
    def __init__(self, buyers: int) -> None:
        self.world = payments_world()
        self.world.preview()
        self.started: list[CheckoutStarted] = []
        for n in range(buyers):
            if n:
                # The first hold has lapsed (unpaid so far), so a second buyer could start.
                self.world.clock.advance(dt.timedelta(minutes=31))
            self.started.append(self.world.purchases.start("casa-rosa", BUYERS[n]))
        self.paid = [False] * buyers
        self.outcomes: list[WebhookOutcome] = []

    # actions

    def pay(self, buyer: int) -> None:
        if not self.paid[buyer]:
            self.world.gateway.pay(self.started[buyer].checkout_id)
            self.paid[buyer] = True

    def succeeded(self, buyer: int, message: int) -> None:
        """A delivery of the payment (only once the provider took it)."""
        if self.paid[buyer]:
            info = self.world.gateway.checkout(self.started[buyer].checkout_id)
            self.outcomes.append(self.world.deliver(payment_payload(info), f"msg_s{buyer}_{message}"))

    def failed(self, buyer: int, message: int) -> None:
        """An earlier failed attempt on the same checkout, delivered in any order."""
        info = self.world.gateway.checkout(self.started[buyer].checkout_id)
        payload = payment_payload(info, event_type="payment_intent.failed", failure_reason="declined")
        self.outcomes.append(self.world.deliver(payload, f"msg_f{buyer}_{message}"))

    def replay(self, index: int) -> None:
        stored = sorted(self.world.store.webhook_events)
        if stored:
            self.outcomes.append(self.world.webhooks.replay(stored[index % len(stored)]))

    def reconcile(self) -> None:
        self.world.purchases.reconcile()

    def cancel(self, buyer: int) -> None:
        """The buyer releases the site from the cancelled page (its checkout is closed)."""
        self.world.purchases.cancel(self.started[buyer].purchase_id)

    def wait(self, minutes: int) -> None:
        self.world.clock.advance(dt.timedelta(minutes=minutes))

    def noise(self, message: int) -> None:
        self.outcomes.append(
            self.world.deliver({"event_type": "intent.succeeded", "id": "re_1"}, f"msg_n{message}")
        )

    # checks

    def check_invariants(self) -> None:
        world = self.world
        paid = [p for p in world.store.purchases.values() if p.status is PurchaseStatus.PAID]
        assert len(paid) <= 1
        owned = [e for e in world.store.events if e.to_status is SiteStatus.OWNED]
        assert len(owned) == len(paid)
        site = world.site()
        if paid:
            assert site.status is SiteStatus.OWNED
            assert site.owner_id == paid[0].customer_id
            assert world.store.customers[site.owner_id].email == paid[0].buyer_email
        else:
            assert site.status is SiteStatus.PREVIEW
            assert site.owner_id is None
        assert len(world.mails(EmailTemplate.PURCHASE_CONFIRMATION)) == len(paid)
        assert len(world.mails(EmailTemplate.WELCOME_SET_PASSWORD)) == len(paid)
        assert len(world.store.customers) == len(paid)
        refund_due = [p for p in world.store.purchases.values() if p.status is PurchaseStatus.REFUND_DUE]
        assert len(world.mails(EmailTemplate.DOUBLE_SALE_REFUND)) == len(refund_due)
        assert len(world.store.anomalies) == len(refund_due)
        assert all(o is not WebhookOutcome.ANOMALY or refund_due for o in self.outcomes)
        if paid:
            # Sold: no other checkout of the site can be paid any more.
            for other in world.store.purchases.values():
                if other.id != paid[0].id and other.checkout_id is not None:
                    checkout = world.gateway.checkout(other.checkout_id)
                    assert checkout.status.value == "paid" or not world.gateway.is_open(other.checkout_id)
        for purchase in world.store.purchases.values():
            # A declined card never releases a hold: only the provider's answer or the buyer does.
            if purchase.status is PurchaseStatus.FAILED:
                assert purchase.checkout_id is None


def actions(buyers: int) -> st.SearchStrategy[list[Callable[[Scenario], None]]]:
    buyer = st.integers(0, buyers - 1)
    message = st.integers(0, 2)  # few ids, so deliveries repeat
    action = st.one_of(
        buyer.map(lambda b: lambda s: s.pay(b)),
        st.tuples(buyer, message).map(lambda t: lambda s: s.succeeded(*t)),
        st.tuples(buyer, message).map(lambda t: lambda s: s.failed(*t)),
        st.integers(0, 20).map(lambda i: lambda s: s.replay(i)),
        st.just(lambda s: s.reconcile()),
        buyer.map(lambda b: lambda s: s.cancel(b)),
        st.sampled_from([1, 10, 29, 45, 24 * 60]).map(lambda m: lambda s: s.wait(m)),
        message.map(lambda m: lambda s: s.noise(m)),
    )
    return st.lists(action, max_size=25)


def run(
    scenario: Scenario, steps: list[Callable[[Scenario], None]], finish: Callable[[Scenario], None]
) -> None:
    for step in steps:
        step(scenario)
        scenario.check_invariants()
    finish(scenario)
    scenario.check_invariants()


@SETTINGS
@given(steps=actions(1), final_message=st.integers(0, 2), finish_by_reconcile=st.booleans())
def test_one_buyer_ends_with_exactly_one_sale(
    steps: list[Callable[[Scenario], None]], final_message: int, finish_by_reconcile: bool
) -> None:
    scenario = Scenario(buyers=1)

    def finish(s: Scenario) -> None:
        # The payment happened; its webhook (maybe a repeat) or a reconciliation is last.
        s.pay(0)
        if finish_by_reconcile:
            s.reconcile()
        s.succeeded(0, final_message)

    run(scenario, steps, finish)
    world = scenario.world
    [purchase] = world.store.purchases.values()
    assert purchase.status is PurchaseStatus.PAID
    assert world.site().status is SiteStatus.OWNED
    assert len(world.store.customers) == 1
    assert len([e for e in world.store.events if e.to_status is SiteStatus.OWNED]) == 1
    assert len(world.mails(EmailTemplate.PURCHASE_CONFIRMATION)) == 1
    assert world.store.anomalies == {}


@SETTINGS
@given(steps=actions(2), order=st.permutations([0, 1]))
def test_two_buyers_paying_for_one_site_end_with_one_sale_and_one_refund(
    steps: list[Callable[[Scenario], None]], order: list[int]
) -> None:
    scenario = Scenario(buyers=2)

    def finish(s: Scenario) -> None:
        for buyer in order:
            s.pay(buyer)
            s.succeeded(buyer, 0)

    run(scenario, steps, finish)
    world = scenario.world
    statuses = sorted(p.status.value for p in world.store.purchases.values())
    assert statuses == [PurchaseStatus.PAID.value, PurchaseStatus.REFUND_DUE.value]
    [winner] = [p for p in world.store.purchases.values() if p.status is PurchaseStatus.PAID]
    [loser] = [p for p in world.store.purchases.values() if p.status is PurchaseStatus.REFUND_DUE]
    assert [c.email for c in world.store.customers.values()] == [winner.buyer_email]
    [anomaly] = world.store.anomalies.values()
    assert (anomaly.kind, anomaly.purchase_id) == (AnomalyKind.DOUBLE_SALE, loser.id)
    [refund] = world.mails(EmailTemplate.DOUBLE_SALE_REFUND)
    assert refund.message.to == loser.buyer_email
    assert len(world.mails(EmailTemplate.ANOMALY_ALERT)) == 1


@pytest.mark.parametrize("first", ["webhook", "reconcile"])
def test_webhook_and_reconciliation_in_either_order(first: str) -> None:
    scenario = Scenario(buyers=1)
    scenario.pay(0)
    steps = [lambda s: s.succeeded(0, 0), lambda s: s.reconcile()]
    run(scenario, steps if first == "webhook" else steps[::-1], lambda s: s.replay(0))
    assert len(scenario.world.mails(EmailTemplate.PURCHASE_CONFIRMATION)) == 1
