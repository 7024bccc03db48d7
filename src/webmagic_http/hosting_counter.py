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
_HOSTING_BY_STATUS: dict[int, Any] = {}


def count_hosting(status: int) -> None:
    """One hosting answer; the labelled child is looked up once per status."""
    child = _HOSTING_BY_STATUS.get(status)
    if child is None:
        child = _HOSTING_BY_STATUS[status] = HOSTING_RESPONSES.labels(str(status))
    child.inc()
