"""The data of queued mail survives its trip through the outbox: every template's fields,
of every kind, encode to JSON and decode to the same Python values (the relay renders the
mail from them later), and what does not decode is refused, not guessed at."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webmagic_core.accounts.emails import (
    TEMPLATE_FIELDS,
    EmailTemplate,
    FieldKind,
    check_data,
    decode_data,
    encode_data,
)
from webmagic_core.accounts.errors import EmailDataError
from webmagic_core.money import Money

_offsets = st.timedeltas(
    min_value=-dt.timedelta(hours=23, minutes=59), max_value=dt.timedelta(hours=23, minutes=59)
)
_zones = st.one_of(st.just(dt.UTC), st.builds(dt.timezone, _offsets))
_one_line = st.text(min_size=1).filter(lambda s: s.strip())
_urls = st.builds(
    lambda scheme, host, path, query: f"{scheme}://{host}.example/{path}?token={query}",
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9/._~%-]{0,40}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9._-]{0,60}", fullmatch=True),
)
_money = st.builds(
    Money, st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["USD", "EUR", "MXN", "JPY"])
)
_dates = st.one_of(st.dates(), st.datetimes())  # a DATE field takes a datetime too
_datetimes = st.datetimes(timezones=_zones)

VALUES: dict[FieldKind, st.SearchStrategy[object]] = {
    FieldKind.TEXT: _one_line,
    FieldKind.LONG_TEXT: _one_line,
    FieldKind.URL: _urls,
    FieldKind.MONEY: _money,
    FieldKind.DATE: _dates,
    FieldKind.DATETIME: _datetimes,
}


@st.composite
def template_data(draw: st.DrawFn) -> tuple[EmailTemplate, dict[str, object]]:
    template = draw(st.sampled_from(list(EmailTemplate)))
    fields = TEMPLATE_FIELDS[template]
    data = {key: draw(VALUES[kind]) for key, kind in fields.required.items()}
    for key, kind in fields.optional.items():
        choice = draw(st.sampled_from(["absent", "none", "value"]))
        if choice != "absent":
            data[key] = None if choice == "none" else draw(VALUES[kind])
    return template, data


@given(template_data())
def test_every_templates_data_round_trips_to_the_same_values(
    case: tuple[EmailTemplate, dict[str, object]],
) -> None:
    template, data = case
    check_data(template, data)  # the data queue_email accepts
    encoded = encode_data(template, data)
    assert isinstance(json.loads(encoded), dict)
    decoded = decode_data(template, encoded)
    assert decoded == data
    assert {key: type(value) for key, value in decoded.items()} == {
        key: type(value) for key, value in data.items()
    }
    for key, value in data.items():
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            assert decoded[key].utcoffset() == value.utcoffset()  # type: ignore[attr-defined]


@pytest.mark.parametrize("template", list(EmailTemplate))
def test_every_field_of_every_template_has_an_encoding(template: EmailTemplate) -> None:
    fields = TEMPLATE_FIELDS[template]
    assert set({**fields.required, **fields.optional}.values()) <= set(VALUES)


@pytest.mark.parametrize(
    ("encoded", "problem"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"reset_url": 7}', "stored reset_url is unreadable"),
        ('{"reset_url": "https://a.example/r", "changed_at": "2026-01-01"}', "unknown changed_at"),
        ("{}", "missing reset_url"),
    ],
)
def test_stored_data_that_no_longer_fits_its_template_is_refused(encoded: str, problem: str) -> None:
    with pytest.raises(EmailDataError, match=problem):
        decode_data(EmailTemplate.PASSWORD_RESET, encoded)


def test_money_dates_and_links_are_stored_as_plain_json() -> None:
    data = {
        "business_name": "Casa Rosa",
        "site_url": "https://sites.example/casa-rosa",
        "amount": Money(49500, "USD"),
        "reference": "pi_1",
        "hosting_until": dt.date(2026, 4, 1),
        "full_name": None,
    }
    assert json.loads(encode_data(EmailTemplate.PURCHASE_CONFIRMATION, data)) == {
        "business_name": "Casa Rosa",
        "site_url": "https://sites.example/casa-rosa",
        "amount": {"cents": 49500, "currency": "USD"},
        "reference": "pi_1",
        "hosting_until": "2026-04-01",
        "full_name": None,
    }


def test_not_strict_keeps_what_does_not_fit_for_the_renderer_to_refuse() -> None:
    encoded = '{"reset_url": 7, "colour": "red"}'
    data = decode_data(EmailTemplate.PASSWORD_RESET, encoded, strict=False)
    assert data == {"reset_url": 7, "colour": "red"}
    with pytest.raises(EmailDataError, match="unknown colour"):
        check_data(EmailTemplate.PASSWORD_RESET, data)
