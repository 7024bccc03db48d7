"""The mail ``AccountService`` sends to account owners: verification, reset and set-password
links, "an account exists" and "your password changed" notices, all through the outbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.accounts.ports import TokenSigner
from webmagic_core.accounts.tokens import (
    TokenPurpose,
    issue_token,
    password_fingerprint,
    verification_fingerprint,
)
from webmagic_core.ports import UnitOfWork
from webmagic_core.services.account_config import AccountLinks
from webmagic_core.services.outbox import queue_email


class AccountMail:
    """Mixed into ``AccountService``, whose signer and links it uses."""

    __slots__ = ()

    signer: TokenSigner
    links: AccountLinks

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
        queue_email(uow, template, customer.email, {**data, "full_name": customer.full_name}, now)
