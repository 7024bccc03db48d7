"""The saga both sales share: hold a site for one buyer, then open a checkout for the hold.

1. One transaction locks the site row (``SiteRepository.get_by_slug(for_update=True)``),
   lets the sale decide under that lock (``claim``: expire stale holds, refuse, hand an
   open checkout back, or insert a new pending hold) and commits.
2. Outside any transaction, so a slow provider never holds a lock or a pooled connection,
   the checkout is created. If that fails the hold is released (``release``: failed or
   expired, so the site is free again) and the error raised.
3. A second transaction attaches the checkout to the hold.

Purchases (``PurchaseService.start``) and subscriptions (``SubscriptionService.start``)
run it with their own records and rules.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import attrs

from webmagic_core.errors import NotFound, WebMagicError
from webmagic_core.payments.gateway import CheckoutRequest, PaymentGateway
from webmagic_core.ports import Clock, UnitOfWork, UnitOfWorkFactory
from webmagic_core.sites import Site

log = logging.getLogger(__name__)


class HoldRecord(Protocol):
    """A pending purchase or subscription: what holds the site while its checkout is open."""

    @property
    def id(self) -> uuid.UUID: ...

    def attach_checkout(self, checkout_id: str, checkout_url: str, now: dt.datetime) -> None: ...


R = TypeVar("R", bound=HoldRecord)


class HoldRecords(Protocol[R]):
    def add(self, record: R, /) -> None: ...

    def get(self, record_id: uuid.UUID, /, *, for_update: bool = False) -> R | None: ...

    def save(self, record: R, /) -> None: ...


@attrs.frozen
class Claim(Generic[R]):
    """What a sale decided under the site's lock. ``new``: ``record`` is a new hold to
    insert and open a checkout for; otherwise ``record`` is the buyer's open hold, handed
    back as it is. Either way what the sale changed meanwhile (stale holds expired) is
    committed."""

    record: R
    new: bool


@attrs.frozen
class Refusal:
    """The site cannot be held now: ``error`` is raised once the stale holds the sale
    expired meanwhile are committed."""

    error: WebMagicError


@attrs.frozen
class Held(Generic[R]):
    """The hold (with its checkout attached, when ``new``), the site it holds, and when it
    was claimed."""

    record: R
    site: Site
    new: bool
    claimed_at: dt.datetime


@attrs.frozen
class HeldCheckouts(Generic[R]):
    """One sale's way through the saga (see the module doc)."""

    uow: UnitOfWorkFactory
    clock: Clock
    gateway: PaymentGateway
    # The sale's repository inside a unit of work (``uow.purchases``, ``uow.subscriptions``).
    records: Callable[[UnitOfWork], HoldRecords[R]]
    # Mark a hold whose checkout could not be created as over (given why); False when it
    # no longer holds anything (nothing to save).
    release: Callable[[R, dt.datetime, str], bool]

    def open(
        self,
        slug: str,
        claim: Callable[[UnitOfWork, Site | None, dt.datetime], Claim[R] | Refusal],
        request: Callable[[Site, R], CheckoutRequest],
    ) -> Held[R]:
        """Run the saga for the site ``slug``: ``claim`` decides under the site's lock,
        ``request`` says what checkout a new hold needs. Raises what ``claim`` raises or
        refuses with, and the gateway's error when the checkout cannot be created."""
        now = self.clock.now()
        with self.uow() as uow:
            site = uow.sites.get_by_slug(slug, for_update=True)
            claimed = claim(uow, site, now)
            if isinstance(claimed, Refusal):
                uow.commit()
                raise claimed.error
            if site is None:  # pragma: no cover - a claim without a site is a bug
                raise NotFound(f"no site has the slug {slug!r}")
            if claimed.new:
                self.records(uow).add(claimed.record)
            uow.commit()
        if not claimed.new:
            return Held(claimed.record, site, new=False, claimed_at=now)

        record = claimed.record
        try:
            checkout = self.gateway.create_checkout(request(site, record))
        except Exception as error:
            self._release(record.id, error)
            raise

        with self.uow() as uow:
            records = self.records(uow)
            current = records.get(record.id, for_update=True)
            if current is None:  # pragma: no cover - holds are never deleted
                raise NotFound(f"{record.id} vanished")
            current.attach_checkout(checkout.id, checkout.url, self.clock.now())
            records.save(current)
            uow.commit()
        return Held(current, site, new=True, claimed_at=now)

    def _release(self, record_id: uuid.UUID, error: Exception) -> None:
        """The checkout could not be created: end the hold, so the site is free again."""
        detail = error.detail if isinstance(error, WebMagicError) else type(error).__name__
        try:
            with self.uow() as uow:
                records = self.records(uow)
                record = records.get(record_id, for_update=True)
                if record is not None and self.release(record, self.clock.now(), detail):
                    records.save(record)
                    uow.commit()
        except Exception:
            # The original error is the one to report; the hold lapses by itself.
            log.exception("could not release the hold %s", record_id)
