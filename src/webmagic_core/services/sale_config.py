"""What the purchase and subscription configurations share."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode, urlsplit

import attrs

from webmagic_core.money import Money
from webmagic_core.payments.subscriptions import DEFAULT_CHECKOUT_HOLD


def base_url(value: str) -> str:
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"a base URL must be an absolute http(s) URL without query, not {value!r}")
    return url


def positive_duration(_: object, attribute: attrs.Attribute[dt.timedelta], value: dt.timedelta) -> None:
    if value <= dt.timedelta(0):
        raise ValueError(f"{attribute.name} must be positive, not {value}")


@attrs.frozen
class SaleConfig:
    price: Money
    public_url: str = attrs.field(converter=base_url)  # WEBMAGIC_PUBLIC_URL
    sites_base_url: str = attrs.field(converter=base_url)  # where sites are served
    # Hosting included with a purchase (WEBMAGIC_OWNED_HOSTING_DAYS); 0 or less: an owned
    # site without a subscription is never suspended.
    owned_hosting_days: int = 30

    def site_url(self, slug: str) -> str:
        return f"{self.sites_base_url}/{slug}"

    def included_hosting_end(self, purchased_at: dt.datetime) -> dt.datetime | None:
        """Until when a site bought then is served without a subscription (None: always)."""
        if self.owned_hosting_days <= 0:
            return None
        return purchased_at + dt.timedelta(days=self.owned_hosting_days)


# The customer's subscription page in the portal: return URLs and email links lead there.
PORTAL_SITES = "/portal/sites"


@attrs.frozen
class SubscriptionConfig(SaleConfig):
    """``price`` is the monthly one (WEBMAGIC_SUBSCRIPTION_PRICE_CENTS + currency)."""

    checkout_hold: dt.timedelta = attrs.field(default=DEFAULT_CHECKOUT_HOLD, validator=positive_duration)

    def manage_url(self, slug: str) -> str:
        """The portal page of a site's subscription (start, status, cancel)."""
        return f"{self.public_url}{PORTAL_SITES}/{slug}/subscription"

    def success_url(self, slug: str, subscription_id: uuid.UUID) -> str:
        query = urlencode({"checkout": "done", "subscription": str(subscription_id)})
        return f"{self.manage_url(slug)}?{query}"

    def cancel_url(self, slug: str, subscription_id: uuid.UUID) -> str:
        query = urlencode({"checkout": "cancelled", "subscription": str(subscription_id)})
        return f"{self.manage_url(slug)}?{query}"
