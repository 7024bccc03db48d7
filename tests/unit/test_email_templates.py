"""Every email template: both parts, text first, links in both, user data made harmless,
and a clear error for missing or wrong data."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from html.parser import HTMLParser
from importlib import resources

import jinja2.meta
import pytest

from webmagic_adapters.mail.mime import to_mime
from webmagic_adapters.mail.templates import SUBJECTS, JinjaEmailRenderer
from webmagic_core.accounts.emails import TEMPLATE_FIELDS, EmailMessage, EmailTemplate, FieldKind
from webmagic_core.accounts.errors import EmailDataError
from webmagic_core.accounts.ports import EmailRenderer
from webmagic_core.errors import ValidationError
from webmagic_core.money import Money
from webmagic_core.testing.accounts import FakeEmailRenderer

ALL = list(EmailTemplate)
XSS = "<script>alert('x')</script> & \"Rosa's\""


@pytest.fixture(scope="module")
def renderer() -> JinjaEmailRenderer:
    return JinjaEmailRenderer()


def sample(kind: FieldKind, key: str) -> object:
    match kind:
        case FieldKind.TEXT:
            return f"Rosa's Bakery {key}"
        case FieldKind.LONG_TEXT:
            return f"First line of {key}\nSecond line"
        case FieldKind.URL:
            return f"https://webmagic.example/{key}?token=abc.DEF-123_x&next=%2Fhome"
        case FieldKind.MONEY:
            return Money(49500, "USD")
        case FieldKind.DATE:
            return dt.date(2026, 3, 4)
        case FieldKind.DATETIME:
            return dt.datetime(2026, 3, 4, 15, 30, tzinfo=dt.UTC)


def full_data(template: EmailTemplate, **overrides: object) -> dict[str, object]:
    fields = TEMPLATE_FIELDS[template]
    data = {key: sample(kind, key) for key, kind in {**fields.required, **fields.optional}.items()}
    return {**data, **overrides}


def required_data(template: EmailTemplate) -> dict[str, object]:
    return {key: sample(kind, key) for key, kind in TEMPLATE_FIELDS[template].required.items()}


class Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value for name, value in attrs if tag == "a" and name == "href" and value]


def hrefs(html: str) -> list[str]:
    parser = Hrefs()
    parser.feed(html)
    return parser.hrefs


def test_every_template_has_fields_a_subject_and_both_files() -> None:
    assert set(TEMPLATE_FIELDS) == set(EmailTemplate)
    assert set(SUBJECTS) == set(EmailTemplate)
    folder = resources.files("webmagic_adapters.mail").joinpath("templates")
    for template in EmailTemplate:
        for suffix in (".txt", ".html"):
            assert folder.joinpath(template.value + suffix).is_file(), template.value + suffix


@pytest.mark.parametrize("template", ALL)
def test_templates_use_only_their_declared_fields(
    renderer: JinjaEmailRenderer, template: EmailTemplate
) -> None:
    env = renderer.environment
    folder = resources.files("webmagic_adapters.mail").joinpath("templates")
    declared = set(TEMPLATE_FIELDS[template].required) | set(TEMPLATE_FIELDS[template].optional)
    # Set by the renderer, guarded in the layout, or macros imported from _macros.html.
    layout = {"subject", "lifetime", "full_name", "button", "link"}
    sources = [SUBJECTS[template]] + [
        folder.joinpath(template.value + suffix).read_text("utf-8") for suffix in (".txt", ".html")
    ]
    for source in sources:
        used = jinja2.meta.find_undeclared_variables(env.parse(source))
        assert used <= declared | layout, f"{template.value} uses undeclared {used - declared - layout}"


@pytest.mark.parametrize("template", ALL)
def test_renders_both_parts_text_first(renderer: JinjaEmailRenderer, template: EmailTemplate) -> None:
    site_id = uuid.uuid4()
    message = renderer.render(template, "rosa@example.com", full_data(template), site_id=site_id)
    assert (message.template, message.to, message.site_id) == (template, "rosa@example.com", site_id)
    assert message.subject
    assert "\n" not in message.subject
    assert message.text.strip()
    assert "<p>" not in message.text
    assert message.html.startswith("<!doctype html>")
    assert "</html>" in message.html

    mime = to_mime(message, sender="WebMagic <no-reply@webmagic.example>")
    assert mime.get_content_type() == "multipart/alternative"
    parts = list(mime.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == message.text
    assert parts[1].get_content() == message.html


@pytest.mark.parametrize("template", ALL)
def test_renders_with_only_the_required_data(renderer: JinjaEmailRenderer, template: EmailTemplate) -> None:
    message = renderer.render(template, "rosa@example.com", required_data(template))
    assert message.text.strip()
    assert "None" not in message.text
    assert "None" not in message.html


@pytest.mark.parametrize("template", ALL)
def test_links_are_in_both_parts(renderer: JinjaEmailRenderer, template: EmailTemplate) -> None:
    data = full_data(template)
    message = renderer.render(template, "rosa@example.com", data)
    links = hrefs(message.html)
    urls = [v for k, v in data.items() if TEMPLATE_FIELDS[template].kind(k) is FieldKind.URL]
    for url in urls:
        assert isinstance(url, str)
        assert url in message.text.split(), f"{url} not on a line of its own or between spaces in the text"
        assert url in links, f"{url} not a link in the HTML"
    assert set(links) <= set(urls), "the HTML links only to the URLs it was given"


@pytest.mark.parametrize("template", ALL)
def test_user_data_is_escaped_in_html_and_plain_in_text(
    renderer: JinjaEmailRenderer, template: EmailTemplate
) -> None:
    fields = TEMPLATE_FIELDS[template]
    hostile = {k: XSS for k, kind in {**fields.required, **fields.optional}.items() if kind is FieldKind.TEXT}
    message = renderer.render(template, "rosa@example.com", full_data(template, **hostile))
    assert "<script" not in message.html
    assert "&lt;script&gt;" in message.html
    assert XSS in message.text, "the text part is not HTML-escaped"
    assert "&lt;" not in message.text


def test_long_text_keeps_lines_but_is_escaped(renderer: JinjaEmailRenderer) -> None:
    instructions = "Make the header <b>red</b>\nand add our phone: 555-0100"
    message = renderer.render(
        EmailTemplate.EDIT_READY,
        "rosa@example.com",
        full_data(EmailTemplate.EDIT_READY, instructions=instructions),
    )
    assert "&lt;b&gt;red&lt;/b&gt;<br>" in message.html
    assert "> Make the header <b>red</b>\n> and add our phone: 555-0100" in message.text


def test_one_line_fields_cannot_forge_lines_in_the_text_part(renderer: JinjaEmailRenderer) -> None:
    name = "Rosa's\n\nURGENT: verify your card at https://evil.example\r\n"
    message = renderer.render(
        EmailTemplate.SITE_RESTORED,
        "rosa@example.com",
        full_data(EmailTemplate.SITE_RESTORED, business_name=name),
    )
    assert "Rosa's URGENT: verify your card at https://evil.example is online" in message.text
    assert not any(line.startswith("URGENT") for line in message.text.splitlines())
    assert "\n" not in message.subject


def test_control_and_bidi_characters_are_removed(renderer: JinjaEmailRenderer) -> None:
    name = "Rosa\u202etxt.exe\x07\x00 Bakery"
    message = renderer.render(
        EmailTemplate.SITE_RESTORED,
        "rosa@example.com",
        full_data(EmailTemplate.SITE_RESTORED, business_name=name),
    )
    for part in (message.subject, message.text, message.html):
        assert "\u202e" not in part
        assert "\x07" not in part
        assert "\x00" not in part
        assert "txt.exe" in part


def test_link_lifetimes_are_stated(renderer: JinjaEmailRenderer) -> None:
    def text(template: EmailTemplate) -> str:
        return renderer.render(template, "rosa@example.com", full_data(template)).text

    assert "48 hours" in text(EmailTemplate.VERIFY_EMAIL)
    assert "1 hour" in text(EmailTemplate.PASSWORD_RESET)
    assert "7 days" in text(EmailTemplate.WELCOME_SET_PASSWORD)


def test_values_are_formatted(renderer: JinjaEmailRenderer) -> None:
    message = renderer.render(
        EmailTemplate.SUBSCRIPTION_RECEIPT,
        "rosa@example.com",
        full_data(
            EmailTemplate.SUBSCRIPTION_RECEIPT,
            amount=Money(9500, "USD"),
            paid_at=dt.datetime(2026, 3, 4, 9, 5, tzinfo=dt.timezone(dt.timedelta(hours=-6))),
            period_ends_on=dt.date(2026, 4, 4),
        ),
    )
    assert "We received $95.00 on March 4" in message.text
    assert "March 4, 2026 at 15:05 UTC" in message.text
    assert "April 4, 2026" in message.text


def test_greets_by_name_when_given(renderer: JinjaEmailRenderer) -> None:
    named = renderer.render(EmailTemplate.VERIFY_EMAIL, "a@b.co", full_data(EmailTemplate.VERIFY_EMAIL))
    anonymous = renderer.render(
        EmailTemplate.VERIFY_EMAIL, "a@b.co", required_data(EmailTemplate.VERIFY_EMAIL)
    )
    assert named.text.startswith("Hello Rosa's Bakery full_name,")
    assert anonymous.text.startswith("Hello,")


# --- wrong data: the same clear error from every renderer ---------------------------------

RENDERERS = [JinjaEmailRenderer, FakeEmailRenderer]
each_renderer = pytest.mark.parametrize("make_renderer", RENDERERS, ids=["jinja", "fake"])


@each_renderer
@pytest.mark.parametrize("template", ALL)
def test_missing_required_keys_are_named(make_renderer: type[EmailRenderer], template: EmailTemplate) -> None:
    renderer = make_renderer()
    for key in TEMPLATE_FIELDS[template].required:
        data = {k: v for k, v in required_data(template).items() if k != key}
        with pytest.raises(EmailDataError, match=rf"'{template.value}': missing {key}"):
            renderer.render(template, "rosa@example.com", data)
        with pytest.raises(EmailDataError, match=rf"missing {key}"):
            renderer.render(template, "rosa@example.com", {**data, key: "  "})


@each_renderer
@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"verify_url": "https://x.example/v?token=t", "verify_link": "x"}, "unknown verify_link"),
        ({"verify_url": "javascript:alert(1)"}, "verify_url must be an absolute http"),
        ({"verify_url": "https://x.example/v?token=a b"}, "verify_url must be an absolute http"),
        # Spaces beyond ASCII's: no-break, line separator, a file separator (str.isspace()).
        ({"verify_url": "https://x.example/v?token=a\u00a0b"}, "verify_url must be an absolute http"),
        ({"verify_url": "https://x.example/v?token=a\u2028b"}, "verify_url must be an absolute http"),
        ({"verify_url": "https://x.example/v?token=a\x1cb"}, "verify_url must be an absolute http"),
        ({"verify_url": "/relative?token=t"}, "verify_url must be an absolute http"),
        ({"verify_url": 42}, "verify_url must be an absolute http"),
        ({"verify_url": "https://x.example/", "full_name": 7}, "full_name must be one line of text, not int"),
    ],
)
def test_unknown_and_mistyped_keys_are_named(
    make_renderer: type[EmailRenderer], data: Mapping[str, object], problem: str
) -> None:
    with pytest.raises(EmailDataError, match=problem):
        make_renderer().render(EmailTemplate.VERIFY_EMAIL, "rosa@example.com", data)


@each_renderer
def test_money_and_time_kinds_are_checked(make_renderer: type[EmailRenderer]) -> None:
    template = EmailTemplate.SUBSCRIPTION_RECEIPT
    for key, wrong, expected in [
        ("amount", 9500, "amount must be Money"),
        ("paid_at", dt.datetime(2026, 1, 1), "paid_at must be a timezone-aware datetime"),
        ("period_ends_on", "2026-01-01", "period_ends_on must be a date"),
    ]:
        with pytest.raises(EmailDataError, match=expected):
            make_renderer().render(template, "rosa@example.com", full_data(template, **{key: wrong}))


def test_fake_renderer_records_and_exposes_links() -> None:
    fake = FakeEmailRenderer()
    url = "https://webmagic.example/verify?token=abc"
    message = fake.render(EmailTemplate.VERIFY_EMAIL, "rosa@example.com", {"verify_url": url})
    assert f"verify_url: {url}" in message.text.splitlines()
    assert hrefs(message.html) == [url]
    assert fake.rendered == [(EmailTemplate.VERIFY_EMAIL, "rosa@example.com", {"verify_url": url})]


# --- the message itself refuses header injection -----------------------------------------


def message(**overrides: object) -> EmailMessage:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "to": "rosa@example.com",
        "subject": "Hello",
        "text": "hi\n",
        "html": "<p>hi</p>",
        "template": EmailTemplate.VERIFY_EMAIL,
    }
    fields.update(overrides)
    return EmailMessage(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Hello\r\nBcc: victim@example.com"},
        {"to": "rosa@example.com\nBcc: victim@example.com"},
        {"to": "not an address"},
        {"to": "rosa\u00a0@example.com"},
        {"to": "rosa@example.com\u2028"},
        {"headers": {"Bcc": "victim@example.com"}},
        {"headers": {"Content-Type": "text/html"}},
        {"headers": {"X-Ok": "one\nBcc: victim@example.com"}},
        {"headers": {"Bad Name": "x"}},
    ],
)
def test_message_refuses_header_injection(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        message(**overrides)


def test_message_accepts_extra_headers() -> None:
    msg = message(headers={"List-Unsubscribe": "<https://webmagic.example/u>"})
    assert msg.headers["List-Unsubscribe"] == "<https://webmagic.example/u>"
