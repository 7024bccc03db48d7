"""HTTP tests run the real app on a migrated SQLite file in ``tmp_path``.

``make_app(**settings)`` builds a container and app for given settings (containers are
closed at teardown); ``client`` is a ready ``TestClient`` on the default settings.
Sites are created through ``SiteService`` (fixture ``create_site``) and moved with
``Site.apply`` inside a unit of work (``move_site``), as the payment flows will do later;
the route between two statuses is found in the core's transition table, so the tests
never re-derive the lifecycle. ``site_content`` is what ``create_site`` stores.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from content_support import content
from litestar import Litestar
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container, bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_core.lifecycle import TRANSITIONS, SiteStatus, Trigger
from webmagic_core.sites import Actor, Site, SiteContent
from webmagic_core.testing import FakeClock
from webmagic_http.app import create_app


def _create_site(
    container: Container, slug: str, status: SiteStatus = SiteStatus.PREVIEW, name: str = "Sunrise Bakery"
) -> Site:
    site = container.sites.create_preview(slug, name, content(name))
    if status is not SiteStatus.PREVIEW:
        _move(container, slug, status)
    return site


def triggers_between(start: SiteStatus, goal: SiteStatus) -> list[Trigger]:
    """The shortest list of triggers the transition table allows from ``start`` to ``goal``."""
    routes: dict[SiteStatus, list[Trigger]] = {start: []}
    queue = deque([start])
    while queue:
        status = queue.popleft()
        if status is goal:
            return routes[status]
        for (source, trigger), target in TRANSITIONS.items():
            if source is status and target not in routes:
                routes[target] = [*routes[status], trigger]
                queue.append(target)
    raise AssertionError(f"the lifecycle has no way from {start} to {goal}")


def _move(container: Container, slug: str, status: SiteStatus) -> None:
    """Take the site from its current status to ``status``, one recorded transition at a time."""
    with container.database.unit_of_work() as uow:
        site = uow.sites.get_by_slug(slug, for_update=True)
        assert site is not None
        for trigger in triggers_between(site.status, status):
            site.apply(trigger, cause=f"test: {trigger.value}", actor=Actor.SYSTEM, at=container.clock.now())
        uow.sites.save(site)
        uow.commit()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No WEBMAGIC_* variable or .env file of the developer's leaks into the tests."""
    for name in list(os.environ):
        if name.startswith("WEBMAGIC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


MakeContainer = Callable[..., Container]
MakeApp = Callable[..., tuple[Litestar, Container]]


@pytest.fixture
def make_container(tmp_path: Path) -> Iterator[MakeContainer]:
    """Containers on ``tmp_path/data`` (one SQLite file shared by all of them), migrated."""
    made: list[Container] = []

    def make(**overrides: Any) -> Container:
        overrides.setdefault("data_dir", tmp_path / "data")
        container = bootstrap(load_settings(**overrides), clock=FakeClock())
        container.database.upgrade()
        made.append(container)
        return container

    yield make
    for container in made:
        container.close()


@pytest.fixture
def make_app(make_container: MakeContainer) -> MakeApp:
    def make(**overrides: Any) -> tuple[Litestar, Container]:
        container = make_container(**overrides)
        return create_app(container), container

    return make


@pytest.fixture
def container(make_container: MakeContainer) -> Container:
    return make_container()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(container)) as test_client:
        yield test_client


@pytest.fixture
def site_content() -> SiteContent:
    return content()


@pytest.fixture
def create_site() -> Callable[..., Site]:
    """``create_site(container, slug, status=PREVIEW, name=...)``."""
    return _create_site


@pytest.fixture
def move_site() -> Callable[[Container, str, SiteStatus], None]:
    """``move_site(container, slug, status)``: apply the triggers leading there."""
    return _move
