"""The portal's sign-in session: two cookies over the API's own token service.

- ``webmagic_session`` holds an access token (``AccessTokens``, the API's JWTs): every page
  re-reads the customer with ``AccountService.authenticate``, so a password change or reset
  and "sign out everywhere" (which bump the customer's token version) end it at once.
- ``webmagic_refresh`` holds the refresh token of the same login: when the access token has
  expired, the page trades it for a new pair (``AccountService.refresh``, rotation), and the
  new cookies ride on that page's response. Signing out ends the login (``logout``); a
  revoked login cannot be refreshed.

Both are ``HttpOnly``, ``SameSite=Lax``, scoped to ``/portal``, ``Secure`` when the public URL
is https, and last as long as the browser session. They are never logged.

Rotation means two pages refreshing with the same token at the same instant look like a
reused token, which revokes the login (the second page then asks to sign in again): a
rare, safe failure for a person clicking through pages.
"""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import attrs
from litestar import Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import Unauthenticated
from webmagic_core.services.accounts import AccountService, LoginResult
from webmagic_http.auth import AccessTokens

SESSION_COOKIE = "webmagic_session"
REFRESH_COOKIE = "webmagic_refresh"
COOKIE_PATH = "/portal"
LOGIN_PATH = "/portal/login"
HOME_PATH = "/portal"
# Where a refreshed session's new cookies wait for the response (the scope is per request).
_RENEWED = "webmagic.portal.renewed_cookies"


class SignInRequired(Exception):
    """The page needs a signed-in customer and the request has no valid session."""


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a local portal path, or the portal's home.

    Only a path under ``/portal`` of this host is followed; anything with a scheme, a host
    (``//evil``), a backslash (browsers read ``/\\evil`` as ``//evil``), control characters
    or a path outside the portal falls back to ``/portal``: no open redirect."""
    if not value or len(value) > 2048:
        return HOME_PATH
    if any(c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return HOME_PATH
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return HOME_PATH
    path = parts.path
    if path != HOME_PATH and not path.startswith(HOME_PATH + "/"):
        return HOME_PATH
    if "/../" in path + "/" or "/./" in path + "/" or path.startswith(LOGIN_PATH):
        return HOME_PATH
    return value


def login_url(next_path: str | None = None, **extra: str) -> str:
    query: dict[str, str] = dict(extra)
    if next_path and safe_next(next_path) != HOME_PATH:
        query["next"] = next_path
    return f"{LOGIN_PATH}?{urlencode(query)}" if query else LOGIN_PATH


@attrs.frozen
class PortalSessions:
    accounts: AccountService
    tokens: AccessTokens
    secure: bool

    def cookies(self, result: LoginResult) -> list[Cookie]:
        """The cookies of a new (or refreshed) login."""
        return [
            self._cookie(SESSION_COOKIE, self.tokens.issue(result.customer, result.login_id)),
            self._cookie(REFRESH_COOKIE, result.refresh_token),
        ]

    def cleared(self) -> list[Cookie]:
        """Cookies that remove the session from the browser."""
        return [self._cookie(name, "", max_age=0) for name in (SESSION_COOKIE, REFRESH_COOKIE)]

    def refresh_token(self, request: Request[Any, Any, Any]) -> str | None:
        return request.cookies.get(REFRESH_COOKIE) or None

    def access_token(self, request: Request[Any, Any, Any]) -> tuple[uuid.UUID, int, uuid.UUID] | None:
        """What the access cookie names (customer, token version, login), without reading
        the database; ``None``: no cookie, or an expired or forged token."""
        access = request.cookies.get(SESSION_COOKIE)
        if not access:
            return None
        try:
            return self.tokens.read(access)
        except Unauthenticated:
            return None

    def current(self, request: Request[Any, Any, Any]) -> Customer | None:
        """The customer the access cookie names (a blocking read, never a write), or
        ``None``: no cookie, or an expired or revoked token (``customer`` then decides)."""
        access = request.cookies.get(SESSION_COOKIE)
        if access:
            try:
                customer_id, version, login_id = self.tokens.read(access)
                return self.accounts.authenticate(customer_id, version, login_id)
            except Unauthenticated:
                pass  # expired or revoked: the refresh token decides
        return None

    def customer(self, request: Request[Any, Any, Any]) -> Customer:
        """The signed-in customer (a blocking read), refreshing an expired access token with
        the refresh cookie (a write); otherwise ``SignInRequired``."""
        customer = self.current(request)
        if customer is not None:
            return customer
        refresh = self.refresh_token(request)
        if not refresh:
            raise SignInRequired
        try:
            result = self.accounts.refresh(refresh)
        except Unauthenticated:
            raise SignInRequired from None
        cast("MutableMapping[str, Any]", request.scope)[_RENEWED] = self.cookies(result)
        return result.customer

    def optional_customer(self, request: Request[Any, Any, Any]) -> Customer | None:
        try:
            return self.customer(request)
        except SignInRequired:
            return None

    def _cookie(self, name: str, value: str, *, max_age: int | None = None) -> Cookie:
        return Cookie(
            key=name,
            value=value,
            path=COOKIE_PATH,
            max_age=max_age,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )


def renewed_session_cookies(app: ASGIApp) -> ASGIApp:
    """Router middleware: adds the cookies of a session refreshed while handling the request
    to its response (whatever handler or exception handler made it)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cookies(message: Message) -> None:
            renewed = cast("MutableMapping[str, Any]", scope).get(_RENEWED)
            if message["type"] == "http.response.start" and renewed:
                headers = MutableScopeHeaders.from_message(message)
                # A handler that set the session itself (a new login, a sign-out) has the last word.
                already = {value.split("=", 1)[0].strip() for value in headers.getall("set-cookie", [])}
                for cookie in renewed:
                    if cookie.key not in already:
                        headers.add("set-cookie", cookie.to_header(header=""))
            await send(message)

        await app(scope, receive, send_with_cookies)

    return middleware
