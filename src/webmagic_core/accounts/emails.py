"""Transactional email: the templates, the data each one takes, and the rendered message.

``TEMPLATE_FIELDS`` is the one place that says which data keys a template needs; every
renderer calls ``check_data`` first, so a service that forgets a key fails at once with a
message naming it rather than sending a mail with a hole in it.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from webmagic_core.accounts.errors import EmailDataError
from webmagic_core.errors import ValidationError
from webmagic_core.money import Money


class EmailTemplate(enum.StrEnum):
    VERIFY_EMAIL = "verify_email"
    # Sent instead of a verification mail when someone registers an address that already
    # has an account: the API answers the same either way, the mailbox owner learns which.
    ACCOUNT_EXISTS = "account_exists"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a template name
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a template name
    WELCOME_SET_PASSWORD = "welcome_set_password"  # noqa: S105 - a template name
    PURCHASE_CONFIRMATION = "purchase_confirmation"
    SUBSCRIPTION_STARTED = "subscription_started"
    SUBSCRIPTION_RECEIPT = "subscription_receipt"
    PAYMENT_FAILED = "payment_failed"
    SUBSCRIPTION_CANCELLED = "subscription_cancelled"
    SITE_SUSPENDED = "site_suspended"
    SITE_RESTORED = "site_restored"
    HOSTING_ENDING_SOON = "hosting_ending_soon"
    EDIT_READY = "edit_ready"
    EDIT_APPLIED = "edit_applied"
    EDIT_FAILED = "edit_failed"
    ANOMALY_ALERT = "anomaly_alert"
    DOUBLE_SALE_REFUND = "double_sale_refund"
    # Custom domains (phase 5).
    DOMAIN_FAILING = "domain_failing"
    DOMAIN_LAPSED = "domain_lapsed"
    CERTIFICATE_EXPIRING = "certificate_expiring"
    SITE_ARCHIVED = "site_archived"


class FieldKind(enum.Enum):
    TEXT = "one line of text"
    LONG_TEXT = "text (several lines allowed)"
    URL = "an absolute http(s) URL"
    MONEY = "Money"
    DATE = "a date"
    DATETIME = "a timezone-aware datetime"


@attrs.frozen
class TemplateFields:
    required: Mapping[str, FieldKind]
    optional: Mapping[str, FieldKind] = attrs.field(factory=dict)

    def kind(self, key: str) -> FieldKind | None:
        return self.required.get(key) or self.optional.get(key)


T, LT, URL, MONEY, DATE, DATETIME = (
    FieldKind.TEXT,
    FieldKind.LONG_TEXT,
    FieldKind.URL,
    FieldKind.MONEY,
    FieldKind.DATE,
    FieldKind.DATETIME,
)
# Every customer mail may greet the recipient by name.
_GREETING = {"full_name": T}

TEMPLATE_FIELDS: Mapping[EmailTemplate, TemplateFields] = {
    EmailTemplate.VERIFY_EMAIL: TemplateFields({"verify_url": URL}, _GREETING),
    EmailTemplate.ACCOUNT_EXISTS: TemplateFields({"reset_url": URL, "sign_in_url": URL}, _GREETING),
    EmailTemplate.PASSWORD_RESET: TemplateFields({"reset_url": URL}, _GREETING),
    EmailTemplate.PASSWORD_CHANGED: TemplateFields({"changed_at": DATETIME}, {**_GREETING, "reset_url": URL}),
    EmailTemplate.WELCOME_SET_PASSWORD: TemplateFields(
        {"set_password_url": URL, "business_name": T, "site_url": URL}, _GREETING
    ),
    EmailTemplate.PURCHASE_CONFIRMATION: TemplateFields(
        {"business_name": T, "site_url": URL, "amount": MONEY, "reference": T},
        {**_GREETING, "hosting_until": DATE},
    ),
    EmailTemplate.SUBSCRIPTION_STARTED: TemplateFields(
        {"business_name": T, "site_url": URL, "amount": MONEY, "next_billing_on": DATE}, _GREETING
    ),
    EmailTemplate.SUBSCRIPTION_RECEIPT: TemplateFields(
        {"business_name": T, "amount": MONEY, "paid_at": DATETIME, "period_ends_on": DATE},
        {**_GREETING, "reference": T},
    ),
    EmailTemplate.PAYMENT_FAILED: TemplateFields(
        {"business_name": T, "amount": MONEY, "manage_url": URL}, {**_GREETING, "next_attempt_on": DATE}
    ),
    EmailTemplate.SUBSCRIPTION_CANCELLED: TemplateFields(
        {"business_name": T, "ends_on": DATE}, {**_GREETING, "resubscribe_url": URL}
    ),
    EmailTemplate.SITE_SUSPENDED: TemplateFields(
        {"business_name": T, "site_url": URL, "reactivate_url": URL}, _GREETING
    ),
    EmailTemplate.SITE_RESTORED: TemplateFields({"business_name": T, "site_url": URL}, _GREETING),
    # An operator took the site down: no more charges; what was paid for is settled by hand.
    EmailTemplate.SITE_ARCHIVED: TemplateFields(
        {"business_name": T, "archived_on": DATE}, {**_GREETING, "paid_through": DATE}
    ),
    EmailTemplate.HOSTING_ENDING_SOON: TemplateFields(
        {"business_name": T, "site_url": URL, "ends_on": DATE, "subscribe_url": URL}, _GREETING
    ),
    EmailTemplate.EDIT_READY: TemplateFields(
        {"business_name": T, "preview_url": URL, "review_url": URL}, {**_GREETING, "instructions": LT}
    ),
    EmailTemplate.EDIT_APPLIED: TemplateFields(
        {"business_name": T, "site_url": URL, "version": T, "review_url": URL},
        {**_GREETING, "summary": T},
    ),
    EmailTemplate.EDIT_FAILED: TemplateFields(
        {"business_name": T, "reason": LT, "review_url": URL}, {**_GREETING, "instructions": LT}
    ),
    # To the operators (WEBMAGIC_ADMIN_EMAIL), not to a customer.
    EmailTemplate.ANOMALY_ALERT: TemplateFields(
        {"summary": T, "details": LT}, {"site_slug": T, "reference": T}
    ),
    EmailTemplate.DOUBLE_SALE_REFUND: TemplateFields(
        {"business_name": T, "amount": MONEY, "reference": T}, _GREETING
    ),
    # Custom domains (phase 5).
    EmailTemplate.DOMAIN_FAILING: TemplateFields(
        {
            "business_name": T,
            "domain": T,
            "record_name": T,
            "record_value": T,
            "grace_ends_at": DATETIME,
            "manage_url": URL,
        },
        _GREETING,
    ),
    EmailTemplate.DOMAIN_LAPSED: TemplateFields(
        {
            "business_name": T,
            "domain": T,
            "record_name": T,
            "record_value": T,
            "site_url": URL,
            "manage_url": URL,
        },
        _GREETING,
    ),
    # To the owner (greeted) and to WEBMAGIC_ADMIN_EMAIL.
    EmailTemplate.CERTIFICATE_EXPIRING: TemplateFields(
        {"business_name": T, "domain": T, "not_after": DATETIME}, _GREETING
    ),
}


# Whatever str.isspace() calls a space (the Unicode ones too); one C-level scan of a long
# link (a set-password token) instead of a Python call per character.
_WHITESPACE = re.compile(r"\s")


def _kind_problem(kind: FieldKind, value: object) -> bool:
    """True when ``value`` is not of ``kind``."""
    match kind:
        case FieldKind.TEXT | FieldKind.LONG_TEXT:
            return not isinstance(value, str)
        case FieldKind.URL:
            if not isinstance(value, str) or _WHITESPACE.search(value):
                return True
            parts = urlsplit(value)
            return parts.scheme not in ("http", "https") or not parts.netloc
        case FieldKind.MONEY:
            return not isinstance(value, Money)
        case FieldKind.DATE:
            return not isinstance(value, dt.date)
        case FieldKind.DATETIME:
            return not isinstance(value, dt.datetime) or value.utcoffset() is None


def _absent(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_data(template: EmailTemplate, data: Mapping[str, object]) -> None:
    """Raise ``EmailDataError`` naming every missing, unknown or mistyped key."""
    fields = TEMPLATE_FIELDS[template]
    problems: list[str] = []
    missing = sorted(k for k in fields.required if _absent(data.get(k)))
    if missing:
        problems.append("missing " + ", ".join(missing))
    unknown = sorted(k for k in data if fields.kind(k) is None)
    if unknown:
        problems.append("unknown " + ", ".join(unknown))
    for key, value in data.items():
        kind = fields.kind(key)
        if kind is not None and value is not None and _kind_problem(kind, value):
            problems.append(f"{key} must be {kind.value}, not {type(value).__name__}")
    if problems:
        raise EmailDataError(f"email template {template.value!r}: " + "; ".join(problems))


_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII without ':' (RFC 5322 field name)
# Set from the message itself when it is turned into MIME; not overridable by ``headers``.
MANAGED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "sender", "reply-to"}
)


def _one_line(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValidationError(f"the email {name} must be one line", field=name)


def _check_headers(_: object, __: attrs.Attribute[Mapping[str, str]], headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise ValidationError(f"{name!r} is not a valid email header name", field="headers")
        if name.lower() in MANAGED_HEADERS or name.lower().startswith("content-"):
            raise ValidationError(f"the {name} header is set from the message itself", field="headers")
        _one_line("headers", value)


@attrs.frozen
class EmailMessage:
    """A rendered message, ready for a ``Mailer`` (and for the outbox, which stores it).

    ``id`` becomes the ``Message-ID``, so a retried delivery is recognisably the same mail.
    ``site_id`` ties the mail to a site's timeline when it is about one.
    """

    id: uuid.UUID
    to: str
    subject: str
    text: str
    html: str
    template: EmailTemplate
    site_id: uuid.UUID | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, validator=_check_headers)

    def __attrs_post_init__(self) -> None:
        _one_line("to", self.to)
        _one_line("subject", self.subject)
        if "@" not in self.to or _WHITESPACE.search(self.to):
            raise ValidationError(f"{self.to!r} is not an email address", field="to")


# --- the data of a queued message, stored until the relay renders it --------------------------
#
# JSON by the template's field kinds: text and URLs as strings, Money as
# {"cents": ..., "currency": ...}, dates and datetimes in ISO 8601 (a datetime keeps its
# offset; a DATE field given a datetime comes back a datetime), None as null. Only data
# that ``check_data`` accepts is encoded, so every key has a kind.


def _encode_value(kind: FieldKind, value: object) -> object:
    if value is None:
        return None
    match kind:
        case FieldKind.MONEY if isinstance(value, Money):
            return {"cents": value.amount_in_cents, "currency": value.currency}
        case FieldKind.DATE | FieldKind.DATETIME if isinstance(value, dt.date):
            return value.isoformat()
        case FieldKind.TEXT | FieldKind.LONG_TEXT | FieldKind.URL if isinstance(value, str):
            return str(value)
    raise TypeError(f"{type(value).__name__} is not {kind.value}")


def _decode_value(kind: FieldKind, value: object) -> object:
    if value is None:
        return None
    match kind:
        case FieldKind.MONEY if isinstance(value, dict):
            return Money(value["cents"], value["currency"])
        case FieldKind.DATE if isinstance(value, str):
            return dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
        case FieldKind.DATETIME if isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        case FieldKind.TEXT | FieldKind.LONG_TEXT | FieldKind.URL if isinstance(value, str):
            return value
    raise TypeError(f"a stored {type(value).__name__} is not {kind.value}")


def encode_data(template: EmailTemplate, data: Mapping[str, object]) -> str:
    """``data`` (as ``check_data`` accepts it) as JSON, by the kinds of ``template``."""
    fields = TEMPLATE_FIELDS[template]
    encoded = {key: _encode_value(fields.kind(key) or FieldKind.TEXT, value) for key, value in data.items()}
    # ASCII: any string (a lone surrogate too) survives the UTF-8 of the sealed column.
    return json.dumps(encoded, sort_keys=True, separators=(",", ":"))


def decode_data(template: EmailTemplate, encoded: str, *, strict: bool = True) -> dict[str, object]:
    """The data ``encode_data`` stored, as the same Python values. ``EmailDataError`` if it is
    not a JSON object, or (``strict``) if it no longer fits the template (a field renamed
    or retyped since it was queued, say). Not ``strict``: a value that does not decode is
    kept as stored, for the renderer's ``check_data`` to refuse with the details when the
    relay renders it (the message then goes dead rather than out with a hole in it)."""
    try:
        raw = json.loads(encoded)
    except ValueError as error:
        raise EmailDataError(f"email template {template.value!r}: stored data is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise EmailDataError(f"email template {template.value!r}: stored data is not a JSON object")
    fields = TEMPLATE_FIELDS[template]
    data: dict[str, object] = {}
    for key, value in raw.items():
        kind = fields.kind(key)
        try:
            data[key] = value if kind is None else _decode_value(kind, value)
        except (ValueError, TypeError, KeyError) as error:
            if strict:
                raise EmailDataError(
                    f"email template {template.value!r}: stored {key} is unreadable: {error}"
                ) from None
            data[key] = value
    if strict:
        check_data(template, data)
    return data
