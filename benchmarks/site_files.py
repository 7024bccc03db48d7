"""Sites as folders: importing many files, what they cost stored, and serving one.

    .venv/bin/python benchmarks/site_files.py                  # 1,000 sites of 30 files
    .venv/bin/python benchmarks/site_files.py --sites 200 --duration 5

What it does (see benchmarks/README.md for the figures):

1. Writes ``--sites`` site folders of 30 files each into a temporary folder: two pages
   (about 7 KB, each site its own), a stylesheet and a script (one of 10 templates), a
   logo of its own (2 KB), 5 small text files of its own, and 20 images drawn from a
   pool of 60 shared photos (15 KB each; hard links, so the folders cost little disk).
2. Runs the console script ``webmagic sites import`` on them (SQLite, a new data folder)
   and prints the wall time, sites and files per second, the bytes the folders hold, and
   the database's size (with its WAL) next to the bytes of distinct bodies stored.
3. Starts ``webmagic serve`` on that data and drives it with ``wrk`` (as
   benchmarks/hosting.py does): ``GET /{slug}/img/logo.png`` against ``GET /{slug}``,
   over random slugs, and prints requests/s, p99 and the server's CPU per request.

Everything it creates is removed on the way out. No timed assertion lives in the tests.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from hosting import Driver, Targets, describe, free_port, running, server_env, slug_of, webmagic_command

FILES_PER_SITE = 30
SHARED_IMAGES = 60
IMAGE_BYTES = 15_000
TEMPLATES = 10


def png(seed: int, size: int) -> bytes:
    rng = random.Random(seed)
    return b"\x89PNG\r\n\x1a\n" + rng.randbytes(size - 8)


def page(number: int, title: str, images: Sequence[str]) -> str:
    gallery = "".join(
        f'<figure><img src="img/{name}" alt="photo {i}"></figure>\n' for i, name in enumerate(images)
    )
    text = (
        f"<p>Business {number} has served the neighbourhood since {1950 + number % 70}: ask for "
        "the daily special, book a table for the weekend, or call ahead for large orders.</p>\n"
    ) * 12
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title} {number}</title>'
        '<link rel="stylesheet" href="styles.css"><link rel="icon" href="img/logo.png">'
        '<meta property="og:image" content="img/logo.png"></head>\n'
        f'<body><header><img src="img/logo.png" alt="logo"><a href="about.html">About</a></header>\n'
        f'<main>{text}{gallery}</main><script src="app.js" defer></script></body></html>\n'
    )


def write_sites(root: Path, count: int) -> int:
    """The site folders; returns the bytes they hold (hard links counted once per name)."""
    pool = root / ".pool"
    pool.mkdir(parents=True)
    for index in range(SHARED_IMAGES):
        (pool / f"photo-{index:02d}.png").write_bytes(png(index, IMAGE_BYTES))
    for index in range(TEMPLATES):
        (pool / f"styles-{index}.css").write_text(
            f"body {{ font-family: system-ui; color: #{index:06x}; }}\n"
            ".hero { background: url(img/photo-00.png) center / cover; }\n" * 40
        )
        (pool / f"app-{index}.js").write_text(f"document.body.dataset.template = '{index}';\n" * 30)
    total = 0
    rng = random.Random(7)
    for number in range(count):
        folder = root / slug_of(number)
        (folder / "img").mkdir(parents=True)
        (folder / "text").mkdir()
        images = rng.sample([f"photo-{i:02d}.png" for i in range(SHARED_IMAGES)], 20)
        for name in images:
            os.link(pool / name, folder / "img" / name)
        template = number % TEMPLATES
        os.link(pool / f"styles-{template}.css", folder / "styles.css")
        os.link(pool / f"app-{template}.js", folder / "app.js")
        (folder / "index.html").write_text(page(number, "Home", images))
        (folder / "about.html").write_text(page(number, "About", images[:3]))
        (folder / "img" / "logo.png").write_bytes(png(100_000 + number, 2_000))
        for index in range(5):
            (folder / "text" / f"note-{index}.txt").write_text(f"Note {index} of business {number}.\n" * 10)
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert len(files) == FILES_PER_SITE, len(files)
        total += sum(p.stat().st_size for p in files)
    shutil.rmtree(pool)
    return total


def import_sites(root: Path, data_dir: Path) -> float:
    script = Path(sys.executable).with_name("webmagic")
    env = server_env()
    subprocess.run(
        [str(script), "db", "upgrade", "--data-dir", str(data_dir)], env=env, check=True, capture_output=True
    )
    started = time.perf_counter()
    result = subprocess.run(
        [str(script), "sites", "import", str(root), "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"import failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def stored_bytes(data_dir: Path) -> tuple[int, int, int]:
    """(database + WAL bytes, bodies stored, bytes of bodies) after a checkpoint."""
    import sqlite3

    path = data_dir / "webmagic.db"
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        blobs, body_bytes = connection.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM blobs"
        ).fetchone()
    finally:
        connection.close()
    size = sum(p.stat().st_size for p in data_dir.glob("webmagic.db*"))
    return size, int(blobs), int(body_bytes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=1_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="webmagic-bench-files-") as temporary:
        work = Path(temporary)
        folders, data_dir, logs = work / "sites", work / "data", work / "logs"
        logs.mkdir()
        print(f"Writing {args.sites:,} site folders of {FILES_PER_SITE} files ...", flush=True)
        raw = write_sites(folders, args.sites)
        seconds = import_sites(folders, data_dir)
        size, blobs, body_bytes = stored_bytes(data_dir)
        files = args.sites * FILES_PER_SITE
        print(
            f"\nImport: {args.sites:,} sites, {files:,} files, {raw / 1e6:,.1f} MB in the folders\n"
            f"  webmagic sites import: {seconds:,.1f} s ({args.sites / seconds:,.0f} sites/s, "
            f"{files / seconds:,.0f} files/s)\n"
            f"  stored: {blobs:,} distinct bodies, {body_bytes / 1e6:,.1f} MB; "
            f"database file {size / 1e6:,.1f} MB ({size / raw:.0%} of the folders' bytes)"
        )

        driver = Driver(args.duration, args.warmup, args.connections, 1, work, args.client)
        slugs = [slug_of(n) for n in range(args.sites)]
        port = free_port()
        with running("webmagic", webmagic_command(data_dir, port), server_env(), port, logs) as server:
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                for slug in slugs:  # warm the page cache as hosting.py does, and check
                    for path in (f"/{slug}", f"/{slug}/img/logo.png"):
                        response = client.get(path)
                        if response.status_code != 200:
                            raise RuntimeError(f"GET {path} answered {response.status_code}")
            logo = driver.load(server, Targets([f"{slug}/img/logo.png" for slug in slugs]))
            pages = driver.load(server, Targets(slugs))
        print(f"\nServing ({(driver.use_wrk and 'wrk') or 'python client'}, {args.connections} connections):")
        print(f"  GET /{{slug}}/img/logo.png  {describe(logo)}")
        print(f"  GET /{{slug}}               {describe(pages)}")
        print(f"  logo / page requests/s: {logo.requests_per_s / pages.requests_per_s:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
