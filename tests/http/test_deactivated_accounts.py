"""Operators' account controls seen through the API: a deactivated account gets 403 with
the right password and the usual 401 with a wrong one, its access and refresh tokens stop
working at once, reactivation lets it sign in again, and a resent set-password link works
while the earlier one no longer does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from accounts_support import API, NEW_PASSWORD, PASSWORD, Accounts, bearer, open_accounts, problem, token_of

from webmagic_core.services.accounts import BAD_CREDENTIALS

EMAIL = "owner@example.com"
ME = f"{API}/me"


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    with open_accounts(tmp_path / "data") as harness:
        yield harness


def test_a_deactivated_account_gets_403_for_the_right_password_and_401_for_a_wrong_one(
    accounts: Accounts,
) -> None:
    accounts.verified(EMAIL)
    accounts.container.customers.deactivate(EMAIL, reason="chargeback")
    refused = problem(accounts.post("login", {"email": EMAIL, "password": PASSWORD}), 403)
    assert "disabled" in refused["detail"]
    wrong = problem(accounts.post("login", {"email": EMAIL, "password": "not the password"}), 401)
    assert wrong["detail"] == BAD_CREDENTIALS
    # The same 401 as for an address nobody has: nothing tells a guesser the account exists.
    unknown = problem(accounts.post("login", {"email": "nobody@example.com", "password": "x" * 12}), 401)
    assert unknown["detail"] == wrong["detail"]


def test_deactivation_stops_access_and_refresh_tokens_at_once(accounts: Accounts) -> None:
    session = accounts.signed_in(EMAIL)
    other = accounts.login(EMAIL)
    assert accounts.client.get(ME, headers=bearer(session["access_token"])).status_code == 200
    accounts.container.customers.deactivate(EMAIL)
    for login in (session, other):
        problem(accounts.client.get(ME, headers=bearer(login["access_token"])), 401)
        problem(accounts.post("refresh", {"refresh_token": login["refresh_token"]}), 401)


def test_reactivation_lets_the_owner_sign_in_again(accounts: Accounts) -> None:
    before = accounts.signed_in(EMAIL)
    accounts.container.customers.deactivate(EMAIL)
    accounts.container.customers.reactivate(EMAIL, reason="resolved")
    after = accounts.login(EMAIL)
    assert accounts.client.get(ME, headers=bearer(after["access_token"])).json()["email"] == EMAIL
    # Logins ended by the deactivation stay ended.
    problem(accounts.client.get(ME, headers=bearer(before["access_token"])), 401)


def test_a_resent_set_password_link_works_and_the_earlier_link_does_not(accounts: Accounts) -> None:
    accounts.verified(EMAIL)
    assert accounts.post("forgot-password", {"email": EMAIL}).status_code == 202
    earlier = accounts.last_link(EMAIL, "reset-password")
    accounts.container.customers.resend_link(EMAIL)
    fresh = accounts.last_link(EMAIL, "set-password")
    spent = accounts.post("reset-password", {"token": token_of(earlier), "new_password": NEW_PASSWORD})
    problem(spent, 400)
    done = accounts.post("reset-password", {"token": token_of(fresh), "new_password": NEW_PASSWORD})
    assert done.status_code == 200, done.text
    assert accounts.login(EMAIL, NEW_PASSWORD)["user"]["email"] == EMAIL


def test_the_portal_refuses_a_deactivated_account_with_its_own_words(accounts: Accounts) -> None:
    from payments_support import csrf_token

    accounts.verified(EMAIL)
    accounts.container.customers.deactivate(EMAIL, reason="chargeback")

    def sign_in(password: str) -> httpx.Response:
        page = accounts.client.get("/portal/login")
        form = {"email": EMAIL, "password": password, "_csrf_token": csrf_token(page.text)}
        return accounts.client.post("/portal/login", data=form, follow_redirects=False)

    refused = sign_in(PASSWORD)
    assert refused.status_code == 403
    assert "has been disabled" in refused.text
    assert "not verified" not in refused.text  # no verification link would help
    assert "webmagic_session" not in refused.headers.get("set-cookie", "")
    wrong = sign_in("not the password")
    assert wrong.status_code == 401
    assert "disabled" not in wrong.text
