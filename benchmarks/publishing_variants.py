"""Static publishing: where nginx's CPU per request goes (issue 15, second round).

    .venv/bin/python benchmarks/publishing_variants.py                   # 1,000 sites, 3 rounds
    .venv/bin/python benchmarks/publishing_variants.py --http "etag off;"
    .venv/bin/python benchmarks/publishing_variants.py --http "open_file_cache max=10000 inactive=60s;"

Writes ``--sites`` 20 KB pages (no database, no app) as ``sites/<slug>/index.html`` (the
published layout), as a flat ``pages/<slug>.html``, as plain files in one folder and as
hard links to one file, then runs one nginx (one worker) with a server per variant, every
setting in one ``http { }`` (``--http`` adds directives there, so for every server alike),
and drives each in turn with ``wrk -t1 -c32`` (2 s warm-up, ``--duration`` measured),
``--rounds`` times. Prints nginx's CPU time per request for each, and the median ratio
one file's / the variant's. The variants and their figures are in benchmarks/README.md
("Second round"). wrk and nginx must be installed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from webmagic_adapters.front_configs import CSP_SANDBOX, Front, nginx_config

PAGE_BYTES = 20_000
PORTS_FROM = 18_181
# The five headers the generated configuration sends (sites sharing the portal's host).
HEADERS = "".join(
    f"        add_header {header} always;\n"
    for header in (
        "X-Content-Type-Options nosniff",
        "Referrer-Policy strict-origin-when-cross-origin",
        "Cache-Control $webmagic_cache",
        f'Content-Security-Policy "{CSP_SANDBOX}"',
        'Access-Control-Allow-Origin "*"',
    )
)


def page_html(number: int) -> str:
    name = f"Business {number}"
    body = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{name}</title>'
        f'<link rel="stylesheet" href="/{slug_of(number)}/styles.css?v=0123456789abcdef">'
        f"</head>\n<body><h1>{name}</h1>\n"
    )
    section = (
        "<section><h2>Fresh every morning</h2><p>Bread, pastries and coffee from six o'clock, "
        "baked on the premises with flour from the mill down the road.</p></section>\n"
    )
    while len(body) + len(section) < PAGE_BYTES:
        body += section
    return body + "</body></html>\n"


def slug_of(number: int) -> str:
    return f"site-{number:05d}"


def write_folders(root: Path, count: int) -> None:
    for folder in ("published/pages", "static", "links"):
        (root / folder).mkdir(parents=True)
    (root / "static" / "page.html").write_text(page_html(0))
    for number in range(count):
        slug, page = slug_of(number), page_html(number)
        site = root / "published" / "sites" / slug
        site.mkdir(parents=True)
        (site / "index.html").write_text(page)
        (site / "styles.css").write_text("h1 { color: #1f2937; }")
        (root / "published" / "pages" / f"{slug}.html").write_text(page)
        (root / "static" / f"{slug}.html").write_text(page)
        os.link(root / "static" / "page.html", root / "links" / f"{slug}.html")


def variants(root: Path, slugs: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Name -> (its server block, or "" for the generated configuration; the paths asked)."""
    front = nginx_config(
        Front.of(root / "published", "127.0.0.1:9", public_url="http://127.0.0.1", sites_host=None),
        f"127.0.0.1:{PORTS_FROM}",
    )
    types = re.search(r"    types \{.*?\n    \}\n", front, re.DOTALL)
    assert types is not None
    common = (
        f"server_tokens off; charset off; log_not_found off;\n{types[0]}    location @app {{ return 404; }}"
    )
    pages = [f"/{slug}" for slug in slugs]
    files = [f"/{slug}.html" for slug in slugs]
    return {
        "generated config": (front, pages),
        "flat, rewrite": (
            f"root {root}/published; {common}\n"
            '    location ~ "^/([^/.]+)$" { rewrite ^/(.*)$ /pages/$1.html break;\n'
            f"        error_page 301 403 404 405 = @app;\n{HEADERS}    }}",
            pages,
        ),
        "flat, try_files": (
            f"root {root}/published; {common}\n"
            '    location ~ "^/([^/.]+)$" { try_files /pages/$1.html @app;\n'
            f"{HEADERS}    }}",
            pages,
        ),
        "flat, bare": (
            f"root {root}/published/pages; location / {{ rewrite ^/(.*)$ /$1.html break; }}",
            pages,
        ),
        "plain files": (f"root {root}/static; location / {{ }}", files),
        "hard links": (f"root {root}/links; location / {{ }}", files),
        "one file + headers": (
            f"root {root}/static; {common}\n    location / {{\n{HEADERS}    }}",
            ["/page.html"],
        ),
        "generated, one page": (front, [pages[0]]),
        "one file": (f"root {root}/static; location / {{ }}", ["/page.html"]),
    }


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    pid = process.pid
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    total = 0
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, script: Path, seconds: float) -> int:
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{max(1, round(seconds))}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"errors from {url}:\n{out}")
    total = re.search(r"(\d+) requests in", out)
    if total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return int(total[1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--http", default="", help="directives for nginx's http { } (every server)")
    args = parser.parse_args()
    if not shutil.which("wrk") or not shutil.which("nginx", path=f"{os.environ['PATH']}:/usr/sbin"):
        raise SystemExit("needs wrk and nginx (apt-get install -y wrk nginx-light)")

    root = Path(tempfile.mkdtemp(prefix="webmagic-publish-variants-"))
    root.chmod(0o755)  # nginx's workers may run as another user
    try:
        slugs = [slug_of(n) for n in range(args.sites)]
        write_folders(root, args.sites)
        table = variants(root, slugs)
        servers, ports = [], {}
        for offset, (name, (block, _)) in enumerate(table.items()):
            if not block.startswith("#"):  # the generated configuration listens on PORTS_FROM
                servers.append(f"server {{ listen 127.0.0.1:{PORTS_FROM + 1 + offset}; {block}\n}}")
            ports[name] = PORTS_FROM if block.startswith("#") else PORTS_FROM + 1 + offset
        prefix = root / "nginx"
        (prefix / "logs").mkdir(parents=True)
        sendfile = "" if "sendfile" in args.http else "sendfile on; tcp_nopush on;"
        temp = " ".join(
            f"{kind}_temp_path {prefix}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (prefix / "nginx.conf").write_text(
            f"daemon off; worker_processes 1; pid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/logs/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            f"http {{ access_log off; {sendfile} keepalive_requests 100000; {temp}\n{args.http}\n"
            f"{table['generated config'][0]}\n" + "\n".join(servers) + "\n}\n"
        )
        nginx = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf")])
        try:
            time.sleep(1)
            for name, (_, paths) in table.items():
                answer = httpx.get(f"http://127.0.0.1:{ports[name]}{paths[-1]}")
                if answer.status_code != 200 or len(answer.content) < PAGE_BYTES // 2:
                    raise RuntimeError(f"{name}: {paths[-1]} answered {answer.status_code}")
            results: dict[str, list[float]] = {name: [] for name in table}
            for number in range(1, args.rounds + 1):
                line = []
                for name, (_, paths) in table.items():
                    script = root / "paths.lua"
                    script.write_text(
                        "local paths = {" + ",".join(f'"{p}"' for p in paths) + "}\nlocal n = #paths\n"
                        "request = function() return wrk.format('GET', paths[math.random(n)]) end\n"
                    )
                    url = f"http://127.0.0.1:{ports[name]}"
                    wrk(url, script, 2)
                    before = cpu_seconds(nginx)
                    requests = wrk(url, script, args.duration)
                    results[name].append((cpu_seconds(nginx) - before) / requests * 1e6)
                    line.append(f"{name} {results[name][-1]:.1f}")
                load = Path("/proc/loadavg").read_text().split()[0]
                print(f"round {number} [load {load}], nginx µs CPU/request: " + " | ".join(line), flush=True)
            for name, costs in results.items():
                ratio = statistics.median(
                    one / it for one, it in zip(results["one file"], costs, strict=True)
                )
                print(
                    f"{name}: median {statistics.median(costs):.1f} µs CPU/request, {ratio:.0%} of one file"
                )
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=10)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
