"""Prometheus metrics on ``/metrics``.

Two kinds of figures:

- per process, from Litestar's Prometheus middleware: requests by route class, route,
  method and status, their durations, requests in progress. Route classes keep the label
  set small: ``api``, ``webhooks``, ``portal``, ``pages`` (purchase, sandbox, subscription
  pages), ``health``, ``docs``, ``hosting``, ``other``. Hosting's routes carry their
  template (``/{slug}``), never a slug.
- shared by every instance, read from the database when scraped (cached a few seconds, so
  scrapes never pile up queries): outbox messages waiting and dead and the age of the
  oldest waiting one, sites and subscriptions by status, webhook deliveries by outcome,
  open payment anomalies (``webmagic_core.monitoring``).

Who may read them: with ``WEBMAGIC_METRICS_TOKEN`` set, only a request bearing it
(``Authorization: Bearer ...``); without it, only a request made directly from the
loopback interface, and never one relayed by a proxy (``X-Forwarded-For``/``Forwarded``
present), because behind a proxy on the same machine every request comes from loopback.
Anyone else gets 404, as if there were nothing there.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from webmagic_core.monitoring import OperationsQuery, OperationsSnapshot
from webmagic_core.ports import Clock
from webmagic_http.hosts import ANY_HOST, AREA

METRICS_PATH = "/metrics"
PREFIX = "webmagic"
SNAPSHOT_TTL_S = 5.0

_CLASSES: tuple[tuple[str, str], ...] = (
    ("/api/v1/webhooks", "webhooks"),
    ("/api/", "api"),
    ("/portal", "portal"),
    ("/purchase", "pages"),
    ("/sandbox", "pages"),
    ("/subscription", "pages"),
    ("/healthz", "health"),
    ("/readyz", "health"),
    ("/schema", "docs"),
    ("/metrics", "metrics"),
    ("/internal", "internal"),
)


def route_class(request: Request[Any, Any, Any]) -> str:
    template: str = request.scope.get("path_template") or request.scope.get("path", "")
    for prefix, name in _CLASSES:
        if template.startswith(prefix):
            return name
    return "hosting" if template.startswith("/{slug") else "other"


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(
        app_name="webmagic",
        prefix=PREFIX,
        group_path=True,  # the route's template, never the raw path: bounded label values
        labels={"route_class": route_class},
        exclude_unhandled_paths=True,
        exclude=[METRICS_PATH],
    )


class OperationsCollector(Collector):
    """Gauges from ``OperationsQuery``, read at most every ``ttl`` seconds."""

    def __init__(self, query: OperationsQuery, clock: Clock, *, ttl: float = SNAPSHOT_TTL_S) -> None:
        self._query = query
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, OperationsSnapshot] | None = None

    def _snapshot(self) -> OperationsSnapshot:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self._ttl:
                self._cached = (now, self._query.snapshot())
            return self._cached[1]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._snapshot()
        yield GaugeMetricFamily(
            f"{PREFIX}_outbox_pending", "Emails waiting to be sent", value=snap.outbox_pending
        )
        yield GaugeMetricFamily(f"{PREFIX}_outbox_dead", "Emails given up on", value=snap.outbox_dead)
        age = 0.0
        if snap.oldest_pending_since is not None:
            age = max(0.0, (self._clock.now() - snap.oldest_pending_since).total_seconds())
        yield GaugeMetricFamily(
            f"{PREFIX}_outbox_oldest_pending_age_seconds",
            "How long the oldest waiting email has waited (0: none waits)",
            value=age,
        )
        yield _by_label(f"{PREFIX}_sites", "Sites by status", "status", snap.sites_by_status)
        yield _by_label(
            f"{PREFIX}_subscriptions", "Subscriptions by status", "status", snap.subscriptions_by_status
        )
        yield _by_label(
            f"{PREFIX}_webhook_events",
            "Webhook deliveries stored, by outcome (all instances)",
            "outcome",
            snap.webhooks_by_outcome,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_anomalies_open", "Payment anomalies not resolved yet", value=snap.open_anomalies
        )


def _by_label(name: str, documentation: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, count in sorted(values.items()):
        family.add_metric([key], count)
    return family


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_read_metrics(request: Request[Any, Any, Any], token: str | None) -> bool:
    if token:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())
    relayed = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    return not relayed and _is_loopback(request.client.host if request.client else None)


def metrics_route(collector: OperationsCollector, token: Callable[[], str | None]) -> HTTPRouteHandler:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)

    # In the thread pool: the database read may wait on a network round trip.
    @get(METRICS_PATH, opt={AREA: ANY_HOST}, include_in_schema=False, sync_to_thread=True)
    def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
        if not may_read_metrics(request, token()):
            raise NotFoundException()
        body = generate_latest(REGISTRY) + generate_latest(registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"cache-control": "no-store"})

    return metrics
