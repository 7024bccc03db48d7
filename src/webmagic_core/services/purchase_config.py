"""How purchases are configured: price, hold, limits, and the signed return pages."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from urllib.parse import urlencode

import attrs

from webmagic_core.payments.purchases import DEFAULT_HOLD
from webmagic_core.services.accounts import Limit
from webmagic_core.services.sale_config import SaleConfig, positive_duration

# The purchase pages (thank-you, cancelled) live under this reserved prefix of the public URL.

PURCHASE_PAGES = "/purchase"
SITE_HELD = "someone else is buying this site right now; try again in {minutes} minute(s)"
NOT_FOR_SALE = "this site is not for sale any more"


@attrs.frozen
class PurchaseLimits:
    """How often one address, and one client (IP), may start a purchase, and how many
    sites each may hold at once."""

    per_email: Limit = attrs.field(factory=lambda: Limit(5, dt.timedelta(hours=1)))
    per_client: Limit = attrs.field(factory=lambda: Limit(20, dt.timedelta(hours=1)))
    holds_per_email: int = 2
    holds_per_client: int = 3


TOO_MANY_HOLDS = "you are already buying {count} site(s); finish or leave those checkouts first"
RECONCILE_LOOKBACK = dt.timedelta(days=3)


@attrs.frozen
class PurchaseConfig(SaleConfig):
    hold: dt.timedelta = attrs.field(default=DEFAULT_HOLD, validator=positive_duration)
    limits: PurchaseLimits = PurchaseLimits()
    # Signs the return pages' links (derived from the secret key by the composition root).
    return_key: bytes = attrs.field(factory=lambda: secrets.token_bytes(32), repr=False)
    # How far back reconciliation looks at closed holds and the provider's checkout list.
    lookback: dt.timedelta = attrs.field(default=RECONCILE_LOOKBACK, validator=positive_duration)

    def return_token(self, purchase_id: uuid.UUID) -> str:
        """A token only the checkout's return URLs carry: they alone show or change it."""
        digest = hmac.new(self.return_key, f"purchase-return:{purchase_id}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def valid_return_token(self, purchase_id: uuid.UUID, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.return_token(purchase_id), token)

    def _query(self, purchase_id: uuid.UUID) -> str:
        return urlencode({"purchase": str(purchase_id), "token": self.return_token(purchase_id)})

    def thanks_url(self, slug: str, purchase_id: uuid.UUID) -> str:
        return f"{self.public_url}{PURCHASE_PAGES}/{slug}/thanks?{self._query(purchase_id)}"

    def cancel_url(self, slug: str, purchase_id: uuid.UUID) -> str:
        return f"{self.public_url}{PURCHASE_PAGES}/{slug}/cancelled?{self._query(purchase_id)}"


@attrs.frozen
class CheckoutStarted:
    purchase_id: uuid.UUID
    checkout_id: str
    checkout_url: str
    expires_at: dt.datetime
