"""``get_by_slug(for_update=True)`` serializes writers to one site: SELECT ... FOR UPDATE on
PostgreSQL, BEGIN IMMEDIATE on SQLite. Two publishes never pick the same version number."""

from __future__ import annotations

import threading
import time

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import SiteContent
from webmagic_core.testing import FakeClock


def service(database: Database) -> SiteService:
    return SiteService(uow=database.unit_of_work, clock=FakeClock())


def test_a_second_writer_waits_for_the_lock_and_builds_on_the_first(database: Database) -> None:
    sites = service(database)
    site = sites.create_preview("rosas-bakery", "Rosa's Bakery", SiteContent("<p>v1</p>"))
    published: list[int] = []
    errors: list[BaseException] = []

    def publish_in_background() -> None:
        try:
            published.append(sites.publish("rosas-bakery", SiteContent("<p>from the thread</p>")).number)
        except BaseException as error:
            errors.append(error)

    with database.unit_of_work() as first:
        locked = first.sites.get_by_slug("rosas-bakery", for_update=True)
        assert locked is not None
        second = threading.Thread(target=publish_in_background)
        second.start()
        second.join(timeout=0.3)
        assert second.is_alive(), "the second writer did not wait for the lock"
        # The lock holder publishes version 2 the way SiteService.publish does.
        locked.current_version = 2
        first.sites.save(locked)
        first.commit()
    second.join(timeout=10)

    assert errors == []
    assert published == [3]
    details = sites.details("rosas-bakery")
    assert details.site.id == site.id
    assert details.site.current_version == 3
    assert [v.number for v in details.versions] == [3, 1]  # 2 was never added by the lock holder


def test_concurrent_publishes_all_succeed_with_consecutive_versions(database: Database) -> None:
    sites = service(database)
    sites.create_preview("joes-pizza", "Joe's Pizza", SiteContent("<p>v1</p>"))
    writers = 2
    barrier = threading.Barrier(writers)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def publish(index: int) -> None:
        try:
            barrier.wait()
            numbers.append(sites.publish("joes-pizza", SiteContent(f"<p>writer {index}</p>")).number)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(writers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert time.monotonic() - started < 30

    assert errors == []
    assert sorted(numbers) == [2, 3]
    details = sites.details("joes-pizza")
    assert details.site.current_version == 3
    assert [v.number for v in details.versions] == [3, 2, 1]
    html = {v.number: sites.text_files(details.site.id, v.number)["index.html"] for v in details.versions}
    assert {html[2], html[3]} == {"<p>writer 0</p>", "<p>writer 1</p>"}
