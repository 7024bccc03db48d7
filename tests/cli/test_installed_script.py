"""The installed ``webmagic`` console script, run as a subprocess like a user would."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def webmagic_script() -> str:
    """The installed console script of this environment."""
    beside = Path(sys.executable).with_name("webmagic")
    script = str(beside) if beside.is_file() else shutil.which("webmagic")
    assert script, (
        f"the webmagic console script is not installed (looked beside {sys.executable} and on PATH)"
    )
    return script


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBMAGIC_") and k != "FORCE_COLOR"}
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``webmagic serve --demo`` on a free port; its output goes to a file (a pipe could fill up)."""
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [webmagic_script(), "serve", "--port", str(port), "--demo"],
            env=clean_env(WEBMAGIC_DATA_DIR=str(tmp_path / "data")),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_runs_the_app_with_the_demo_sites(server: tuple[str, subprocess.Popen[bytes], Path]) -> None:
    base, process, log = server

    def output() -> str:
        return log.read_text(errors="replace")

    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"webmagic serve exited with {process.returncode}:\n{log.read_text(errors='replace')}"
            )
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"no answer on /healthz in 30 s:\n{output()}"
        time.sleep(0.1)

    page = httpx.get(f"{base}/sunrise-bakery", timeout=5, follow_redirects=True)
    assert page.status_code == 200
    assert "Sunrise Bakery" in page.text
    css = httpx.get(f"{base}/sunrise-bakery/styles.css", timeout=5)
    assert css.status_code == 200
    assert "--crust" in css.text
    assert httpx.get(f"{base}/no-such-site", timeout=5).status_code == 404
    # Email links carry single-use tokens: the access log must not record them.
    secret = "SeCrEtToKeN-0123456789"
    httpx.get(f"{base}/portal/reset-password?token={secret}&x=1", timeout=5)
    deadline = time.monotonic() + 5
    while "/portal/reset-password?token=" not in output() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "/portal/reset-password?token=[redacted]&x=1" in output()
    assert secret not in output()
    assert f"Serving at {base}" in output()


def test_console_script_demo_then_list(tmp_path: Path) -> None:
    env = clean_env(WEBMAGIC_DATA_DIR=str(tmp_path / "data"))

    def webmagic(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [webmagic_script(), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    demo = webmagic("demo")
    assert demo.returncode == 0, demo.stderr
    listed = webmagic("sites", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    sites = json.loads(listed.stdout)
    assert [s["slug"] for s in sites] == ["brightsmile-dental", "rapidflow-plumbing", "sunrise-bakery"]
    assert sites[2]["url"] == "http://127.0.0.1:8000/sunrise-bakery"
    assert (tmp_path / "data" / "webmagic.db").is_file()

    unknown = webmagic("sites", "show", "nobody-here")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "Error: no site has the slug 'nobody-here'"
    assert unknown.stdout == ""


def test_serving_at_is_printed_only_once_the_port_answers(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [webmagic_script(), "serve", "--port", str(port)],
        env=clean_env(WEBMAGIC_DATA_DIR=str(tmp_path / "data")),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Serving at"):
                break
        else:
            pytest.fail(f"webmagic serve exited with {process.wait()} without serving")
        # The moment the line appears, the server answers: no retry loop here.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_port_in_use_is_one_line_and_never_serving_at(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [webmagic_script(), "serve", "--port", str(port)],
            env=clean_env(WEBMAGIC_DATA_DIR=str(tmp_path / "data")),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "Serving at" not in result.stdout
    assert f"Error: the server could not start on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
