"""The customer portal (``/portal/...`` on the API host): server-rendered HTML for people.

- Email-link pages (no sign-in needed): ``GET /portal/verify-email?token=...`` verifies the
  address; ``/portal/reset-password?token=...`` and ``/portal/set-password?token=...`` show a
  small form (new password twice) that posts back to the same address;
  ``/portal/resend-verification`` and ``/portal/forgot-password`` ask for a new link.
- Signing in and out (``portal_signin``) and the owner's pages (``portal_owner``): my
  sites, one site, the account. The session is a cookie over the API's token service
  (``portal_session``). These route modules stand side by side: ``webmagic_http.app``
  assembles them into the portal's router, with this module's error pages and CSRF settings.

JavaScript is never needed. Every form is protected against cross-site posting by
Litestar's CSRF middleware, installed on the portal's router only (a signed token in a cookie
scoped to ``/portal`` and the same token in a hidden field): the JSON API, which takes no
cookies, needs none. Passwords are hashed (bcrypt) in the ``PasswordLane`` like the API's, off
the event loop. Pages are built by ``portal_pages.page`` (the layout, the headers, the CSP).

Tokens are never logged by this code. An email link is a GET with the token in the query
string, so the ASGI server's access log (uvicorn's, when enabled) records it: the token is
single-use and short-lived, but such logs deserve the care given to secrets (or run the
server with ``--no-access-log``). The password form moves the token into the POST body, so
the submission does not repeat it in a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from webmagic_core.accounts.errors import ExpiredToken, InvalidToken
from webmagic_core.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from webmagic_core.accounts.tokens import TokenPurpose
from webmagic_core.errors import NotFound, ValidationError
from webmagic_core.services.accounts import AccountService
from webmagic_http.after_answer import after_answer
from webmagic_http.common import Form, client_address
from webmagic_http.lanes import PasswordLane
from webmagic_http.portal_pages import STYLESHEET, page
from webmagic_http.portal_session import SignInRequired, login_url

log = logging.getLogger(__name__)

CSRF_COOKIE = "webmagic_csrf"
CSRF_KEY_LABEL = "webmagic.csrf.portal.v1"
MAX_FORM_BYTES = 16 * 1024

INCOMPLETE_LINK = "This link is incomplete: it carries no token. Open the link from the email again."


@get(
    STYLESHEET.path,
    sync_to_thread=False,
    cache_control=CacheControlHeader(max_age=365 * 24 * 3600, private=True, immutable=True),
)
def stylesheet() -> Response[bytes]:
    # "private": the portal's CSRF middleware may add a cookie to any response under /portal,
    # which no shared cache should keep; the browser's own cache is the one that matters.
    return Response(
        STYLESHEET.body,
        media_type="text/css",  # Litestar adds "; charset=utf-8"
        headers={"x-content-type-options": "nosniff"},
    )


def _link_problem(error: InvalidToken) -> str:
    if isinstance(error, ExpiredToken):
        return "This link has expired."
    return "This link is not valid, or it has already been used."


def _page_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Errors inside the portal are pages, not JSON (a person with a browser is reading)."""
    if exc.status_code == 403:
        # Raised by the CSRF middleware: no valid token in the form, or no cookie.
        return page(
            "message",
            403,
            title="This form could not be accepted",
            message="Its security token is missing or does not match. This happens when cookies "
            "are blocked or the form was sent from another site.",
            next_step="Go back, reload the page and try again.",
            ok=False,
        )
    status = exc.status_code if 400 <= exc.status_code < 500 else 500
    if status == 500:
        log.error(
            "HTTP %s in the portal on %s %s: %s",
            exc.status_code,
            request.method,
            request.url.path,
            exc.detail,
        )
    return page(
        "message",
        status,
        title=HTTPStatus(status).phrase,
        message="This page cannot be shown." if status == 404 else "The request could not be handled.",
        next_step="Open the link from the email again.",
        ok=False,
    )


def _sign_in_first(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    """A page that needs a session: to the sign-in form, then back here. A form posted
    without one goes back to the page it belongs to."""
    path = request.url.path
    if request.method != "GET":
        parts = path.split("/")
        # /portal/sites/{slug}/... → /portal/sites/{slug}; /portal/account/... → /portal/account
        path = "/".join(parts[:4]) if path.startswith("/portal/sites/") else "/".join(parts[:3])
    elif request.url.query:
        path = f"{path}?{request.url.query}"
    return Redirect(login_url(path), status_code=303)


def _unknown_site(request: Request[Any, Any, Any], exc: NotFound) -> Response[Any]:
    return page(
        "message",
        404,
        title="This page cannot be found",
        message="None of your websites is at this address.",
        next_step=None,
        ok=False,
        home=True,
    )


# The portal router's error pages (``webmagic_http.app`` installs them).
PAGE_ERRORS: ExceptionHandlersMap = {
    HTTPException: _page_error,
    SignInRequired: _sign_in_first,
    NotFound: _unknown_site,
}


def link_handlers(accounts: AccountService, lane: PasswordLane) -> list[HTTPRouteHandler]:
    """The stylesheet and the email-link pages: no session needed."""

    def password_form(
        purpose: TokenPurpose, *, title: str, intro: str, button: str, done: str
    ) -> tuple[Callable[..., Template], Callable[..., Awaitable[Template]]]:
        action = "reset-password" if purpose is TokenPurpose.RESET_PASSWORD else "set-password"

        def form(
            token: str, status: int = 200, errors: Mapping[str, str] | None = None, email: str | None = None
        ) -> Template:
            return page(
                "password_form",
                status,
                title=title,
                intro=intro,
                button=button,
                token=token,
                email=email,
                errors=dict(errors or {}),
                form_action=action,
                min_length=MIN_LENGTH,
                max_length=MAX_LENGTH,
            )

        def bad_link(problem: str) -> Template:
            return page(
                "bad_link",
                400,
                title="This link cannot be used",
                problem=problem,
                form_action="forgot-password",
                button="Email me a new link",
                email=None,
                email_error=None,
            )

        def _done(token: str) -> bool:
            try:
                return accounts.password_link(token, purpose).done
            except InvalidToken:
                return False

        def _email(token: str) -> str | None:
            # The form shown again names the account (from the link, never from the post).
            try:
                return accounts.password_link(token, purpose).email
            except InvalidToken:
                return None

        def show(token: FromQuery[str | None] = None) -> Template:
            if not token:
                return bad_link(INCOMPLETE_LINK)
            try:
                link = accounts.password_link(token, purpose)
            except InvalidToken as error:
                return bad_link(_link_problem(error))
            if link.done:
                return already_done()
            return form(token, email=link.email)

        def already_done() -> Template:
            # Before asking for anything: this link's work is done, signing in is what is left.
            return page(
                "message",
                title="Already done",
                message="The password of this account has already been set with this link (or "
                "changed since).",
                next_step="Sign in with your email address and password. If you have forgotten the "
                "password, the sign-in page lets you ask for a new link.",
                ok=True,
                sign_in=True,
            )

        async def submit(data: Form) -> Template:
            token = data.get("token", "")
            password = data.get("password", "")
            if not token:
                return bad_link(INCOMPLETE_LINK)
            if not password:
                return form(token, 400, {"password": "Enter a new password."}, email=_email(token))
            if password != data.get("password_confirmation", ""):
                mismatch = {"password_confirmation": "The two passwords are not the same."}
                return form(token, 400, mismatch, email=_email(token))
            try:
                await lane.run(accounts.reset_password, token, password, purpose=purpose)
            except InvalidToken as error:
                if not isinstance(error, ExpiredToken) and _done(token):
                    return already_done()
                return bad_link(_link_problem(error))
            except ValidationError as error:
                return form(token, 400, {"password": error.detail}, email=_email(token))
            return page(
                "message",
                title=done,
                message=done + ".",
                next_step=NEXT_SIGN_IN,
                ok=True,
                sign_in=True,
            )

        return show, submit

    show_reset, submit_reset = password_form(
        TokenPurpose.RESET_PASSWORD,
        title="Choose a new password",
        intro="Enter a new password for your WebMagic account. Every device signed in with the old "
        "password will be signed out.",
        button="Change password",
        done="Your password has been changed",
    )
    show_set, submit_set = password_form(
        TokenPurpose.SET_PASSWORD,
        title="Set your password",
        intro="Choose a password for your WebMagic account, to sign in and manage your site.",
        button="Set password",
        done="Your password is set",
    )

    @get("/verify-email", sync_to_thread=True)
    def verify_email(token: FromQuery[str | None] = None) -> Template:
        if not token:
            return _verify_failed(INCOMPLETE_LINK)
        try:
            accounts.verify_email(token)
        except InvalidToken as error:
            if accounts.verify_link_done(token):
                return page(
                    "message",
                    title="Already done",
                    message="This email address is already verified.",
                    next_step="Sign in with it and your password.",
                    ok=True,
                    sign_in=True,
                )
            return _verify_failed(_link_problem(error))
        return page("verify_email", title="Email address verified", verified=True)

    def _verify_failed(problem: str) -> Template:
        return page(
            "verify_email",
            400,
            title="This link cannot be used",
            verified=False,
            problem=problem,
            form_action="resend-verification",
            button="Send a new link",
            email=None,
            email_error=None,
        )

    def email_request(
        action: str,
        *,
        title: str,
        intro: str,
        button: str,
        send: Callable[[str, str], None],
        sent: str,
    ) -> tuple[Callable[[], Template], Callable[..., Template]]:
        def form(status: int = 200, email: str | None = None, error: str | None = None) -> Template:
            return page(
                "email_form",
                status,
                title=title,
                intro=intro,
                form_action=action,
                button=button,
                email=email,
                email_error=error,
            )

        def show() -> Template:
            return form()

        def submit(request: Request[Any, Any, Any], data: Form) -> Template:
            email = data.get("email", "").strip()
            if not email:
                return form(400, email, "Enter your email address.")
            try:
                email = accounts.normalize_email(email)
            except ValidationError as error:
                return form(400, email, error.detail)
            answer = page("message", title="Check your inbox", message=sent, next_step=None, ok=True)
            # Sent after the page, so its timing never tells a known address (see after_answer).
            answer.background = after_answer(send, email, client_address(request))
            return answer

        return show, submit

    show_resend, submit_resend = email_request(
        "resend-verification",
        title="Verify your email address",
        intro="Enter the address you registered with, and we will send it a new verification link.",
        button="Send a new link",
        send=lambda email, client: accounts.resend_verification(email, client=client),
        sent="If this address has an account waiting for verification, we sent it a new link. "
        "It works for 48 hours.",
    )
    show_forgot, submit_forgot = email_request(
        "forgot-password",
        title="Reset your password",
        intro="Enter the address of your account, and we will send it a link to choose a new password.",
        button="Email me a link",
        send=lambda email, client: accounts.forgot_password(email, client=client),
        sent="If this address has an account, we sent it a link to choose a new password. "
        "It works for one hour.",
    )

    return [
        stylesheet,
        verify_email,
        get("/reset-password", sync_to_thread=False)(show_reset),
        post("/reset-password", status_code=200)(submit_reset),
        get("/set-password", sync_to_thread=False)(show_set),
        post("/set-password", status_code=200)(submit_set),
        get("/resend-verification", sync_to_thread=False)(show_resend),
        post("/resend-verification", status_code=200, sync_to_thread=True)(submit_resend),
        get("/forgot-password", sync_to_thread=False)(show_forgot),
        post("/forgot-password", status_code=200, sync_to_thread=True)(submit_forgot),
    ]


NEXT_SIGN_IN = "Sign in to WebMagic with your email address and the new password."
