"""Refuses, before any handler runs, a ``{slug}`` path parameter no site can have.

A slug is at most ``slugs.MAX_LENGTH`` characters: a longer one names nothing, so the
request is a 404 at once, and its detail does not repeat the (possibly 3,000-character)
path segment. Every route with a ``slug`` parameter is covered, whoever wrote it.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from webmagic_core.errors import NotFound
from webmagic_core.slugs import MAX_LENGTH

NO_SUCH_SLUG = f"no site has this slug (a slug is at most {MAX_LENGTH} characters)"


async def refuse_impossible_slugs(request: Request[Any, Any, Any]) -> None:
    # A coroutine on purpose: Litestar runs a plain function given as ``before_request``
    # in its thread pool, a hop that cost every request (hosting's included) ~100 µs of
    # CPU (measured in-process, issue 15).
    slug = request.path_params.get("slug")
    if isinstance(slug, str) and len(slug) > MAX_LENGTH:
        raise NotFound(NO_SUCH_SLUG)
