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
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable, Mapping

import attrs

from webmagic_core.accounts.customers import Customer, RefreshSession, hash_refresh_token
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.accounts.errors import ExpiredToken, InvalidToken
from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.accounts.ports import EmailRenderer, PasswordHasher, TokenSigner
from webmagic_core.accounts.tokens import (
    TokenClaims,
    TokenPurpose,
    issue_token,
    password_fingerprint,
    read_token,
    verification_fingerprint,
)
from webmagic_core.errors import Conflict, PermissionDenied, Throttled, Unauthenticated, ValidationError
from webmagic_core.ports import Clock, RateLimiter, UnitOfWork, UnitOfWorkFactory
from webmagic_core.services.account_config import (
    AccountLinks,
    Limit,
    LoginResult,
    PasswordLink,
    ThrottleLimits,
)
from webmagic_core.services.account_rules import (
    MAX_EMAIL_LENGTH,
    MAX_FULL_NAME_LENGTH,
    UNSET,
    Unset,
    basic_normalize_email,
    validate_full_name,
    validate_phone,
)
from webmagic_core.services.outbox import queue_email

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

BAD_CREDENTIALS = "email or password is incorrect"
SESSION_INVALID = "the session is invalid or has been revoked; sign in again"
SESSION_EXPIRED = "the session has expired; sign in again"
ACCESS_REVOKED = "the access token is no longer valid; sign in again"
ACCOUNT_DISABLED = "this account has been disabled; contact support to have it enabled again"


# --- rate-limit keys and token claims --------------------------------------------------


def _key(kind: str, value: str) -> str:
    # Addresses are hashed so a shared store (Redis) holds no personal data in its keys.
    return f"webmagic:{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


@attrs.frozen
class _LoginKeys:
    """The counters one login attempt touches. The account's are bound to its
    ``token_version``, so a password reset or change starts them afresh everywhere."""

    pair: str
    client: str
    account: str

    @classmethod
    def of(cls, email: str, customer: Customer | None, client: str) -> _LoginKeys:
        account = f"{email}\x1f{customer.token_version if customer is not None else 0}"
        return cls(
            pair=_key("login-pair", f"{client}\x1f{account}"),
            client=_key("login-client", client),
            account=_key("login-account", account),
        )


def _customer_id(claims: TokenClaims) -> uuid.UUID:
    try:
        return uuid.UUID(claims.user_id)
    except ValueError:
        raise InvalidToken() from None


# --- the service -----------------------------------------------------------------------


@attrs.define
class AccountService:
    uow: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher
    signer: TokenSigner
    renderer: EmailRenderer
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
        customer_id = _customer_id(claims)
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
        keys = _LoginKeys.of(email, customer, client)
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

    # passwords

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
        customer_id = _customer_id(claims)
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
            customer = uow.customers.get(_customer_id(claims))
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
            customer = uow.customers.get(_customer_id(claims))
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
        keys = _LoginKeys.of(customer.email, customer, client)
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

    def set_password_link(self, customer: Customer) -> str:
        """The welcome mail's link (7 days; void once any password is set)."""
        token = issue_token(
            self.signer,
            TokenPurpose.SET_PASSWORD,
            str(customer.id),
            password_fingerprint(customer.password_hash, customer.password_link_serial),
        )
        return self.links.set_password(token)

    def send_fresh_link(self, uow: UnitOfWork, customer: Customer, now: dt.datetime) -> EmailTemplate:
        """An operator's resend, inside the caller's unit of work (the caller saves the
        customer and commits): a verification link for an unverified account that has a
        password, else a set-password link (7 days), mailed through the outbox. Bumps the
        serial of that kind of link first, so every earlier link of the kind stops working.
        Returns the template queued."""
        if customer.password_hash is not None and not customer.email_verified:
            customer.verify_link_serial += 1
            customer.updated_at = now
            self._queue_verification(uow, customer, now)
            return EmailTemplate.VERIFY_EMAIL
        customer.password_link_serial += 1
        customer.updated_at = now
        self._queue(
            uow, EmailTemplate.PASSWORD_RESET, customer, {"reset_url": self.set_password_link(customer)}, now
        )
        return EmailTemplate.PASSWORD_RESET

    # helpers

    def _dummy(self) -> str:
        """A hash of a random password, made with this hasher (so at the same cost), for
        the checks that have no real hash to compare with."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(24))
        return self._dummy_hash

    def _hit(self, key: str, limit: Limit) -> int | None:
        return self.rate_limiter.hit(key, limit=limit.count, window=limit.window)

    def _peek(self, key: str, limit: Limit) -> int | None:
        return self.rate_limiter.peek(key, limit=limit.count, window=limit.window)

    def _refuse_login_if_throttled(self, keys: _LoginKeys) -> None:
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

    def _count_failed_login(self, keys: _LoginKeys) -> None:
        self._hit(keys.pair, self.limits.login_per_client_account)
        self._hit(keys.client, self.limits.login_per_client)
        self._hit(keys.account, self.limits.login_per_account)

    def _forgive_account(self, keys: _LoginKeys) -> None:
        """The right password: the account's counters start again. Not the client's: one
        good account must not unlock a client guessing at others."""
        self.rate_limiter.reset(keys.pair)
        self.rate_limiter.reset(keys.account)

    def _mail_allowed(self, kind: str, email: str, client: str | None) -> bool:
        """Count a mail request; False (send nothing, answer the same) past a limit. A
        refused request counts against nothing, so one limit never eats into another."""
        checks = [(_key(f"{kind}-email", email), self.limits.mail_per_email)]
        if client is not None:
            checks.append((_key("mail-client", client), self.limits.mail_per_client))
        if any(self._peek(key, limit) is not None for key, limit in checks):
            return False
        waits = [self._hit(key, limit) for key, limit in checks]  # count every one, then decide
        return all(wait is None for wait in waits)

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

    def _reset_token(self, customer: Customer) -> str:
        return issue_token(
            self.signer,
            TokenPurpose.RESET_PASSWORD,
            str(customer.id),
            password_fingerprint(customer.password_hash, customer.password_link_serial),
        )

    def _queue_verification(self, uow: UnitOfWork, customer: Customer, now: dt.datetime) -> None:
        token = issue_token(
            self.signer,
            TokenPurpose.VERIFY_EMAIL,
            str(customer.id),
            verification_fingerprint(customer.email, customer.email_verified, customer.verify_link_serial),
        )
        self._queue(
            uow, EmailTemplate.VERIFY_EMAIL, customer, {"verify_url": self.links.verify_email(token)}, now
        )

    def _queue(
        self,
        uow: UnitOfWork,
        template: EmailTemplate,
        customer: Customer,
        data: Mapping[str, object],
        now: dt.datetime,
    ) -> None:
        queue_email(
            uow, self.renderer, template, customer.email, {**data, "full_name": customer.full_name}, now
        )

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


def _lenient(validate: Callable[[str | None], str | None], value: str | None) -> str | None:
    try:
        return validate(value)
    except ValidationError:
        return None


def session_holds(customer: Customer, token_version: int, login_live: bool) -> bool:
    """An access token still names a signed-in customer: its version is the customer's,
    its login has not ended, and the account is not deactivated."""
    return customer.token_version == token_version and login_live and customer.active
