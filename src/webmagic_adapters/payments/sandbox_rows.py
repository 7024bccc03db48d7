"""The sandbox's tables (``sandbox_checkouts``, ``sandbox_subscriptions``,
``sandbox_refunds``) read as the provider model's checkouts and subscriptions and written
back, and their faults as the port's errors. The sandbox (``sandbox``) decides nothing here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
from sqlalchemy import Connection, Table, insert, select, update
from sqlalchemy import exc as sa_exc

from webmagic_adapters.payments.provider_model import ProviderCheckout
from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.errors import describe, is_transient
from webmagic_adapters.sqlalchemy.repositories import AnyRow
from webmagic_core.errors import Conflict
from webmagic_core.money import Money
from webmagic_core.payments.gateway import (
    CheckoutKind,
    CheckoutStatus,
    FreeTrial,
    GatewayError,
    GatewayNotFound,
    GatewayUnavailable,
    SubscriptionInfo,
    SubscriptionStatus,
    TrialInterval,
)

checkouts = t.sandbox_checkouts
subscriptions = t.sandbox_subscriptions
refunds = t.sandbox_refunds


@attrs.frozen
class SandboxRefund:
    id: str
    payment_id: str
    amount: Money
    created_at: dt.datetime


# --- checkouts -----------------------------------------------------------------------------------


def _row(connection: Connection, table: Table, key: str, *, for_update: bool) -> AnyRow:
    """The row of ``key``; the provider's 404 when there is none."""
    query = select(table).where(table.c.id == key)
    row = connection.execute(query.with_for_update() if for_update else query).first()
    if row is None:
        what = "checkout" if table is checkouts else "subscription"
        raise GatewayNotFound(f"the sandbox has no {what} {key[:80]!r}", status=404)
    return row


def read_checkout(connection: Connection, checkout_id: str, *, for_update: bool = False) -> ProviderCheckout:
    return provider_checkout(_row(connection, checkouts, checkout_id, for_update=for_update))


def provider_checkout(row: AnyRow) -> ProviderCheckout:
    trial = None
    if row.free_trial_interval is not None and row.free_trial_count is not None:
        trial = FreeTrial(TrialInterval(row.free_trial_interval), int(row.free_trial_count))
    return ProviderCheckout(
        id=row.id,
        kind=CheckoutKind(row.kind),
        item_name=row.item_name,
        description=row.description,
        amount=Money(int(row.amount_in_cents), row.currency),
        success_url=row.success_url,
        cancel_url=row.cancel_url,
        metadata={str(k): str(v) for k, v in dict(row.metadata).items()},
        status=CheckoutStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        paid_at=row.paid_at,
        payment_id=row.payment_id,
        free_trial=trial,
        paymentable_type=row.paymentable_type,
        paymentable_id=row.paymentable_id,
    )


def checkouts_since(connection: Connection, since: dt.datetime, limit: int) -> list[ProviderCheckout]:
    """The checkouts created at or after ``since``, newest first."""
    query = (
        select(checkouts)
        .where(checkouts.c.created_at >= since)
        .order_by(checkouts.c.created_at.desc(), checkouts.c.id)
        .limit(limit)
    )
    return [provider_checkout(row) for row in connection.execute(query)]


def insert_checkout(connection: Connection, checkout: ProviderCheckout) -> None:
    trial = checkout.free_trial
    connection.execute(
        insert(checkouts).values(
            id=checkout.id,
            kind=checkout.kind.value,
            item_name=checkout.item_name,
            description=checkout.description,
            amount_in_cents=checkout.amount.amount_in_cents,
            currency=checkout.amount.currency,
            success_url=checkout.success_url,
            cancel_url=checkout.cancel_url,
            metadata=dict(checkout.metadata),
            expires_at=checkout.expires_at,
            status=checkout.status.value,
            created_at=checkout.created_at,
            free_trial_interval=trial.interval.value if trial else None,
            free_trial_count=trial.count if trial else None,
        )
    )


def save_checkout(connection: Connection, checkout: ProviderCheckout) -> None:
    """Write what a checkout's life changes: its status, expiry and payment."""
    connection.execute(
        update(checkouts)
        .where(checkouts.c.id == checkout.id)
        .values(
            status=checkout.status.value,
            expires_at=checkout.expires_at,
            payment_id=checkout.payment_id,
            paymentable_type=checkout.paymentable_type,
            paymentable_id=checkout.paymentable_id,
            paid_at=checkout.paid_at,
        )
    )


def paid_amount(connection: Connection, payment_id: str) -> Money | None:
    """What the paid checkout of ``payment_id`` took (None when no checkout was paid by it)."""
    paid = connection.execute(
        select(checkouts.c.amount_in_cents, checkouts.c.currency).where(
            checkouts.c.payment_id == payment_id, checkouts.c.status == CheckoutStatus.PAID.value
        )
    ).first()
    return None if paid is None else Money(int(paid.amount_in_cents), paid.currency)


# --- subscriptions -------------------------------------------------------------------------------


def subscription_row(connection: Connection, subscription_id: str, *, for_update: bool = False) -> AnyRow:
    return _row(connection, subscriptions, subscription_id, for_update=for_update)


def subscription_exists(connection: Connection, subscription_id: str) -> bool:
    """Whether it is stored (its row locked for the transaction when it is)."""
    query = select(subscriptions.c.id).where(subscriptions.c.id == subscription_id).with_for_update()
    return connection.execute(query).first() is not None


def subscription_info(row: AnyRow) -> SubscriptionInfo:
    return SubscriptionInfo(
        id=row.id,
        status=SubscriptionStatus(row.status),
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
        next_payment_attempt_at=row.next_payment_attempt_at,
        checkout_id=row.checkout_id,
        customer_email=row.customer_email,
    )


def _subscription_values(subscription: SubscriptionInfo, now: dt.datetime) -> dict[str, Any]:
    return {
        "checkout_id": subscription.checkout_id,
        "status": subscription.status.value,
        "current_period_start": subscription.current_period_start,
        "current_period_end": subscription.current_period_end,
        "next_payment_attempt_at": subscription.next_payment_attempt_at,
        "customer_email": subscription.customer_email,
        "updated_at": now,
    }


def insert_subscription(connection: Connection, subscription: SubscriptionInfo, now: dt.datetime) -> None:
    values = _subscription_values(subscription, now)
    connection.execute(insert(subscriptions).values(id=subscription.id, created_at=now, **values))


def save_subscription(connection: Connection, subscription: SubscriptionInfo, now: dt.datetime) -> None:
    connection.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription.id)
        .values(**_subscription_values(subscription, now))
    )


def monthly_price(connection: Connection, row: AnyRow) -> Money:
    """A subscription's monthly amount: the one its recurring checkout was created with."""
    paid = connection.execute(
        select(checkouts.c.amount_in_cents, checkouts.c.currency).where(checkouts.c.id == row.checkout_id)
    ).first()
    if paid is None:
        raise Conflict(f"subscription {row.id} has no sandbox checkout, so its monthly price is unknown")
    return Money(int(paid.amount_in_cents), paid.currency)


# --- refunds -------------------------------------------------------------------------------------


def refunded(connection: Connection, payment_id: str) -> bool:
    return (
        connection.execute(select(refunds.c.id).where(refunds.c.payment_id == payment_id)).first() is not None
    )


def insert_refund(connection: Connection, refund: SandboxRefund) -> None:
    connection.execute(
        insert(refunds).values(
            id=refund.id,
            payment_id=refund.payment_id,
            amount_in_cents=refund.amount.amount_in_cents,
            currency=refund.amount.currency,
            created_at=refund.created_at,
        )
    )


def all_refunds(connection: Connection) -> list[SandboxRefund]:
    rows = connection.execute(select(refunds).order_by(refunds.c.created_at, refunds.c.id)).all()
    return [
        SandboxRefund(
            id=row.id,
            payment_id=row.payment_id,
            amount=Money(int(row.amount_in_cents), row.currency),
            created_at=row.created_at,
        )
        for row in rows
    ]


@contextmanager
def storage_errors() -> Iterator[None]:
    """Database faults become the port's errors (no SQLAlchemy exception crosses it)."""
    try:
        yield
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as error:
        if is_transient(error):
            raise GatewayUnavailable(
                f"the sandbox's storage is unavailable or busy ({describe(error)})"
            ) from None
        raise GatewayError(f"the sandbox's storage failed ({describe(error)})") from error


def is_duplicate(error: GatewayError) -> bool:
    """Whether ``storage_errors`` made ``error`` of a unique key's violation (a concurrent
    writer inserted the same row first)."""
    return isinstance(error.__cause__, sa_exc.IntegrityError)
