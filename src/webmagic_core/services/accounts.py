"""Customer accounts: register, verify, log in, refresh, log out, reset, profile.

Synchronous and slow on purpose where passwords are hashed: the HTTP layer calls these
methods in a worker thread. Password hashing always happens outside a unit of work, so a
bcrypt run never holds a database lock; the row is then re-read ``for_update`` and checked
to be unchanged before anything is written.

No enumeration: ``register``, ``resend_verification`` and ``forgot_password`` return None
whatever the address, and all mail goes through the outbox, so the answer never depends on
whether an account exists; the mailbox owner is the one who learns which. ``login`` runs
one hash check for an unknown address too (against a dummy hash) and gives one message.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from collections.abc import Callable

import attrs

from webmagic_core.accounts.customers import Customer, RefreshSession, hash_refresh_token
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.accounts.errors import InvalidToken
from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.accounts.ports import PasswordHasher, TokenSigner
from webmagic_core.accounts.tokens import TokenPurpose, read_token, verification_fingerprint
from webmagic_core.errors import Conflict, PermissionDenied, Unauthenticated, ValidationError
from webmagic_core.ports import Clock, RateLimiter, UnitOfWork, UnitOfWorkFactory
from webmagic_core.services.account_config import (
    ACCESS_REVOKED,
    ACCOUNT_DISABLED,
    BAD_CREDENTIALS,
    SESSION_EXPIRED,
    SESSION_INVALID,
    AccountLinks,
    Limit,
    LoginResult,
    PasswordLink,
    ThrottleLimits,
)
from webmagic_core.services.account_passwords import AccountPasswords, customer_id_of
from webmagic_core.services.account_rules import (
    MAX_EMAIL_LENGTH,
    MAX_FULL_NAME_LENGTH,
    UNSET,
    Unset,
    basic_normalize_email,
    validate_full_name,
    validate_phone,
)
from webmagic_core.services.account_throttle import LoginKeys

__all__ = [
    "ACCESS_REVOKED",
    "ACCOUNT_DISABLED",
    "BAD_CREDENTIALS",
    "MAX_EMAIL_LENGTH",
    "MAX_FULL_NAME_LENGTH",
    "SESSION_EXPIRED",
    "SESSION_INVALID",
    "UNSET",
    "AccountLinks",
    "AccountService",
    "Limit",
    "LoginResult",
    "PasswordLink",
    "ThrottleLimits",
    "Unset",
    "basic_normalize_email",
    "validate_full_name",
    "validate_phone",
]

log = logging.getLogger(__name__)


@attrs.define
class AccountService(AccountPasswords):
    """The account use cases. Passwords (``AccountPasswords``), throttling
    (``AccountThrottle``) and owner mail (``AccountMail``) are mixed in from their modules."""

    uow: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher
    signer: TokenSigner
    policy: PasswordPolicy
    rate_limiter: RateLimiter
    links: AccountLinks
    normalize_email: Callable[[str], str] = basic_normalize_email
    limits: ThrottleLimits = attrs.field(factory=ThrottleLimits)
    _dummy_hash: str | None = attrs.field(default=None, init=False, repr=False)

    # registration and verification

    def register(
        self,
        email: str,
        password: str,
        full_name: str | None = None,
        phone: str | None = None,
        *,
        client: str | None = None,
    ) -> None:
        """Create an unverified account and mail a verification link; for an address that
        has an account, mail its owner a note with a reset link instead. Same answer."""
        email = self.normalize_email(email)
        self.policy.check(password)
        full_name, phone = validate_full_name(full_name), validate_phone(phone)
        # Hashed on both paths, so both take one bcrypt run.
        password_hash = self.hasher.hash(password)
        mail_allowed = self._mail_allowed("register", email, client)
        for _ in range(2):
            try:
                self._register(email, password_hash, full_name, phone, mail_allowed=mail_allowed)
            except Conflict:
                # Registered concurrently: go round again and take the "exists" path.
                continue
            return

    def _register(
        self, email: str, password_hash: str, full_name: str | None, phone: str | None, *, mail_allowed: bool
    ) -> None:
        now = self.clock.now()
        with self.uow() as uow:
            existing = uow.customers.get_by_email(email)
            if existing is not None:
                if mail_allowed:
                    self._queue(
                        uow,
                        EmailTemplate.ACCOUNT_EXISTS,
                        existing,
                        {
                            "reset_url": self.links.reset_password(self._reset_token(existing)),
                            "sign_in_url": self.links.sign_in(),
                        },
                        now,
                    )
            else:
                customer = Customer.new(
                    email=email, now=now, password_hash=password_hash, full_name=full_name, phone=phone
                )
                uow.customers.add(customer)
                self._queue_verification(uow, customer, now)
            uow.commit()

    def verify_email(self, token: str) -> Customer:
        """Mark the address verified. The link works once: verifying changes the state
        its fingerprint is bound to."""
        claims = read_token(self.signer, TokenPurpose.VERIFY_EMAIL, token)
        customer_id = customer_id_of(claims)
        now = self.clock.now()
        with self.uow() as uow:
            customer = uow.customers.get(customer_id, for_update=True)
            if customer is None:
                raise InvalidToken()
            claims.check_fingerprint(
                verification_fingerprint(customer.email, customer.email_verified, customer.verify_link_serial)
            )
            customer.email_verified_at = customer.updated_at = now
            uow.customers.save(customer)
            uow.commit()
        return customer

    def resend_verification(self, email: str, *, client: str | None = None) -> None:
        """Mail a new verification link if the address has an unverified account."""
        email = self.normalize_email(email)
        if not self._mail_allowed("resend", email, client):
            return
        now = self.clock.now()
        with self.uow() as uow:
            customer = uow.customers.get_by_email(email)
            if customer is not None and not customer.email_verified:
                self._queue_verification(uow, customer, now)
                uow.commit()

    # sessions

    def login(self, email: str, password: str, client: str) -> LoginResult:
        """Check the password and open a new login (refresh-token family).

        Unknown address, wrong password and an account without a password all raise
        ``Unauthenticated(BAD_CREDENTIALS)`` after one hash check; a correct password on
        an unverified or a deactivated account raises ``PermissionDenied`` (a guesser
        learns nothing: only the right password tells). A success records the time and
        ``client`` on the account; a wrong password counts a failed sign-in on it. Failures count against the
        (client, address) pair, the client and the address (see ``ThrottleLimits``); past
        the limits, ``Throttled`` before any check."""
        try:
            email = self.normalize_email(email)
            known_shape = True
        except ValidationError:
            # No account can have this address; still one hash check and one failure counted.
            email, known_shape = " ".join(email.split()).lower(), False
        customer = None
        if known_shape:
            with self.uow() as uow:
                customer = uow.customers.get_by_email(email)
        keys = LoginKeys.of(email, customer, client)
        self._refuse_login_if_throttled(keys)

        stored = customer.password_hash if customer is not None else None
        matches = self.hasher.verify(password, stored if stored is not None else self._dummy())
        if customer is None or stored is None or not matches:
            self._count_failed_login(keys)
            if customer is not None:
                self._record_failed_login(customer.id)
            raise Unauthenticated(BAD_CREDENTIALS)
        self._forgive_account(keys)
        if not customer.active:
            raise PermissionDenied(ACCOUNT_DISABLED)
        if not customer.email_verified:
            raise PermissionDenied("verify your email first: follow the link we sent you")

        rehashed = self.hasher.hash(password) if self.hasher.needs_rehash(stored) else None
        now = self.clock.now()
        with self.uow() as uow:
            current = uow.customers.get(customer.id, for_update=True)
            if current is None or current.token_version != customer.token_version:
                # Deleted or given a new password while we were checking the old one.
                raise Unauthenticated(BAD_CREDENTIALS)
            if not current.active:
                # Deactivated while we were checking the password.
                raise PermissionDenied(ACCOUNT_DISABLED)
            # Same password, new cost: token_version stays (no sign-out); reset links bound
            # to the old hash stop working, which is harmless. A hash that changed without a
            # new token_version was rehashed by a concurrent login: nothing left to do.
            if rehashed is not None and current.password_hash == stored:
                current.password_hash = rehashed
            current.last_login_at, current.last_login_address = now, client[:100]
            current.failed_logins = 0
            uow.customers.save(current)
            session, token = RefreshSession.issue(customer_id=current.id, now=now)
            uow.refresh_sessions.add(session)
            uow.commit()
        return LoginResult(
            customer=current,
            refresh_token=token,
            refresh_expires_at=session.expires_at,
            login_id=session.family_id,
        )

    def refresh(self, refresh_token: str) -> LoginResult:
        """Rotate: the token is spent and a new one of the same login is issued. A spent or
        revoked token presented again revokes the whole login (it may have been stolen)."""
        now = self.clock.now()
        with self.uow() as uow:
            session = uow.refresh_sessions.get_by_token_hash(
                hash_refresh_token(refresh_token), for_update=True
            )
            if session is None:
                raise Unauthenticated(SESSION_INVALID)
            if session.used_at is not None or session.revoked_at is not None:
                if uow.refresh_sessions.revoke_family(session.family_id, now):
                    log.warning(
                        "refresh token reused: login %s of customer %s revoked",
                        session.family_id,
                        session.customer_id,
                    )
                uow.commit()
                raise Unauthenticated(SESSION_INVALID)
            if now >= session.expires_at:
                raise Unauthenticated(SESSION_EXPIRED)
            customer = uow.customers.get(session.customer_id)
            if customer is None or not customer.active:
                raise Unauthenticated(SESSION_INVALID)
            session.used_at = now
            uow.refresh_sessions.save(session)
            new_session, token = RefreshSession.issue(
                customer_id=customer.id, now=now, family_id=session.family_id
            )
            uow.refresh_sessions.add(new_session)
            uow.commit()
        return LoginResult(
            customer=customer,
            refresh_token=token,
            refresh_expires_at=new_session.expires_at,
            login_id=new_session.family_id,
        )

    def logout(self, refresh_token: str) -> None:
        """End the login the token belongs to; an unknown or spent token is fine."""
        now = self.clock.now()
        with self.uow() as uow:
            session = uow.refresh_sessions.get_by_token_hash(
                hash_refresh_token(refresh_token), for_update=True
            )
            if session is not None:
                uow.refresh_sessions.revoke_family(session.family_id, now)
                uow.commit()

    def authenticate(self, customer_id: uuid.UUID, token_version: int, login_id: uuid.UUID) -> Customer:
        """The customer an access token names, if the token's version is still current and
        its login has not ended (logout, refresh-token reuse, password change). Read from
        the database on every request, so a revocation holds at once on every instance."""
        with self.uow() as uow:
            customer = uow.customers.get(customer_id)
            live = customer is not None and uow.refresh_sessions.login_live(login_id)
        if customer is None or not session_holds(customer, token_version, live):
            raise Unauthenticated(ACCESS_REVOKED)
        return customer

    def sign_out_everywhere(self, customer_id: uuid.UUID) -> None:
        """End every login of the customer and void every access token (API and portal
        alike), without changing the password."""
        now = self.clock.now()
        with self.uow() as uow:
            customer = uow.customers.get(customer_id, for_update=True)
            if customer is None:
                raise Unauthenticated(ACCESS_REVOKED)
            customer.token_version += 1
            customer.updated_at = now
            uow.customers.save(customer)
            uow.refresh_sessions.revoke_customer(customer.id, now)
            uow.commit()

    # profile

    def me(self, customer_id: uuid.UUID) -> Customer:
        with self.uow() as uow:
            customer = uow.customers.get(customer_id)
        if customer is None:
            raise Unauthenticated(ACCESS_REVOKED)
        return customer

    def update_profile(
        self,
        customer_id: uuid.UUID,
        *,
        full_name: str | Unset | None = UNSET,
        phone: str | Unset | None = UNSET,
    ) -> Customer:
        """Change the fields given (None clears one; ``UNSET`` leaves it alone)."""
        new_name = full_name if isinstance(full_name, Unset) else validate_full_name(full_name)
        new_phone = phone if isinstance(phone, Unset) else validate_phone(phone)
        with self.uow() as uow:
            customer = uow.customers.get(customer_id, for_update=True)
            if customer is None:
                raise Unauthenticated(ACCESS_REVOKED)
            changed = False
            if not isinstance(new_name, Unset) and new_name != customer.full_name:
                customer.full_name, changed = new_name, True
            if not isinstance(new_phone, Unset) and new_phone != customer.phone:
                customer.phone, changed = new_phone, True
            if changed:
                customer.updated_at = self.clock.now()
                uow.customers.save(customer)
                uow.commit()
        return customer

    # purchases

    def find_or_create_for_purchase(
        self, uow: UnitOfWork, email: str, full_name: str | None, phone: str | None, now: dt.datetime
    ) -> tuple[Customer, bool]:
        """The buyer's account, created without a password (the welcome mail's
        ``set_password_link`` sets one) when the address has none. An unverified account
        loses its password and its tokens (whoever set them has not proved the mailbox). Runs inside the
        caller's unit of work; the caller commits. Name and phone come from the payment
        provider: invalid ones are dropped rather than failing the purchase, and they only
        fill blanks on an existing account. ``email`` must be a valid address
        (``ValidationError`` otherwise). Two purchases creating the same account at once:
        one commit fails with ``Conflict`` and its webhook is retried."""
        email = self.normalize_email(email)
        full_name, phone = _lenient(validate_full_name, full_name), _lenient(validate_phone, phone)
        customer = uow.customers.get_by_email(email, for_update=True)
        if customer is not None:
            if not customer.email_verified and customer.password_hash is not None:
                # Anyone can register an address and never verify it: a password the buyer
                # may not have set must not open the site they pay for. The welcome mail's
                # set-password link (the mailbox proves who they are) sets theirs.
                customer.password_hash = None
                customer.token_version += 1
                customer.updated_at = now
                uow.customers.save(customer)
                uow.refresh_sessions.revoke_customer(customer.id, now)
            if (customer.full_name is None and full_name) or (customer.phone is None and phone):
                customer.full_name = customer.full_name or full_name
                customer.phone = customer.phone or phone
                customer.updated_at = now
                uow.customers.save(customer)
            return customer, False
        customer = Customer.new(email=email, now=now, full_name=full_name, phone=phone)
        uow.customers.add(customer)
        return customer, True

    # helpers

    def _dummy(self) -> str:
        """A hash of a random password, made with this hasher (so at the same cost), for
        the checks that have no real hash to compare with."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(24))
        return self._dummy_hash

    def _record_failed_login(self, customer_id: uuid.UUID) -> None:
        """Count a wrong password on the account, for the operators (``customers show``)."""
        now = self.clock.now()
        with self.uow() as uow:
            current = uow.customers.get(customer_id, for_update=True)
            if current is not None:
                current.failed_logins += 1
                current.last_failed_login_at = now
                uow.customers.save(current)
                uow.commit()


def _lenient(validate: Callable[[str | None], str | None], value: str | None) -> str | None:
    try:
        return validate(value)
    except ValidationError:
        return None


def session_holds(customer: Customer, token_version: int, login_live: bool) -> bool:
    """An access token still names a signed-in customer: its version is the customer's,
    its login has not ended, and the account is not deactivated."""
    return customer.token_version == token_version and login_live and customer.active
