"""Static publishing behind real front servers.

``webmagic publish nginx-config`` passes ``nginx -t`` (Debian's nginx-light; ``.ci/run``
installs it) and ``webmagic publish caddyfile`` passes ``caddy adapt``; then real nginx
runs on loopback (as this user, a temporary prefix, free ports) in front of a real
``webmagic serve`` writing WEBMAGIC_PUBLISH_DIR: a published page comes from the disk (the
app's bytes exactly), the API passes through, a site without files falls back to the app
(503 suspended, 404 archived or unknown), a verified custom domain is served from its
host folder, and a change committed by another process reaches the disk.
Without nginx (or caddy) these tests are skipped locally and fail in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx")
SECRET_KEY = "publishing-front-test-secret-key-of-more-than-32-bytes"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _tool(names: tuple[str, ...], package: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if _in_ci():
        pytest.fail(f"{names[0]} is not installed; CI must run this test (apt-get install {package})")
    pytest.skip(f"{names[0]} is not installed (set CI=true to make this a failure)")


@pytest.fixture
def nginx() -> str:
    return _tool(NGINX_CANDIDATES, "nginx-light")


@pytest.fixture
def caddy() -> str:
    return _tool(("caddy",), "caddy")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def webmagic(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("webmagic")), *args]


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A folder nginx's workers (``nobody`` when the test runs as root) can traverse:
    pytest's tmp_path lives under an owner-only folder."""
    path = Path(tempfile.mkdtemp(prefix="webmagic-publish-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def base_env(data_dir: Path, publish_dir: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBMAGIC_")}
    env.update(
        WEBMAGIC_DATA_DIR=str(data_dir),
        WEBMAGIC_PUBLISH_DIR=str(publish_dir),
        WEBMAGIC_SECRET_KEY=SECRET_KEY,
        WEBMAGIC_BCRYPT_ROUNDS="4",
        WEBMAGIC_LOG_LEVEL="WARNING",
        **more,
    )
    return env


def nginx_conf(prefix: Path, site_conf: str) -> Path:
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").mkdir(exist_ok=True)
    (prefix / "webmagic.conf").write_text(site_conf)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/webmagic.conf;
}}
"""
    )
    return conf


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(webmagic(*args), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("sites_domain", [None, "sites.webmagic.test"])
def test_the_nginx_config_passes_nginx_t(
    nginx: str, tmp_path: Path, world_readable_dir: Path, sites_domain: str | None
) -> None:
    extra = {"WEBMAGIC_SITES_DOMAIN": sites_domain} if sites_domain else {}
    env = base_env(tmp_path / "data", world_readable_dir, **extra)
    config = cli(env, "publish", "nginx-config", "--listen", "127.0.0.1:8080", "--upstream", "127.0.0.1:8000")
    assert "server 127.0.0.1:8000;" in config
    assert f'root "{world_readable_dir}/sites";' in config
    assert f'root "{world_readable_dir}/hosts/$host";' in config
    assert "if (" not in config  # nothing looked up per request but the file served
    assert "try_files" not in config
    assert ("Content-Security-Policy" in config) is (sites_domain is None)  # sandboxed: shared origin
    conf = nginx_conf(tmp_path / "nginx", config)
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path / "nginx"), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "[warn]" not in checked.stderr.replace('the "user" directive', ""), checked.stderr


def test_bad_addresses_are_refused_in_one_line(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data", tmp_path / "published")
    done = subprocess.run(
        webmagic("publish", "nginx-config", "--listen", "nowhere", "--upstream", "127.0.0.1:8000"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "--listen must be HOST:PORT" in done.stderr
    env.pop("WEBMAGIC_PUBLISH_DIR")
    done = subprocess.run(
        webmagic("publish", "all"), env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "WEBMAGIC_PUBLISH_DIR is not set" in done.stderr


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


@pytest.mark.parametrize("listen", [None, "127.0.0.1:8081"])
def test_the_caddyfile_adapts_and_asks_the_app(
    caddy: str, tmp_path: Path, world_readable_dir: Path, listen: str | None
) -> None:
    env = base_env(tmp_path / "data", world_readable_dir, WEBMAGIC_SITES_DOMAIN="sites.webmagic.test")
    args = ["publish", "caddyfile", "--upstream", "127.0.0.1:8000", "--email", "ops@webmagic.test"]
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(cli(env, *args, *(["--listen", listen] if listen else [])))
    done = subprocess.run(
        [caddy, "adapt", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"level":"warn"' not in done.stderr, done.stderr
    nodes = _walk(json.loads(done.stdout))
    assert [node["ask"] for node in nodes if "ask" in node] == ["http://127.0.0.1:8000/internal/tls/ask"]
    proxies = [node for node in nodes if node.get("handler") == "reverse_proxy"]
    assert proxies
    assert all(p["upstreams"] == [{"dial": "127.0.0.1:8000"}] for p in proxies)
    servers = [node for node in nodes if node.get("handler") == "file_server"]
    assert servers
    roots = {node["root"] for node in nodes if node.get("handler") == "vars" and "root" in node}
    assert roots == {str(world_readable_dir)}
    if listen is None:
        assert any(node.get("on_demand") is True for node in nodes)


# -- real nginx in front of a real server ----------------------------------------------


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def eventually(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def in_process(env: dict[str, str], script: str) -> None:
    """Run ``script`` with a container of these settings (``c``) in another process:
    changes committed there reach the server only through the database."""
    prelude = f"""
import os
os.environ.update({json.dumps({k: v for k, v in env.items() if k.startswith("WEBMAGIC_")})})
from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_core.sites import Actor, SiteContent
c = bootstrap(load_settings())
"""
    done = subprocess.run(
        [sys.executable, "-c", prelude + script + "\nc.close()\n"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


MOVE = """
from collections import deque
from webmagic_adapters.sqlalchemy.domains_repository import domain_units_of_work
from webmagic_core.lifecycle import SiteStatus, TRANSITIONS
from webmagic_core.services.publishing import request_publish

def move(slug, goal):
    with c.database.unit_of_work() as u:
        site = u.sites.get_by_slug(slug, for_update=True)
        routes, queue = {site.status: []}, deque([site.status])
        while queue:
            status = queue.popleft()
            for (source, trigger), target in TRANSITIONS.items():
                if source is status and target not in routes:
                    routes[target] = [*routes[status], trigger]
                    queue.append(target)
        for trigger in routes[goal]:
            site.apply(trigger, cause="test", actor=Actor.SYSTEM, at=c.clock.now())
        u.sites.save(site)
        request_publish(u, site.id, c.clock.now())
        u.commit()
"""


def test_nginx_serves_published_sites_and_falls_back_to_the_app(
    nginx: str, tmp_path: Path, world_readable_dir: Path
) -> None:
    app_port, front_port = free_port(), free_port()
    publish_dir = world_readable_dir / "published"
    env = base_env(
        tmp_path / "data",
        publish_dir,
        WEBMAGIC_PUBLIC_URL=f"http://127.0.0.1:{app_port}",
        WEBMAGIC_PUBLISH_INTERVAL_SECONDS="0.2",
    )
    cli(env, "db", "upgrade")
    page = (
        '<!doctype html><html><head><link rel="stylesheet" href="styles.css"></head>'
        "<body><h1>{}</h1></body></html>"
    )
    logo = '<svg xmlns="http://www.w3.org/2000/svg"/>'
    in_process(
        env,
        "from webmagic_core.site_files import FileLimits, SiteFiles\n"
        + "\n".join(
            f"c.sites.create_preview({slug!r}, {slug!r}.title(), SiteFiles.build("
            f"{{'index.html': {page.format(slug)!r}.encode(), 'styles.css': b'h1{{}}', "
            f"'img/logo.svg': {logo!r}.encode()}}, FileLimits()))"
            for slug in ("sunrise-bakery", "corner-cafe", "old-shop", "quiet-shop")
        ),
    )
    config = cli(
        env,
        "publish",
        "nginx-config",
        "--listen",
        f"127.0.0.1:{front_port}",
        "--upstream",
        f"127.0.0.1:{app_port}",
    )
    conf = nginx_conf(tmp_path / "nginx", config)
    serve = webmagic("serve", "--host", "127.0.0.1", "--port", str(app_port))
    app_url, front = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{front_port}"
    with (
        running(serve, env, tmp_path / "serve.log") as server,
        running([nginx, "-p", str(tmp_path / "nginx"), "-c", str(conf)], env, tmp_path / "nginx.log"),
        httpx.Client(timeout=10) as http,
    ):

        def ready() -> bool:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                return http.get(f"{front}/readyz").status_code == 200
            except httpx.HTTPError:
                return False

        eventually(ready, "the server and nginx answer")
        # The server publishes what was queued before it started.
        index = publish_dir / "sites" / "sunrise-bakery" / "index.html"
        eventually(index.is_file, "the previews are published at start-up")

        # A published page comes from the disk, byte for byte what the app serves.
        from_front = http.get(f"{front}/sunrise-bakery")
        from_app = http.get(f"{app_url}/sunrise-bakery")
        assert from_front.status_code == 200
        assert from_front.content == from_app.content == index.read_bytes()
        assert b"data-webmagic-banner" in from_front.content
        assert from_front.headers["etag"] != from_app.headers["etag"]  # nginx's, not the app's
        # A preview says noindex in its own head (nginx looks nothing up per request); the
        # app's own answer also sends the header.
        assert b'<meta name="robots" content="noindex">' in from_front.content
        assert from_app.headers["x-robots-tag"] == "noindex"
        assert (publish_dir / "sites" / "sunrise-bakery").is_dir()
        assert not (publish_dir / "sites" / "sunrise-bakery").is_symlink()
        assert from_front.headers["content-type"] == "text/html; charset=utf-8"
        assert from_front.headers["content-security-policy"] == from_app.headers["content-security-policy"]
        assert from_front.headers["cache-control"] == "no-cache"
        assert http.get(f"{front}/sunrise-bakery/").content == from_app.content
        css_front = http.get(f"{front}/sunrise-bakery/styles.css?v=1")
        assert css_front.content == http.get(f"{app_url}/sunrise-bakery/styles.css").content
        assert css_front.headers["content-type"] == "text/css; charset=utf-8"
        assert "immutable" in css_front.headers["cache-control"]
        # Conditional requests work from the disk too.
        again = http.get(f"{front}/sunrise-bakery", headers={"if-none-match": from_front.headers["etag"]})
        assert again.status_code == 304
        # Files in folders are served; a folder itself, a hidden path, a file that is not
        # there and a POST to a file are the app's to answer, as without nginx.
        logo = http.get(f"{front}/sunrise-bakery/img/logo.svg")
        assert logo.content == http.get(f"{app_url}/sunrise-bakery/img/logo.svg").content
        assert logo.headers["content-type"] == "image/svg+xml"
        assert logo.headers["cache-control"] == "no-cache"
        for path in ("img", "img/", "img/nothing.png", ".webmagic-preview", "index.html/"):
            through = http.get(f"{front}/sunrise-bakery/{path}")
            direct = http.get(f"{app_url}/sunrise-bakery/{path}")
            assert (through.status_code, through.content) == (direct.status_code, direct.content), path
            assert "location" not in through.headers, path
        assert http.get(f"{front}/sunrise-bakery/index.html").content == from_app.content
        posted = http.post(f"{front}/sunrise-bakery/styles.css", content=b"x")
        assert (
            posted.status_code == http.post(f"{app_url}/sunrise-bakery/styles.css", content=b"x").status_code
        )

        # The API passes through.
        info = http.get(f"{front}/api/v1/sites/sunrise-bakery")
        assert info.status_code == 200
        assert info.json()["slug"] == "sunrise-bakery"
        assert http.get(f"{front}/internal/tls/ask", params={"domain": "x.example"}).status_code == 404

        # Changes committed by another process reach the disk; without files the app answers.
        in_process(
            env,
            MOVE
            + """
move("corner-cafe", SiteStatus.OWNED)
move("quiet-shop", SiteStatus.SUSPENDED)
c.sites.archive("old-shop")
""",
        )
        eventually(
            lambda: b"data-webmagic-banner" not in http.get(f"{front}/corner-cafe").content,
            "the sold site is published clean",
        )
        sold = http.get(f"{front}/corner-cafe")
        assert "x-robots-tag" not in sold.headers
        assert sold.headers["etag"] != http.get(f"{app_url}/corner-cafe").headers["etag"]
        eventually(
            lambda: not (publish_dir / "sites" / "quiet-shop").exists(), "the suspended site is withdrawn"
        )
        suspended = http.get(f"{front}/quiet-shop")
        assert suspended.status_code == 503
        assert suspended.headers["retry-after"]
        eventually(
            lambda: not (publish_dir / "sites" / "old-shop").exists(), "the archived site is withdrawn"
        )
        assert http.get(f"{front}/old-shop").status_code == 404
        assert http.get(f"{front}/no-such-site").status_code == 404

        # A verified custom domain is served at its root, from its host folder.
        in_process(
            env,
            MOVE
            + """
from webmagic_core.domains.model import CustomDomain, DomainStatus
move("corner-cafe", SiteStatus.ACTIVE)
with domain_units_of_work(c.database)() as u:
    site = u.sites.get_by_slug("corner-cafe")
    domain = CustomDomain.new(site_id=site.id, domain="cafe.example", token="t" * 43, now=c.clock.now())
    domain.status = DomainStatus.VERIFIED
    u.domains.add(domain)
    request_publish(u, site.id, c.clock.now())
    u.commit()
""",
        )
        host_page = publish_dir / "hosts" / "cafe.example" / "index.html"
        eventually(host_page.is_file, "the domain is published")
        by_host = http.get(f"{front}/", headers={"host": "cafe.example"})
        assert by_host.status_code == 200
        assert by_host.content == http.get(f"{app_url}/", headers={"host": "cafe.example"}).content
        assert (
            by_host.headers["etag"]
            != http.get(f"{app_url}/", headers={"host": "cafe.example"}).headers["etag"]
        )
        assert http.get(f"{front}/", headers={"host": "unknown.example"}).status_code == 404

        # `publish all` rebuilds and removes strays, while everything runs.
        stray = publish_dir / "sites" / "stray"
        stray.mkdir()
        (stray / "index.html").write_text("not ours")
        output = subprocess.run(
            webmagic("publish", "all"), env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert output.returncode == 0, output.stderr
        assert "2 sites published" in output.stdout
        assert not stray.exists()
        assert http.get(f"{front}/stray").status_code == 404
        assert http.get(f"{front}/sunrise-bakery").status_code == 200
