"""``deploy/Caddyfile`` adapts with the real ``caddy`` (Debian's package; ``.ci/run``
installs it), and says what matters: on-demand TLS asks the app's ``/internal/tls/ask``,
which the public cannot reach through the proxy, and every name is proxied to the app.
Without caddy the test is skipped locally and fails in CI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CADDYFILE = Path(__file__).resolve().parents[2] / "deploy" / "Caddyfile"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture
def adapted() -> dict[str, Any]:
    caddy = shutil.which("caddy")
    if caddy is None:
        if _in_ci():
            pytest.fail("caddy is not installed; CI must run this test (apt-get install caddy)")
        pytest.skip("caddy is not installed (set CI=true to make this a failure)")
    result = subprocess.run(
        [caddy, "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"level":"warn"' not in result.stderr, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


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


def test_the_caddyfile_adapts_and_asks_the_app(adapted: dict[str, Any]) -> None:
    nodes = _walk(adapted)
    asks = [node["ask"] for node in nodes if "ask" in node]
    assert asks == ["http://127.0.0.1:8000/internal/tls/ask"]
    assert any(node.get("on_demand") is True for node in nodes)
    proxies = [node for node in nodes if node.get("handler") == "reverse_proxy"]
    assert proxies
    assert all(p["upstreams"] == [{"dial": "127.0.0.1:8000"}] for p in proxies)


def test_internal_paths_are_refused_at_the_front(adapted: dict[str, Any]) -> None:
    routes = [node for node in _walk(adapted) if "handle" in node and "match" in node]
    blocked = [
        route
        for route in routes
        if any("/internal/*" in m.get("path", []) for m in route["match"])
        and route["handle"][0].get("status_code") == 404
    ]
    assert len(blocked) == 3  # the app's host, the sites host and the custom domains
