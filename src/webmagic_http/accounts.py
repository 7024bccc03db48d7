"""``/api/v1/customer/...``: register, verify, log in, refresh, log out, reset, profile.

Thin handlers: the body is parsed at the boundary (``boundary.parse``), the work is one
``AccountService`` call, and the answer is a small response type. The service is
synchronous and never runs on the event loop: calls that hash a password with bcrypt
(register, login, reset, change password) run in the ``PasswordLane`` (one thread per
CPU, see ``lanes.py``), the others in Litestar's thread pool (``sync_to_thread=True``).
A burst of logins therefore never stalls other requests.

Throttling counts per client address, taken from ``request.client.host``: behind a
reverse proxy that is the proxy's address unless the ASGI server is told to trust its
forwarding headers (uvicorn ``--proxy-headers --forwarded-allow-ips=<proxy>``), and then
every client would share one budget.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import attrs
from litestar import Request, Response, Router, get, patch, post
from litestar.datastructures import CacheControlHeader
from litestar.params import RawBody

from webmagic_core.accounts.customers import Customer
from webmagic_core.services.accounts import UNSET, AccountService, LoginResult, Unset
from webmagic_http.after_answer import after_answer
from webmagic_http.auth import AccessTokens, CurrentCustomer, customer_guard
from webmagic_http.boundary import json_body, parse
from webmagic_http.common import BEARER_SECURITY, MAX_BODY_BYTES, client_address
from webmagic_http.lanes import PasswordLane
from webmagic_http.problems import problem_spec

PREFIX = "/api/v1/customer"
# The largest body an account endpoint reads (passwords are at most 256 characters).
TAGS = ["customer accounts"]
NO_STORE = CacheControlHeader(no_store=True)


# --- request bodies (structured by boundary.parse: unknown keys refused) ------------------


@attrs.frozen
class RegisterRequest:
    email: str
    password: str = attrs.field(repr=False)
    full_name: str | None = None
    phone: str | None = None


@attrs.frozen
class TokenRequest:
    token: str = attrs.field(repr=False)


@attrs.frozen
class EmailRequest:
    email: str


@attrs.frozen
class LoginRequest:
    email: str
    password: str = attrs.field(repr=False)


@attrs.frozen
class RefreshTokenRequest:
    refresh_token: str = attrs.field(repr=False)


@attrs.frozen
class ResetPasswordRequest:
    token: str = attrs.field(repr=False)
    new_password: str = attrs.field(repr=False)


@attrs.frozen
class ProfileUpdate:
    """PATCH: a field left out stays as it is; ``null`` clears it."""

    full_name: str | Unset | None = UNSET
    phone: str | Unset | None = UNSET


@attrs.frozen
class ChangePasswordRequest:
    current_password: str = attrs.field(repr=False)
    new_password: str = attrs.field(repr=False)


# --- responses ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    full_name: str | None
    phone: str | None
    email_verified: bool
    created_at: str  # ISO 8601 with a UTC offset

    @classmethod
    def of(cls, customer: Customer) -> User:
        return cls(
            id=str(customer.id),
            email=customer.email,
            full_name=customer.full_name,
            phone=customer.phone,
            email_verified=customer.email_verified,
            created_at=customer.created_at.astimezone(dt.UTC).isoformat(),
        )


@dataclass(frozen=True, slots=True)
class Session:
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    user: User


@dataclass(frozen=True, slots=True)
class Status:
    status: str
    detail: str


# One body per endpoint, whatever the address: nothing tells whether an account exists.
REGISTER_ACCEPTED = Status(
    "accepted", "Check your inbox: we sent a message to this address with the next step."
)
RESEND_ACCEPTED = Status(
    "accepted", "If this address has an account waiting for verification, we sent it a new link."
)
FORGOT_ACCEPTED = Status(
    "accepted", "If this address has an account, we sent it a link to reset the password."
)
VERIFIED = Status("verified", "Your email address is verified; you can sign in.")
PASSWORD_RESET = Status(
    "password_changed", "Your password has been changed and every session signed out; sign in with it."
)


def account_routes(accounts: AccountService, tokens: AccessTokens, lane: PasswordLane) -> Router:
    def session(result: LoginResult) -> Session:
        return Session(
            access_token=tokens.issue(result.customer, result.login_id),
            token_type="bearer",  # noqa: S106 - the OAuth token type, not a secret
            expires_in=tokens.expires_in,
            refresh_token=result.refresh_token,
            user=User.of(result.customer),
        )

    invalid = problem_spec("The body is not valid JSON, misses a field, has a wrong type or an unknown key")
    unauthenticated = problem_spec("The access token is missing, expired, tampered with or revoked")
    throttled = problem_spec("Too many attempts: see Retry-After")

    @post(
        "/register",
        status_code=202,
        operation_class=json_body(RegisterRequest),
        summary="Create an account (the same answer whether or not the address is taken)",
        responses={400: invalid},
    )
    async def register(request: Request[Any, Any, Any], body: RawBody) -> Status:
        data = parse(body, RegisterRequest)
        client = client_address(request)
        await lane.run(
            accounts.register, data.email, data.password, data.full_name, data.phone, client=client
        )
        return REGISTER_ACCEPTED

    @post(
        "/verify-email",
        status_code=200,
        sync_to_thread=True,
        operation_class=json_body(TokenRequest),
        summary="Verify the email address with the token of the emailed link",
        responses={400: problem_spec("The token is invalid, expired or already used")},
    )
    def verify_email(body: RawBody) -> Status:
        accounts.verify_email(parse(body, TokenRequest).token)
        return VERIFIED

    @post(
        "/resend-verification",
        status_code=202,
        sync_to_thread=True,
        operation_class=json_body(EmailRequest),
        summary="Send a new verification link (the same answer for any address)",
        responses={400: invalid},
    )
    def resend_verification(request: Request[Any, Any, Any], body: RawBody) -> Response[Status]:
        email = accounts.normalize_email(parse(body, EmailRequest).email)  # a bad address is a 400 now
        work = after_answer(accounts.resend_verification, email, client=client_address(request))
        return Response(RESEND_ACCEPTED, status_code=202, background=work)

    @post(
        "/login",
        status_code=200,
        cache_control=NO_STORE,
        operation_class=json_body(LoginRequest),
        summary="Sign in: an access token and a refresh token",
        responses={
            400: invalid,
            401: problem_spec("Wrong email or password (one message for both)"),
            403: problem_spec("The email address is not verified yet"),
            429: throttled,
        },
    )
    async def login(request: Request[Any, Any, Any], body: RawBody) -> Session:
        data = parse(body, LoginRequest)
        return session(await lane.run(accounts.login, data.email, data.password, client_address(request)))

    @post(
        "/refresh",
        status_code=200,
        sync_to_thread=True,
        cache_control=NO_STORE,
        operation_class=json_body(RefreshTokenRequest),
        summary="Trade a refresh token for a new pair (each refresh token works once)",
        responses={400: invalid, 401: problem_spec("The refresh token is invalid, spent or revoked")},
    )
    def refresh(body: RawBody) -> Session:
        return session(accounts.refresh(parse(body, RefreshTokenRequest).refresh_token))

    @post(
        "/logout",
        status_code=204,
        sync_to_thread=True,
        operation_class=json_body(RefreshTokenRequest),
        summary="End the login the refresh token belongs to",
        responses={400: invalid},
    )
    def logout(body: RawBody) -> None:
        accounts.logout(parse(body, RefreshTokenRequest).refresh_token)

    @post(
        "/forgot-password",
        status_code=202,
        sync_to_thread=True,
        operation_class=json_body(EmailRequest),
        summary="Mail a password-reset link (the same answer for any address)",
        responses={400: invalid},
    )
    def forgot_password(request: Request[Any, Any, Any], body: RawBody) -> Response[Status]:
        email = accounts.normalize_email(parse(body, EmailRequest).email)  # a bad address is a 400 now
        work = after_answer(accounts.forgot_password, email, client=client_address(request))
        return Response(FORGOT_ACCEPTED, status_code=202, background=work)

    @post(
        "/reset-password",
        status_code=200,
        operation_class=json_body(ResetPasswordRequest),
        summary="Set a new password with a reset or set-password token; signs out everywhere",
        responses={400: problem_spec("The token is invalid, expired or used, or the password is too weak")},
    )
    async def reset_password(body: RawBody) -> Status:
        data = parse(body, ResetPasswordRequest)
        await lane.run(accounts.reset_password, data.token, data.new_password)
        return PASSWORD_RESET

    @get(
        "/me",
        sync_to_thread=False,
        security=BEARER_SECURITY,
        summary="The signed-in customer",
        responses={401: unauthenticated},
    )
    def me(customer: CurrentCustomer) -> User:
        return User.of(customer)

    @patch(
        "/me",
        status_code=200,
        sync_to_thread=True,
        security=BEARER_SECURITY,
        operation_class=json_body(ProfileUpdate),
        summary="Change the full name or phone",
        responses={400: invalid, 401: unauthenticated},
    )
    def update_me(customer: CurrentCustomer, body: RawBody) -> User:
        data = parse(body, ProfileUpdate)
        return User.of(accounts.update_profile(customer.id, full_name=data.full_name, phone=data.phone))

    @post(
        "/me/password",
        status_code=204,
        security=BEARER_SECURITY,
        operation_class=json_body(ChangePasswordRequest),
        summary="Change the password; every session, this one included, is signed out",
        responses={400: invalid, 401: unauthenticated, 429: throttled},
    )
    async def change_password(
        request: Request[Any, Any, Any], customer: CurrentCustomer, body: RawBody
    ) -> None:
        data = parse(body, ChangePasswordRequest)
        await lane.run(
            accounts.change_password,
            customer.id,
            data.current_password,
            data.new_password,
            client=client_address(request),
        )

    return Router(
        PREFIX,
        route_handlers=[
            register,
            verify_email,
            resend_verification,
            login,
            refresh,
            logout,
            forgot_password,
            reset_password,
            me,
            update_me,
            change_password,
        ],
        dependencies={"customer": customer_guard(accounts, tokens)},
        request_max_body_size=MAX_BODY_BYTES,
        tags=TAGS,
    )
