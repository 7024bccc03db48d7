"""Subscriptions end to end on SQLite and PostgreSQL, wired by ``bootstrap`` as the app is
(SQL units of work, real templates), with the fake provider of ``webmagic_core.testing``
(``FakePaymentGateway`` moved by ``ProviderSimulator``) and its webhooks handed to the
webhook service as the HTTP layer does: a purchase, a subscription through renewal,
failure, recovery, cancellation and suspension, and a new one bringing the site back as it
was; and the sweep run by two processes at once doing each reminder and suspension once."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from pydantic import SecretStr

from webmagic_adapters.bootstrap import Container, bootstrap
from webmagic_adapters.settings import Settings
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.lifecycle import ServeMode, SiteStatus
from webmagic_core.payments.subscriptions import SubscriptionState
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.payments.webhooks import VerifiedWebhook
from webmagic_core.services.sweep import SweepReport
from webmagic_core.services.timeline import TimelineKind
from webmagic_core.sites import SiteContent
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakeMailer, FakePasswordHasher
from webmagic_core.testing.payments import FakePaymentGateway, payment_payload
from webmagic_core.testing.subscriptions import MONTHLY, OWNER, PERIOD, ProviderSimulator

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
S = SubscriptionState
EACH = 4  # sites of each kind the concurrent sweeps find


class App:
    """One process of the app (its own ``Database``), sharing the clock and provider."""

    def __init__(self, container: Container, clock: FakeClock, gateway: FakePaymentGateway) -> None:
        self.container, self.clock, self.gateway = container, clock, gateway
        self.provider = ProviderSimulator(gateway, clock)

    def deliver(self, payload: Mapping[str, object]) -> WebhookOutcome:
        """A verified delivery, as the HTTP layer hands it over."""
        webhook = VerifiedWebhook(
            message_id=f"msg_{uuid.uuid4().hex}",
            timestamp=self.clock.now(),
            body=json.dumps(payload).encode(),
        )
        return self.container.webhooks.receive(webhook)

    def deliver_all(self, payloads: list[dict[str, object]]) -> None:
        for payload in payloads:
            assert self.deliver(payload) is WebhookOutcome.PROCESSED

    def owned_site(self, slug: str, email: str = OWNER) -> uuid.UUID:
        """A preview with two versions, bought by ``email``: its owner's id."""
        sites = self.container.sites
        sites.create_preview(slug, slug.title(), SiteContent(html=f"<h1>{slug}</h1>"))
        sites.publish(slug, SiteContent(html=f"<h1>{slug}</h1><p>menu</p>", css="p{margin:0}"))
        started = self.container.purchases.start(slug, email)
        paid = self.gateway.pay(started.checkout_id)
        self.deliver_all([payment_payload(paid, customer_email=email, created_at=self.clock.now())])
        site = sites.details(slug).site
        assert site.status is SiteStatus.OWNED
        assert site.owner_id is not None
        return site.owner_id

    def subscribe(self, slug: str, owner: uuid.UUID) -> str:
        """Start a subscription, pay its checkout at the provider, deliver both events."""
        checkout = self.container.subscriptions.start(owner, slug)
        provider_id, events = self.provider.pay_checkout(checkout.checkout_id)
        self.deliver_all(events)
        return provider_id

    def status(self, slug: str) -> SiteStatus:
        return self.container.sites.details(slug).site.status

    def mails(self, template: EmailTemplate) -> int:
        with self.container.database.unit_of_work() as work:
            return sum(1 for m in work.outbox.list(limit=10_000) if m.message.template is template)


@pytest.fixture
def open_app(database: Database, tmp_path: Path) -> Iterator[Callable[[], App]]:
    """Opens apps on the test database, all sharing one fake clock and provider."""
    clock = FakeClock(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC))
    gateway = FakePaymentGateway(clock=clock)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database.engine.url.render_as_string(hide_password=False),
        secret_key=SecretStr("test-secret-key-for-the-sql-subscription-flows"),
        public_url="https://app.example.com",
        redis_url=None,
        subscription_price_cents=MONTHLY.amount_in_cents,
        currency=MONTHLY.currency,
    )
    opened: list[Container] = []

    def open_one() -> App:
        container = bootstrap(
            settings, clock=clock, mailer=FakeMailer(), hasher=FakePasswordHasher(), gateway=gateway
        )
        opened.append(container)
        return App(container, clock, gateway)

    yield open_one
    for container in opened:
        container.close()


def test_a_subscription_from_start_to_suspension_and_back(open_app: Callable[[], App]) -> None:
    app = open_app()
    subs, sweep, sites = app.container.subscriptions, app.container.sweep, app.container.sites
    owner = app.owned_site("casa-rosa")
    versions = sites.details("casa-rosa").versions
    assert [v.number for v in versions] == [2, 1]

    su = app.subscribe("casa-rosa", owner)
    assert app.status("casa-rosa") is SiteStatus.ACTIVE
    view = subs.get(owner, "casa-rosa")
    assert (view.status, view.subscription.provider_id, len(view.payments)) == (S.ACTIVE, su, 1)
    assert app.mails(EmailTemplate.SUBSCRIPTION_STARTED) == 1

    app.deliver_all(app.provider.renew(su))
    view = subs.get(owner, "casa-rosa")
    assert len(view.payments) == 2
    assert view.subscription.paid_through == app.provider.info(su).current_period_end
    assert app.mails(EmailTemplate.SUBSCRIPTION_RECEIPT) == 1

    failure = app.provider.fail_renewal(su)
    app.deliver_all(failure)
    assert subs.get(owner, "casa-rosa").status is S.PAST_DUE
    assert app.status("casa-rosa") is SiteStatus.PAST_DUE
    assert sites.resolve("casa-rosa").mode is ServeMode.CLEAN  # still served
    assert app.mails(EmailTemplate.PAYMENT_FAILED) == 1

    app.clock.advance(DAY)
    app.deliver_all(app.provider.recover(su))
    assert app.status("casa-rosa") is SiteStatus.ACTIVE
    app.deliver_all(failure)  # the failure again, late: it reads the provider, still active
    assert app.status("casa-rosa") is SiteStatus.ACTIVE
    assert app.mails(EmailTemplate.PAYMENT_FAILED) == 1
    assert app.mails(EmailTemplate.SUBSCRIPTION_RECEIPT) == 2

    app.clock.advance(DAY)
    cancelled = subs.cancel(owner, "casa-rosa")
    paid_through = app.provider.info(su).current_period_end
    assert cancelled.cancel_at_period_end
    assert cancelled.ends_at == paid_through
    assert paid_through is not None
    assert app.mails(EmailTemplate.SUBSCRIPTION_CANCELLED) == 1
    assert sweep.run() == SweepReport()  # paid time left: still online
    assert app.status("casa-rosa") is SiteStatus.ACTIVE

    app.clock.current = paid_through + HOUR
    report = sweep.run()
    assert (report.subscriptions_ended, report.sites_suspended, report.errors) == (1, 1, ())
    assert app.status("casa-rosa") is SiteStatus.SUSPENDED
    assert sites.resolve("casa-rosa").mode is ServeMode.UNAVAILABLE
    assert sweep.run() == SweepReport()
    assert app.mails(EmailTemplate.SITE_SUSPENDED) == 1

    app.clock.advance(3 * DAY)
    again = app.subscribe("casa-rosa", owner)
    assert again != su
    assert app.status("casa-rosa") is SiteStatus.ACTIVE
    assert subs.get(owner, "casa-rosa").subscription.provider_id == again
    assert app.mails(EmailTemplate.SITE_RESTORED) == 1
    details = sites.details("casa-rosa")
    assert details.versions == versions
    assert details.site.current_version == 2
    resolved = sites.resolve("casa-rosa")
    assert resolved.mode is ServeMode.CLEAN
    assert resolved.site is not None
    assert resolved.site.current_version == 2

    assert [s.status for s in subs.list()] == [S.ACTIVE, S.CANCELLED]
    assert len(subs.get(owner, "casa-rosa").payments) == 4  # of both subscriptions
    stats = app.container.stats.subscriptions(app.clock.now())
    assert (stats.active, stats.by_status[S.CANCELLED], stats.mrr) == (1, 1, (MONTHLY,))
    timeline = app.container.timeline.for_site("casa-rosa")
    assert sum(1 for e in timeline if e.kind is TimelineKind.SUBSCRIPTION and "payment pa_" in e.summary) == 4


def test_two_processes_sweeping_at_once_remind_and_suspend_each_site_once(
    open_app: Callable[[], App],
) -> None:
    first, second = open_app(), open_app()
    clock = first.clock
    t0 = clock.now()
    for n in range(EACH):
        first.owned_site(f"expired-{n}", f"expired{n}@example.com")  # its included month is over
    clock.current = t0 + DAY
    for n in range(EACH):
        owner = first.owned_site(f"ending-{n}", f"ending{n}@example.com")
        first.subscribe(f"ending-{n}", owner)
        first.container.subscriptions.cancel(owner, f"ending-{n}")
    clock.current = t0 + 2 * DAY
    for n in range(EACH):
        first.owned_site(f"one-day-{n}", f"oneday{n}@example.com")  # 23 hours left at the sweep
    clock.current = t0 + 7 * DAY
    for n in range(EACH):
        first.owned_site(f"week-{n}", f"week{n}@example.com")  # 5 days 23 hours left
    now = t0 + DAY + PERIOD + HOUR  # past the paid time of the cancelled ones (a month from t0 + 1 day)
    clock.current = now

    barrier = threading.Barrier(2)
    reports: list[SweepReport] = []
    failures: list[BaseException] = []

    def sweep(app: App) -> None:
        try:
            barrier.wait(timeout=10)
            reports.append(app.container.sweep.run(now))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=sweep, args=(app,)) for app in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len(reports) == 2
    total = reports[0] + reports[1]
    assert total.errors == ()
    assert (total.reminders_sent, total.hosting_expired, total.subscriptions_ended) == (2 * EACH, EACH, EACH)
    assert total.sites_suspended == 2 * EACH

    for slug in [*(f"expired-{n}" for n in range(EACH)), *(f"ending-{n}" for n in range(EACH))]:
        events = second.container.sites.details(slug).events
        assert [e.to_status for e in events].count(SiteStatus.SUSPENDED) == 1, slug
        assert second.status(slug) is SiteStatus.SUSPENDED
    for slug in [*(f"one-day-{n}" for n in range(EACH)), *(f"week-{n}" for n in range(EACH))]:
        assert second.status(slug) is SiteStatus.OWNED
        site = second.container.sites.details(slug).site
        with second.container.database.unit_of_work() as work:
            [notice] = work.notices.for_site(site.id)
        assert notice.kind.value == (
            "hosting_ending_1d" if slug.startswith("one-day") else "hosting_ending_7d"
        )
    assert first.mails(EmailTemplate.HOSTING_ENDING_SOON) == 2 * EACH
    assert first.mails(EmailTemplate.SITE_SUSPENDED) == 2 * EACH

    # Again, from both: nothing left to do.
    assert first.container.sweep.run(now) == SweepReport()
    assert second.container.sweep.run(now) == SweepReport()
