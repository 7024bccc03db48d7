"""Slug rules: what may name a site in ``/{slug}``."""

from __future__ import annotations

import re

from webmagic_core.errors import ValidationError

MIN_LENGTH = 3
MAX_LENGTH = 63

# Paths the application itself uses, now or later; a site may never take them.
RESERVED: frozenset[str] = frozenset(
    {
        "about",
        "account",
        "accounts",
        "admin",
        "api",
        "app",
        "apps",
        "assets",
        "auth",
        "billing",
        "blog",
        "buy",
        "cancel",
        "cdn",
        "checkout",
        "checkouts",
        "contact",
        "customer",
        "customers",
        "dashboard",
        "docs",
        "domain",
        "domains",
        "download",
        "edit",
        "edits",
        "favicon",
        "health",
        "healthz",
        "help",
        "internal",
        "legal",
        "login",
        "logout",
        "mail",
        "media",
        "metrics",
        "new",
        "pages",
        "pay",
        "payment",
        "payments",
        "portal",
        "pricing",
        "privacy",
        "public",
        "purchase",
        "readyz",
        "register",
        "reset",
        "robots",
        "sandbox",
        "schema",
        "settings",
        "signup",
        "site",
        "sites",
        "static",
        "status",
        "support",
        "terms",
        "thank-you",
        "thanks",
        "tls",
        "verify",
        "webhook",
        "webhooks",
        "webmagic",
        "well-known",
        "www",
    }
)

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

RULE = (
    f"a slug is {MIN_LENGTH}-{MAX_LENGTH} characters of lowercase letters, digits and single "
    "hyphens, not starting or ending with a hyphen"
)


def shown(slug: str) -> str:
    """``slug`` quoted for a message: whole when it could be a slug, else its start and its
    length (an error must not echo a 3,000-character path segment)."""
    if len(slug) <= MAX_LENGTH:
        return repr(slug)
    return f"{slug[:24]!r}… ({len(slug)} characters)"


def validate_slug(slug: str) -> str:
    """Return ``slug`` if it may name a site, else raise ``ValidationError`` naming the rule."""
    if not (MIN_LENGTH <= len(slug) <= MAX_LENGTH) or not _SLUG.fullmatch(slug):
        raise ValidationError(f"invalid slug {shown(slug)}: {RULE}", field="slug")
    if slug in RESERVED:
        raise ValidationError(f"slug {slug!r} is reserved for the application's own pages", field="slug")
    return slug


def is_valid_slug(slug: str) -> bool:
    try:
        validate_slug(slug)
    except ValidationError:
        return False
    return True
