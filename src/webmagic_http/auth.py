"""Access tokens (short-lived JWTs) and the guard of the authenticated endpoints.

An access token is a litestar ``Token`` signed with HS256 under a key derived from the
secret key for this use alone (``webmagic_adapters.keys``). It names the
customer (``sub``) and carries their ``token_version`` (``ver``) and the id of the login it
belongs to (``sid``, the refresh-token family); every request re-reads the customer and
that login (``AccountService.authenticate``), so a password change or reset, which bumps
the version, voids every access token at once, a deleted account's too, and a logout or a
replayed refresh token voids the access tokens of that login.

Times come from the app's ``Clock`` (the system clock in production), not from the wall
clock inside PyJWT: issue and expiry are checked against one source of time.
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from collections.abc import Sequence
from typing import Any, cast

import attrs
from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.exceptions import ImproperlyConfiguredException, NotAuthorizedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRF_SECRET_LENGTH, CSRFMiddleware, generate_csrf_hash
from litestar.params import SkipValidation
from litestar.security.jwt import Token
from litestar.security.jwt.token import JWTDecodeOptions
from litestar.types import ASGIApp

from webmagic_adapters.bootstrap import Keyring
from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import Unauthenticated
from webmagic_core.ports import Clock
from webmagic_core.services.accounts import AccountService

ALGORITHM = "HS256"
AUDIENCE = "webmagic:customer"
VERSION_CLAIM = "ver"
LOGIN_CLAIM = "sid"
JWT_KEY_LABEL = "webmagic.jwt.access.v1"
BEARER_REALM = 'Bearer realm="webmagic"'
VERIFIED_TOKENS_KEPT = 4096  # ~1 KB each

MISSING = "this endpoint needs an access token: send Authorization: Bearer <access_token>"
INVALID = "the access token is invalid; sign in again"
EXPIRED = "the access token has expired; refresh it or sign in again"


class BearerTokenRejected(Unauthenticated):
    """An access token was presented and is not (or no longer) valid (RFC 6750 ``invalid_token``)."""


class RotatingCSRFMiddleware(CSRFMiddleware):
    """litestar's CSRF check, also accepting tokens signed with the previous secret key's
    CSRF key while a key rotation is under way (forms opened before the switch still post)."""

    def __init__(self, app: ASGIApp, config: CSRFConfig, previous_secrets: Sequence[str] = ()) -> None:
        super().__init__(app, config)
        self.previous_secrets = tuple(previous_secrets)

    def _decode_csrf_token(self, token: str) -> str | None:
        if len(token) <= CSRF_SECRET_LENGTH:
            return None
        token_secret, signature = token[:CSRF_SECRET_LENGTH], token[CSRF_SECRET_LENGTH:]
        for secret in (self.config.secret, *self.previous_secrets):
            if hmac.compare_digest(signature, generate_csrf_hash(token=token_secret, secret=secret)):
                return token_secret
        return None


class AccessToken(Token):
    """litestar's ``Token``, with its wall-clock checks left to ``AccessTokens`` (the app's clock)."""

    def __post_init__(self) -> None:
        if not self.sub:
            raise ImproperlyConfiguredException("sub must be a non-empty string")
        self.exp = _whole_seconds(self.exp)
        self.iat = _whole_seconds(self.iat)

    @classmethod
    def decode_payload(
        cls,
        encoded_token: str,
        secret: str,
        algorithms: list[str],
        issuer: str | Sequence[str] | None = None,
        audience: str | Sequence[str] | None = None,
        options: JWTDecodeOptions | None = None,
    ) -> Any:
        # Signature, algorithm and audience checked by PyJWT; times by AccessTokens.read.
        wall_clock_off = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}
        merged = cast("JWTDecodeOptions", {**(options or {}), **wall_clock_off})
        return super().decode_payload(encoded_token, secret, algorithms, issuer, audience, merged)


def _whole_seconds(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ImproperlyConfiguredException("token times must be timezone-aware")
    return value.astimezone(dt.UTC).replace(microsecond=0)


@attrs.frozen
class AccessTokens:
    """Issues and reads access tokens."""

    key: str = attrs.field(repr=False)
    clock: Clock
    lifetime: dt.timedelta
    # Keys that still verify (the previous secret key's, during a rotation); never used to sign.
    previous_keys: tuple[str, ...] = attrs.field(default=(), repr=False)
    # Tokens whose signature already verified, by their exact text: the text fixes the
    # payload, so only the time checks need repeating (a page view paid a twentieth of its
    # time for PyJWT). Bounded: emptied when full.
    _verified: dict[str, AccessToken] = attrs.field(factory=dict, init=False, eq=False, repr=False)

    @classmethod
    def from_keyring(cls, keys: Keyring, clock: Clock, lifetime: dt.timedelta) -> AccessTokens:
        current, *previous = keys.verification_keys(JWT_KEY_LABEL)
        return cls(current, clock, lifetime, tuple(previous))

    @property
    def expires_in(self) -> int:
        """The lifetime in seconds (the login response's ``expires_in``)."""
        return int(self.lifetime.total_seconds())

    def issue(self, customer: Customer, login_id: uuid.UUID) -> str:
        now = self.clock.now()
        token = AccessToken(
            sub=str(customer.id),
            iat=now,
            exp=now + self.lifetime,
            aud=AUDIENCE,
            extras={VERSION_CLAIM: customer.token_version, LOGIN_CLAIM: str(login_id)},
        )
        return token.encode(self.key, ALGORITHM)

    def read(self, encoded: str) -> tuple[uuid.UUID, int, uuid.UUID]:
        """The customer id, token version and login id of a genuine, unexpired token;
        otherwise ``BearerTokenRejected``."""
        token = self._decode(encoded)
        version, login = token.extras.get(VERSION_CLAIM), token.extras.get(LOGIN_CLAIM)
        if not isinstance(login, str):
            raise BearerTokenRejected(INVALID)
        try:
            customer_id, login_id = uuid.UUID(token.sub), uuid.UUID(login)
        except ValueError:
            raise BearerTokenRejected(INVALID) from None
        # bool is an int: a token saying "ver": true is not one we issued.
        if type(version) is not int:
            raise BearerTokenRejected(INVALID)
        now = self.clock.now()
        if now >= token.exp:
            raise BearerTokenRejected(EXPIRED)
        if token.iat > now + dt.timedelta(minutes=1) or token.exp - token.iat > self.lifetime:
            # From the future, or longer-lived than we issue: not one of ours.
            raise BearerTokenRejected(INVALID)
        return customer_id, version, login_id

    def _decode(self, encoded: str) -> AccessToken:
        known = self._verified.get(encoded)
        if known is not None:
            return known
        token = self._verify(encoded)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.clear()
        self._verified[encoded] = token
        return token

    def _verify(self, encoded: str) -> AccessToken:
        for key in (self.key, *self.previous_keys):
            try:
                return AccessToken.decode(
                    encoded,
                    key,
                    ALGORITHM,
                    audience=AUDIENCE,
                    require_claims=["sub", "iat", "exp"],
                    strict_audience=True,
                )
            except NotAuthorizedException:
                continue
        raise BearerTokenRejected(INVALID)


def bearer_token(request: Request[Any, Any, Any]) -> str:
    """The token of an ``Authorization: Bearer ...`` header, or ``Unauthenticated``."""
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthenticated(MISSING)
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        raise BearerTokenRejected(INVALID)
    return value


def csrf_protection(keys: Keyring, *, label: str, cookie: str, path: str, secure: bool) -> DefineMiddleware:
    """The CSRF check of the HTML forms under ``path``: a double-submit cookie signed with
    the key derived for ``label`` (the previous secret key's still accepted)."""
    current, *previous = keys.verification_keys(label)
    config = CSRFConfig(
        secret=current,
        cookie_name=cookie,
        cookie_path=path,
        cookie_secure=secure,
        cookie_httponly=True,
        cookie_samesite="lax",
    )
    return DefineMiddleware(RotatingCSRFMiddleware, config=config, previous_secrets=previous)


def signed_in(request: Request[Any, Any, Any], accounts: AccountService, tokens: AccessTokens) -> Customer:
    """The customer the request's bearer token names, re-read from the database (a blocking
    read), or ``Unauthenticated`` (401)."""
    customer_id, version, login_id = tokens.read(bearer_token(request))
    try:
        return accounts.authenticate(customer_id, version, login_id)
    except Unauthenticated as error:
        raise BearerTokenRejected(error.detail) from None


def customer_guard(accounts: AccountService, tokens: AccessTokens) -> Provide:
    """The ``customer`` dependency: the signed-in customer, or 401. Runs in a worker thread."""

    def authenticated_customer(request: Request[Any, Any, Any]) -> Customer:
        return signed_in(request, accounts, tokens)

    return Provide(authenticated_customer, sync_to_thread=True)


# The type of a handler parameter filled by ``customer_guard`` (the dependency key is "customer").
CurrentCustomer = SkipValidation[Customer]
