"""CustomerRepository and RefreshSessionRepository on SQLAlchemy Core."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ColumnElement, bindparam, exists, func, insert, select, update

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.repositories import AnyRow, Insertion, Lookup, SqlAlchemyRepository
from webmagic_core.accounts.customers import Customer, RefreshSession

EMAIL_TAKEN = "an account with this email address exists"

_customers = t.customer_users
_sessions = t.refresh_sessions
# Built once: a purchase's webhook finds or creates its buyer's account (see ``Lookup``).
_INSERT_CUSTOMER = Insertion(_customers)
_CUSTOMER_BY_ID = Lookup(select(_customers).where(_customers.c.id == bindparam("value")))
_CUSTOMER_BY_EMAIL = Lookup(select(_customers).where(_customers.c.email == bindparam("value")))


def _customer(row: AnyRow) -> Customer:
    return Customer(
        id=row.id,
        email=row.email,
        password_hash=row.password_hash,
        full_name=row.full_name,
        phone=row.phone,
        email_verified_at=row.email_verified_at,
        token_version=row.token_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deactivated_at=row.deactivated_at,
        last_login_at=row.last_login_at,
        last_login_address=row.last_login_address,
        failed_logins=row.failed_logins,
        last_failed_login_at=row.last_failed_login_at,
        password_link_serial=row.password_link_serial,
        verify_link_serial=row.verify_link_serial,
    )


def _operator_fields(customer: Customer) -> dict[str, object]:
    """Columns of revision 0010: deactivation, login activity, link serials."""
    return {
        "deactivated_at": customer.deactivated_at,
        "last_login_at": customer.last_login_at,
        "last_login_address": customer.last_login_address,
        "failed_logins": customer.failed_logins,
        "last_failed_login_at": customer.last_failed_login_at,
        "password_link_serial": customer.password_link_serial,
        "verify_link_serial": customer.verify_link_serial,
    }


def _session(row: AnyRow) -> RefreshSession:
    return RefreshSession(
        id=row.id,
        family_id=row.family_id,
        customer_id=row.customer_id,
        token_hash=row.token_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        revoked_at=row.revoked_at,
    )


class SqlAlchemyCustomerRepository(SqlAlchemyRepository):
    def add(self, customer: Customer) -> None:
        self._insert_unique(
            _INSERT_CUSTOMER,
            lambda: self._clash(customer),
            {
                "id": customer.id,
                "email": customer.email,
                "password_hash": customer.password_hash,
                "full_name": customer.full_name,
                "phone": customer.phone,
                "email_verified_at": customer.email_verified_at,
                "token_version": customer.token_version,
                "created_at": customer.created_at,
                "updated_at": customer.updated_at,
                **_operator_fields(customer),
            },
        )

    def save(self, customer: Customer) -> None:
        changed = self._write_unique(
            update(_customers)
            .where(_customers.c.id == customer.id)
            .values(
                email=customer.email,
                password_hash=customer.password_hash,
                full_name=customer.full_name,
                phone=customer.phone,
                email_verified_at=customer.email_verified_at,
                token_version=customer.token_version,
                created_at=customer.created_at,
                updated_at=customer.updated_at,
                **_operator_fields(customer),
            ),
            EMAIL_TAKEN,
        )
        if changed == 0:
            raise LookupError(f"customer {customer.id} was never added")

    def _clash(self, customer: Customer) -> str:
        """Which unique rule an insert broke (asked after it failed, in the same transaction)."""
        taken = select(exists().where(_customers.c.email == customer.email, _customers.c.id != customer.id))
        if self._execute(taken).scalar():
            return EMAIL_TAKEN
        return f"customer {customer.id} exists"

    def get(self, customer_id: uuid.UUID, *, for_update: bool = False) -> Customer | None:
        return self._one(_CUSTOMER_BY_ID, customer_id, for_update=for_update)

    def get_by_email(self, email: str, *, for_update: bool = False) -> Customer | None:
        return self._one(_CUSTOMER_BY_EMAIL, email, for_update=for_update)

    def _one(self, lookup: Lookup, value: object, *, for_update: bool) -> Customer | None:
        row = self._lookup(lookup, {"value": value}, for_update=for_update).first()
        return _customer(row) if row is not None else None


class SqlAlchemyRefreshSessionRepository(SqlAlchemyRepository):
    def add(self, session: RefreshSession) -> None:
        self._insert_unique(
            insert(_sessions).values(
                id=session.id,
                family_id=session.family_id,
                customer_id=session.customer_id,
                token_hash=session.token_hash,
                created_at=session.created_at,
                expires_at=session.expires_at,
                used_at=session.used_at,
                revoked_at=session.revoked_at,
            ),
            "this refresh session exists",
        )

    def save(self, session: RefreshSession) -> None:
        result = self._write(
            update(_sessions)
            .where(_sessions.c.id == session.id)
            .values(used_at=session.used_at, revoked_at=session.revoked_at)
        )
        if result.rowcount == 0:
            raise LookupError(f"refresh session {session.id} was never added")

    def get_by_token_hash(self, token_hash: str, *, for_update: bool = False) -> RefreshSession | None:
        query = select(_sessions).where(_sessions.c.token_hash == token_hash)
        row = self._select(query, for_update=for_update).first()
        return _session(row) if row is not None else None

    def revoke_family(self, family_id: uuid.UUID, at: dt.datetime) -> int:
        return self._revoke(_sessions.c.family_id == family_id, at)

    def revoke_customer(self, customer_id: uuid.UUID, at: dt.datetime) -> int:
        return self._revoke(_sessions.c.customer_id == customer_id, at)

    def login_live(self, family_id: uuid.UUID) -> bool:
        # One indexed read: how many tokens the login has, and how many of them are revoked.
        query = select(
            func.count(),
            func.count(_sessions.c.revoked_at),
        ).where(_sessions.c.family_id == family_id)
        total, revoked = self._select(query, for_update=False).one()
        return bool(total) and not revoked

    def _revoke(self, condition: ColumnElement[bool], at: dt.datetime) -> int:
        result = self._write(
            update(_sessions).where(condition, _sessions.c.revoked_at.is_(None)).values(revoked_at=at)
        )
        return int(result.rowcount)
