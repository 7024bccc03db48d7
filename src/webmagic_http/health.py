"""``/healthz`` (the process is up) and ``/readyz`` (the database answers and takes a write:
not unreachable, read-only, full or locked past a bound)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from litestar import get
from litestar.handlers import HTTPRouteHandler

from webmagic_core.errors import TransientError
from webmagic_http.hosts import ANY_HOST, AREA
from webmagic_http.problems import problem_spec


def health_routes(ready: Callable[[], bool]) -> Sequence[HTTPRouteHandler]:
    @get("/healthz", opt={AREA: ANY_HOST}, tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # In the thread pool: a ping to an unreachable database may wait for a connect timeout.
    @get(
        "/readyz",
        sync_to_thread=True,
        tags=["health"],
        summary="The database answers and takes a write",
        responses={503: problem_spec("The database does not answer or cannot be written")},
    )
    def readyz() -> dict[str, str]:
        if not ready():
            raise TransientError("the database does not answer or cannot be written")
        return {"status": "ready"}

    return [healthz, readyz]
