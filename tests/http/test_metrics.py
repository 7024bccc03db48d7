"""``/metrics``: who may read it, and that its figures follow what happens."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar, Request
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.sites import Site
from webmagic_http.metrics import may_read_metrics, route_class

Client = TestClient[Litestar]
MakeApp = Callable[..., tuple[Litestar, Container]]
TOKEN = "a-metrics-token-of-some-length-0123456789"


def _request(
    client: str | None, headers: dict[str, str] | None = None, path: str = "/metrics"
) -> Request[Any, Any, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (client, 40000) if client else None,
        "query_string": b"",
    }
    return Request(scope)  # type: ignore[arg-type]


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "127.8.9.10"])
def test_without_a_token_only_direct_loopback_requests_may_read(address: str) -> None:
    assert may_read_metrics(_request(address), None)


@pytest.mark.parametrize(
    ("address", "headers"),
    [
        ("203.0.113.9", {}),
        ("10.0.0.2", {}),
        ("testclient", {}),
        (None, {}),
        # A proxy on the same machine relays the world from loopback: its requests are refused.
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}),
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}),
    ],
)
def test_without_a_token_anyone_else_is_refused(address: str | None, headers: dict[str, str]) -> None:
    assert not may_read_metrics(_request(address, headers), None)


def test_with_a_token_only_the_token_counts() -> None:
    assert may_read_metrics(_request("203.0.113.9", {"Authorization": f"Bearer {TOKEN}"}), TOKEN)
    assert may_read_metrics(_request("203.0.113.9", {"Authorization": f"bearer {TOKEN}"}), TOKEN)
    assert not may_read_metrics(_request("127.0.0.1"), TOKEN)  # loopback is no longer enough
    assert not may_read_metrics(_request("127.0.0.1", {"Authorization": f"Bearer {TOKEN[:-1]}"}), TOKEN)
    assert not may_read_metrics(_request("127.0.0.1", {"Authorization": f"Bearer {TOKEN}x"}), TOKEN)
    assert not may_read_metrics(_request("127.0.0.1", {"Authorization": f"Basic {TOKEN}"}), TOKEN)


def test_a_refused_reader_sees_a_plain_404(client: Client) -> None:
    response = client.get("/metrics")  # the test client's address is not loopback
    assert response.status_code == 404
    assert "webmagic" not in response.text


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/webhooks/recurrente", "webhooks"),
        ("/api/v1/customer/login", "api"),
        ("/portal/login", "portal"),
        ("/purchase/{slug:str}", "pages"),
        ("/healthz", "health"),
        ("/schema/openapi.json", "docs"),
        ("/{slug:str}", "hosting"),
        ("/{slug:str}/styles.css", "hosting"),
        ("/robots.txt", "other"),
    ],
)
def test_route_classes(path: str, expected: str) -> None:
    request = _request("127.0.0.1", path=path)
    request.scope["path_template"] = path  # type: ignore[typeddict-unknown-key]
    assert route_class(request) == expected


def _value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        found = re.fullmatch(r"([a-z_]+)(\{(.*)\})? (\S+)", line)
        if not found or found[1] != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', found[3] or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(found[4])
    return 0.0


def test_the_figures_follow_what_happens(
    make_app: MakeApp, create_site: Callable[..., Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBMAGIC_METRICS_TOKEN", TOKEN)
    app, container = make_app(metrics_token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app) as client:
        before = client.get("/metrics", headers=auth)
        assert before.status_code == 200
        assert before.headers["content-type"].startswith("text/plain")
        assert _value(before.text, "webmagic_sites", status="preview") == 0

        create_site(container, "casa-rosa")
        create_site(container, "casa-azul", SiteStatus.OWNED)
        assert client.get("/casa-rosa").status_code == 200
        assert client.get("/api/v1/sites/casa-rosa").status_code == 200
        assert client.get("/api/v1/sites/nobody-here").status_code == 404
        container.accounts.register("rosa@example.com", "a long enough password 1", None, None)

        # The database figures are cached for a few seconds: a fresh app reads them anew.
        after = TestClient(make_app(metrics_token=TOKEN)[0]).get("/metrics", headers=auth).text
        assert _value(after, "webmagic_sites", status="preview") == 1
        assert _value(after, "webmagic_sites", status="owned") == 1
        assert _value(after, "webmagic_outbox_pending") >= 1  # the verification mail
        assert _value(after, "webmagic_outbox_oldest_pending_age_seconds") >= 0

        scraped = client.get("/metrics", headers=auth).text
        route = "/api/v1/sites/{slug}"
        for status in ("200", "404"):
            labels = {"path": route, "status_code": status, "route_class": "api"}
            grew = _value(scraped, "webmagic_requests_total", **labels)
            assert grew - _value(before.text, "webmagic_requests_total", **labels) == 1, status
        # Hosting counts itself (the middleware would cost its hot path ~40% CPU).
        hosted = _value(scraped, "webmagic_hosting_responses_total", status="200")
        assert hosted - _value(before.text, "webmagic_hosting_responses_total", status="200") == 1
        assert 'route_class="hosting"' not in scraped
        assert "nobody-here" not in scraped  # route templates, never slugs
        assert "casa-rosa" not in scraped
        assert TOKEN not in scraped
