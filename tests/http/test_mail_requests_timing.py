"""Forgot-password and resend-verification answer before doing any work for the address
(look-up, link, mail), so the time of the answer is the same for known and unknown ones.

Driven through the raw ASGI interface: the order of events is what is checked (the answer's
last byte, then the work), not a wall-clock time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from accounts_support import Accounts, open_accounts

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.services.accounts import AccountService
from webmagic_http.app import create_app
from webmagic_http.portal import CSRF_COOKIE


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    with open_accounts(tmp_path / "data") as harness:
        yield harness


def call(app: Any, path: str, body: bytes, content_type: bytes, events: list[str]) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", content_type)],
        "client": ("203.0.113.5", 5000),
        "server": ("testserver", 80),
    }
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            await asyncio.sleep(3600)
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            events.append(f"status {message['status']}")
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            events.append("answered")

    asyncio.run(app(scope, receive, send))


@pytest.mark.parametrize("method", ["forgot_password", "resend_verification"])
@pytest.mark.parametrize("email", ["known@example.com", "unknown@example.com"])
def test_the_api_answers_before_the_work_for_the_address(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch, method: str, email: str
) -> None:
    accounts.register("known@example.com")
    events: list[str] = []
    real = getattr(AccountService, method)

    def recorded(self: AccountService, address: str, *, client: str | None = None) -> None:
        events.append(f"work for {address} from {client}")
        real(self, address, client=client)

    monkeypatch.setattr(AccountService, method, recorded)
    path = f"/api/v1/customer/{method.replace('_', '-')}"

    call(
        create_app(accounts.container),
        path,
        json.dumps({"email": email.upper()}).encode(),
        b"application/json",
        events,
    )

    assert events == ["status 202", "answered", f"work for {email} from 203.0.113.5"]


def test_the_work_still_happens_after_the_answer(accounts: Accounts) -> None:
    accounts.verified("known@example.com")
    assert accounts.post("forgot-password", {"email": "known@example.com"}).status_code == 202
    assert accounts.mail_to("known@example.com")[-1].template is EmailTemplate.PASSWORD_RESET


def test_a_malformed_address_is_still_refused_before_answering(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    monkeypatch.setattr(AccountService, "forgot_password", lambda *a, **k: events.append("work"))
    path = "/api/v1/customer/forgot-password"

    call(create_app(accounts.container), path, b'{"email": "not an address"}', b"application/json", events)

    assert events == ["status 400", "answered"]


def test_the_portal_form_answers_before_the_work(accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(
        AccountService,
        "forgot_password",
        lambda self, email, *, client=None: events.append(f"work for {email}"),
    )
    form = accounts.client.get("/portal/forgot-password")  # the form's CSRF pair
    cookie = accounts.client.cookies[CSRF_COOKIE]
    token = form.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    app = create_app(accounts.container)

    async def with_cookie(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["headers"].append((b"cookie", f"{CSRF_COOKIE}={cookie}".encode()))
        await app(scope, receive, send)

    body = f"_csrf_token={token}&email=Someone%40example.com".encode()
    call(with_cookie, "/portal/forgot-password", body, b"application/x-www-form-urlencoded", events)

    assert events == ["status 200", "answered", "work for someone@example.com"]
