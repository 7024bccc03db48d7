"""The ownership matrix: every authenticated route of the schema, called with another
customer's token and every resource id that customer can name (the other's site slugs,
with and without a subscription): each answer is the one a slug that does not exist gets
(404, the same body but for the slug), nothing the owner has changes, and the other
customer's lists hold none of it. ``pytest -s`` prints the figures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from payments_support import Shop, open_shop
from subscriptions_support import bearer, own_site, subscribe

ROSA, ANA = "rosa@example.com", "ana@example.com"
ROSAS_SITES = ("sunrise-bakery", "casa-rosa")  # the first one with a live subscription
GHOST = "no-such-site-here"
OWNER_PREFIX = "/api/v1/customer/"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with open_shop(tmp_path / "data") as running:
        yield running


def owner_routes(shop: Shop) -> list[tuple[str, str]]:
    """(method, path) of every authenticated owner route the schema documents."""
    spec = shop.client.get("/schema/openapi.json").json()
    routes = [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if path.startswith(OWNER_PREFIX) and operation.get("security")
    ]
    assert routes, "the schema documents no owner routes"
    return routes


# A valid body for the routes that need one: a refusal must come from ownership, not from a
# body the route would have refused from anyone.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/domain"): {"domain": "www.someone-elses-bakery.example"},
    ("POST", "/edits"): {"instructions": "Put my name on this site"},
}


def call(shop: Shop, method: str, path: str, token: str) -> httpx.Response:
    body = next((b for (m, tail), b in BODIES.items() if m == method and path.endswith(tail)), None)
    return shop.client.request(method, path, headers=bearer(token), json=body)


def state_of(shop: Shop, token: str) -> list[Any]:
    """Everything Rosa can read about her own sites."""
    answers = [call(shop, "GET", f"{OWNER_PREFIX}sites", token).json()]
    for slug in ROSAS_SITES:
        for tail in ("", "/versions", "/subscription", "/edits"):
            response = call(shop, "GET", f"{OWNER_PREFIX}sites/{slug}{tail}", token)
            answers.append((response.status_code, response.json()))
    return answers


def test_no_route_leaks_another_customers_site(shop: Shop) -> None:
    rosa, ana = shop.signed_in(ROSA), shop.signed_in(ANA)
    for slug in ROSAS_SITES:
        own_site(shop, rosa, slug, slug.replace("-", " ").title(), email=ROSA)
    own_site(shop, ana, "ana-tacos", "Ana Tacos", email=ANA)
    subscribe(shop, rosa, ROSAS_SITES[0])
    asked = call(shop, "POST", f"{OWNER_PREFIX}sites/{ROSAS_SITES[0]}/edits", rosa)
    assert asked.status_code == 202, asked.text
    edit_id = asked.json()["id"]  # Rosa's edit, named in Ana's calls
    before = state_of(shop, rosa)

    routes = owner_routes(shop)
    checked, leaks = 0, []
    for method, template in routes:
        if "{slug}" not in template:
            # No id to name: what Ana sees must hold nothing of Rosa's.
            response = call(shop, method, template, ana)
            checked += 1
            if any(slug in response.text for slug in ROSAS_SITES) or ROSA in response.text:
                leaks.append(f"{method} {template}: {response.status_code} {response.text[:200]}")
            continue
        template = template.replace("{edit_id}", edit_id).replace("{number}", "1")
        unknown = call(shop, method, template.replace("{slug}", GHOST), ana)
        assert unknown.status_code == 404, (method, template, unknown.text)
        for slug in ROSAS_SITES:
            response = call(shop, method, template.replace("{slug}", slug), ana)
            checked += 1
            same = (
                response.status_code == unknown.status_code
                and re.sub(re.escape(slug), GHOST, response.text) == unknown.text
            )
            if not same:
                leaks.append(f"{method} {template} with {slug}: {response.status_code} {response.text[:200]}")

    print(
        f"\nownership matrix: {len(routes)} owner routes, {checked} calls with another customer's token, "
        f"{len(leaks)} leaks"
    )
    assert leaks == []
    assert state_of(shop, rosa) == before  # nothing of Rosa's changed
    # The routes do work for the owner (so a 404 above is a refusal, not a broken route).
    for slug in ROSAS_SITES:
        assert call(shop, "GET", f"{OWNER_PREFIX}sites/{slug}", rosa).status_code == 200
    assert call(shop, "GET", f"{OWNER_PREFIX}sites/{ROSAS_SITES[0]}/subscription", rosa).status_code == 200
