"""Prometheus metrics on ``/metrics``.

Two kinds of figures:

- per process, from Litestar's Prometheus middleware: requests by route class, route,
  method and status, their durations, requests in progress. Route classes keep the label
  set small: ``api``, ``webhooks``, ``portal``, ``pages`` (purchase, sandbox, subscription
  pages), ``health``, ``docs``, ``other``. Hosting (pages and files, by path or custom
  domain) is the hot path: the middleware would add ~40% to its CPU per request (measured
  in-process), so it skips it, and hosting counts its answers by status in
  ``webmagic_hosting_responses_total`` (one pre-bound counter increment).
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
from webmagic_http.hosting_counter import PREFIX, SKIP_REQUEST_METRICS
from webmagic_http.hosts import ANY_HOST, AREA

METRICS_PATH = "/metrics"
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
        exclude_opt_key=SKIP_REQUEST_METRICS,
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

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # What the registry asks when the collector is registered: names only, no query (the
        # app is built before the database may even exist).
        for name, documentation, labels in _FAMILIES:
            yield GaugeMetricFamily(name, documentation, labels=labels)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._snapshot()
        age = 0.0
        if snap.oldest_pending_since is not None:
            age = max(0.0, (self._clock.now() - snap.oldest_pending_since).total_seconds())
        values: dict[str, float | dict[str, int]] = {
            f"{PREFIX}_outbox_pending": snap.outbox_pending,
            f"{PREFIX}_outbox_dead": snap.outbox_dead,
            f"{PREFIX}_outbox_oldest_pending_age_seconds": age,
            f"{PREFIX}_sites": snap.sites_by_status,
            f"{PREFIX}_subscriptions": snap.subscriptions_by_status,
            f"{PREFIX}_webhook_events": snap.webhooks_by_outcome,
            f"{PREFIX}_anomalies_open": snap.open_anomalies,
            f"{PREFIX}_edits": snap.edits_by_status,
            f"{PREFIX}_custom_domains": snap.domains_by_status,
        }
        for name, documentation, labels in _FAMILIES:
            value = values[name]
            if isinstance(value, dict):
                family = GaugeMetricFamily(name, documentation, labels=labels)
                for key, count in sorted(value.items()):
                    family.add_metric([key], count)
                yield family
            else:
                yield GaugeMetricFamily(name, documentation, value=value)


_FAMILIES: tuple[tuple[str, str, list[str] | None], ...] = (
    (f"{PREFIX}_outbox_pending", "Emails waiting to be sent", None),
    (f"{PREFIX}_outbox_dead", "Emails given up on", None),
    (
        f"{PREFIX}_outbox_oldest_pending_age_seconds",
        "How long the oldest waiting email has waited (0: none waits)",
        None,
    ),
    (f"{PREFIX}_sites", "Sites by status", ["status"]),
    (f"{PREFIX}_subscriptions", "Subscriptions by status", ["status"]),
    (f"{PREFIX}_webhook_events", "Webhook deliveries stored, by outcome (all instances)", ["outcome"]),
    (f"{PREFIX}_anomalies_open", "Payment anomalies not resolved yet", None),
    (f"{PREFIX}_edits", "Owners' change requests by status (pending: queued for a draft)", ["status"]),
    (f"{PREFIX}_custom_domains", "Custom domains by status (failing: DNS proof lost, in grace)", ["status"]),
)


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
