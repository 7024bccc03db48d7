"""A 3,000-character slug is a 404 (a page or a problem, as usual) whose body does not
echo it, on every route that takes a slug, authenticated ones included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accounts_support import Accounts, bearer, open_accounts

from webmagic_core.slugs import MAX_LENGTH, shown

LONG = "a" * 3000


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    with open_accounts(tmp_path / "data") as harness:
        yield harness


@pytest.mark.parametrize(
    ("method", "path", "signed_in"),
    [
        ("GET", f"/api/v1/sites/{LONG}", False),
        ("POST", f"/api/v1/sites/{LONG}/purchase", False),
        ("GET", f"/api/v1/customer/sites/{LONG}", True),
        ("GET", f"/api/v1/customer/sites/{LONG}/versions", True),
        ("POST", f"/api/v1/customer/sites/{LONG}/subscription", True),
        ("GET", f"/purchase/{LONG}", False),
        ("GET", f"/{LONG}", False),
        ("GET", f"/{LONG}/styles.css", False),
    ],
)
def test_an_impossible_slug_is_a_404_that_does_not_echo_it(
    accounts: Accounts, method: str, path: str, signed_in: bool
) -> None:
    headers = bearer(accounts.signed_in("ana@example.com")["access_token"]) if signed_in else {}
    body = {"email": "ana@example.com"} if method == "POST" else None

    response = accounts.client.request(method, path, headers=headers, json=body)

    assert response.status_code == 404, response.text
    assert "a" * 100 not in response.text
    assert len(response.content) < 4000


def test_shown_keeps_real_slugs_whole_and_cuts_impossible_ones() -> None:
    assert shown("sunrise-bakery") == "'sunrise-bakery'"
    assert shown("a" * MAX_LENGTH) == repr("a" * MAX_LENGTH)
    assert shown(LONG) == f"{'a' * 24!r}… (3000 characters)"
