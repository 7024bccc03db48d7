"""Approve -> live: how long an owner waits between approving a draft and the next visitor
seeing it, over real HTTP against ``webmagic serve``, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/edits.py                     # 200 approvals, SQLite then PostgreSQL
    .venv/bin/python benchmarks/edits.py --approvals 50 --backend sqlite
    .venv/bin/python benchmarks/edits.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres

What it does (figures in benchmarks/README.md):

1. A bought site and its owner (a password, verified) are created in-process in a fresh
   SQLite file or a fresh PostgreSQL database; the server (the console script) runs on it.
2. The owner signs in through the API. Then, ``--approvals`` times: an edit is asked for
   and drafted in-process (an operator's draft, as the manual engine does; not measured);
   the page is fetched twice so the server's page cache holds the live version; then,
   measured, ``POST .../edits/{id}/approve`` and at once ``GET /{slug}``. The new page must
   be the one served (never the cached old one): a stale answer is counted and reported.
3. Prints p50/p95/p99/max of the approval call and of approve + next request, and the
   stale answers (target: none).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
from hosting import free_port, running, server_env, webmagic_command

SLUG = "bench-bakery"
EMAIL = "owner@example.com"
PASSWORD = "a long bench password 42"  # a throwaway account of the benchmark
PAGE = (
    "<!doctype html><html><head><title>Bench</title></head><body><h1>Bench Bakery</h1>{marker}</body></html>"
)


def prepare(env: dict[str, str]) -> None:
    """The site, bought by a verified owner with a password, on the database ``env`` names."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("WEBMAGIC_")})
    from webmagic_adapters.bootstrap import bootstrap
    from webmagic_adapters.settings import load_settings
    from webmagic_core.accounts.customers import Customer
    from webmagic_core.sites import Actor, SiteContent

    container = bootstrap(load_settings())
    try:
        container.database.upgrade()
        container.sites.create_preview(SLUG, "Bench Bakery", SiteContent(PAGE.format(marker="")))
        now = container.clock.now()
        owner = Customer.new(
            email=EMAIL, now=now, password_hash=container.hasher.hash(PASSWORD), verified=True
        )
        with container.database.unit_of_work() as uow:
            uow.customers.add(owner)
            site = uow.sites.get_by_slug(SLUG, for_update=True)
            assert site is not None
            site.sell(owner.id, cause="benchmark", actor=Actor.SYSTEM, at=now)
            uow.sites.save(site)
            uow.commit()
    finally:
        container.close()


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(name: str, env: dict[str, str], data_dir: Path, approvals: int) -> None:
    from webmagic_adapters.bootstrap import bootstrap
    from webmagic_adapters.settings import load_settings

    prepare(env)
    port = free_port()
    with running(name, webmagic_command(data_dir, port), env, port, data_dir) as server:
        client = httpx.Client(base_url=server.base_url, timeout=30)
        login = client.post("/api/v1/customer/login", json={"email": EMAIL, "password": PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        container = bootstrap(load_settings())
        site = container.sites.details(SLUG).site
        assert site.owner_id is not None
        approve_ms, live_ms, stale = [], [], 0
        try:
            for number in range(approvals):
                marker = f"<p>change {number} {uuid.uuid4().hex[:8]}</p>"
                edit = container.edits.request(site.owner_id, SLUG, f"Add change {number}").edit
                container.edits.operator_draft(
                    edit.id, {"index.html": PAGE.format(marker=marker)}, f"change {number}"
                )
                for _ in range(2):  # the live page, from the page cache the second time
                    client.get(f"/{SLUG}").raise_for_status()
                started = time.perf_counter()
                approved = client.post(
                    f"/api/v1/customer/sites/{SLUG}/edits/{edit.id}/approve", headers=headers
                )
                answered = time.perf_counter()
                approved.raise_for_status()
                page = client.get(f"/{SLUG}")
                done = time.perf_counter()
                if marker not in page.text:
                    stale += 1
                approve_ms.append((answered - started) * 1000)
                live_ms.append((done - started) * 1000)
        finally:
            container.close()
            client.close()
    print(f"\n{name}: {approvals} approvals")
    for label, values in (("approve call", approve_ms), ("approve + next GET", live_ms)):
        p50, p95, p99 = statistics.median(values), percentile(values, 0.95), percentile(values, 0.99)
        worst = max(values)
        print(f" {label:<19} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   p99 {p99:6.1f} ms   max {worst:6.1f} ms")
    print(f"  stale pages after approval: {stale} (target 0)")


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    import psycopg

    name = f"webmagic_bench_{uuid.uuid4().hex[:8]}"
    admin = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--approvals", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    base = {
        "WEBMAGIC_BCRYPT_ROUNDS": "4",  # the benchmark's own throwaway account
        "WEBMAGIC_EDITS_PER_MONTH": str(args.approvals + 10),
        "WEBMAGIC_OUTBOX_INTERVAL_SECONDS": "0",
        "WEBMAGIC_SWEEP_INTERVAL_SECONDS": "0",
        "WEBMAGIC_DOMAIN_CHECK_INTERVAL_SECONDS": "0",
    }
    with tempfile.TemporaryDirectory(prefix="webmagic-bench-edits-") as folder:
        if args.backend in ("sqlite", "both"):
            data_dir = Path(folder) / "sqlite"
            data_dir.mkdir()
            env = {**server_env(data_dir), **base}
            run("SQLite", env, data_dir, args.approvals)
        if args.backend in ("postgresql", "both"):
            data_dir = Path(folder) / "postgres"
            data_dir.mkdir()
            with postgres_database(args.postgres_url) as url:
                env = {**server_env(data_dir), **base, "WEBMAGIC_DATABASE_URL": url}
                run("PostgreSQL", env, data_dir, args.approvals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
