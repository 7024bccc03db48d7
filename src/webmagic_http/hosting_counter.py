"""``webmagic_hosting_responses_total``: hosting's answers by status, counted by hosting
itself (the routes, the fast path, the custom-domain wrapper), because Litestar's
Prometheus middleware would add ~40% to its CPU per request (measured in-process) and so
skips every route whose ``opt`` has ``SKIP_REQUEST_METRICS`` (see ``webmagic_http.metrics``).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

PREFIX = "webmagic"
# Routes whose ``opt`` has this key are left out of the middleware (hosting counts itself).
SKIP_REQUEST_METRICS = "webmagic_skip_request_metrics"

HOSTING_RESPONSES = Counter(
    f"{PREFIX}_hosting_responses",
    "Hosting answers (site pages and files, by path or custom domain), by status",
    ["status"],
)


class StatusCounter:
    """Counts answers of a counter labelled by ``status``; each labelled child is looked
    up once per status (``labels()`` per call costs more than the increment)."""

    __slots__ = ("_by_status", "_counter")

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._by_status: dict[int, Any] = {}

    def __call__(self, status: int) -> None:
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self._counter.labels(str(status))
        child.inc()


count_hosting = StatusCounter(HOSTING_RESPONSES)
