"""Signing in and out of the portal: ``/portal/login`` and ``/portal/logout``.

Signing in is ``AccountService.login``, the API's own: the same throttling (per address and
per client), the same messages, and the login is a refresh-token family like the API's.
After signing in the browser goes to ``next`` when it is a local portal path
(``portal_session.safe_next``), else to ``/portal``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from webmagic_core.errors import PermissionDenied, Throttled, Unauthenticated
from webmagic_core.services.accounts import ACCOUNT_DISABLED, AccountService
from webmagic_http.common import client_address
from webmagic_http.lanes import PasswordLane
from webmagic_http.portal_session import LOGIN_PATH, PortalSessions, safe_next

# Notices a redirect may ask a page to show (``?notice=KEY``): fixed texts, never echoed input.
NOTICES = {
    "signed_out": "You are signed out.",
    "signed_out_everywhere": "You are signed out on every device. Sign in again to continue.",
    "password_set": "Your password is set. Sign in with it to manage your website.",
    "password_reset": "Your password has been changed. Sign in with the new one.",
    "verified": "Your email address is verified. You can sign in now.",
    "session_ended": "Your session has ended. Sign in again to continue.",
}
BAD_CREDENTIALS_TEXT = "The email address or the password is incorrect."
DISABLED_TEXT = "This account has been disabled. Contact us to have it enabled again."
UNVERIFIED_TEXT = (
    "This account's email address is not verified yet: follow the link we emailed you, or ask for a new one."
)

PageFn = Callable[..., Template]


def _wait_text(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return f"Too many attempts to sign in. Try again in {minutes} minute{'s' if minutes != 1 else ''}."


def signin_handlers(
    accounts: AccountService, sessions: PortalSessions, lane: PasswordLane, page: PageFn
) -> list[HTTPRouteHandler]:
    def form(
        status: int = 200,
        *,
        next_path: str | None = None,
        email: str = "",
        error: str | None = None,
        notice: str | None = None,
        unverified: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Template:
        template = page(
            "login",
            status,
            title="Sign in to WebMagic",
            next_path=next_path or "",
            email=email,
            error=error,
            notice=notice,
            unverified=unverified,
        )
        if headers:
            template.headers.update(headers)
        return template

    @get("/login", sync_to_thread=True)
    def show(
        request: Request[Any, Any, Any],
        next: FromQuery[str | None] = None,
        notice: FromQuery[str | None] = None,
    ) -> Response[Any]:
        if notice is None and sessions.optional_customer(request) is not None:
            return Redirect(safe_next(next), status_code=303)
        wanted = safe_next(next)
        return form(next_path=wanted if wanted != "/portal" else None, notice=NOTICES.get(notice or ""))

    @post("/login", status_code=200)
    async def submit(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await request.form()
        email = str(data.get("email", "")).strip()
        password = str(data.get("password", ""))
        target = safe_next(str(data.get("next", "")) or None)
        keep = target if target != "/portal" else None
        if not email or not password:
            return form(400, next_path=keep, email=email, error="Enter your email address and your password.")
        try:
            result = await lane.run(accounts.login, email, password, client_address(request))
        except Throttled as error:
            return form(
                429,
                next_path=keep,
                email=email,
                error=_wait_text(error.retry_after),
                headers={"retry-after": str(error.retry_after)},
            )
        except PermissionDenied as error:
            if error.detail == ACCOUNT_DISABLED:  # an operator's decision: no verification link helps
                return form(403, next_path=keep, email=email, error=DISABLED_TEXT)
            return form(403, next_path=keep, email=email, error=UNVERIFIED_TEXT, unverified=True)
        except Unauthenticated:
            return form(401, next_path=keep, email=email, error=BAD_CREDENTIALS_TEXT)
        return Redirect(target, status_code=303, cookies=sessions.cookies(result))

    @get("/logout", sync_to_thread=True)
    def confirm_logout(request: Request[Any, Any, Any]) -> Response[Any]:
        customer = sessions.optional_customer(request)
        if customer is None:
            return Redirect(LOGIN_PATH, status_code=303)
        return page("logout", title="Sign out", customer=customer)

    @post("/logout", status_code=303, sync_to_thread=True)
    def logout(request: Request[Any, Any, Any]) -> Response[Any]:
        refresh = sessions.refresh_token(request)
        if refresh:
            accounts.logout(refresh)
        return Redirect(f"{LOGIN_PATH}?notice=signed_out", status_code=303, cookies=sessions.cleared())

    return [show, submit, confirm_logout, logout]
