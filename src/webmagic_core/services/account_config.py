"""How accounts are configured (links in mails, throttling limits) and what login answers."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode, urlsplit

import attrs

from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import ValidationError

BAD_CREDENTIALS = "email or password is incorrect"
SESSION_INVALID = "the session is invalid or has been revoked; sign in again"
SESSION_EXPIRED = "the session has expired; sign in again"
ACCESS_REVOKED = "the access token is no longer valid; sign in again"
ACCOUNT_DISABLED = "this account has been disabled; contact support to have it enabled again"


def _base_url(value: str) -> str:
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValidationError(
            f"the public URL must be an absolute http(s) URL, not {value!r}", field="public_url"
        )
    return url


@attrs.frozen
class AccountLinks:
    """The pages email links open, on the public URL (which may carry a path prefix)."""

    public_url: str = attrs.field(converter=_base_url)

    def verify_email(self, token: str) -> str:
        return self._page("verify-email", token)

    def sign_in(self) -> str:
        return f"{self.public_url}/portal/login"

    def reset_password(self, token: str) -> str:
        return self._page("reset-password", token)

    def set_password(self, token: str) -> str:
        return self._page("set-password", token)

    def _page(self, name: str, token: str) -> str:
        return f"{self.public_url}/portal/{name}?{urlencode({'token': token})}"


@attrs.frozen
class Limit:
    count: int
    window: dt.timedelta


@attrs.frozen
class ThrottleLimits:
    """How many failures and mail requests are let through (OWASP ASVS 5 V6).

    Failed logins (and wrong current passwords on a password change) are throttled per
    (client, account) and per client, never per account alone: failures from elsewhere
    never keep the rightful owner, on a client that has not failed, from signing in.
    ``login_per_account`` is a ceiling on one account's failures from everywhere, far above
    what one client may try: past it, a client that has already failed on the account must
    wait until its failures age out, so a botnet gets one guess per address, not five.
    A successful login clears the account's counters; a password reset starts new ones."""

    login_per_client_account: Limit = Limit(5, dt.timedelta(minutes=15))
    login_per_client: Limit = Limit(20, dt.timedelta(minutes=1))
    login_per_account: Limit = Limit(100, dt.timedelta(hours=1))
    # Mail a caller can make us send to an address: register (existing account),
    # resend-verification, forgot-password; each counted on its own.
    mail_per_email: Limit = Limit(3, dt.timedelta(hours=1))
    mail_per_client: Limit = Limit(30, dt.timedelta(hours=1))


@attrs.frozen
class PasswordLink:
    email: str
    done: bool


@attrs.frozen
class LoginResult:
    """A signed-in customer and the refresh token to hand out (plain; stored only hashed).
    The HTTP layer makes the access token from ``customer.id``, ``customer.token_version``
    and ``login_id`` (the refresh-token family: ending the login voids its access tokens)."""

    customer: Customer
    refresh_token: str = attrs.field(repr=False)
    refresh_expires_at: dt.datetime
    login_id: uuid.UUID
