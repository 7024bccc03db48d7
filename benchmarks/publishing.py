"""Static publishing: nginx serving WEBMAGIC_PUBLISH_DIR, and how fresh it is.

    .venv/bin/python benchmarks/publishing.py                  # 1,000 sites, 10 s runs, 100 changes
    .venv/bin/python benchmarks/publishing.py --sites 10000 --rounds 3
    .venv/bin/python benchmarks/publishing.py --changes 0      # throughput only

What it does (figures in benchmarks/README.md):

1. Creates ``--sites`` preview sites (20 KB pages) on SQLite with WEBMAGIC_PUBLISH_DIR set
   and times ``PublishingWorker.rebuild`` (what ``webmagic publish all`` runs) writing them.
2. Starts one nginx (Debian's, one worker process, as this user with a temporary prefix)
   with two servers: the configuration ``webmagic publish nginx-config`` prints, and a
   bare ``server`` serving one static file of the same size as a published page. Drives
   both with the same load generator and settings, alternating, ``--rounds`` times:
   ``GET /{slug}`` over random slugs against ``GET /page.html``. Target: >= 90%, judged
   on nginx's CPU time per request (one file's / the folder's): requests/s swing by 2x
   between runs on a shared machine, CPU per request does not; both ratios are printed.
   wrk when it is on the PATH (``apt-get install -y wrk``), else a Python (httpx)
   client, whose own CPU use caps both sides equally (the ratio still means something;
   the absolute figures do not). nginx's CPU time per request is printed too: it does not
   depend on what else the machine runs.
3. Freshness: starts ``webmagic serve`` behind that nginx and, ``--changes`` times, starts
   a purchase through the API, pays it in the sandbox (the signed webhook the provider
   would send), POSTs that webhook to the app, and from the moment its 200 arrives polls
   the page through nginx until the preview banner is gone. Prints p50/p99/max of that
   delay. Target: p99 <= 1 s.

Load average (``/proc/loadavg``) is printed with the figures: other work on the machine
moves requests/s a lot. Everything it starts is stopped on the way out; the temporary
folder is removed.
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
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

PAGE_BYTES = 20_000
TARGET_RATIO = 0.90
TARGET_FRESH_S = 1.0
OFC_BASELINE = ""
BANNER = b"data-webmagic-banner"
SECRET_KEY = "publishing-benchmark-secret-key-of-more-than-32-bytes"


def page_html(number: int) -> str:
    name = f"Business {number}"
    head = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{name}</title>'
        '<link rel="stylesheet" href="styles.css"></head>\n<body><h1>' + name + "</h1>\n"
    )
    section = (
        "<section><h2>Fresh every morning</h2><p>Bread, pastries and coffee from six o'clock, "
        "baked on the premises with flour from the mill down the road.</p></section>\n"
    )
    body = head
    while len(body) + len(section) < PAGE_BYTES:
        body += section
    return body + "</body></html>\n"


def slug_of(number: int) -> str:
    return f"site-{number:05d}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def nginx_binary() -> str:
    for name in ("nginx", "/usr/sbin/nginx"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("nginx is not installed (apt-get install -y nginx-light)")


def env_for(data_dir: Path, publish_dir: Path, public_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBMAGIC_")}
    env.update(
        WEBMAGIC_DATA_DIR=str(data_dir),
        WEBMAGIC_PUBLISH_DIR=str(publish_dir),
        WEBMAGIC_PUBLIC_URL=public_url,
        WEBMAGIC_SECRET_KEY=SECRET_KEY,
        WEBMAGIC_LOG_LEVEL="WARNING",
        WEBMAGIC_BCRYPT_ROUNDS="4",
        # The purchase API is throttled per client address; the benchmark buys 100 sites.
        WEBMAGIC_PAGE_CACHE_BYTES=str(64 * 1024 * 1024),
    )
    return env


@contextmanager
def settings_env(env: dict[str, str]) -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("WEBMAGIC_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("WEBMAGIC_")})
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("WEBMAGIC_")]:
            del os.environ[key]
        os.environ.update(saved)


def create_and_publish(env: dict[str, str], count: int) -> tuple[float, float]:
    """``count`` previews through the real services, then the whole folder written as
    ``webmagic publish all`` does; the seconds each took."""
    from webmagic_adapters.bootstrap import bootstrap
    from webmagic_adapters.settings import load_settings
    from webmagic_adapters.static_folder import FolderPublisher
    from webmagic_core.sites import SiteContent

    with settings_env(env):
        container = bootstrap(load_settings())
    try:
        container.database.upgrade()
        started = time.perf_counter()
        for number in range(count):
            content = SiteContent(html=page_html(number), css="h1 { color: #1f2937; }")
            container.sites.create_preview(slug_of(number), f"Business {number}", content)
        created = time.perf_counter() - started
        assert container.publishing is not None
        started = time.perf_counter()
        publisher = container.publishing.publisher
        assert isinstance(publisher, FolderPublisher)
        with publisher.synced_at_the_end():  # as `webmagic publish all` does
            container.publishing.rebuild()
        published = time.perf_counter() - started
        with container.database.unit_of_work() as uow:  # rebuilt: the queued requests are moot
            from webmagic_adapters.sqlalchemy import tables

            uow.connection().execute(tables.publish_requests.delete())
            uow.commit()
        return created, published
    finally:
        container.close()


# --- nginx ---------------------------------------------------------------------------------


@dataclass
class Nginx:
    process: subprocess.Popen[bytes]
    prefix: Path

    def cpu_seconds(self) -> float:
        """User + system time of the master and its workers (clock ticks from /proc)."""
        total = 0
        pids = [self.process.pid]
        for child in Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split():
            pids.append(int(child))
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def nginx_running(prefix: Path, site_conf: str, static_root: Path, static_port: int) -> Iterator[Nginx]:
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").mkdir(exist_ok=True)
    (prefix / "webmagic.conf").write_text(site_conf)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/webmagic.conf;
    # The baseline: one static file of the same size, nothing else.
    server {{
        listen 127.0.0.1:{static_port};
        root {static_root};
{OFC_BASELINE}        location / {{ }}
    }}
}}
"""
    )
    log = (prefix / "logs" / "stdout.log").open("wb")
    process = subprocess.Popen(
        [nginx_binary(), "-p", str(prefix), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{static_port}/page.html", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((prefix / "logs" / "error.log").read_text()) from None
                time.sleep(0.05)
        yield Nginx(process, prefix)
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# --- load ----------------------------------------------------------------------------------


@dataclass
class Load:
    requests_per_s: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us: float = 0.0


def lua_script(path: Path, paths: Sequence[str]) -> Path:
    listed = ",".join(f'"{p}"' for p in paths)
    path.write_text(
        f"local paths = {{{listed}}}\nlocal n = #paths\nmath.randomseed({random.randrange(1 << 30)})\n"
        'request = function()\n  return wrk.format("GET", paths[math.random(n)])\nend\n'
    )
    return path


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def run_wrk(url: str, script: Path, duration: float, connections: int) -> Load:
    done = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    )
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if p99 is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return Load(rps, float(p99[1]) * _UNITS[p99[2]], int(total[1]), int(bad[1]) if bad else 0)


def run_python(url: str, paths: Sequence[str], duration: float, connections: int) -> Load:
    latencies: list[float] = []
    errors = 0

    async def run() -> float:
        nonlocal errors
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
            deadline = time.perf_counter() + duration

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    response = await client.get(random.choice(paths))
                    latencies.append(time.perf_counter() - started)
                    errors += response.status_code != 200

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            return time.perf_counter() - started

    elapsed = asyncio.run(run())
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    return Load(len(latencies) / elapsed, p99, len(latencies), errors)


def drive(
    nginx: Nginx, url: str, paths: Sequence[str], workdir: Path, name: str, args: argparse.Namespace
) -> Load:
    if args.client == "wrk":
        script = lua_script(workdir / f"{name}.lua", paths)
        run_wrk(url, script, args.warmup, args.connections)
        before = nginx.cpu_seconds()
        load = run_wrk(url, script, args.duration, args.connections)
    else:
        run_python(url, paths, args.warmup, args.connections)
        before = nginx.cpu_seconds()
        load = run_python(url, paths, args.duration, args.connections)
    load.cpu_us = (nginx.cpu_seconds() - before) / max(1, load.requests) * 1e6
    return load


# --- freshness -----------------------------------------------------------------------------


@contextmanager
def serve(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        str(Path(sys.executable).with_name("webmagic")),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(log.read_text()[-3000:])
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("webmagic serve did not start within 60 s")
            time.sleep(0.1)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def freshness(env: dict[str, str], app: str, front: str, slugs: Sequence[str]) -> list[float]:
    """Seconds from each purchase webhook's 200 to the sold page (no banner) through nginx."""
    from webmagic_adapters.bootstrap import bootstrap
    from webmagic_adapters.payments.sandbox import SandboxGateway
    from webmagic_adapters.settings import load_settings

    with settings_env(env):
        container = bootstrap(load_settings())
    delays: list[float] = []
    try:
        sandbox = container.gateway
        assert isinstance(sandbox, SandboxGateway)
        with httpx.Client(timeout=10) as http:
            for number, slug in enumerate(slugs):
                # A different client address per buyer: the purchase API is throttled per address.
                started = http.post(
                    f"{app}/api/v1/sites/{slug}/purchase",
                    json={"email": f"buyer{number}@example.com"},
                    headers={"X-Forwarded-For": f"198.51.{number // 250}.{number % 250 + 1}"},
                )
                started.raise_for_status()
                webhook = sandbox.pay(
                    started.json()["checkout_id"], customer_email=f"buyer{number}@example.com"
                )
                answer = http.post(
                    f"{app}/api/v1/webhooks/recurrente",
                    content=webhook.body,
                    headers={**webhook.headers, "content-type": "application/json"},
                )
                answered = time.perf_counter()
                if answer.status_code != 200:
                    raise RuntimeError(f"the webhook was answered {answer.status_code}: {answer.text}")
                while BANNER in http.get(f"{front}/{slug}").content:
                    if time.perf_counter() - answered > 30:
                        raise RuntimeError(f"{slug} still shows its banner 30 s after the purchase")
                delays.append(time.perf_counter() - answered)
    finally:
        container.close()
    return delays


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument(
        "--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python"
    )
    args = parser.parse_args()
    args.changes = min(args.changes, args.sites)

    # World-traversable: nginx's workers may run as another user (nobody, when root starts it).
    workdir = Path(tempfile.mkdtemp(prefix="webmagic-publish-bench-"))
    workdir.chmod(0o755)
    try:
        app_port, front_port, static_port = free_port(), free_port(), free_port()
        publish_dir = workdir / "published"
        env = env_for(workdir / "data", publish_dir, f"http://127.0.0.1:{app_port}")
        print(f"load average before: {loadavg()}  client: {args.client}")
        created, published = create_and_publish(env, args.sites)
        print(
            f"{args.sites} sites: created in {created:.1f} s, "
            f"published (publish all, one sync at the end) in {published:.1f} s "
            f"({published / args.sites * 1000:.2f} ms per site)"
        )
        page = (publish_dir / "sites" / slug_of(0) / "index.html").read_bytes()
        static_root = workdir / "static"
        static_root.mkdir(mode=0o755)
        (static_root / "page.html").write_bytes(page)
        (static_root / "page.html").chmod(0o644)
        # A second, fairer baseline: as many plain files as sites (each page's bytes, one
        # flat folder, no symlink, no lookup but the file's): what many files cost at all.
        for number in range(args.sites):
            target = static_root / f"{slug_of(number)}.html"
            shutil.copyfile(publish_dir / "sites" / slug_of(number) / "index.html", target)
            target.chmod(0o644)

        from webmagic_adapters.front_configs import Front, nginx_config

        front_conf = nginx_config(
            Front.of(
                publish_dir, f"127.0.0.1:{app_port}", public_url=env["WEBMAGIC_PUBLIC_URL"], sites_host=None
            ),
            f"127.0.0.1:{front_port}",
        )
        slugs = [slug_of(n) for n in range(args.sites)]
        with nginx_running(workdir / "nginx", front_conf, static_root, static_port) as nginx:
            front, bare = f"http://127.0.0.1:{front_port}", f"http://127.0.0.1:{static_port}"
            assert httpx.get(f"{front}/{slugs[0]}").content == page
            ratios: list[float] = []
            cpu_ratios: list[float] = []
            many_ratios: list[float] = []
            for round_number in range(1, args.rounds + 1):
                published_load = drive(nginx, front, [f"/{s}" for s in slugs], workdir, "published", args)
                static_load = drive(nginx, bare, ["/page.html"], workdir, "static", args)
                many_load = drive(nginx, bare, [f"/{s}.html" for s in slugs], workdir, "many", args)
                ratio = published_load.requests_per_s / static_load.requests_per_s
                ratios.append(ratio)
                cpu_ratio = static_load.cpu_us / published_load.cpu_us if published_load.cpu_us else 0.0
                cpu_ratios.append(cpu_ratio)
                many_ratios.append(published_load.requests_per_s / many_load.requests_per_s)
                print(
                    f"round {round_number}: published folder {published_load.requests_per_s:,.0f} req/s "
                    f"(p99 {published_load.p99_ms:.2f} ms, nginx {published_load.cpu_us:.1f} µs CPU/req, "
                    f"{published_load.errors} errors) | "
                    f"one static file {static_load.requests_per_s:,.0f} req/s "
                    f"(p99 {static_load.p99_ms:.2f} ms, nginx {static_load.cpu_us:.1f} µs CPU/req) | "
                    f"ratio {ratio:.0%} by req/s, {cpu_ratio:.0%} by CPU/req | "
                    f"{args.sites} plain files {many_load.requests_per_s:,.0f} req/s "
                    f"(nginx {many_load.cpu_us:.1f} µs CPU/req), ratio {many_ratios[-1]:.0%}  "
                    f"[load {loadavg()}]"
                )
            median = statistics.median(cpu_ratios)
            verdict = "meets" if median >= TARGET_RATIO else "MISSES"
            print(
                f"throughput: median {median:.0%} of one static file by nginx CPU per request "
                f"({verdict} the target of {TARGET_RATIO:.0%}); by req/s {statistics.median(ratios):.0%} "
                f"of one static file, {statistics.median(many_ratios):.0%} of {args.sites} plain static files"
            )

            if args.changes:
                with serve(env, app_port, workdir / "serve.log"):
                    delays = freshness(env, f"http://127.0.0.1:{app_port}", front, slugs[: args.changes])
                p99 = percentile(delays, 0.99)
                verdict = "meets" if p99 <= TARGET_FRESH_S else "MISSES"
                print(
                    f"freshness over {len(delays)} purchases (webhook 200 -> sold page through nginx): "
                    f"p50 {percentile(delays, 0.5) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
                    f"max {max(delays) * 1000:.1f} ms; {verdict} the target of {TARGET_FRESH_S:.0f} s "
                    f"[load {loadavg()}]"
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
