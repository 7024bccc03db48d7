"""The framework's ceiling for ``benchmarks/hosting.py``: a bare Litestar route.

``GET /{slug}`` answers the same bytes as WebMagic's hosting route (read once, at
startup, from the file named by ``BENCH_BODY_FILE``) from memory, through an ordinary
Litestar handler; ``/healthz`` lets the benchmark wait for the server to be up.
"""

from __future__ import annotations

import os
from pathlib import Path

from litestar import Litestar, MediaType, get


def create_app() -> Litestar:
    body = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()

    @get("/{slug:str}", media_type=MediaType.HTML, sync_to_thread=False)
    def page() -> bytes:
        return body

    @get("/healthz", media_type=MediaType.TEXT, sync_to_thread=False)
    def healthz() -> str:
        return "ok"

    return Litestar(route_handlers=[page, healthz], logging_config=None, openapi_config=None)
