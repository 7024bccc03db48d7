"""``GET /api/v1/sites/{slug}``: what anyone may know about a site (to offer it for sale)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from litestar import get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from webmagic_core.errors import NotFound
from webmagic_core.lifecycle import ServeMode, SiteStatus
from webmagic_core.money import Money
from webmagic_core.services.sites import SiteService
from webmagic_core.slugs import is_valid_slug, shown
from webmagic_http.problems import problem_spec


@dataclass(frozen=True, slots=True)
class Price:
    amount_in_cents: int
    currency: str


@dataclass(frozen=True, slots=True)
class SiteInfo:
    slug: str
    business_name: str
    status: str
    purchasable: bool
    price: Price
    # While a buyer holds the site (its checkout is open): not purchasable until then.
    held_until: dt.datetime | None = None


def site_info_routes(
    sites: SiteService,
    price: Money,
    *,
    offload: bool,
    held_until: Callable[[uuid.UUID], dt.datetime | None] | None = None,
) -> Sequence[HTTPRouteHandler]:
    @get(
        "/api/v1/sites/{slug:str}",
        sync_to_thread=offload,
        tags=["sites"],
        summary="Public information about a site",
        responses={404: problem_spec("No live site has this slug")},
    )
    def site_info(slug: FromPath[str]) -> SiteInfo:
        resolution = sites.resolve(slug) if is_valid_slug(slug) else None
        if resolution is None or resolution.mode is ServeMode.NOT_FOUND or resolution.site is None:
            raise NotFound(f"no site has the slug {shown(slug)}")
        site = resolution.site
        preview = site.status is SiteStatus.PREVIEW
        held = held_until(site.id) if preview and held_until is not None else None
        return SiteInfo(
            slug=site.slug,
            business_name=site.business_name,
            status=site.status.value,
            purchasable=preview and held is None,
            price=Price(amount_in_cents=price.amount_in_cents, currency=price.currency),
            held_until=held,
        )

    return [site_info]
