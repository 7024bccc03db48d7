"""Passwords for ``AccountService``: forgotten, reset, set from the welcome link, changed.

Hashing happens outside any unit of work (a bcrypt run never holds a database lock); the
row is then re-read ``for_update`` and its link fingerprint or hash checked again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.accounts.errors import ExpiredToken, InvalidToken
from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.accounts.ports import PasswordHasher
from webmagic_core.accounts.tokens import (
    TokenClaims,
    TokenPurpose,
    password_fingerprint,
    read_token,
)
from webmagic_core.errors import Conflict, Unauthenticated, ValidationError
from webmagic_core.ports import Clock, UnitOfWork, UnitOfWorkFactory
from webmagic_core.services.account_config import ACCESS_REVOKED, PasswordLink
from webmagic_core.services.account_mail import AccountMail
from webmagic_core.services.account_throttle import AccountThrottle, LoginKeys


def customer_id_of(claims: TokenClaims) -> uuid.UUID:
    """The customer a genuine token names; ``InvalidToken`` if its subject is no id."""
    try:
        return uuid.UUID(claims.user_id)
    except ValueError:
        raise InvalidToken() from None


class AccountPasswords(AccountThrottle, AccountMail):
    """Mixed into ``AccountService``: the password flows and the checks they share with login."""

    __slots__ = ()

    uow: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher
    policy: PasswordPolicy
    normalize_email: Callable[[str], str]
    # AccountService's: a hash to check against when there is none, at the same cost.
    _dummy: Callable[[], str]

    def forgot_password(self, email: str, *, client: str | None = None) -> None:
        """Mail a reset link if the address has an account."""
        email = self.normalize_email(email)
        if not self._mail_allowed("forgot", email, client):
            return
        now = self.clock.now()
        with self.uow() as uow:
            customer = uow.customers.get_by_email(email)
            if customer is not None:
                url = self.links.reset_password(self._reset_token(customer))
                self._queue(uow, EmailTemplate.PASSWORD_RESET, customer, {"reset_url": url}, now)
                uow.commit()

    def reset_password(
        self, token: str, new_password: str, *, purpose: TokenPurpose | None = None
    ) -> Customer:
        """Set a new password from a reset link, or (``purpose=None``, the API's one
        endpoint) from either a reset or a welcome set-password link.

        Voids every other reset link, every access token (token_version) and every
        login (refresh sessions); marks the address verified, since the link proves the
        mailbox; queues a "password changed" notice."""
        claims = self._read_password_token(token, purpose)
        customer_id = customer_id_of(claims)
        self.policy.check(new_password, field="new_password")
        with self.uow() as uow:
            found = uow.customers.get(customer_id)
        # Checked before the slow hash so a spent link costs nothing; checked again below.
        self._check_password_claims(claims, found)
        new_hash = self.hasher.hash(new_password)
        now = self.clock.now()
        with self.uow() as uow:
            customer = uow.customers.get(customer_id, for_update=True)
            customer = self._check_password_claims(claims, customer)
            if not customer.email_verified:
                customer.email_verified_at = now
            self._apply_new_password(uow, customer, new_hash, now)
            uow.commit()
        return customer

    def password_link(self, token: str, purpose: TokenPurpose) -> PasswordLink:
        """What a set- or reset-password link's page shows before asking for anything:
        whose account it is, and whether its work is already done (the password was set
        with it, or changed since). ``InvalidToken``/``ExpiredToken`` as submitting would."""
        claims = read_token(self.signer, purpose, token)
        with self.uow() as uow:
            customer = uow.customers.get(customer_id_of(claims))
        if customer is None:
            raise InvalidToken()
        try:
            self._check_password_claims(claims, customer)
        except InvalidToken:
            if customer.password_hash is None:
                raise  # superseded by a newer link, and no password yet: nothing is done
            return PasswordLink(customer.email, done=True)
        return PasswordLink(customer.email, done=False)

    def verify_link_done(self, token: str) -> bool:
        """Whether a genuine, unexpired verification link belongs to an address that is
        verified already: then the page says so instead of offering a new link."""
        try:
            claims = read_token(self.signer, TokenPurpose.VERIFY_EMAIL, token)
        except InvalidToken:
            return False
        with self.uow() as uow:
            customer = uow.customers.get(customer_id_of(claims))
        return customer is not None and customer.email_verified

    def set_password(self, token: str, new_password: str) -> Customer:
        """The welcome link's page: like ``reset_password`` with a set-password token only."""
        return self.reset_password(token, new_password, purpose=TokenPurpose.SET_PASSWORD)

    def change_password(
        self, customer_id: uuid.UUID, current_password: str, new_password: str, *, client: str = "unknown"
    ) -> None:
        """Change the password of a signed-in customer.

        A wrong current password is ``ValidationError(field="current_password")`` (400:
        the caller is authenticated, the input is wrong) and counts as a failed login of
        the address from ``client``, so a stolen access token cannot be used to guess the
        password faster than the login form allows. Success ends every login and access token, the
        caller's too (the API answers 204 with no new tokens: sign in again)."""
        self.policy.check(new_password, field="new_password")
        with self.uow() as uow:
            customer = uow.customers.get(customer_id)
        if customer is None:
            raise Unauthenticated(ACCESS_REVOKED)
        keys = LoginKeys.of(customer.email, customer, client)
        self._refuse_login_if_throttled(keys)
        stored = customer.password_hash
        matches = self.hasher.verify(current_password, stored if stored is not None else self._dummy())
        if stored is None or not matches:
            self._count_failed_login(keys)
            raise ValidationError("the current password is incorrect", field="current_password")
        new_hash = self.hasher.hash(new_password)
        now = self.clock.now()
        with self.uow() as uow:
            current = uow.customers.get(customer_id, for_update=True)
            if current is None:
                raise Unauthenticated(ACCESS_REVOKED)
            if current.password_hash != stored:
                raise Conflict("the password was changed meanwhile; sign in again")
            self._apply_new_password(uow, current, new_hash, now)
            uow.commit()

    def _read_password_token(self, token: str, purpose: TokenPurpose | None) -> TokenClaims:
        purposes = (
            [purpose] if purpose is not None else [TokenPurpose.RESET_PASSWORD, TokenPurpose.SET_PASSWORD]
        )
        for candidate in purposes:
            try:
                return read_token(self.signer, candidate, token)
            except ExpiredToken:
                raise  # genuine for this purpose, just too old
            except InvalidToken:
                continue
        raise InvalidToken()

    @staticmethod
    def _check_password_claims(claims: TokenClaims, customer: Customer | None) -> Customer:
        if customer is None:
            raise InvalidToken()
        claims.check_fingerprint(password_fingerprint(customer.password_hash, customer.password_link_serial))
        return customer

    def _apply_new_password(
        self, uow: UnitOfWork, customer: Customer, new_hash: str, now: dt.datetime
    ) -> None:
        """Store the hash (bumping token_version), end every login, tell the owner, unless
        this is the account's first password (the welcome link): nothing changed to warn of."""
        first = customer.password_hash is None
        customer.set_password(new_hash, now)
        uow.customers.save(customer)
        uow.refresh_sessions.revoke_customer(customer.id, now)
        if first:
            return
        url = self.links.reset_password(self._reset_token(customer))
        self._queue(uow, EmailTemplate.PASSWORD_CHANGED, customer, {"changed_at": now, "reset_url": url}, now)
