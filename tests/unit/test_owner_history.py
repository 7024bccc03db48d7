"""``OwnerHistoryService``: an owner sees their own site's past; anyone else's site, an
archived or an unknown one is the same ``NotFound``."""

from __future__ import annotations

import uuid

import pytest

from webmagic_core.errors import NotFound
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.subscriptions import Subscription
from webmagic_core.services.owner_history import OwnerHistoryService
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import Actor, SiteContent
from webmagic_core.testing import FakeClock, FakeUnitOfWorkFactory

ROSA, ANA = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
def uow() -> FakeUnitOfWorkFactory:
    factory = FakeUnitOfWorkFactory()
    clock = FakeClock()
    sites = SiteService(uow=factory, clock=clock)
    sites.create_preview("sunrise-bakery", "Sunrise Bakery", SiteContent(html="<h1>Hi</h1>"))
    sites.create_preview("casa-ana", "Casa Ana", SiteContent(html="<h1>Hola</h1>"))
    with factory() as work:
        for slug, owner in (("sunrise-bakery", ROSA), ("casa-ana", None)):
            site = work.sites.get_by_slug(slug, for_update=True)
            assert site is not None
            if owner is not None:
                site.sell(owner, cause="paid", actor=Actor.WEBHOOK, at=clock.now())
            work.sites.save(site)
            subscription = Subscription.new(
                site_id=site.id, customer_id=owner or ANA, amount=Money(9500, "USD"), now=clock.now()
            )
            work.subscriptions.add(subscription)
        work.commit()
    return factory


def test_the_owner_gets_transitions_versions_and_subscriptions_of_the_site(
    uow: FakeUnitOfWorkFactory,
) -> None:
    found = OwnerHistoryService(uow, FakeClock()).for_owner(ROSA, "sunrise-bakery")
    assert found.site.slug == "sunrise-bakery"
    assert [(e.from_status, e.to_status) for e in found.events] == [
        (None, SiteStatus.PREVIEW),
        (SiteStatus.PREVIEW, SiteStatus.OWNED),
    ]
    assert [v.number for v in found.versions] == [1]
    assert [s.site_id for s in found.subscriptions] == [found.site.id]
    # The current subscription, as the subscription service picks it (an open checkout here).
    assert found.subscription is not None
    assert found.subscription.subscription == found.subscriptions[0]


@pytest.mark.parametrize(
    ("customer", "slug"),
    [(ANA, "sunrise-bakery"), (ANA, "casa-ana"), (ROSA, "casa-ana"), (ROSA, "no-such-site")],
)
def test_anyone_elses_or_nobodys_site_is_not_found(
    uow: FakeUnitOfWorkFactory, customer: uuid.UUID, slug: str
) -> None:
    with pytest.raises(NotFound) as info:
        OwnerHistoryService(uow, FakeClock()).for_owner(customer, slug)
    assert info.value.detail == f"no site has the slug {slug!r}"


def test_an_archived_site_is_not_found(uow: FakeUnitOfWorkFactory) -> None:
    with uow() as work:
        site = work.sites.get_by_slug("sunrise-bakery", for_update=True)
        assert site is not None
        site.status = SiteStatus.ARCHIVED
        work.sites.save(site)
        work.commit()
    with pytest.raises(NotFound):
        OwnerHistoryService(uow, FakeClock()).for_owner(ROSA, "sunrise-bakery")
