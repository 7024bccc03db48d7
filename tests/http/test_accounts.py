"""``/api/v1/customer/...``: every endpoint of docs/api.md "Customer accounts", end to end on SQLite."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from accounts_support import (
    NEW_PASSWORD,
    PASSWORD,
    Accounts,
    bearer,
    error_fields,
    open_accounts,
    path_of,
    problem,
    token_of,
)

from webmagic_core.accounts.emails import EmailTemplate

ME = "/api/v1/customer/me"
USER_KEYS = {"id", "email", "full_name", "phone", "email_verified", "created_at"}


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    with open_accounts(tmp_path / "data") as harness:
        yield harness


def test_register_answers_202_and_mails_a_verification_link(accounts: Accounts) -> None:
    response = accounts.register("Ana@Example.com ", full_name="Ana Pérez", phone="+502 5555 1234")

    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    [mail] = accounts.mail_to("ana@example.com")
    assert mail.template is EmailTemplate.VERIFY_EMAIL
    assert "/portal/verify-email?token=" in accounts.last_link("ana@example.com", "verify-email")


def test_register_refuses_a_bad_address_or_a_weak_password_naming_the_field(accounts: Accounts) -> None:
    assert error_fields(accounts.register("not-an-address")) == {"email"}
    assert error_fields(accounts.register("ana@example.com", "short")) == {"password"}
    assert error_fields(accounts.register("ana@example.com", "password123")) == {"password"}
    assert error_fields(accounts.register("ana@example.com", phone="call me")) == {"phone"}
    assert accounts.mail_to("ana@example.com") == []


def test_verify_email_works_once(accounts: Accounts) -> None:
    accounts.register("ana@example.com")
    token = token_of(accounts.last_link("ana@example.com", "verify-email"))

    response = accounts.post("verify-email", {"token": token})
    assert response.status_code == 200
    assert response.json()["status"] == "verified"

    again = problem(accounts.post("verify-email", {"token": token}), 400)
    assert again["errors"] == [{"field": "token", "message": again["detail"]}]


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_verify_email_refuses_a_bad_token(accounts: Accounts, token: str) -> None:
    assert error_fields(accounts.post("verify-email", {"token": token})) == {"token"}


def test_verify_email_refuses_an_expired_token(accounts: Accounts) -> None:
    accounts.register("ana@example.com")
    token = token_of(accounts.last_link("ana@example.com", "verify-email"))
    accounts.clock.advance(dt.timedelta(hours=48, seconds=1))

    body = problem(accounts.post("verify-email", {"token": token}), 400)
    assert "expired" in body["detail"]


def test_verify_email_refuses_a_tampered_token(accounts: Accounts) -> None:
    accounts.register("ana@example.com")
    token = token_of(accounts.last_link("ana@example.com", "verify-email"))
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")

    assert error_fields(accounts.post("verify-email", {"token": tampered})) == {"token"}


def test_resend_verification_mails_a_new_link_to_an_unverified_account(accounts: Accounts) -> None:
    accounts.register("ana@example.com")
    response = accounts.post("resend-verification", {"email": "ana@example.com"})

    assert response.status_code == 202
    assert [m.template for m in accounts.mail_to("ana@example.com")] == [EmailTemplate.VERIFY_EMAIL] * 2


def test_login_returns_a_token_pair_and_the_user(accounts: Accounts) -> None:
    accounts.verified("ana@example.com", full_name="Ana", phone="+502 5555 1234")
    response = accounts.post("login", {"email": "ANA@example.com", "password": PASSWORD})

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) >= {"access_token", "token_type", "expires_in", "refresh_token", "user"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert body["access_token"].count(".") == 2
    user = body["user"]
    assert set(user) == USER_KEYS
    assert uuid.UUID(user["id"])
    assert user["email"] == "ana@example.com"
    assert (user["full_name"], user["phone"], user["email_verified"]) == ("Ana", "+502 5555 1234", True)
    created = dt.datetime.fromisoformat(user["created_at"])
    assert created.utcoffset() == dt.timedelta(0)
    assert user["created_at"].endswith("+00:00")


def test_the_access_token_lifetime_comes_from_the_settings(tmp_path: Path) -> None:
    with open_accounts(tmp_path / "data", access_token_minutes=5) as accounts:
        body = accounts.signed_in("ana@example.com")
        assert body["expires_in"] == 300
        accounts.clock.advance(dt.timedelta(minutes=5))
        problem(accounts.client.get(ME, headers=bearer(body["access_token"])), 401)


def test_login_gives_one_message_for_an_unknown_address_and_a_wrong_password(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")

    wrong = problem(accounts.post("login", {"email": "ana@example.com", "password": "wrong password"}), 401)
    unknown = problem(accounts.post("login", {"email": "bob@example.com", "password": PASSWORD}), 401)
    malformed = problem(accounts.post("login", {"email": "not an address", "password": PASSWORD}), 401)

    assert wrong == unknown == malformed
    assert "errors" not in wrong


def test_login_of_an_unverified_account_is_403(accounts: Accounts) -> None:
    accounts.register("ana@example.com")
    body = problem(accounts.post("login", {"email": "ana@example.com", "password": PASSWORD}), 403)
    assert "verify" in body["detail"]


def test_refresh_rotates_the_pair(accounts: Accounts) -> None:
    first = accounts.signed_in("ana@example.com")
    response = accounts.post("refresh", {"refresh_token": first["refresh_token"]})

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["token_type"] == "bearer"
    assert second["user"] == first["user"]
    assert accounts.client.get(ME, headers=bearer(second["access_token"])).status_code == 200


def test_refresh_with_an_unknown_token_is_401(accounts: Accounts) -> None:
    problem(accounts.post("refresh", {"refresh_token": "never-issued"}), 401)


def test_logout_ends_the_login(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    response = accounts.post("logout", {"refresh_token": session["refresh_token"]})

    assert response.status_code == 204
    assert response.content == b""
    problem(accounts.post("refresh", {"refresh_token": session["refresh_token"]}), 401)
    # Unknown or spent tokens are fine to log out with.
    assert accounts.post("logout", {"refresh_token": session["refresh_token"]}).status_code == 204
    assert accounts.post("logout", {"refresh_token": "never-issued"}).status_code == 204


def test_forgot_password_mails_a_reset_link_and_reset_password_sets_it(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    response = accounts.post("forgot-password", {"email": "ana@example.com"})
    assert response.status_code == 202
    token = token_of(accounts.last_link("ana@example.com", "reset-password"))

    reset = accounts.post("reset-password", {"token": token, "new_password": NEW_PASSWORD})

    assert reset.status_code == 200
    assert reset.json()["status"] == "password_changed"
    problem(accounts.post("login", {"email": "ana@example.com", "password": PASSWORD}), 401)
    accounts.login("ana@example.com", NEW_PASSWORD)
    assert accounts.mail_to("ana@example.com")[-1].template is EmailTemplate.PASSWORD_CHANGED
    # Single use.
    again = accounts.post("reset-password", {"token": token, "new_password": "yet another passphrase"})
    assert error_fields(again) == {"token"}


def test_reset_password_refuses_a_weak_password_and_keeps_the_link_usable(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    accounts.post("forgot-password", {"email": "ana@example.com"})
    token = token_of(accounts.last_link("ana@example.com", "reset-password"))

    assert error_fields(accounts.post("reset-password", {"token": token, "new_password": "short"})) == {
        "new_password"
    }
    assert accounts.post("reset-password", {"token": token, "new_password": NEW_PASSWORD}).status_code == 200


def test_reset_password_link_expires_after_an_hour(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    accounts.post("forgot-password", {"email": "ana@example.com"})
    token = token_of(accounts.last_link("ana@example.com", "reset-password"))
    accounts.clock.advance(dt.timedelta(hours=1, seconds=1))

    body = problem(accounts.post("reset-password", {"token": token, "new_password": NEW_PASSWORD}), 400)
    assert "expired" in body["detail"]


def test_reset_password_revokes_every_refresh_and_access_token(accounts: Accounts) -> None:
    phone = accounts.signed_in("ana@example.com")
    laptop = accounts.login("ana@example.com")
    accounts.post("forgot-password", {"email": "ana@example.com"})
    token = token_of(accounts.last_link("ana@example.com", "reset-password"))

    assert accounts.post("reset-password", {"token": token, "new_password": NEW_PASSWORD}).status_code == 200

    for session in (phone, laptop):
        problem(accounts.client.get(ME, headers=bearer(session["access_token"])), 401)
        problem(accounts.post("refresh", {"refresh_token": session["refresh_token"]}), 401)


def test_me_returns_the_signed_in_user(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com", full_name="Ana")
    response = accounts.client.get(ME, headers=bearer(session["access_token"]))

    assert response.status_code == 200
    assert response.json() == session["user"]


def test_patch_me_changes_the_fields_given(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com", full_name="Ana", phone="+502 5555 1234")
    auth = bearer(session["access_token"])

    renamed = accounts.client.patch(ME, json={"full_name": "  Ana   María "}, headers=auth)
    assert renamed.status_code == 200
    assert renamed.json()["full_name"] == "Ana María"
    assert renamed.json()["phone"] == "+502 5555 1234"

    cleared = accounts.client.patch(ME, json={"phone": None}, headers=auth)
    assert (cleared.json()["full_name"], cleared.json()["phone"]) == ("Ana María", None)

    unchanged = accounts.client.patch(ME, json={}, headers=auth)
    assert unchanged.json() == cleared.json()
    assert accounts.client.get(ME, headers=auth).json() == cleared.json()


def test_patch_me_validates_the_fields(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    auth = bearer(session["access_token"])

    assert error_fields(accounts.client.patch(ME, json={"phone": "abc"}, headers=auth)) == {"phone"}
    long_name = accounts.client.patch(ME, json={"full_name": "x" * 201}, headers=auth)
    assert error_fields(long_name) == {"full_name"}
    # Email change is not offered.
    assert error_fields(accounts.client.patch(ME, json={"email": "new@example.com"}, headers=auth)) == {
        "email"
    }


def test_change_password_needs_the_current_one_and_signs_out_everywhere(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    auth = bearer(session["access_token"])

    wrong = accounts.post(
        "me/password", {"current_password": "not my password", "new_password": NEW_PASSWORD}, headers=auth
    )
    assert error_fields(wrong) == {"current_password"}
    weak = accounts.post("me/password", {"current_password": PASSWORD, "new_password": "short"}, headers=auth)
    assert error_fields(weak) == {"new_password"}

    done = accounts.post(
        "me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=auth
    )
    assert done.status_code == 204
    assert done.content == b""
    problem(accounts.client.get(ME, headers=auth), 401)
    problem(accounts.post("refresh", {"refresh_token": session["refresh_token"]}), 401)
    accounts.login("ana@example.com", NEW_PASSWORD)


def test_the_full_flow_through_the_emailed_links(accounts: Accounts) -> None:
    """register → the verify link from the mail opens the portal page → login → me →
    patch me → change password → sign in with the new one."""
    assert accounts.register("ana@example.com", full_name="Ana").status_code == 202
    link = accounts.last_link("ana@example.com", "verify-email")

    page = accounts.client.get(path_of(link))
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "verified" in page.text

    session = accounts.login("ana@example.com")
    auth = bearer(session["access_token"])
    me = accounts.client.get(ME, headers=auth).json()
    assert (me["email"], me["full_name"], me["email_verified"]) == ("ana@example.com", "Ana", True)

    patched = accounts.client.patch(ME, json={"phone": "+502 5555 0000"}, headers=auth)
    assert patched.json()["phone"] == "+502 5555 0000"

    changed = accounts.post(
        "me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=auth
    )
    assert changed.status_code == 204
    again = accounts.login("ana@example.com", NEW_PASSWORD)
    assert again["user"]["phone"] == "+502 5555 0000"


def test_the_endpoints_are_in_the_openapi_document(accounts: Accounts) -> None:
    document = accounts.client.get("/schema/openapi.json").json()
    paths = document["paths"]
    expected = {
        "register": "post",
        "verify-email": "post",
        "resend-verification": "post",
        "login": "post",
        "refresh": "post",
        "logout": "post",
        "forgot-password": "post",
        "reset-password": "post",
        "me": "get",
        "me/password": "post",
    }
    for name, method in expected.items():
        assert method in paths[f"/api/v1/customer/{name}"], name
    assert "patch" in paths[ME]
    login_schema = paths["/api/v1/customer/login"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert login_schema["required"] == ["email", "password"]
    assert login_schema["additionalProperties"] is False
    assert paths[ME]["get"]["security"] == [{"BearerToken": []}]
    assert document["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    # The portal is pages, not API.
    assert not any(path.startswith("/portal") for path in paths)
