"""Throttling for ``AccountService``: failed logins and the mail a caller can make us send.

The counters live in the ``RateLimiter`` port; their keys hash the address, so a shared store
(Redis) holds no personal data. ``ThrottleLimits`` says how many of each are let through.
"""

from __future__ import annotations

import hashlib

import attrs

from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import Throttled
from webmagic_core.ports import RateLimiter
from webmagic_core.services.account_config import Limit, ThrottleLimits


def throttle_key(kind: str, value: str) -> str:
    # Addresses are hashed so a shared store (Redis) holds no personal data in its keys.
    return f"webmagic:{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


@attrs.frozen
class LoginKeys:
    """The counters one login attempt touches. The account's are bound to its
    ``token_version``, so a password reset or change starts them afresh everywhere."""

    pair: str
    client: str
    account: str

    @classmethod
    def of(cls, email: str, customer: Customer | None, client: str) -> LoginKeys:
        account = f"{email}\x1f{customer.token_version if customer is not None else 0}"
        return cls(
            pair=throttle_key("login-pair", f"{client}\x1f{account}"),
            client=throttle_key("login-client", client),
            account=throttle_key("login-account", account),
        )


class AccountThrottle:
    """Mixed into ``AccountService``, whose rate limiter and limits it counts with."""

    __slots__ = ()

    rate_limiter: RateLimiter
    limits: ThrottleLimits

    def _hit(self, key: str, limit: Limit) -> int | None:
        return self.rate_limiter.hit(key, limit=limit.count, window=limit.window)

    def _peek(self, key: str, limit: Limit) -> int | None:
        return self.rate_limiter.peek(key, limit=limit.count, window=limit.window)

    def _refuse_login_if_throttled(self, keys: LoginKeys) -> None:
        limits = self.limits
        waits = [
            self._peek(keys.pair, limits.login_per_client_account),
            self._peek(keys.client, limits.login_per_client),
        ]
        if self._peek(keys.account, limits.login_per_account) is not None:
            # Past the account's ceiling: only clients with no recent failure on it may try.
            waits.append(self._peek(keys.pair, Limit(1, limits.login_per_client_account.window)))
        counted = [wait for wait in waits if wait is not None]
        if counted:
            raise Throttled("too many failed attempts; try again later", retry_after=max(counted))

    def _count_failed_login(self, keys: LoginKeys) -> None:
        self._hit(keys.pair, self.limits.login_per_client_account)
        self._hit(keys.client, self.limits.login_per_client)
        self._hit(keys.account, self.limits.login_per_account)

    def _forgive_account(self, keys: LoginKeys) -> None:
        """The right password: the account's counters start again. Not the client's: one
        good account must not unlock a client guessing at others."""
        self.rate_limiter.reset(keys.pair)
        self.rate_limiter.reset(keys.account)

    def _mail_allowed(self, kind: str, email: str, client: str | None) -> bool:
        """Count a mail request; False (send nothing, answer the same) past a limit. A
        refused request counts against nothing, so one limit never eats into another."""
        checks = [(throttle_key(f"{kind}-email", email), self.limits.mail_per_email)]
        if client is not None:
            checks.append((throttle_key("mail-client", client), self.limits.mail_per_client))
        if any(self._peek(key, limit) is not None for key, limit in checks):
            return False
        waits = [self._hit(key, limit) for key, limit in checks]  # count every one, then decide
        return all(wait is None for wait in waits)
