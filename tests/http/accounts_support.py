"""Helpers of the customer-account HTTP tests (test_accounts*.py, test_portal*.py).

The real app on a migrated SQLite file, wired by ``bootstrap`` with a fast password
hasher and a mail recorder; mail is queued in the outbox by the services and handed to the
``FakeMailer`` by the container's own relay (``mail_to`` drains it), so a test reads the
links a customer would get, from the rendered text part.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
from litestar import Litestar
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container, bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_core.accounts.emails import EmailMessage
from webmagic_core.accounts.ports import PasswordHasher
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakeMailer, FakePasswordHasher
from webmagic_http.app import create_app

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a new and much better passphrase"
API = "/api/v1/customer"
PROBLEM_JSON = "application/problem+json"

_LINK = re.compile(r"https?://\S+/portal/[a-z-]+\?token=\S+")


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem document of an error response, checked for shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def error_fields(response: httpx.Response) -> set[str]:
    """The fields a 400 problem names."""
    body = problem(response, 400)
    return {error["field"] for error in body.get("errors", []) if "field" in error}


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def path_of(url: str) -> str:
    """The path and query of an absolute link, to request it from the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


@attrs.define
class Accounts:
    client: TestClient[Litestar]
    container: Container
    mailer: FakeMailer
    clock: FakeClock

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.client.post(f"{API}/{path}", json=body, **kwargs)

    def mail_to(self, address: str) -> list[EmailMessage]:
        """Every message sent to ``address`` so far (the outbox is drained first)."""
        self.container.relay.drain()
        return self.mailer.to(address)

    def last_link(self, address: str, page: str) -> str:
        """The ``/portal/<page>`` link of the newest mail to ``address`` (from its text part)."""
        messages = self.mail_to(address)
        assert messages, f"no mail to {address}"
        links = [link for link in _LINK.findall(messages[-1].text) if f"/portal/{page}?" in link]
        assert links, f"no {page} link in the last mail to {address}:\n{messages[-1].text}"
        return links[0]

    def register(self, email: str, password: str = PASSWORD, **extra: Any) -> httpx.Response:
        return self.post("register", {"email": email, "password": password, **extra})

    def verified(self, email: str, password: str = PASSWORD, **extra: Any) -> None:
        """Register ``email`` and follow the verification link through the API."""
        assert self.register(email, password, **extra).status_code == 202
        token = token_of(self.last_link(email, "verify-email"))
        assert self.post("verify-email", {"token": token}).status_code == 200

    def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        response = self.post("login", {"email": email, "password": password})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def signed_in(self, email: str, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
        """A verified account and a fresh login of it."""
        self.verified(email, password, **extra)
        return self.login(email, password)


def accounts_container(
    data_dir: Path, *, hasher: PasswordHasher | None = None, **overrides: Any
) -> tuple[Container, FakeMailer, FakeClock]:
    mailer, clock = FakeMailer(), FakeClock()
    container = bootstrap(
        load_settings(data_dir=data_dir, **overrides),
        clock=clock,
        mailer=mailer,
        hasher=hasher or FakePasswordHasher(),
    )
    container.database.upgrade()
    return container, mailer, clock


@contextmanager
def open_accounts(data_dir: Path, **overrides: Any) -> Iterator[Accounts]:
    container, mailer, clock = accounts_container(data_dir, **overrides)
    try:
        # Under a real public name the app refuses unknown host names: talk to it by that name.
        base_url = overrides.get("public_url", "http://testserver.local")
        with TestClient(create_app(container), base_url=base_url) as client:
            yield Accounts(client, container, mailer, clock)
    finally:
        container.close()
