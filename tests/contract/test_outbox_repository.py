"""The OutboxRepository port: one suite, run on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import attrs
import pytest
from contract_support import Backend

from webmagic_core.accounts.emails import TEMPLATE_FIELDS, EmailMessage, EmailTemplate, FieldKind
from webmagic_core.errors import Conflict
from webmagic_core.money import Money
from webmagic_core.outbox import OutboxMessage, OutboxStatus
from webmagic_core.ports import UnitOfWorkFactory
from webmagic_core.services.outbox import queue_email

T0 = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=5)


def email(
    to: str = "owner@example.com", *, site_id: uuid.UUID | None = None, subject: str = "Your site"
) -> EmailMessage:
    return EmailMessage(
        id=uuid.uuid4(),
        to=to,
        subject=subject,
        text="Hello Rosa,\nyour site is back.\n",
        html="<p>Hello Rosa, <b>your site</b> is back &amp; running.</p>",
        template=EmailTemplate.SITE_RESTORED,
        site_id=site_id,
    )


def pending(at: dt.datetime = T0, **kwargs: Any) -> OutboxMessage:
    return OutboxMessage.pending(email(**kwargs), at)


def store(uow: UnitOfWorkFactory, *items: OutboxMessage) -> None:
    with uow() as work:
        for item in items:
            work.outbox.add(item)
        work.commit()


def claim(
    uow: UnitOfWorkFactory, now: dt.datetime, limit: int = 10, lease: dt.timedelta = LEASE
) -> list[OutboxMessage]:
    with uow() as work:
        claimed = list(work.outbox.claim_due(now, limit=limit, lease=lease))
        work.commit()
    return claimed


def ids(items: list[OutboxMessage]) -> list[uuid.UUID]:
    return [item.id for item in items]


def test_added_message_reads_back_equal(uow: UnitOfWorkFactory) -> None:
    site_id = uuid.uuid4()
    plain = pending()
    full = OutboxMessage(
        message=attrs.evolve(
            email("rosa@example.com", site_id=site_id, subject="Ünïcode ✓ subject"),
            headers={"X-Webmagic-Site": "rosas-bakery", "List-Unsubscribe": "<mailto:u@example.com>"},
        ),
        status=OutboxStatus.DEAD,
        attempts=8,
        created_at=T0,
        next_attempt_at=T0 + dt.timedelta(hours=6),
        sent_at=T0 + dt.timedelta(seconds=1),
        last_error="SMTPRecipientsRefused: 550 no such user",
        claimed_until=T0 + LEASE,
    )
    store(uow, plain, full)
    with uow() as work:
        assert work.outbox.get(plain.id) == plain
        assert work.outbox.get(full.id) == full
        assert work.outbox.get(uuid.uuid4()) is None


def test_adding_the_same_id_twice_is_a_conflict(uow: UnitOfWorkFactory) -> None:
    item = pending()
    store(uow, item)
    with uow() as work:
        with pytest.raises(Conflict, match=str(item.id)):
            work.outbox.add(attrs.evolve(item, attempts=3))
        other = pending()
        work.outbox.add(other)  # the transaction survived the clash
        work.commit()
    with uow() as work:
        assert work.outbox.get(item.id) == item
        assert work.outbox.get(other.id) == other


def test_save_writes_the_delivery_state(uow: UnitOfWorkFactory) -> None:
    item = pending()
    store(uow, item)
    later = T0 + dt.timedelta(minutes=3)
    with uow() as work:
        loaded = work.outbox.get(item.id)
        assert loaded is not None
        loaded.attempts, loaded.last_error = 1, "timed out"
        loaded.next_attempt_at, loaded.claimed_until = later, None
        work.outbox.save(loaded)
        work.commit()
    with uow() as work:
        assert work.outbox.get(item.id) == loaded
        loaded.attempts = 2
        loaded.mark_sent(later)
        work.outbox.save(loaded)
        work.commit()
    with uow() as work:
        sent = work.outbox.get(item.id)
        assert sent == loaded
        assert sent is not None
        assert sent.redacted
        assert sent.message.subject == item.message.subject
        assert work.outbox.count_by_status() == {OutboxStatus.SENT: 1}


def test_save_of_a_message_never_added_is_a_lookup_error(uow: UnitOfWorkFactory) -> None:
    store(uow, pending())
    with uow() as work, pytest.raises(LookupError, match="never added"):
        work.outbox.save(pending())


def test_claim_takes_due_pending_unclaimed_messages_oldest_first(uow: UnitOfWorkFactory) -> None:
    now = T0 + dt.timedelta(hours=1)
    newest = pending(now)
    oldest = pending(T0)
    # Created at the same instant: claimed in the order they were added.
    tied = [pending(T0 + dt.timedelta(minutes=5)) for _ in range(3)]
    lease_over = attrs.evolve(pending(T0 + dt.timedelta(minutes=10)), claimed_until=now)
    not_due = attrs.evolve(pending(T0), next_attempt_at=now + dt.timedelta(microseconds=1))
    held = attrs.evolve(pending(T0), claimed_until=now + dt.timedelta(microseconds=1))
    sent = attrs.evolve(pending(T0), status=OutboxStatus.SENT, sent_at=T0)
    dead = attrs.evolve(pending(T0), status=OutboxStatus.DEAD, attempts=8)
    store(uow, newest, not_due, tied[0], held, sent, oldest, tied[1], lease_over, dead, tied[2])

    claimed = claim(uow, now)

    assert ids(claimed) == ids([oldest, *tied, lease_over, newest])
    for item in claimed:
        assert item.claimed_until == now + LEASE
        assert attrs.evolve(item, claimed_until=None) == attrs.evolve(
            next(i for i in (oldest, *tied, lease_over, newest) if i.id == item.id), claimed_until=None
        )
    with uow() as work:
        for item in claimed:
            assert work.outbox.get(item.id) == item  # the claim is stored
        for untouched in (not_due, held, sent, dead):
            assert work.outbox.get(untouched.id) == untouched


def test_claim_honours_the_limit_and_leaves_the_rest_for_the_next_claim(uow: UnitOfWorkFactory) -> None:
    items = [pending(T0 + dt.timedelta(seconds=i)) for i in range(5)]
    store(uow, *reversed(items))
    assert claim(uow, T0 - dt.timedelta(microseconds=1)) == []  # none is due yet
    now = T0 + dt.timedelta(minutes=1)
    assert ids(claim(uow, now, limit=2)) == ids(items[:2])
    assert ids(claim(uow, now, limit=2)) == ids(items[2:4])
    assert ids(claim(uow, now, limit=2)) == ids(items[4:])
    assert claim(uow, now, limit=2) == []
    assert claim(uow, now, limit=0) == []
    assert claim(uow, now + LEASE - dt.timedelta(microseconds=1)) == []
    # When the lease passes the messages are due again: a relay that died loses nothing.
    assert ids(claim(uow, now + LEASE, limit=10)) == ids(items)


def test_a_claim_without_commit_is_dropped(uow: UnitOfWorkFactory) -> None:
    item = pending()
    store(uow, item)
    with uow() as work:
        assert ids(list(work.outbox.claim_due(T0, limit=5, lease=LEASE))) == [item.id]
    assert ids(claim(uow, T0)) == [item.id]


def test_list_is_newest_first_with_an_optional_status_and_a_limit(uow: UnitOfWorkFactory) -> None:
    first, second, third = (pending(T0 + dt.timedelta(minutes=i)) for i in range(3))
    tie_a, tie_b = pending(T0 + dt.timedelta(hours=1)), pending(T0 + dt.timedelta(hours=1))
    dead = attrs.evolve(pending(T0 + dt.timedelta(minutes=30)), status=OutboxStatus.DEAD)
    store(uow, second, tie_a, first, dead, tie_b, third)
    with uow() as work:
        assert ids(list(work.outbox.list())) == ids([tie_b, tie_a, dead, third, second, first])
        assert ids(list(work.outbox.list(limit=2))) == ids([tie_b, tie_a])
        assert list(work.outbox.list(limit=0)) == []
        assert ids(list(work.outbox.list(status=OutboxStatus.DEAD))) == [dead.id]
        assert ids(list(work.outbox.list(status=OutboxStatus.PENDING, limit=4))) == ids(
            [tie_b, tie_a, third, second]
        )
        assert list(work.outbox.list(status=OutboxStatus.SENT)) == []
        assert work.outbox.list(status=OutboxStatus.DEAD)[0] == dead


def test_for_site_lists_a_sites_messages_oldest_first(uow: UnitOfWorkFactory) -> None:
    site, other_site = uuid.uuid4(), uuid.uuid4()
    later = pending(T0 + dt.timedelta(days=1), site_id=site)
    early_a, early_b = pending(T0, site_id=site), pending(T0, site_id=site)
    store(uow, later, pending(T0, site_id=other_site), early_a, pending(T0), early_b)
    with uow() as work:
        assert list(work.outbox.for_site(site)) == [early_a, early_b, later]
        assert list(work.outbox.for_site(uuid.uuid4())) == []


def test_count_by_status(uow: UnitOfWorkFactory) -> None:
    with uow() as work:
        assert work.outbox.count_by_status() == {}
    store(
        uow,
        pending(),
        pending(),
        attrs.evolve(pending(), status=OutboxStatus.SENT, sent_at=T0),
        attrs.evolve(pending(), status=OutboxStatus.DEAD),
        attrs.evolve(pending(), status=OutboxStatus.DEAD),
        attrs.evolve(pending(), status=OutboxStatus.DEAD),
    )
    with uow() as work:
        assert work.outbox.count_by_status() == {
            OutboxStatus.PENDING: 2,
            OutboxStatus.SENT: 1,
            OutboxStatus.DEAD: 3,
        }


def test_a_locked_read_reads_the_same_and_holds_the_row_until_commit(
    backend: Backend, uow: UnitOfWorkFactory
) -> None:
    """How a relay records a send's outcome: the message read locked, so a second relay
    deciding about the same message waits for the first one's commit and sees its outcome."""
    item = pending()
    store(uow, item)
    with uow() as work:
        assert work.outbox.get(item.id, for_update=True) == item
        assert work.outbox.get(uuid.uuid4(), for_update=True) is None
    if backend.database is None:
        return  # the fake has no concurrent readers
    read_by_second: list[OutboxMessage | None] = []
    with uow() as first:
        locked = first.outbox.get(item.id, for_update=True)
        assert locked is not None

        def second() -> None:
            with uow() as work:
                read_by_second.append(work.outbox.get(item.id, for_update=True))

        waiting = threading.Thread(target=second)
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive()  # blocked on the first's lock
        first.outbox.save(attrs.evolve(locked, status=OutboxStatus.SENT, attempts=1))
        first.commit()
    waiting.join(timeout=10)
    assert not waiting.is_alive()
    assert read_by_second[0] is not None
    assert read_by_second[0].status is OutboxStatus.SENT  # the outcome, not the stale row


# --- mail queued as data ------------------------------------------------------------------------

_TZ = dt.timezone(dt.timedelta(hours=-6))


def sample(kind: FieldKind, key: str) -> object:
    match kind:
        case FieldKind.TEXT:
            return f"Rosa's «Panadería» {key} \\ \" ✓"
        case FieldKind.LONG_TEXT:
            return f"First line of {key}\nSecond line\ttabbed"
        case FieldKind.URL:
            return f"https://app.example.com/portal/{key}?token=abc.DEF-123_x&next=%2Fhome"
        case FieldKind.MONEY:
            return Money(-49_501, "MXN")
        case FieldKind.DATE:
            return dt.date(2026, 2, 28)
        case FieldKind.DATETIME:
            return dt.datetime(2026, 3, 4, 15, 30, 1, 999, tzinfo=_TZ)


def every_templates_data() -> dict[EmailTemplate, dict[str, object]]:
    """Every field of every template; the optional ones alternately a value and None."""
    found = {}
    for template, fields in TEMPLATE_FIELDS.items():
        data = {key: sample(kind, key) for key, kind in fields.required.items()}
        for n, (key, kind) in enumerate(fields.optional.items()):
            data[key] = sample(kind, key) if n % 2 == 0 else None
        found[template] = data
    return found


def test_the_data_of_every_template_reads_back_as_the_same_values(uow: UnitOfWorkFactory) -> None:
    data = every_templates_data()
    with uow() as work:
        queued = {
            template: queue_email(work, template, "owner@example.com", values, T0)
            for template, values in data.items()
        }
        work.commit()
    with uow() as work:
        for template, item in queued.items():
            found = work.outbox.get(item.id)
            assert found is not None
            assert found == item
            assert found.data == data[template]
            assert {k: type(v) for k, v in (found.data or {}).items()} == {
                k: type(v) for k, v in data[template].items()
            }
    claimed = {item.id: item for item in claim(uow, T0, limit=100)}
    assert {template: claimed[item.id].data for template, item in queued.items()} == data


def test_a_message_queued_as_data_keeps_it_through_a_retry_and_drops_it_once_sent(
    uow: UnitOfWorkFactory,
) -> None:
    values = {"business_name": "Casa Rosa", "site_url": "https://sites.example.com/casa-rosa"}
    with uow() as work:
        item = queue_email(work, EmailTemplate.SITE_RESTORED, "owner@example.com", values, T0)
        work.commit()
    [claimed] = claim(uow, T0)
    claimed.attempts, claimed.last_error, claimed.claimed_until = 1, "timed out", None
    with uow() as work:
        work.outbox.save(claimed)
        work.commit()
    with uow() as work:
        retried = work.outbox.get(item.id)
    assert retried is not None
    assert (retried.data, retried.message.subject, retried.last_error) == (values, "", "timed out")

    retried.mark_sent(T0 + LEASE, subject="The website for Casa Rosa is back online")
    with uow() as work:
        work.outbox.save(retried)
        work.commit()
    with uow() as work:
        sent = work.outbox.get(item.id)
    assert sent is not None
    assert (sent.status, sent.data, sent.message.subject) == (
        OutboxStatus.SENT,
        None,
        "The website for Casa Rosa is back online",
    )
    assert sent.redacted
