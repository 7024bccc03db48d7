"""``JinjaEmailRenderer``: the templates under ``templates/``, one ``.txt`` and one ``.html``
per ``EmailTemplate``, rendered from the same data.

The HTML part is autoescaped. The text part is not HTML-escaped (it is not HTML), but user
data is still made harmless there: one-line fields lose line breaks, so a business name
cannot forge extra paragraphs or links below it, multi-line fields are quoted with "> ",
and control and bidirectional-override characters are removed from both parts.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup, escape

from webmagic_adapters.money_format import format_money
from webmagic_core.accounts.emails import TEMPLATE_FIELDS, EmailMessage, EmailTemplate, FieldKind, check_data
from webmagic_core.accounts.tokens import TokenPurpose
from webmagic_core.money import Money

_E = EmailTemplate
SUBJECTS: Mapping[EmailTemplate, str] = {
    _E.VERIFY_EMAIL: "Confirm your email address",
    _E.ACCOUNT_EXISTS: "You already have a WebMagic account",
    _E.PASSWORD_RESET: "Reset your WebMagic password",
    _E.PASSWORD_CHANGED: "Your WebMagic password was changed",
    _E.WELCOME_SET_PASSWORD: "Welcome to WebMagic: the website for {{ business_name }} is yours",
    _E.PURCHASE_CONFIRMATION: "Receipt: the website for {{ business_name }}",
    _E.SUBSCRIPTION_STARTED: "Hosting for {{ business_name }}: your subscription has started",
    _E.SUBSCRIPTION_RECEIPT: "Receipt: hosting for {{ business_name }}",
    _E.PAYMENT_FAILED: "Payment failed: hosting for {{ business_name }}",
    _E.SUBSCRIPTION_CANCELLED: "Hosting for {{ business_name }}: subscription cancelled",
    _E.SITE_SUSPENDED: "The website for {{ business_name }} is offline",
    _E.SITE_RESTORED: "The website for {{ business_name }} is back online",
    _E.HOSTING_ENDING_SOON: "Hosting for {{ business_name }} ends on {{ ends_on | date }}",
    _E.EDIT_READY: "Your change to the website for {{ business_name }} is ready to review",
    _E.EDIT_APPLIED: "Your change is live on the website for {{ business_name }}",
    _E.EDIT_FAILED: "We could not make your change to the website for {{ business_name }}",
    _E.ANOMALY_ALERT: "[WebMagic alert] {{ summary }}",
    _E.DOUBLE_SALE_REFUND: "Refund: the website for {{ business_name }} was already sold",
    _E.DOMAIN_FAILING: "Action needed: {{ domain }} lost its WebMagic DNS record",
    _E.DOMAIN_LAPSED: "{{ domain }} no longer shows the website for {{ business_name }}",
    _E.CERTIFICATE_EXPIRING: "The HTTPS certificate of {{ domain }} expires on {{ not_after | date }}",
    _E.SITE_ARCHIVED: "The website for {{ business_name }} has been taken down",
}

# C0/C1 controls other than tab and newline, and the bidi embedding/override/isolate marks
# that can make text read differently from what it is.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _clean(kind: FieldKind, value: object) -> object:
    if not isinstance(value, str):
        return value
    if kind is FieldKind.LONG_TEXT:
        lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return "\n".join(_UNSAFE.sub("", line).rstrip() for line in lines).strip("\n")
    return " ".join(_UNSAFE.sub(" ", value).split())


def _date(value: dt.date) -> str:
    return f"{value:%B} {value.day}, {value.year}"


def _datetime(value: dt.datetime) -> str:
    utc = value.astimezone(dt.UTC)
    return f"{_date(utc)} at {utc:%H:%M} UTC"


def _money(value: Money) -> str:
    return format_money(value)


def _lifetime(purpose: str) -> str:
    """How long a link works, in words: "1 hour", "48 hours", "7 days"."""
    hours = int(TokenPurpose(purpose).max_age.total_seconds()) // 3600
    if hours > 48 and hours % 24 == 0:
        return f"{hours // 24} days"
    return "1 hour" if hours == 1 else f"{hours} hours"


def _quote(value: str) -> str:
    """Multi-line user text in the plain part, marked as quoted."""
    return "\n".join(f"> {line}" if line else ">" for line in value.split("\n"))


def _lines(value: str) -> Markup:
    """Multi-line user text in the HTML part: escaped, with line breaks kept."""
    return Markup("<br>\n").join(escape(line) for line in value.split("\n"))


class JinjaEmailRenderer:
    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("webmagic_adapters.mail", "templates"),
            # .html templates are autoescaped; .txt templates and subjects are plain text.
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self._env.filters.update(date=_date, datetime=_datetime, money=_money, quote=_quote, lines=_lines)
        self._env.globals["lifetime"] = _lifetime
        self._subjects: dict[EmailTemplate, Template] = {
            template: self._env.from_string(source) for template, source in SUBJECTS.items()
        }
        # Per template, looked up once (not on every message): every key it takes with its
        # kind, and its text and HTML templates.
        self._parts: dict[EmailTemplate, tuple[Mapping[str, FieldKind], Template, Template]] = {}

    def _load(self, template: EmailTemplate) -> tuple[Mapping[str, FieldKind], Template, Template]:
        fields = TEMPLATE_FIELDS[template]
        parts = (
            {**fields.required, **fields.optional},
            self._env.get_template(f"{template.value}.txt"),
            self._env.get_template(f"{template.value}.html"),
        )
        self._parts[template] = parts  # a race only loads the same templates twice
        return parts

    @property
    def environment(self) -> Environment:
        """The Jinja environment (filters and globals included), for checks over the templates."""
        return self._env

    def render(
        self,
        template: EmailTemplate,
        to: str,
        data: Mapping[str, object],
        *,
        site_id: uuid.UUID | None = None,
    ) -> EmailMessage:
        check_data(template, data)
        kinds, text_template, html_template = self._parts.get(template) or self._load(template)
        # Absent optional keys are None, so templates can test them under StrictUndefined.
        context = {key: _clean(kind, data.get(key)) for key, kind in kinds.items()}
        subject = " ".join(self._subjects[template].render(context).split())
        context["subject"] = subject
        text = text_template.render(context)
        html = html_template.render(context)
        return EmailMessage(
            id=uuid.uuid4(),
            to=to,
            subject=subject,
            text=text,
            html=html,
            template=template,
            site_id=site_id,
        )
