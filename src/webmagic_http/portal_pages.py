"""The portal's pages, shared by its route modules (no routes here): ``page()`` renders one
from the layout with the portal's headers, the templates' environment and the stylesheet,
and ``core_error_status`` turns a refusal of the core into a status and one line.

Pages are rendered by Jinja with autoescaping from one layout; they carry ``no-store`` (a
page with a token or personal data must not be cached), ``Referrer-Policy: no-referrer``
(a token in the address never leaks to another site) and a CSP that allows nothing but the
page itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from jinja2 import Environment, PackageLoader, StrictUndefined
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from webmagic_core.errors import TransientError, WebMagicError
from webmagic_core.payments.gateway import GatewayError, GatewayUnavailable
from webmagic_http.problems import core_status

PageFn = Callable[..., Template]

PREFIX = "/portal"

PAGE_HEADERS: Mapping[str, str] = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "x-robots-tag": "noindex",
}
# Styles: the portal's stylesheet ('self') and the page width (inline).
CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action {form_action}; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# A page with copy buttons loads the portal's own script (no inline script, ever).
SCRIPT_CSP = "; script-src 'self'"

GATEWAY_TEXT = "The payment service refused the request. Please try again later."
UNAVAILABLE_TEXT = "The payment service cannot be reached right now. Please try again in a few minutes."
BUSY_TEXT = "We are busy right now. Please try again in a moment."


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Templates(Environment):
    """Jinja with a faster ``row.name`` for the plain dicts the pages are built from.

    Jinja reads ``row.name`` as ``getattr(row, "name")`` first and ``row["name"]`` after it
    fails: on a dict that is a raised ``AttributeError`` per cell, a large part of rendering
    a page with many rows. A dict has no attributes but its methods, so going to the key at
    once for any other name gives the same result."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def _environment() -> _Templates:
    return _Templates(
        loader=PackageLoader("webmagic_http", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


@attrs.frozen
class Stylesheet:
    """The portal's styles as one file (the layout's then the portal's own), served by the
    app at an address named after its content: the browser keeps it for a year and a new
    release, with other styles, is a new address. Pages no longer repeat 11 KB of CSS."""

    body: bytes
    path: str  # under PREFIX

    @classmethod
    def build(cls, environment: Environment) -> Stylesheet:
        text = "".join(environment.get_template(name).render() for name in STYLESHEET_PARTS)
        body = text.encode()
        return cls(body, f"/style.{hashlib.sha256(body).hexdigest()[:16]}.css")

    @property
    def url(self) -> str:
        return PREFIX + self.path


STYLESHEET_PARTS = ("_base.css", "portal/_portal.css")
STYLESHEET = Stylesheet.build(_environment())


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """The app's templates (the portal's, under ``portal/``), autoescaped. They ship with
    the package: compiled once, never checked for changes on disk (``auto_reload`` would
    stat every file of a page on every request; ``serve --reload`` restarts the process)."""
    environment = _environment()
    environment.globals["portal_stylesheet"] = STYLESHEET.url
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def page(
    name: str,
    status: int = 200,
    *,
    csp_form_action: str = "'self'",
    scripts: bool = False,
    **context: Any,
) -> Template:
    """A portal page. ``csp_form_action`` widens where its forms may lead: a form that starts
    a checkout is redirected to the payment provider's page, which the CSP must allow.
    ``scripts`` lets the page load the portal's own scripts (progressive enhancement only)."""
    context.setdefault("customer", None)
    csp = CSP.format(form_action=csp_form_action) + (SCRIPT_CSP if scripts else "")
    return Template(
        template_name=f"portal/{name}.html",
        context=context,
        status_code=status,
        headers={**PAGE_HEADERS, "content-security-policy": csp},
        media_type="text/html",
    )


def core_error_status(error: WebMagicError) -> tuple[int, str]:
    """The status and the one line a page shows for a refusal of the core (the status as
    the API answers it, ``problems.core_status``)."""
    status = core_status(error)
    if isinstance(error, GatewayError):
        return status, GATEWAY_TEXT  # its own words may name the shop's configuration
    if isinstance(error, GatewayUnavailable):
        return status, UNAVAILABLE_TEXT
    if isinstance(error, TransientError):
        return status, BUSY_TEXT
    if status == 500:
        return status, "Something went wrong on our side. Please try again."
    return status, sentence(error.detail)


def sentence(text: str) -> str:
    """A core's message as a sentence: capitalised, with its final stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
