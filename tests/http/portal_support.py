"""Helpers of the portal's HTTP tests: signing in through the form, posting forms with
their CSRF token, reading redirects."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import httpx
from payments_support import PASSWORD, Shop, csrf_token, html

CSRF_FIELD_NAME = "_csrf_token"


def portal_form(shop: Shop, page: str, action: str, fields: dict[str, str], **kwargs: Any) -> httpx.Response:
    """Open ``page`` (for its CSRF token) and post ``fields`` to ``action``, not following redirects."""
    token = csrf_token(html(shop.client.get(page), 200))
    return shop.client.post(action, data={**fields, CSRF_FIELD_NAME: token}, follow_redirects=False, **kwargs)


def portal_login(
    shop: Shop, email: str, password: str = PASSWORD, *, next_path: str | None = None
) -> httpx.Response:
    fields = {"email": email, "password": password}
    if next_path is not None:
        fields["next"] = next_path
    return portal_form(shop, "/portal/login", "/portal/login", fields)


def signed_in_portal(shop: Shop, email: str, password: str = PASSWORD) -> None:
    response = portal_login(shop, email, password)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/portal"


def location(response: httpx.Response) -> str:
    assert response.status_code in (302, 303), response.text
    return unquote(response.headers["location"])


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """The Set-Cookie headers of a response by cookie name (the whole header)."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        found[header.split("=", 1)[0].strip()] = header
    return found
