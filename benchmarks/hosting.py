"""Hosting throughput, latency and memory: ``webmagic serve`` against a bare Litestar route.

    .venv/bin/python benchmarks/hosting.py                        # 1,000 / 10,000 / 100,000 sites, SQLite
    .venv/bin/python benchmarks/hosting.py --database postgresql  # the same on PostgreSQL
    .venv/bin/python benchmarks/hosting.py --sizes 1000 --duration 5

What it does, for each size (see benchmarks/README.md for how to read the figures):

1. Creates a fresh database (SQLite in a temporary data folder, or the PostgreSQL
   database ``--postgres-url`` names, dropped and created again) with that many preview
   sites (20 KB of HTML each). Up to ``--services-limit`` sites they are created one by one
   through ``SiteService.create_preview`` (a transaction each, as ``webmagic sites
   import`` does); above it through the bulk path (``create_bulk``): the preparation
   and rendering by the same service (``prepare``,
   ``render_banner``) of one site, the others' bytes derived from it by replacing the
   slug and name and hashed again (checked equal to ``SiteService``'s on a sample),
   written 2,000 sites at a time as multi-row inserts into the same tables. Prints the
   time and rate.
2. Starts the real console script, ``webmagic serve``, and drives it with ``wrk`` on
   loopback: ``GET /{slug}`` over random slugs (200), then the same with the matching
   ``If-None-Match`` (304). The ETags are read from the database (what the heads carry)
   and a sample is checked against the server's answers first.
3. Starts ``benchmarks/bare_app.py`` -- an ordinary Litestar handler answering the same
   bytes from memory -- under the same ASGI server with the same settings (through
   ``webmagic_cli.serve.run_server``, which ``webmagic serve`` itself uses), and drives it
   the same way: the framework's ceiling, in the same run.
4. Prints requests/s, p99 and the server's CPU time per request of each, the ratios
   against the targets (GET >= 70% of the bare route, 304 >= 90%, both by requests/s and
   by CPU per request), and the server's peak RSS (``VmHWM`` of the server process and
   its children; target <= 200 MB at 100,000 sites).

Without ``wrk`` on the PATH it falls back to a bounded Python client (httpx), whose own
CPU use caps the figures: install wrk (``apt-get install -y wrk``) for real numbers.
Everything it starts is stopped on the way out, also on Ctrl+C; the data folder is removed
unless ``--keep DIR`` keeps it (and the PostgreSQL database, named ``<name>_<size>``) for
the next run with the same ``--keep``, which reuses them instead of creating the sites again.
No timed assertion lives in the test suite: this script is the place for numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attrs
import httpx
from sqlalchemy import create_engine, insert, make_url, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from webmagic_adapters.bootstrap import Container, bootstrap
from webmagic_adapters.settings import Settings, load_settings
from webmagic_adapters.sqlalchemy import tables
from webmagic_adapters.sqlalchemy.sites_repository import event_row
from webmagic_core.pages import PageVariant, RenderedPage, clean_page
from webmagic_core.services.sites import SiteService
from webmagic_core.site_files import PreparedFiles, digest_of
from webmagic_core.sites import Actor, Site, SiteContent, VersionCause

HERE = Path(__file__).resolve().parent
PAGE_BYTES = 20_000
SERVER_LOG_LEVEL = "warning"  # both servers: no access log, the usual production choice
TARGET_GET = 0.70
TARGET_304 = 0.90
TARGET_RSS_MB = 200
STARTUP_TIMEOUT_S = 180


# --- the data ------------------------------------------------------------------------


def page_html(number: int) -> str:
    """A plausible generated page of about ``PAGE_BYTES`` bytes."""
    name = f"Business {number}"
    head = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{name}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="styles.css"><script src="app.js" defer></script></head>\n'
        f'<body><header><h1>{name}</h1><nav><a href="#about">About</a> <a href="#contact">Contact</a>'
        "</nav></header>\n<main>\n"
    )
    tail = '</main>\n<footer id="contact"><p>Call us: 555-0100</p></footer></body></html>\n'
    section = (
        "<section><h2>Fresh every morning</h2><p>Bread, pastries and coffee from six o'clock, "
        "baked on the premises with flour from the mill down the road. Order a cake two days "
        "ahead and we will write anything you like on it.</p></section>\n"
    )
    body = head
    while len(body) + len(section) + len(tail) <= PAGE_BYTES:
        body += section
    return body + tail


def slug_of(number: int) -> str:
    return f"site-{number:05d}"


def content_of(number: int) -> SiteContent:
    return SiteContent(html=page_html(number), css="h1 { color: #1f2937; }", js="")


def fresh_database(database: str, data_dir: Path, postgres_url: str) -> str | None:
    """The database URL for a new, empty database (None: SQLite in ``data_dir``)."""
    if database == "sqlite":
        return None
    url = make_url(postgres_url)
    name = url.database
    admin = url.set(database="postgres").set(drivername="postgresql+psycopg")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return url.render_as_string(hide_password=False)


def settings_for(data_dir: Path, database_url: str | None) -> Settings:
    if database_url is None:
        return load_settings(data_dir=data_dir, public_url=PUBLIC_URL)
    return load_settings(data_dir=data_dir, database_url=database_url, public_url=PUBLIC_URL)


def create_sites(settings: Settings, count: int, *, bulk: bool) -> float:
    """``count`` preview sites; returns the seconds it took (migrations not included)."""
    container = bootstrap(settings)
    try:
        container.database.upgrade()
        started = time.perf_counter()
        if bulk:
            create_bulk(container, count)
        else:
            for number in range(count):
                container.sites.create_preview(slug_of(number), f"Business {number}", content_of(number))
        return time.perf_counter() - started
    finally:
        container.close()


Prepared = tuple[PreparedFiles, RenderedPage, bytes]


def prepare_with_services(sites: SiteService, number: int) -> Prepared:
    """What ``create_preview`` computes for site ``number``: its files as served and its
    banner page."""
    slug = slug_of(number)
    prepared = sites.prepare(slug, content_of(number))
    rendered = sites.render_banner(slug, f"Business {number}", prepared)
    assert rendered is not None
    return prepared, *rendered


class TemplatePreparer:
    """The bulk path's preparation: the generated sites differ only in their slug and
    business name, so site 0 is prepared by ``SiteService`` (rewriting, banner) and every
    other site's bytes are site 0's with the slug and name replaced, then hashed again.
    ``check`` compares that, for a sample of sites, with what ``SiteService`` computes."""

    def __init__(self, sites: SiteService) -> None:
        self._sites = sites
        self._template = prepare_with_services(sites, 0)

    @staticmethod
    def _swap(body: bytes, number: int) -> bytes:
        return body.replace(slug_of(0).encode(), slug_of(number).encode()).replace(
            b"Business 0<", f"Business {number}<".encode()
        )

    def prepare(self, number: int) -> Prepared:
        prepared, page, banner = self._template
        bodies: dict[str, bytes] = {}
        files = []
        for file in prepared.files:
            digests = []
            for digest in (file.digest, file.slug_digest, file.root_digest):
                body = self._swap(prepared.bodies[digest], number)
                bodies[digest_of(body)] = body
                digests.append(digest_of(body))
            size = len(self._swap(prepared.bodies[file.digest], number))
            files.append(
                attrs.evolve(
                    file, digest=digests[0], slug_digest=digests[1], root_digest=digests[2], size=size
                )
            )
        body = self._swap(banner, number)
        return (
            PreparedFiles(files=tuple(files), bodies=bodies),
            attrs.evolve(page, digest=digest_of(body)),
            body,
        )

    def check(self, numbers: Sequence[int]) -> None:
        for number in numbers:
            fast, slow = self.prepare(number), prepare_with_services(self._sites, number)
            if (fast[0].files, fast[1], fast[2]) != (slow[0].files, slow[1], slow[2]):
                raise RuntimeError(f"the bulk path does not prepare site {number} as SiteService does")


def create_bulk(container: Container, count: int, batch: int = 2000) -> None:
    """The bulk path: sites prepared by ``TemplatePreparer`` (checked against
    ``SiteService`` on a sample) and written ``batch`` at a time as multi-row inserts into
    the tables the repository writes (sites, their first event, version, files, bodies,
    rendered pages) -- the rows ``create_preview`` writes, without a statement per row."""
    preparer = TemplatePreparer(container.sites)
    preparer.check(random.sample(range(count), min(5, count)))
    engine = container.database.engine
    blob_insert = (sqlite_insert if engine.dialect.name == "sqlite" else postgresql_insert)(tables.blobs)
    for start in range(0, count, batch):
        now = container.clock.now()
        rows: dict[str, list[dict[str, Any]]] = {
            "sites": [],
            "events": [],
            "versions": [],
            "files": [],
            "pages": [],
            "blobs": [],
        }
        for number in range(start, min(count, start + batch)):
            prepared, page, body = preparer.prepare(number)
            site = Site.new_preview(
                slug=slug_of(number),
                business_name=f"Business {number}",
                now=now,
                actor=Actor.ADMIN,
                cause="bulk",
            )
            rows["sites"].append(
                {
                    "id": site.id,
                    "slug": site.slug,
                    "business_name": site.business_name,
                    "status": site.status.value,
                    "current_version": 1,
                    "created_at": now,
                    "updated_at": now,
                    "owner_id": None,
                    "purchased_at": None,
                }
            )
            rows["events"] += [event_row(event) for event in site.pending_events]
            rows["versions"].append(
                {
                    "site_id": site.id,
                    "number": 1,
                    "cause": VersionCause.IMPORT.value,
                    "note": "bulk",
                    "created_by": Actor.ADMIN.value,
                    "created_at": now,
                    "edit_id": None,
                    "restored_from": None,
                }
            )
            rows["files"] += [
                {"site_id": site.id, "number": 1, **attrs.asdict(file)} for file in prepared.files
            ]
            clean = clean_page(prepared.files)
            assert clean is not None
            rows["pages"] += [
                {
                    "site_id": site.id,
                    "number": 1,
                    "variant": p.variant.value,
                    "digest": p.digest,
                    "render_key": p.key,
                }
                for p in (clean, page)
            ]
            rows["blobs"] += [
                {"digest": digest, "size": len(data), "data": data}
                for digest, data in {**prepared.bodies, page.digest: body}.items()
            ]
        unique_blobs = list({row["digest"]: row for row in rows["blobs"]}.values())
        with engine.begin() as connection:
            connection.execute(blob_insert.on_conflict_do_nothing(index_elements=["digest"]), unique_blobs)
            connection.execute(insert(tables.sites), rows["sites"])
            connection.execute(insert(tables.site_events), rows["events"])
            connection.execute(insert(tables.site_versions), rows["versions"])
            connection.execute(insert(tables.site_version_files), rows["files"])
            connection.execute(insert(tables.rendered_pages), rows["pages"])


def stored_etags(settings: Settings, slugs: Sequence[str]) -> list[str]:
    """The ETag each site's head carries (its stored page's digest)."""
    container = bootstrap(settings)
    try:
        query = select(tables.sites.c.slug, tables.rendered_pages.c.digest).join(
            tables.rendered_pages,
            (tables.rendered_pages.c.site_id == tables.sites.c.id)
            & (tables.rendered_pages.c.number == tables.sites.c.current_version)
            & (tables.rendered_pages.c.variant == PageVariant.BANNER.value),
        )
        with container.database.engine.connect() as connection:
            digests: dict[str, str] = dict(connection.execute(query).all())
        return [f'"{digests[slug]}"' for slug in slugs]
    finally:
        container.close()


# --- servers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def descendants(self) -> list[int]:
        """The server's pid and every child's, grandchildren included."""
        pids, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            pids.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    queue.extend(int(child) for child in (task / "children").read_text().split())
                except OSError:
                    continue
        return pids

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the server's processes (all threads)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.descendants():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        return total

    def peak_rss_mb(self) -> tuple[float, float]:
        """(sum over the processes, largest single process) of ``VmHWM``, in MB."""
        peaks = []
        for pid in self.descendants():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if match:
                peaks.append(int(match.group(1)) / 1024)
        return (sum(peaks), max(peaks)) if peaks else (0.0, 0.0)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT to the server's process group (a clean shutdown), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGINT, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def running(
    name: str, command: Sequence[str], env: dict[str, str], port: int, logs: Path
) -> Iterator[Server]:
    log = logs / f"{name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=HERE, start_new_session=True
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer /healthz within {STARTUP_TIMEOUT_S} s")
            time.sleep(0.1)
        yield server
    finally:
        stop(process)
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            print(f"warning: {name} logged an error:\n{text[-2000:]}", file=sys.stderr)


# The public URL the sites are created under and served with: the preview banner's
# purchase link names it, so a server started with another one (``webmagic serve``
# defaults to its own address) would first render every banner again.
PUBLIC_URL = "http://127.0.0.1:8000"


def server_env(data_dir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBMAGIC_", "BENCH_"))}
    env["WEBMAGIC_LOG_LEVEL"] = SERVER_LOG_LEVEL
    env["WEBMAGIC_PUBLIC_URL"] = PUBLIC_URL
    if data_dir is not None:
        env["WEBMAGIC_DATA_DIR"] = str(data_dir)
    return env


def webmagic_command(data_dir: Path, port: int, database_url: str | None = None) -> list[str]:
    script = Path(sys.executable).with_name("webmagic")
    command = [str(script), "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]
    return command + (["--database-url", database_url] if database_url else [])


def bare_command(port: int) -> list[str]:
    # The same launcher as `webmagic serve`, so server, loop, HTTP parser and settings match.
    code = (
        "from webmagic_cli.serve import ServerOptions, run_server; "
        f"run_server('bare_app:create_app', ServerOptions(host='127.0.0.1', port={port}, "
        f"log_level={SERVER_LOG_LEVEL!r}))"
    )
    return [sys.executable, "-c", code]


# --- load ----------------------------------------------------------------------------


@dataclass
class Load:
    requests_per_s: float
    p99_ms: float
    bytes_per_request: float
    errors: int
    client: str
    requests: int
    cpu_us_per_request: float = 0.0  # the server's CPU time per answered request


@dataclass
class Targets:
    slugs: list[str]
    etags: list[str] = field(default_factory=list)


def fetch_all(base_url: str, slugs: Sequence[str]) -> tuple[list[str], bytes]:
    """GET every slug once (ETags; warms the page cache); returns the ETags and one body."""

    async def run() -> tuple[list[str], bytes]:
        etags = [""] * len(slugs)
        body = b""
        limits = httpx.Limits(max_connections=8)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
            queue = list(enumerate(slugs))

            async def worker() -> None:
                nonlocal body
                while queue:
                    index, slug = queue.pop()
                    response = await client.get(f"/{slug}")
                    if response.status_code != 200:
                        raise RuntimeError(f"GET /{slug} answered {response.status_code}")
                    etags[index] = response.headers["etag"]
                    if index == 0:
                        body = response.content

            await asyncio.gather(*(worker() for _ in range(8)))
        return etags, body

    return asyncio.run(run())


def check_conditional(base_url: str, targets: Targets, samples: int = 20) -> None:
    """The 304 run is only meaningful if the ETags do match: check a sample first."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for index in random.sample(range(len(targets.slugs)), min(samples, len(targets.slugs))):
            response = client.get(f"/{targets.slugs[index]}", headers={"If-None-Match": targets.etags[index]})
            if response.status_code != 304:
                raise RuntimeError(f"expected 304 for /{targets.slugs[index]}, got {response.status_code}")


def lua_script(path: Path, targets: Targets, *, conditional: bool) -> Path:
    paths = ",".join(f'"/{slug}"' for slug in targets.slugs)
    etags = ",".join("'" + etag + "'" for etag in targets.etags) if conditional else ""
    path.write_text(
        f"local paths = {{{paths}}}\n"
        f"local etags = {{{etags}}}\n"
        "local n = #paths\n"
        f"math.randomseed({random.randrange(1 << 30)})\n"
        "request = function()\n"
        "  local i = math.random(n)\n"
        + (
            '  return wrk.format("GET", paths[i], {["If-None-Match"] = etags[i]})\n'
            if conditional
            else '  return wrk.format("GET", paths[i])\n'
        )
        + "end\n"
    )
    return path


_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_UNITS_B = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_wrk(output: str) -> Load:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    total = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB|TB) read", output)
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if p99 is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    errors = int(non_ok.group(1)) if non_ok else 0
    if socket_errors:
        errors += sum(int(group) for group in socket_errors.groups())
    return Load(
        requests_per_s=rps,
        p99_ms=float(p99.group(1)) * _UNITS_S[p99.group(2)] * 1000,
        bytes_per_request=float(total.group(2)) * _UNITS_B[total.group(3)] / max(1, int(total.group(1))),
        errors=errors,
        client="wrk",
        requests=int(total.group(1)),
    )


def run_wrk(base_url: str, script: Path, *, duration: float, connections: int, threads: int) -> Load:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        base_url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60)
    return parse_wrk(result.stdout)


def run_python_client(
    base_url: str, targets: Targets, *, conditional: bool, duration: float, connections: int
) -> Load:
    """The fallback load generator: ``connections`` clients for ``duration`` seconds (and
    at most 500,000 requests), each sending one request at a time."""
    latencies: list[float] = []
    received = 0
    errors = 0
    cap = 500_000

    async def run() -> float:
        nonlocal received, errors
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10) as client:
            deadline = time.perf_counter() + duration

            async def worker() -> None:
                nonlocal received, errors
                while time.perf_counter() < deadline and len(latencies) < cap:
                    i = random.randrange(len(targets.slugs))
                    headers = {"If-None-Match": targets.etags[i]} if conditional else {}
                    started = time.perf_counter()
                    response = await client.get(f"/{targets.slugs[i]}", headers=headers)
                    latencies.append(time.perf_counter() - started)
                    received += len(response.content)
                    if response.status_code >= 400:
                        errors += 1

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


@dataclass
class Driver:
    duration: float
    warmup: float
    connections: int
    threads: int
    workdir: Path
    client: str = "auto"
    use_wrk: bool = field(init=False)

    def __post_init__(self) -> None:
        have_wrk = shutil.which("wrk") is not None
        if self.client == "wrk" and not have_wrk:
            raise SystemExit("wrk is not on the PATH (apt-get install -y wrk), or use --client python")
        self.use_wrk = have_wrk and self.client != "python"

    def load(self, server: Server, targets: Targets, *, conditional: bool = False) -> Load:
        """Warm up, then one measured run; also notes the server's CPU time per request
        (less sensitive than requests/s to other programs competing for the CPUs)."""
        if self.use_wrk:
            name = "conditional" if conditional else "plain"
            script = lua_script(
                self.workdir / f"{name}-{len(targets.slugs)}.lua", targets, conditional=conditional
            )

            def run(duration: float) -> Load:
                return run_wrk(
                    server.base_url,
                    script,
                    duration=duration,
                    connections=self.connections,
                    threads=self.threads,
                )
        else:

            def run(duration: float) -> Load:
                return run_python_client(
                    server.base_url,
                    targets,
                    conditional=conditional,
                    duration=duration,
                    connections=self.connections,
                )

        if self.warmup > 0:
            run(self.warmup)
        cpu_before = server.cpu_seconds()
        load = run(self.duration)
        load.cpu_us_per_request = (server.cpu_seconds() - cpu_before) / max(1, load.requests) * 1e6
        return load


# --- the benchmark -------------------------------------------------------------------


@dataclass
class Round:
    bare: Load
    get: Load
    conditional: Load
    rss_mb: tuple[float, float]
    processes: int


def webmagic_round(
    driver: Driver, settings: Settings, slugs: list[str], logs: Path, *, warm: bool = False
) -> tuple[Load, Load, tuple[float, float], int, bytes]:
    port = free_port()
    command = webmagic_command(settings.data_dir, port, settings.database_url)
    with running("webmagic", command, server_env(), port, logs) as server:
        targets = Targets(slugs, stored_etags(settings, slugs))
        _, body = fetch_all(server.base_url, slugs[:1])
        check_conditional(server.base_url, targets)
        if warm:  # the steady state: every page read once (and its body copied to disk)
            started = time.perf_counter()
            fetch_all(server.base_url, slugs)
            print(f"  (every site read once before measuring: {time.perf_counter() - started:.0f} s)")
        get = driver.load(server, targets)
        conditional = driver.load(server, targets, conditional=True)
        rss = server.peak_rss_mb()
        processes = len(server.descendants())
    return get, conditional, rss, processes, body


def bare_load(driver: Driver, body_file: Path, slugs: list[str], logs: Path) -> Load:
    port = free_port()
    env = server_env()
    env["BENCH_BODY_FILE"] = str(body_file)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")]))
    with running("bare", bare_command(port), env, port, logs) as server:
        return driver.load(server, Targets(slugs))


def describe(load: Load) -> str:
    size = f"{load.bytes_per_request / 1024:5.1f} KB/resp"
    errors = f"  ERRORS: {load.errors}" if load.errors else ""
    cpu = f"{load.cpu_us_per_request:5.0f} µs CPU/req"
    return f"{load.requests_per_s:9.0f} req/s   p99 {load.p99_ms:7.2f} ms   {cpu}   ({size}){errors}"


def verdict(ratio: float, target: float) -> str:
    return f"{ratio:6.1%} (target >= {target:.0%}: {'met' if ratio >= target else 'MISSED'})"


def print_round(number: int, result: Round, size: int) -> None:
    total, largest = result.rss_mb
    print(f"round {number}: {size:,} sites, load average {os.getloadavg()[0]:.1f}")
    print(f"  bare Litestar route     {describe(result.bare)}")
    print(f"  GET /{{slug}} (200)       {describe(result.get)}")
    print(f"  GET /{{slug}} (304)       {describe(result.conditional)}")
    bare = result.bare.requests_per_s
    print(f"  GET / bare               {verdict(result.get.requests_per_s / bare, TARGET_GET)}")
    print(f"  304 / bare               {verdict(result.conditional.requests_per_s / bare, TARGET_304)}")
    # The same comparison by the server's CPU time per request: requests/s follow it
    # when the server is the bottleneck, and it moves less when other programs compete.
    bare_cpu = result.bare.cpu_us_per_request
    if result.get.cpu_us_per_request and result.conditional.cpu_us_per_request:
        print(
            f"  by server CPU/request    GET {bare_cpu / result.get.cpu_us_per_request:.1%}, "
            f"304 {bare_cpu / result.conditional.cpu_us_per_request:.1%} of the bare route's capacity"
        )
    ok = "met" if total <= TARGET_RSS_MB else "MISSED"
    print(
        f"  webmagic peak RSS        {total:.0f} MB over {result.processes} process(es), "
        f"largest {largest:.0f} MB (target <= {TARGET_RSS_MB} MB: {ok})"
    )


def page_bodies_on_disk(data_dir: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(data_dir / "page-bodies"))


def prepare_size(
    args: argparse.Namespace, workdir: Path, size: int
) -> tuple[Path, Settings, tuple[float, str] | None]:
    """The data folder and settings for ``size`` sites, and (seconds, how) when they were
    created now; None when a kept one was reused (``--keep``)."""
    postgres_url = args.postgres_url
    if args.keep is None:
        data_dir = workdir / f"data-{size}"
    else:
        data_dir = args.keep.resolve() / f"{args.database}-{size}"
        url = make_url(postgres_url)
        postgres_url = url.set(database=f"{url.database}_{size}").render_as_string(hide_password=False)
        marker = data_dir / "bench-sites"
        if marker.exists() and marker.read_text().strip() == str(size):
            database_url = None if args.database == "sqlite" else postgres_url
            return data_dir, settings_for(data_dir, database_url), None
        shutil.rmtree(data_dir, ignore_errors=True)
    settings = settings_for(data_dir, fresh_database(args.database, data_dir, postgres_url))
    bulk = size > args.services_limit
    seconds = create_sites(settings, size, bulk=bulk)
    if args.keep is not None:
        (data_dir / "bench-sites").write_text(f"{size}\n")
    how = (
        "bulk path: TemplatePreparer, multi-row inserts of 2,000 sites"
        if bulk
        else "SiteService.create_preview, one by one"
    )
    return data_dir, settings, (seconds, how)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="site counts, comma-separated (1000,10000,100000)"
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/webmagic_bench",
        help="the PostgreSQL database to drop and create for each size",
    )
    parser.add_argument(
        "--services-limit",
        type=int,
        default=10_000,
        help="create up to this many sites one by one through SiteService, more by the bulk path (10000)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (10)")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of unmeasured load before each (2)"
    )
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1: the server keeps a core)")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep each size's data folder (and PostgreSQL database, <name>_<size>) under this "
        "folder, and reuse them on the next run with the same --keep (creating 100,000 sites "
        "takes minutes); the local disk copy of page bodies is kept too, so a second run "
        "measures it warm",
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="GET every site once before measuring (the steady state of a server that has "
        "served every page once: on PostgreSQL, every body's disk copy written)",
    )
    parser.add_argument(
        "--client",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator (auto: wrk when installed, else the Python client)",
    )
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="webmagic-bench-"))
    try:
        driver = Driver(args.duration, args.warmup, args.connections, args.threads, workdir, args.client)
        client = "wrk" if driver.use_wrk else "Python httpx client (install wrk for real figures)"
        print(f"load generator: {client}; database: {args.database}")
        print(
            f"{args.connections} connections, {args.duration:g} s per run after {args.warmup:g} s "
            f"of warm-up, {os.cpu_count()} CPUs, server log level {SERVER_LOG_LEVEL}, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        logs = workdir / "logs"
        logs.mkdir()
        body_file = workdir / "page.html"
        for number, size in enumerate(sizes, 1):
            data_dir, settings, created = prepare_size(args, workdir, size)
            if created is None:
                on_disk = page_bodies_on_disk(data_dir)
                print(f"\n{size:,} sites: reusing {data_dir} ({on_disk:,} page bodies on disk)")
            else:
                seconds, how = created
                print(
                    f"\n{size:,} sites ({len(page_html(0)) / 1000:.0f} KB of HTML each) "
                    f"created in {seconds:.1f} s "
                    f"({size / seconds:.0f} sites/s, {how}; load average {os.getloadavg()[0]:.1f})"
                )
            slugs = [slug_of(n) for n in range(size)]
            get, conditional, rss, processes, body = webmagic_round(
                driver, settings, slugs, logs, warm=args.warm
            )
            body_file.write_bytes(body)
            bare = bare_load(driver, body_file, slugs, logs)
            print_round(number, Round(bare, get, conditional, rss, processes), size)
            if args.database == "sqlite" and args.keep is None:
                shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
