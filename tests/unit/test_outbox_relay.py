"""The outbox relay against the fakes: claim, send outside the transaction, record the
outcome; retries with backoff, dead letters, requeue, and leases that outlive a crash."""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid

import attrs
import pytest

from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.accounts.errors import EmailDataError, MailDeliveryError
from webmagic_core.errors import Conflict, NotFound, TransientError
from webmagic_core.outbox import BASE_BACKOFF, MAX_BACKOFF, OutboxMessage, OutboxStatus, backoff
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.services.anomalies import AnomalyReporter
from webmagic_core.services.outbox import (
    MAX_ERROR_LENGTH,
    OutboxRelay,
    RelayReport,
    describe_failure,
    queue_email,
)
from webmagic_core.testing import FakeClock, FakeUnitOfWork, FakeUnitOfWorkFactory
from webmagic_core.testing.accounts import FakeEmailRenderer, FakeMailer

LEASE = dt.timedelta(minutes=5)
RELAY_LOG = "webmagic_core.services.outbox"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def uow() -> FakeUnitOfWorkFactory:
    return FakeUnitOfWorkFactory()


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def relay(uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock) -> OutboxRelay:
    return OutboxRelay(
        uow=uow,
        mailer=mailer,
        clock=clock,
        renderer=FakeEmailRenderer(),
        max_attempts=4,
        lease=LEASE,
        rng=random.Random(7),
    )


def message(to: str = "owner@example.com", *, site_id: uuid.UUID | None = None) -> EmailMessage:
    return EmailMessage(
        id=uuid.uuid4(),
        to=to,
        subject="Your site",
        text="Hello\n",
        html="<p>Hello</p>",
        template=EmailTemplate.SITE_RESTORED,
        site_id=site_id,
    )


def enqueue(uow: FakeUnitOfWorkFactory, clock: FakeClock, *messages: EmailMessage) -> list[uuid.UUID]:
    with uow() as tx:
        for item in messages:
            tx.outbox.add(OutboxMessage.pending(item, clock.now()))
        tx.commit()
    return [m.id for m in messages]


def stored(uow: FakeUnitOfWorkFactory, message_id: uuid.UUID) -> OutboxMessage:
    return uow.store.outbox[message_id]


def test_a_due_message_is_sent_once_and_marked_sent(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    [mid] = enqueue(uow, clock, message())
    clock.advance(dt.timedelta(seconds=3))
    assert relay.run_once() == RelayReport(sent=1)
    item = stored(uow, mid)
    assert (item.status, item.attempts, item.sent_at, item.claimed_until) == (
        OutboxStatus.SENT,
        1,
        clock.now(),
        None,
    )
    assert [m.id for m in mailer.sent] == [mid]
    assert relay.run_once() == RelayReport()
    assert mailer.attempts == 1


def test_a_sent_message_keeps_what_an_operator_needs_and_drops_its_bodies(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    link = "https://app.example.com/portal/set-password?token=live-token"
    original = attrs.evolve(message(), text=f"Set it: {link}\n", html=f'<a href="{link}">Set it</a>')
    [mid] = enqueue(uow, clock, original)
    relay.run_once()

    assert mailer.sent == [original]  # delivered whole
    item = stored(uow, mid)
    assert item.redacted
    assert "live-token" not in item.message.text + item.message.html
    assert (item.message.id, item.message.to, item.message.subject, item.message.template) == (
        original.id,
        original.to,
        original.subject,
        original.template,
    )
    assert item.sent_at == clock.now()


def test_a_failed_message_keeps_its_bodies_for_the_next_attempt(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    mailer.fail_next(1)
    original = message()
    [mid] = enqueue(uow, clock, original)
    relay.run_once()
    assert stored(uow, mid).status is OutboxStatus.PENDING
    assert stored(uow, mid).message == original


def test_nothing_due_sends_nothing(relay: OutboxRelay, mailer: FakeMailer) -> None:
    assert relay.run_once() == RelayReport()
    assert mailer.attempts == 0


def test_a_message_queued_in_a_rolled_back_transaction_never_exists(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    with uow() as tx:
        queue_email(
            tx,
            EmailTemplate.PASSWORD_RESET,
            "a@example.com",
            {"reset_url": "https://x.test/r"},
            clock.now(),
        )
        # no commit: the change that caused the mail failed
    assert uow.store.outbox == {}
    assert relay.run_once() == RelayReport()
    assert mailer.sent == []


def test_queue_email_adds_a_pending_message_holding_the_data_not_rendered(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    site_id = uuid.uuid4()
    data = {"business_name": "Rosa", "site_url": "https://sites.test/rosa"}
    with uow() as tx:
        item = queue_email(
            tx, EmailTemplate.SITE_RESTORED, "owner@example.com", data, clock.now(), site_id=site_id
        )
        tx.commit()
    queued = stored(uow, item.id)
    assert queued.status is OutboxStatus.PENDING
    assert queued.next_attempt_at == clock.now()
    assert queued.data == data
    assert not queued.rendered
    assert (queued.message.subject, queued.message.text, queued.message.html) == ("", "", "")
    assert (queued.message.to, queued.message.template, queued.message.site_id) == (
        "owner@example.com",
        EmailTemplate.SITE_RESTORED,
        site_id,
    )
    with uow() as tx:
        assert [m.id for m in tx.outbox.for_site(site_id)] == [item.id]


@pytest.mark.parametrize(
    "data",
    [
        {"business_name": "Rosa"},  # missing
        {"business_name": "Rosa", "site_url": "https://sites.test/rosa", "colour": "red"},  # unknown
        {"business_name": "Rosa", "site_url": "ftp://sites.test/rosa"},  # wrong kind
    ],
)
def test_queue_email_refuses_bad_data_in_the_callers_transaction(
    uow: FakeUnitOfWorkFactory, clock: FakeClock, data: dict[str, object]
) -> None:
    with uow() as tx, pytest.raises(EmailDataError):
        queue_email(tx, EmailTemplate.SITE_RESTORED, "owner@example.com", data, clock.now())
    assert uow.store.outbox == {}


def queue_reset(uow: FakeUnitOfWorkFactory, clock: FakeClock, link: str) -> uuid.UUID:
    with uow() as tx:
        item = queue_email(
            tx,
            EmailTemplate.PASSWORD_RESET,
            "rosa@example.com",
            {"reset_url": link, "full_name": "Rosa"},
            clock.now(),
        )
        tx.commit()
    return item.id


def test_the_relay_renders_queued_data_just_before_sending_with_the_queued_message_id(
    uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    link = "https://app.example.com/portal/reset-password?token=live-token"
    renderer = FakeEmailRenderer()
    mid = queue_reset(uow, clock, link)
    assert renderer.rendered == []  # nothing rendered while queueing
    relay = OutboxRelay(uow=uow, mailer=mailer, clock=clock, renderer=renderer)
    assert relay.run_once() == RelayReport(sent=1)

    [sent] = mailer.sent
    assert sent.id == mid  # the Message-ID fixed when queued
    assert (sent.to, sent.template, sent.subject) == (
        "rosa@example.com",
        EmailTemplate.PASSWORD_RESET,
        "[password_reset]",
    )
    assert f"reset_url: {link}" in sent.text
    assert f'href="{link}"' in sent.html
    assert renderer.rendered == [
        (EmailTemplate.PASSWORD_RESET, "rosa@example.com", {"reset_url": link, "full_name": "Rosa"})
    ]
    # Sent: the rendered subject stays, the data and the bodies (the live link) go.
    item = stored(uow, mid)
    assert (item.status, item.message.subject, item.data) == (OutboxStatus.SENT, "[password_reset]", None)
    assert item.redacted
    assert "live-token" not in repr(item)


def test_a_failed_send_keeps_the_data_to_render_again_with_the_same_message_id(
    uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    mid = queue_reset(uow, clock, "https://app.example.com/r?token=t")
    relay = OutboxRelay(uow=uow, mailer=mailer, clock=clock, renderer=FakeEmailRenderer())
    mailer.fail_next(1)
    assert relay.run_once() == RelayReport(retried=1)
    item = stored(uow, mid)
    assert item.data == {"reset_url": "https://app.example.com/r?token=t", "full_name": "Rosa"}
    assert item.message.subject == ""
    clock.current = item.next_attempt_at
    assert relay.run_once() == RelayReport(sent=1)
    assert [m.id for m in mailer.sent] == [mid]


class BrokenRenderer:
    def render(self, *args: object, **kwargs: object) -> EmailMessage:
        raise KeyError("a template\nbug")


def test_a_message_that_does_not_render_is_dead_at_once_alerted_and_the_relay_goes_on(
    uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    broken = queue_reset(uow, clock, "https://app.example.com/r?token=t")
    [rendered] = enqueue(uow, clock, message())
    reporter = AnomalyReporter(admin_email="ops@example.com")
    relay = OutboxRelay(
        uow=uow, mailer=mailer, clock=clock, renderer=BrokenRenderer(), on_dead=reporter.outbox_dying
    )
    with caplog.at_level(logging.ERROR, logger=RELAY_LOG):
        assert relay.run_once() == RelayReport(sent=1, dead=1)
    item = stored(uow, broken)
    assert (item.status, item.attempts) == (OutboxStatus.DEAD, 1)
    assert item.last_error == "cannot render the message: KeyError: 'a template\\nbug'"
    assert "\n" not in (item.last_error or "")
    assert [m.id for m in mailer.sent] == [rendered]  # a rendered message goes as it is
    [anomaly] = uow.store.anomalies.values()
    assert anomaly.kind is AnomalyKind.OUTBOX_DEAD
    [line] = [r.getMessage() for r in caplog.records if "cannot render" in r.getMessage()]
    assert line == (
        f"outbox message {broken} (password_reset) to rosa@example.com: "
        "cannot render the message: KeyError: 'a template\\nbug'"
    )
    assert "\n" not in line


def test_transient_failures_back_off_exponentially_then_the_message_is_sent(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    [mid] = enqueue(uow, clock, message())
    mailer.fail_next(2, transient=True)
    assert relay.run_once() == RelayReport(retried=1)
    first = stored(uow, mid)
    assert first.status is OutboxStatus.PENDING
    assert first.attempts == 1
    assert first.last_error is not None
    assert "transient failure" in first.last_error
    assert first.claimed_until is None
    delay = first.next_attempt_at - clock.now()
    assert BASE_BACKOFF / 2 <= delay <= BASE_BACKOFF

    # Not due yet: nothing is sent however often the relay runs.
    assert relay.run_once() == RelayReport()
    clock.current = first.next_attempt_at
    assert relay.run_once() == RelayReport(retried=1)
    second = stored(uow, mid)
    assert second.attempts == 2
    assert BASE_BACKOFF <= second.next_attempt_at - clock.now() <= 2 * BASE_BACKOFF

    clock.current = second.next_attempt_at
    assert relay.run_once() == RelayReport(sent=1)
    assert stored(uow, mid).status is OutboxStatus.SENT
    assert stored(uow, mid).attempts == 3
    assert mailer.attempts == 3


def test_a_message_is_dead_after_max_attempts_and_never_sent_again(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    [mid] = enqueue(uow, clock, message())
    mailer.fail_next(10, transient=True)
    reports = []
    for _ in range(4):
        reports.append(relay.run_once())
        clock.advance(dt.timedelta(days=1))
    assert reports == [RelayReport(retried=1)] * 3 + [RelayReport(dead=1)]
    item = stored(uow, mid)
    assert (item.status, item.attempts) == (OutboxStatus.DEAD, 4)
    assert relay.run_once() == RelayReport()
    assert mailer.attempts == 4
    assert [m.id for m in relay.list(OutboxStatus.DEAD)] == [mid]
    assert relay.counts() == {OutboxStatus.PENDING: 0, OutboxStatus.SENT: 0, OutboxStatus.DEAD: 1}


def test_transient_failures_are_retried_for_at_least_two_days(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    [mid] = enqueue(uow, clock, message())
    mailer.fail_next(1000, transient=True)
    start = clock.now()
    while clock.now() - start < dt.timedelta(hours=47):
        relay.run_once()
        clock.advance(dt.timedelta(hours=1))
    item = stored(uow, mid)
    assert item.status is OutboxStatus.PENDING
    assert item.attempts > relay.max_attempts
    # The backoff is capped: it never waits longer than the cap between attempts.
    assert item.next_attempt_at - clock.now() <= dt.timedelta(hours=6)
    clock.advance(dt.timedelta(hours=6))
    relay.run_once()
    assert stored(uow, mid).status is OutboxStatus.DEAD


def test_every_dead_message_can_be_requeued_at_once(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    ids = enqueue(uow, clock, message(), message())
    mailer.fail_next(2, transient=False)
    relay.run_once()
    assert relay.counts()[OutboxStatus.DEAD] == 2
    assert relay.requeue_all_dead() == 2
    assert relay.run_once() == RelayReport(sent=2)
    assert {stored(uow, i).status for i in ids} == {OutboxStatus.SENT}


def test_the_operators_are_alerted_once_a_day_when_messages_start_dying(
    uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    reporter = AnomalyReporter(admin_email="ops@example.com")
    relay = OutboxRelay(
        uow=uow, mailer=mailer, clock=clock, renderer=FakeEmailRenderer(), on_dead=reporter.outbox_dying
    )
    enqueue(uow, clock, message("a@example.com"), message("b@example.com"))
    mailer.fail_next(2, transient=False)

    assert relay.run_once() == RelayReport(dead=2)

    [anomaly] = uow.store.anomalies.values()
    assert anomaly.kind is AnomalyKind.OUTBOX_DEAD
    assert "outbox retry --all-dead" in anomaly.details
    alerts = [m for m in uow.store.outbox.values() if m.message.template is EmailTemplate.ANOMALY_ALERT]
    assert [m.message.to for m in alerts] == ["ops@example.com"]
    # The alert itself goes out; the next day's first death alerts again.
    assert relay.run_once() == RelayReport(sent=1)
    clock.advance(dt.timedelta(days=1))
    enqueue(uow, clock, message("c@example.com"))
    mailer.fail_next(1, transient=False)
    relay.run_once()
    assert len(uow.store.anomalies) == 2


def test_a_permanent_failure_is_dead_at_once(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    [mid] = enqueue(uow, clock, message())
    mailer.fail_next(1, transient=False)
    assert relay.run_once() == RelayReport(dead=1)
    item = stored(uow, mid)
    assert (item.status, item.attempts) == (OutboxStatus.DEAD, 1)
    assert item.last_error is not None
    assert "permanent" in item.last_error


def test_an_unexpected_error_is_retried_and_its_text_keeps_no_credentials(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    @attrs.define
    class BrokenMailer:
        def send(self, message: EmailMessage) -> None:
            raise OSError("cannot reach smtp://mailer:s3cret-pass@smtp.example.com:587\nafter 30 s")

    relay = OutboxRelay(uow=uow, mailer=BrokenMailer(), clock=clock, renderer=FakeEmailRenderer())
    [mid] = enqueue(uow, clock, message())
    assert relay.run_once() == RelayReport(retried=1)
    error = stored(uow, mid).last_error
    assert error == "OSError: cannot reach smtp://***@smtp.example.com:587 after 30 s"


def test_each_failed_attempt_is_logged_in_one_line_without_credentials(
    uow: FakeUnitOfWorkFactory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    @attrs.define
    class FlakyMailer:
        calls: int = 0

        def send(self, message: EmailMessage) -> None:
            self.calls += 1
            if self.calls == 1:
                raise MailDeliveryError(
                    "SMTP smtp://mailer:s3cret-pass@smtp.example.com:587 said 451 try later", transient=True
                )
            if self.calls == 2:
                raise OSError("cannot reach smtp://mailer:s3cret-pass@smtp.example.com:587\nafter 30 s")
            raise MailDeliveryError("550 no such user", transient=False)

    relay = OutboxRelay(
        uow=uow, mailer=FlakyMailer(), clock=clock, renderer=FakeEmailRenderer(), rng=random.Random(1)
    )
    [mid] = enqueue(uow, clock, message("rosa@example.com"))
    with caplog.at_level(logging.WARNING, logger="webmagic_core.services.outbox"):
        for _ in range(3):
            relay.run_once()
            clock.advance(dt.timedelta(hours=7))

    lines = [r.getMessage() for r in caplog.records if "(attempt" in r.getMessage()]
    assert len(lines) == 3
    assert all(str(mid) in line for line in lines)
    assert "attempt 1, will retry" in lines[0]
    assert "unexpected error" in lines[1]
    assert "attempt 2, will retry" in lines[1]
    assert "attempt 3, permanent" in lines[2]
    assert all("\n" not in line and "rosa@example.com" in line for line in lines)
    assert "s3cret-pass" not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)


def test_failure_texts_are_one_line_and_capped() -> None:
    text = describe_failure(MailDeliveryError("x" * 2000 + "\nsecond line", transient=True))
    assert len(text) == MAX_ERROR_LENGTH
    assert "\n" not in text
    assert describe_failure(TransientError("")) == "TransientError"


def test_requeue_gives_a_dead_message_fresh_attempts(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    [mid] = enqueue(uow, clock, message())
    mailer.fail_next(1, transient=False)
    relay.run_once()
    clock.advance(dt.timedelta(hours=3))
    requeued = relay.requeue(mid)
    assert (requeued.status, requeued.attempts, requeued.next_attempt_at) == (
        OutboxStatus.PENDING,
        0,
        clock.now(),
    )
    assert stored(uow, mid).status is OutboxStatus.PENDING
    assert relay.run_once() == RelayReport(sent=1)
    assert relay.get(mid).status is OutboxStatus.SENT


def test_requeue_refuses_unknown_and_live_messages(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    with pytest.raises(NotFound, match="no outbox message"):
        relay.requeue(uuid.uuid4())
    [pending, sent] = enqueue(uow, clock, message(), message())
    with uow() as tx:
        item = tx.outbox.get(sent)
        assert item is not None
        item.status = OutboxStatus.SENT
        tx.outbox.save(item)
        tx.commit()
    with pytest.raises(Conflict, match="is pending; only dead messages"):
        relay.requeue(pending)
    with pytest.raises(Conflict, match="is sent; only dead messages"):
        relay.requeue(sent)
    with pytest.raises(NotFound):
        relay.get(uuid.uuid4())


class Crash(BaseException):
    """The process dies mid-send (not an Exception: nothing may swallow it)."""


def test_a_relay_that_dies_after_claiming_leaves_the_message_to_another_after_the_lease(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    @attrs.define
    class DyingMailer:
        def send(self, message: EmailMessage) -> None:
            raise Crash

    [mid] = enqueue(uow, clock, message())
    dying = OutboxRelay(uow=uow, mailer=DyingMailer(), clock=clock, renderer=FakeEmailRenderer(), lease=LEASE)
    with pytest.raises(Crash):
        dying.run_once()
    held = stored(uow, mid)
    assert held.status is OutboxStatus.PENDING
    assert held.claimed_until == clock.now() + LEASE
    assert held.attempts == 0

    mailer = FakeMailer()
    survivor = OutboxRelay(uow=uow, mailer=mailer, clock=clock, renderer=FakeEmailRenderer(), lease=LEASE)
    clock.advance(LEASE - dt.timedelta(seconds=1))
    assert survivor.run_once() == RelayReport()
    clock.advance(dt.timedelta(seconds=1))
    assert survivor.run_once() == RelayReport(sent=1)
    assert [m.id for m in mailer.sent] == [mid]


def test_concurrent_relays_never_claim_the_same_message(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    ids = enqueue(uow, clock, message(), message())
    with uow() as tx:
        [held] = tx.outbox.claim_due(clock.now(), limit=1, lease=LEASE)
        tx.commit()
    assert held.id == ids[0]
    assert relay.run_once() == RelayReport(sent=1)
    assert [m.id for m in mailer.sent] == [ids[1]]


def test_a_late_failure_does_not_overwrite_the_outcome_of_the_relay_that_took_over(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    """Relay A's send hangs past its lease; relay B re-claims and sends; then A's send
    fails. B's "sent" stands."""
    other_mailer = FakeMailer()
    other = OutboxRelay(uow=uow, mailer=other_mailer, clock=clock, renderer=FakeEmailRenderer(), lease=LEASE)

    @attrs.define
    class SlowFailingMailer:
        def send(self, message: EmailMessage) -> None:
            clock.advance(LEASE + dt.timedelta(seconds=1))
            assert other.run_once() == RelayReport(sent=1)
            raise MailDeliveryError("timed out", transient=True)

    [mid] = enqueue(uow, clock, message())
    slow = OutboxRelay(
        uow=uow, mailer=SlowFailingMailer(), clock=clock, renderer=FakeEmailRenderer(), lease=LEASE
    )
    assert slow.run_once() == RelayReport()
    item = stored(uow, mid)
    assert (item.status, item.attempts, item.last_error) == (OutboxStatus.SENT, 1, None)


def test_a_late_failure_while_another_relay_holds_the_message_is_not_recorded(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    [mid] = enqueue(uow, clock, message())

    @attrs.define
    class SlowFailingMailer:
        def send(self, message: EmailMessage) -> None:
            clock.advance(LEASE + dt.timedelta(seconds=1))
            with uow() as tx:  # another relay claims it and is still sending
                assert [m.id for m in tx.outbox.claim_due(clock.now(), limit=5, lease=LEASE)] == [mid]
                tx.commit()
            raise MailDeliveryError("timed out", transient=True)

    slow = OutboxRelay(
        uow=uow, mailer=SlowFailingMailer(), clock=clock, renderer=FakeEmailRenderer(), lease=LEASE
    )
    assert slow.run_once() == RelayReport()
    item = stored(uow, mid)
    assert (item.attempts, item.last_error, item.claimed_until) == (0, None, clock.now() + LEASE)


def test_oldest_messages_go_first_in_batches_and_drain_sends_all(
    uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    ids = []
    for _ in range(5):
        ids += enqueue(uow, clock, message())
        clock.advance(dt.timedelta(seconds=1))
    relay = OutboxRelay(uow=uow, mailer=mailer, clock=clock, renderer=FakeEmailRenderer(), batch_size=2)
    assert relay.run_once() == RelayReport(sent=2)
    assert [m.id for m in mailer.sent] == ids[:2]
    assert relay.drain() == RelayReport(sent=3)
    assert [m.id for m in mailer.sent] == ids
    assert relay.drain() == RelayReport()


def test_list_is_newest_first_with_a_status_filter_and_limit(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    ids = []
    for _ in range(3):
        ids += enqueue(uow, clock, message())
        clock.advance(dt.timedelta(seconds=1))
    mailer.fail_next(1, transient=False)
    relay.run_once()  # the oldest dies, the others are sent
    assert [m.id for m in relay.list()] == ids[::-1]
    assert [m.id for m in relay.list(limit=2)] == ids[:0:-1]
    assert [m.id for m in relay.list(OutboxStatus.DEAD)] == ids[:1]
    assert [m.id for m in relay.list(OutboxStatus.SENT)] == ids[:0:-1]


def test_claim_due_honours_status_due_time_and_leases(uow: FakeUnitOfWorkFactory, clock: FakeClock) -> None:
    now = clock.now()
    due, later, held, expired_hold, dead = (message() for _ in range(5))
    with uow() as tx:
        tx.outbox.add(OutboxMessage.pending(due, now))
        tx.outbox.add(
            attrs.evolve(OutboxMessage.pending(later, now), next_attempt_at=now + dt.timedelta(seconds=1))
        )
        tx.outbox.add(
            attrs.evolve(OutboxMessage.pending(held, now), claimed_until=now + dt.timedelta(seconds=1))
        )
        tx.outbox.add(attrs.evolve(OutboxMessage.pending(expired_hold, now), claimed_until=now))
        tx.outbox.add(attrs.evolve(OutboxMessage.pending(dead, now), status=OutboxStatus.DEAD))
        tx.commit()
    with uow() as tx:
        claimed = tx.outbox.claim_due(now, limit=10, lease=LEASE)
        tx.commit()
    assert [m.id for m in claimed] == [due.id, expired_hold.id]
    assert all(m.claimed_until == now + LEASE for m in claimed)
    with uow() as tx:
        assert tx.outbox.claim_due(now, limit=10, lease=LEASE) == []
        assert tx.outbox.count_by_status() == {OutboxStatus.PENDING: 4, OutboxStatus.DEAD: 1}
        with pytest.raises(Conflict):
            tx.outbox.add(OutboxMessage.pending(due, now))


def test_a_claim_that_is_not_committed_is_rolled_back(uow: FakeUnitOfWorkFactory, clock: FakeClock) -> None:
    [mid] = enqueue(uow, clock, message())
    with uow() as tx:
        assert len(tx.outbox.claim_due(clock.now(), limit=10, lease=LEASE)) == 1
    assert stored(uow, mid).claimed_until is None


def test_writes_after_a_commit_in_the_same_block_roll_back_unless_committed(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    first, second = message(), message()
    tx: FakeUnitOfWork
    with uow() as tx:
        tx.outbox.add(OutboxMessage.pending(first, clock.now()))
        tx.commit()
        tx.outbox.add(OutboxMessage.pending(second, clock.now()))
    assert list(uow.store.outbox) == [first.id]


@pytest.mark.parametrize("field", ["max_attempts", "batch_size"])
def test_relay_settings_must_be_positive(uow: FakeUnitOfWorkFactory, clock: FakeClock, field: str) -> None:
    with pytest.raises(ValueError, match=f"{field} must be at least 1"):
        OutboxRelay(uow=uow, mailer=FakeMailer(), clock=clock, renderer=FakeEmailRenderer(), **{field: 0})


# --- what mutation testing showed untested --------------------------------------------------


def test_a_late_success_after_another_relay_already_sent_is_not_counted_twice(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    """Relay A's send hangs past its lease; B re-claims and sends; then A's send succeeds
    too. The message was sent (twice, unavoidably), but it is recorded once: B's record."""
    other = OutboxRelay(uow=uow, mailer=FakeMailer(), clock=clock, renderer=FakeEmailRenderer(), lease=LEASE)
    sent_by_other: list[dt.datetime] = []

    @attrs.define
    class SlowMailer:
        def send(self, message: EmailMessage) -> None:
            clock.advance(LEASE + dt.timedelta(seconds=1))
            assert other.run_once() == RelayReport(sent=1)
            sent_by_other.append(clock.now())
            clock.advance(dt.timedelta(seconds=5))

    [mid] = enqueue(uow, clock, message())
    slow = OutboxRelay(uow=uow, mailer=SlowMailer(), clock=clock, renderer=FakeEmailRenderer(), lease=LEASE)
    assert slow.run_once() == RelayReport()
    item = stored(uow, mid)
    assert (item.status, item.attempts, item.sent_at) == (OutboxStatus.SENT, 1, sent_by_other[0])


def test_the_dead_letter_line_says_which_message_to_whom_and_why(
    uow: FakeUnitOfWorkFactory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = FakeMailer()
    relay = OutboxRelay(uow=uow, mailer=mailer, clock=clock, renderer=FakeEmailRenderer())
    [mid] = enqueue(uow, clock, message("rosa@example.com"))
    mailer.fail_next(1, transient=False)
    with caplog.at_level(logging.WARNING, logger="webmagic_core.services.outbox"):
        assert relay.run_once() == RelayReport(dead=1)
    error = stored(uow, mid).last_error
    assert error
    assert [r.getMessage() for r in caplog.records if r.name == RELAY_LOG] == [
        f"sending outbox message {mid} to rosa@example.com failed (attempt 1, permanent): {error}",
        f"outbox message {mid} to rosa@example.com is dead after 1 attempt(s): {error}",
    ]


def test_an_unexpected_error_is_logged_whole_and_retried_later(
    uow: FakeUnitOfWorkFactory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    @attrs.define
    class BrokenMailer:
        def send(self, message: EmailMessage) -> None:
            raise RuntimeError("adapter bug")

    relay = OutboxRelay(
        uow=uow, mailer=BrokenMailer(), clock=clock, renderer=FakeEmailRenderer(), rng=random.Random(3)
    )
    [mid] = enqueue(uow, clock, message("rosa@example.com"))
    with caplog.at_level(logging.WARNING, logger="webmagic_core.services.outbox"):
        assert relay.run_once() == RelayReport(retried=1)
    item = stored(uow, mid)
    assert item.status is OutboxStatus.PENDING
    assert item.next_attempt_at == clock.now() + backoff(1, rng=random.Random(3))
    assert [r.getMessage() for r in caplog.records if r.name == RELAY_LOG] == [
        f"unexpected error sending outbox message {mid} to rosa@example.com (attempt 1, will retry): "
        f"{item.last_error}"
    ]


def test_the_retry_time_comes_from_the_relays_own_random_source(
    uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    relay = OutboxRelay(
        uow=uow, mailer=mailer, clock=clock, renderer=FakeEmailRenderer(), rng=random.Random(11)
    )
    [mid] = enqueue(uow, clock, message())
    mailer.fail_next(1, transient=True)
    relay.run_once()
    assert stored(uow, mid).next_attempt_at == clock.now() + backoff(1, rng=random.Random(11))


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (dt.timedelta(minutes=59, seconds=59), RelayReport(retried=1)),
        (dt.timedelta(hours=1), RelayReport(dead=1)),
    ],
)
def test_a_message_is_dead_exactly_when_the_retry_window_has_passed(
    uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock, age: dt.timedelta, expected: RelayReport
) -> None:
    window = dt.timedelta(hours=1)
    relay = OutboxRelay(
        uow=uow, mailer=mailer, clock=clock, renderer=FakeEmailRenderer(), max_attempts=1, retry_window=window
    )
    enqueue(uow, clock, message())
    clock.advance(age)
    mailer.fail_next(1, transient=True)
    assert relay.run_once() == expected


def test_requeue_all_dead_touches_only_dead_messages_up_to_the_limit(
    relay: OutboxRelay, uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    ids = enqueue(uow, clock, message(), message(), message())
    mailer.fail_next(2, transient=False)
    relay.run_once()
    assert [stored(uow, i).status for i in ids] == [OutboxStatus.DEAD, OutboxStatus.DEAD, OutboxStatus.SENT]
    assert relay.requeue_all_dead(limit=1) == 1
    assert sorted(stored(uow, i).status.value for i in ids) == ["dead", "pending", "sent"]
    assert relay.requeue_all_dead() == 1
    assert [stored(uow, i).status for i in ids][:2] == [OutboxStatus.PENDING, OutboxStatus.PENDING]


class _Top:
    """A random source that always answers the top of the range asked for."""

    def uniform(self, low: float, high: float) -> float:
        return high


@pytest.mark.parametrize("attempts", [1, 2, 5, 10])
def test_backoff_never_exceeds_its_ceiling_and_never_halves_below(attempts: int) -> None:
    ceiling = min(MAX_BACKOFF, BASE_BACKOFF * 2 ** (attempts - 1))
    assert backoff(attempts, rng=_Top()) == ceiling  # type: ignore[arg-type]
    samples = [backoff(attempts) for _ in range(300)]  # the module's own random source
    assert all(ceiling / 2 <= s <= ceiling for s in samples)
    assert min(samples) < ceiling * 0.6
    assert max(samples) > ceiling * 0.9


def test_a_paced_relay_sends_each_mail_only_once_its_pace_lets_it(
    uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    # The pace runs before every send (a web server's relay waits there while requests
    # are answered): here it lets one mail through per call and records what was sent then.
    sent_before_each_pace: list[int] = []

    def pace() -> None:
        sent_before_each_pace.append(len(mailer.sent))

    relay = OutboxRelay(uow=uow, mailer=mailer, clock=clock, renderer=FakeEmailRenderer(), pace=pace)
    enqueue(uow, clock, message("a@example.com"), message("b@example.com"), message("c@example.com"))

    assert relay.run_once() == RelayReport(sent=3)
    assert sent_before_each_pace == [0, 1, 2]
    assert len(mailer.sent) == 3


def test_a_pace_that_fails_leaves_the_claimed_mail_unsent_and_pending(
    uow: FakeUnitOfWorkFactory, mailer: FakeMailer, clock: FakeClock
) -> None:
    def pace() -> None:
        raise RuntimeError("shutting down")

    relay = OutboxRelay(
        uow=uow, mailer=mailer, clock=clock, renderer=FakeEmailRenderer(), pace=pace, lease=LEASE
    )
    [queued] = enqueue(uow, clock, message())
    with pytest.raises(RuntimeError):
        relay.run_once()
    assert mailer.sent == []
    assert stored(uow, queued).status is OutboxStatus.PENDING  # sent later, once the lease passes


def test_marking_a_message_sent_without_a_subject_keeps_the_one_it_has(clock: FakeClock) -> None:
    item = OutboxMessage.pending(message(), clock.now())
    item.mark_sent(clock.now())
    assert (item.status, item.message.subject, item.data) == (OutboxStatus.SENT, "Your site", None)
    assert item.redacted
