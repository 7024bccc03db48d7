"""Request bodies of ``/api/v1/customer/...``: bad JSON, unknown keys, wrong types and missing
fields are 400 problems naming the field, on every endpoint; nothing is done."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pytest
from accounts_support import API, NEW_PASSWORD, PASSWORD, Accounts, bearer, open_accounts, problem

from webmagic_core.services.accounts import UNSET, Unset
from webmagic_http.boundary import body_schema, parse


@attrs.frozen
class Endpoint:
    method: str
    path: str
    valid: dict[str, Any]
    required: frozenset[str]
    authenticated: bool = False


ENDPOINTS = [
    Endpoint(
        "POST",
        "register",
        {"email": "new@example.com", "password": PASSWORD, "full_name": "New", "phone": "+1 555 0100"},
        frozenset({"email", "password"}),
    ),
    Endpoint("POST", "verify-email", {"token": "t"}, frozenset({"token"})),
    Endpoint("POST", "resend-verification", {"email": "new@example.com"}, frozenset({"email"})),
    Endpoint(
        "POST", "login", {"email": "ana@example.com", "password": PASSWORD}, frozenset({"email", "password"})
    ),
    Endpoint("POST", "refresh", {"refresh_token": "r"}, frozenset({"refresh_token"})),
    Endpoint("POST", "logout", {"refresh_token": "r"}, frozenset({"refresh_token"})),
    Endpoint("POST", "forgot-password", {"email": "new@example.com"}, frozenset({"email"})),
    Endpoint(
        "POST",
        "reset-password",
        {"token": "t", "new_password": NEW_PASSWORD},
        frozenset({"token", "new_password"}),
    ),
    Endpoint("PATCH", "me", {"full_name": "Ana", "phone": "+1 555 0100"}, frozenset(), authenticated=True),
    Endpoint(
        "POST",
        "me/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        frozenset({"current_password", "new_password"}),
        authenticated=True,
    ),
]
IDS = [f"{e.method} {e.path}" for e in ENDPOINTS]


@attrs.define
class Caller:
    accounts: Accounts
    access_token: str

    def send(
        self, endpoint: Endpoint, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {**(headers or {}), **(bearer(self.access_token) if endpoint.authenticated else {})}
        return self.accounts.client.request(
            endpoint.method, f"{API}/{endpoint.path}", headers=headers, **kwargs
        )


@pytest.fixture(scope="module")
def caller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Caller]:
    # One app for the module: every request here is refused before it changes anything.
    # Module-scoped, so isolated from the environment here (conftest's isolation is per test).
    folder = tmp_path_factory.mktemp("bodies")
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in [name for name in os.environ if name.startswith("WEBMAGIC_")]:
            monkeypatch.delenv(name)
        monkeypatch.chdir(folder)
        with open_accounts(folder / "data") as accounts:
            session = accounts.signed_in("ana@example.com")
            yield Caller(accounts, session["access_token"])


def assert_names(response: httpx.Response, *fields: str) -> dict[str, Any]:
    body = problem(response, 400)
    named = {error.get("field") for error in body.get("errors", [])}
    assert named == set(fields), body
    for field in fields:
        assert field in body["detail"]
    return body


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("raw", [b'{"email": ', b"not json", b"{'a': 1}", b"\xff\xfe", b""])
def test_a_body_that_is_not_json_is_400(caller: Caller, endpoint: Endpoint, raw: bytes) -> None:
    assert_names(caller.send(endpoint, content=raw, headers={"content-type": "application/json"}), "body")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("document", [[], "text", 42, None, True])
def test_a_body_that_is_not_an_object_is_400(caller: Caller, endpoint: Endpoint, document: Any) -> None:
    raw = json.dumps(document).encode()
    body = assert_names(
        caller.send(endpoint, content=raw, headers={"content-type": "application/json"}), "body"
    )
    assert "object" in body["detail"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_an_unknown_key_is_400_naming_it(caller: Caller, endpoint: Endpoint) -> None:
    body = assert_names(caller.send(endpoint, json={**endpoint.valid, "is_admin": True}), "is_admin")
    assert "unknown" in body["detail"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_missing_field_is_400_naming_it(caller: Caller, endpoint: Endpoint) -> None:
    for field in sorted(endpoint.required):
        document = {k: v for k, v in endpoint.valid.items() if k != field}
        body = assert_names(caller.send(endpoint, json=document), field)
        assert "required" in body["detail"]
    if endpoint.required:
        assert_names(caller.send(endpoint, json={}), *endpoint.required)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("wrong", [123, 1.5, True, ["x"], {"x": "y"}])
def test_a_wrong_type_is_400_naming_the_field(caller: Caller, endpoint: Endpoint, wrong: Any) -> None:
    for field in endpoint.valid:
        body = assert_names(caller.send(endpoint, json={**endpoint.valid, field: wrong}), field)
        assert "must be a string" in body["detail"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_null_is_refused_for_a_required_field(caller: Caller, endpoint: Endpoint) -> None:
    for field in endpoint.required:
        assert_names(caller.send(endpoint, json={**endpoint.valid, field: None}), field)


def test_several_problems_are_named_together(caller: Caller) -> None:
    login = ENDPOINTS[3]
    assert_names(caller.send(login, json={"email": 1, "extra": "x"}), "email", "password", "extra")


def test_authentication_is_checked_before_the_body(caller: Caller) -> None:
    response = caller.accounts.client.patch(f"{API}/me", content=b"not json")
    problem(response, 401)


# --- the boundary itself ------------------------------------------------------------------


@attrs.frozen
class Sample:
    name: str
    note: str | None = None
    patch: str | Unset | None = UNSET


def test_parse_keeps_absent_patch_fields_apart_from_null() -> None:
    assert parse(b'{"name": "a"}', Sample) == Sample("a", None, UNSET)
    assert parse(b'{"name": "a", "note": null, "patch": null}', Sample) == Sample("a", None, None)
    assert parse(b'{"name": "a", "patch": "p"}', Sample).patch == "p"


def test_parse_keeps_strings_exactly_as_sent() -> None:
    assert parse('{"name": "  Ünïcode\\t "}'.encode(), Sample).name == "  Ünïcode\t "


def test_the_body_schema_lists_fields_and_required_ones() -> None:
    schema = body_schema(Sample).to_schema()
    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["name"] == {"type": "string"}
    assert set(schema["properties"]["note"]["type"]) == {"string", "null"}


def test_an_oversized_body_is_refused_unread(caller: Caller) -> None:
    login = ENDPOINTS[3]
    huge = {"email": "ana@example.com", "password": "x" * 20_000}
    problem(caller.send(login, json=huge), 413)
