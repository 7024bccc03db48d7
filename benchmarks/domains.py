"""Custom-domain hosting: ``GET /`` by custom-domain ``Host`` against ``GET /{slug}`` for the
same sites, in the same server run, and ``/internal/tls/ask`` latency under that load.

    .venv/bin/python benchmarks/domains.py                  # 1,000 domains, 10 s per run
    .venv/bin/python benchmarks/domains.py --rounds 3 --duration 5

What it does (see benchmarks/README.md for the figures):

1. Creates ``--sites`` sites (20 KB pages, as ``hosting.py``) on SQLite, marks them bought
   (``owned``: served clean) and gives each a verified custom domain ``www.site-NNNNN.test``,
   in-process through the real repositories.
2. Starts the console script ``webmagic serve`` (domain re-verification off, so no DNS is
   asked during the runs), fetches every page once both ways (warm page cache; checks
   that the domain answers 200 with the site), then alternates, ``--rounds`` times: wrk
   (or the Python fallback) on ``GET /{slug}`` over random slugs, and on ``GET /`` with a
   random domain's ``Host``. Target: the Host runs reach >= 90% of the slug runs' requests/s.
3. During every Host run a separate client asks ``GET /internal/tls/ask?domain=...`` one
   request at a time (random known domains, and one unknown name in ten) and reports the
   p50/p99 of those answers.

No timed assertion lives in the test suite: this script is the place for numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from hosting import (
    SERVER_LOG_LEVEL,
    Driver,
    Load,
    Server,
    Targets,
    create_sites,
    describe,
    free_port,
    parse_wrk,
    running,
    server_env,
    slug_of,
    webmagic_command,
)

TARGET_HOST = 0.90


def domain_of(number: int) -> str:
    return f"www.{slug_of(number)}.test"


def attach_domains(data_dir: Path, count: int) -> float:
    """Every site bought and given a verified domain; returns the seconds it took."""
    from webmagic_adapters.bootstrap import bootstrap
    from webmagic_adapters.settings import load_settings
    from webmagic_adapters.sqlalchemy.domains_repository import domain_units_of_work
    from webmagic_core.domains.model import CustomDomain, Proof
    from webmagic_core.lifecycle import Trigger
    from webmagic_core.services.domains import new_token
    from webmagic_core.sites import Actor

    container = bootstrap(load_settings(data_dir=data_dir))
    uow = domain_units_of_work(container.database)
    started = time.perf_counter()
    try:
        for number in range(count):
            now = container.clock.now()
            with uow() as u:
                site = u.sites.get_by_slug(slug_of(number), for_update=True)
                assert site is not None
                site.apply(Trigger.PURCHASE_PAID, cause="benchmark", actor=Actor.SYSTEM, at=now)
                u.sites.save(site)
                domain = CustomDomain.new(
                    site_id=site.id, domain=domain_of(number), token=new_token(), now=now
                )
                domain.record_proof(Proof.FOUND, "benchmark", now=now, grace=dt.timedelta(0))
                u.domains.add(domain)
                u.commit()
    finally:
        container.close()
    return time.perf_counter() - started


def host_script(path: Path, hosts: Sequence[str]) -> Path:
    names = ",".join(f'"{host}"' for host in hosts)
    path.write_text(
        f"local hosts = {{{names}}}\n"
        "local n = #hosts\n"
        f"math.randomseed({random.randrange(1 << 30)})\n"
        "request = function()\n"
        '  return wrk.format("GET", "/", {["Host"] = hosts[math.random(n)]})\n'
        "end\n"
    )
    return path


def host_load(driver: Driver, server: Server, hosts: Sequence[str]) -> Load:
    """The Host run: wrk with a random ``Host`` per request, or the Python fallback."""
    if driver.use_wrk:
        import subprocess

        script = host_script(driver.workdir / "hosts.lua", hosts)

        def run(duration: float) -> Load:
            command = [
                "wrk",
                f"-t{driver.threads}",
                f"-c{driver.connections}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                "10s",
                "--latency",
                "-s",
                str(script),
                server.base_url,
            ]
            result = subprocess.run(
                command, capture_output=True, text=True, check=True, timeout=duration + 60
            )
            return parse_wrk(result.stdout)
    else:

        def run(duration: float) -> Load:
            return python_host_client(
                server.base_url, hosts, duration=duration, connections=driver.connections
            )

    if driver.warmup > 0:
        run(driver.warmup)
    cpu_before = server.cpu_seconds()
    load = run(driver.duration)
    load.cpu_us_per_request = (server.cpu_seconds() - cpu_before) / max(1, load.requests) * 1e6
    return load


def python_host_client(base_url: str, hosts: Sequence[str], *, duration: float, connections: int) -> Load:
    import asyncio

    latencies: list[float] = []
    received = errors = 0

    async def run() -> float:
        nonlocal received, errors
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10) as client:
            deadline = time.perf_counter() + duration

            async def worker() -> None:
                nonlocal received, errors
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    response = await client.get("/", headers={"Host": random.choice(hosts)})
                    latencies.append(time.perf_counter() - started)
                    received += len(response.content)
                    errors += response.status_code >= 400

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            return time.perf_counter() - started

    elapsed = asyncio.run(run())
    latencies.sort()
    return Load(
        requests_per_s=len(latencies) / elapsed,
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        bytes_per_request=received / max(1, len(latencies)),
        errors=errors,
        client="python",
        requests=len(latencies),
    )


class Asker(threading.Thread):
    """Caddy's side: ``/internal/tls/ask`` one request at a time while the load runs."""

    def __init__(self, base_url: str, hosts: Sequence[str]) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.hosts = hosts
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.wrong = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while not self.stop.is_set():
                unknown = random.random() < 0.1
                name = f"nope-{random.randrange(10**6)}.test" if unknown else random.choice(self.hosts)
                started = time.perf_counter()
                response = client.get("/internal/tls/ask", params={"domain": name})
                self.latencies.append(time.perf_counter() - started)
                self.wrong += response.status_code != (404 if unknown else 200)
                time.sleep(0.005)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000 if ordered else 0.0


def warm_and_check(base_url: str, slugs: Sequence[str], hosts: Sequence[str]) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for slug, host in zip(slugs, hosts, strict=True):
            by_slug = client.get(f"/{slug}")
            by_host = client.get("/", headers={"Host": host})
            if by_slug.status_code != 200 or by_host.status_code != 200:
                raise RuntimeError(
                    f"{slug}: /{slug} {by_slug.status_code}, Host {host} {by_host.status_code}"
                )
            if by_host.content.replace(b'"/', f'"/{slug}/'.encode()) != by_slug.content:
                raise RuntimeError(f"{host} does not serve the page of /{slug}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=1000, help="sites, each with a verified domain (1000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (10)")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of unmeasured load before each (2)"
    )
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating slug/Host run pairs (2)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="webmagic-bench-domains-"))
    try:
        driver = Driver(args.duration, args.warmup, args.connections, args.threads, workdir, args.client)
        print(f"load generator: {'wrk' if driver.use_wrk else 'Python httpx client (install wrk)'}")
        print(f"{args.connections} connections, {args.duration:g} s per run, {os.cpu_count()} CPUs")
        data_dir = workdir / "data"
        seconds = create_sites(data_dir, args.sites) + attach_domains(data_dir, args.sites)
        print(f"created {args.sites} owned sites with a verified domain each in {seconds:.1f} s")
        slugs = [slug_of(n) for n in range(args.sites)]
        hosts = [domain_of(n) for n in range(args.sites)]
        logs = workdir / "logs"
        logs.mkdir()
        env = server_env()
        env["WEBMAGIC_DOMAIN_CHECK_INTERVAL_SECONDS"] = "0"
        env["WEBMAGIC_SWEEP_INTERVAL_SECONDS"] = "0"
        port = free_port()
        slug_runs: list[Load] = []
        host_runs: list[Load] = []
        asks: list[Asker] = []
        with running("webmagic", webmagic_command(data_dir, port), env, port, logs) as server:
            warm_and_check(server.base_url, slugs, hosts)
            for number in range(1, args.rounds + 1):
                slug_runs.append(driver.load(server, Targets(slugs)))
                asker = Asker(server.base_url, hosts)
                asker.start()
                host_runs.append(host_load(driver, server, hosts))
                asker.stop.set()
                asker.join()
                asks.append(asker)
                print(f"round {number}")
                print(f"  GET /{{slug}}            {describe(slug_runs[-1])}")
                print(f"  GET / by Host          {describe(host_runs[-1])}")
                print(
                    f"  /internal/tls/ask      {len(asker.latencies)} asks during the Host run: "
                    f"p50 {asker.percentile(0.5):.2f} ms, p99 {asker.percentile(0.99):.2f} ms, "
                    f"{asker.wrong} wrong answers"
                )
        slug_rps = statistics.median(load.requests_per_s for load in slug_runs)
        host_rps = statistics.median(load.requests_per_s for load in host_runs)
        ratio = host_rps / slug_rps
        verdict = "met" if ratio >= TARGET_HOST else "MISSED"
        print(f"\nmedian over {args.rounds} round(s), server log level {SERVER_LOG_LEVEL}")
        print(f"  GET /{{slug}}   {slug_rps:,.0f} req/s")
        print(
            f"  GET / by Host {host_rps:,.0f} req/s = {ratio:.0%} of the slug route "
            f"(target >= 90%: {verdict})"
        )
        all_asks = Asker(server.base_url, hosts)
        all_asks.latencies = [latency for asker in asks for latency in asker.latencies]
        print(
            f"  tls/ask under load: p50 {all_asks.percentile(0.5):.2f} ms, "
            f"p99 {all_asks.percentile(0.99):.2f} ms over {len(all_asks.latencies)} asks"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
