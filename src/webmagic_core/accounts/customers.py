"""Customer accounts and their login sessions (refresh-token families)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

import attrs

REFRESH_TOKEN_LIFETIME = dt.timedelta(days=30)


@attrs.define
class Customer:
    """A business owner. ``password_hash`` is None for an account created by a purchase
    until its owner sets a password through the welcome link. ``token_version`` is carried
    in access tokens; bumping it (password change or reset) voids them all at once.

    An operator may deactivate the account (``deactivated_at``): it can no longer sign in.
    ``password_link_serial`` and ``verify_link_serial`` are part of the fingerprints of the
    emailed links of each kind; bumping one (an operator resends a link) voids the earlier
    links of that kind. The activity fields are kept up to date by the login."""

    id: uuid.UUID
    email: str  # normalised: see AccountService's email normaliser
    password_hash: str | None
    full_name: str | None
    phone: str | None
    email_verified_at: dt.datetime | None
    token_version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    deactivated_at: dt.datetime | None = None
    last_login_at: dt.datetime | None = None
    # The client address of the last login, forgotten after a configurable number of days.
    last_login_address: str | None = None
    # Failed sign-ins (wrong password) since the last successful one, and the latest.
    failed_logins: int = 0
    last_failed_login_at: dt.datetime | None = None
    password_link_serial: int = 0
    verify_link_serial: int = 0

    @classmethod
    def new(
        cls,
        *,
        email: str,
        now: dt.datetime,
        password_hash: str | None = None,
        full_name: str | None = None,
        phone: str | None = None,
        verified: bool = False,
    ) -> Customer:
        return cls(
            id=uuid.uuid4(),
            email=email,
            password_hash=password_hash,
            full_name=full_name,
            phone=phone,
            email_verified_at=now if verified else None,
            token_version=1,
            created_at=now,
            updated_at=now,
        )

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def active(self) -> bool:
        return self.deactivated_at is None

    def set_password(self, password_hash: str, now: dt.datetime) -> None:
        """A new password voids every access token (and the caller revokes refresh tokens)."""
        self.password_hash = password_hash
        self.token_version += 1
        self.updated_at = now


def hash_refresh_token(token: str) -> str:
    """Refresh tokens are stored only as this digest (they are long random strings, so a
    plain SHA-256 is enough; no salt or slow hash needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


@attrs.define
class RefreshSession:
    """One refresh token of a login. All tokens of one login share ``family_id``; each is
    used once (rotation), and presenting a used one revokes the whole family."""

    id: uuid.UUID
    family_id: uuid.UUID
    customer_id: uuid.UUID
    token_hash: str
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    @classmethod
    def issue(
        cls, *, customer_id: uuid.UUID, now: dt.datetime, family_id: uuid.UUID | None = None
    ) -> tuple[RefreshSession, str]:
        """A new session row and the plain token to hand to the client (never stored)."""
        token = new_refresh_token()
        session = cls(
            id=uuid.uuid4(),
            family_id=family_id or uuid.uuid4(),
            customer_id=customer_id,
            token_hash=hash_refresh_token(token),
            created_at=now,
            expires_at=now + REFRESH_TOKEN_LIFETIME,
        )
        return session, token

    def usable(self, now: dt.datetime) -> bool:
        return self.used_at is None and self.revoked_at is None and now < self.expires_at
