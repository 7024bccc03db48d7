"""The pages email links open: ``/portal/verify-email``, ``/portal/reset-password``,
``/portal/set-password`` (and the forms asking for a new link). Plain HTML, CSRF-protected
forms, autoescaped, tokens never logged."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from accounts_support import NEW_PASSWORD, PASSWORD, Accounts, open_accounts, path_of, problem, token_of

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_http.portal import CSRF_COOKIE

CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    with open_accounts(tmp_path / "data") as harness:
        yield harness


def html(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.text.startswith("<!doctype html>")
    assert '<html lang="en">' in response.text
    assert "<script" not in response.text.lower()
    return response.text


def csrf_token(page: str) -> str:
    found = CSRF_FIELD.search(page)
    assert found, "no CSRF field in the form"
    return found[1]


def reset_link(accounts: Accounts, email: str = "ana@example.com") -> str:
    accounts.post("forgot-password", {"email": email})
    return accounts.last_link(email, "reset-password")


def submit_password(
    accounts: Accounts, page: str, action: str, password: str, confirmation: str | None = None
) -> httpx.Response:
    token = re.search(r'name="token" value="([^"]*)"', page)
    assert token, "no token field in the form"
    return accounts.client.post(
        f"/portal/{action}",
        data={
            "_csrf_token": csrf_token(page),
            "token": token[1],
            "password": password,
            "password_confirmation": password if confirmation is None else confirmation,
        },
    )


# --- verify-email -------------------------------------------------------------------------


def test_the_verify_link_verifies_and_says_so(accounts: Accounts) -> None:
    accounts.register("ana@example.com")
    link = accounts.last_link("ana@example.com", "verify-email")

    page = html(accounts.client.get(path_of(link)), 200)

    assert "Email address verified" in page
    assert 'href="/portal/login"' in page  # the next step is one click away
    assert accounts.login("ana@example.com")["user"]["email_verified"] is True


def test_a_used_verify_link_says_it_is_done_and_links_to_sign_in(accounts: Accounts) -> None:
    accounts.register("ana@example.com")
    link = path_of(accounts.last_link("ana@example.com", "verify-email"))
    accounts.client.get(link)

    page = html(accounts.client.get(link), 200)

    assert "Already done" in page
    assert "already verified" in page
    assert 'href="/portal/login"' in page
    assert 'type="email"' not in page  # nothing is asked for


def test_a_verify_link_that_cannot_be_used_links_to_the_sign_in_page(accounts: Accounts) -> None:
    page = html(accounts.client.get("/portal/verify-email?token=garbage"), 400)
    assert 'action="resend-verification"' in page
    assert 'href="/portal/login"' in page  # "just sign in" links to the sign-in page


def test_an_expired_verify_link_says_it_expired(accounts: Accounts) -> None:
    accounts.register("ana@example.com")
    link = path_of(accounts.last_link("ana@example.com", "verify-email"))
    accounts.clock.advance(dt.timedelta(hours=49))

    page = html(accounts.client.get(link), 400)
    assert "expired" in page
    problem(accounts.post("login", {"email": "ana@example.com", "password": PASSWORD}), 403)


@pytest.mark.parametrize("query", ["", "?token=", "?token=garbage", "?other=1"])
def test_a_bad_verify_link_is_a_page_not_an_error_document(accounts: Accounts, query: str) -> None:
    page = html(accounts.client.get(f"/portal/verify-email{query}"), 400)
    assert "This link cannot be used" in page


def test_the_resend_form_sends_a_new_verification_link(accounts: Accounts) -> None:
    accounts.register("ana@example.com")
    accounts.clock.advance(dt.timedelta(hours=49))
    expired = path_of(accounts.last_link("ana@example.com", "verify-email"))
    page = html(accounts.client.get(expired), 400)

    response = accounts.client.post(
        "/portal/resend-verification", data={"_csrf_token": csrf_token(page), "email": "ana@example.com"}
    )

    assert "Check your inbox" in html(response, 200)
    fresh = accounts.last_link("ana@example.com", "verify-email")
    assert path_of(fresh) != expired
    assert "Email address verified" in html(accounts.client.get(path_of(fresh)), 200)


def test_the_resend_form_answers_the_same_for_unknown_addresses(accounts: Accounts) -> None:
    accounts.register("ana@example.com")
    page = html(accounts.client.get("/portal/resend-verification"), 200)
    known = accounts.client.post(
        "/portal/resend-verification", data={"_csrf_token": csrf_token(page), "email": "ana@example.com"}
    )
    unknown = accounts.client.post(
        "/portal/resend-verification", data={"_csrf_token": csrf_token(page), "email": "bob@example.com"}
    )
    assert (known.status_code, known.text) == (unknown.status_code, unknown.text)


# --- reset-password -----------------------------------------------------------------------


def test_the_reset_link_opens_a_form_that_sets_the_password(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    link = reset_link(accounts)

    form = html(accounts.client.get(path_of(link)), 200)
    assert 'method="post"' in form
    assert 'action="reset-password"' in form
    assert 'autocomplete="new-password"' in form
    assert '<label for="password">' in form
    assert '<label for="password_confirmation">' in form
    assert accounts.client.cookies.get(CSRF_COOKIE)

    done = html(submit_password(accounts, form, "reset-password", NEW_PASSWORD), 200)

    assert "Your password has been changed" in done
    assert 'href="/portal/login">Sign in</a>' in done
    accounts.login("ana@example.com", NEW_PASSWORD)
    problem(accounts.post("login", {"email": "ana@example.com", "password": PASSWORD}), 401)
    assert accounts.mail_to("ana@example.com")[-1].template is EmailTemplate.PASSWORD_CHANGED


def test_the_reset_form_without_a_csrf_token_is_refused(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    link = reset_link(accounts)
    html(accounts.client.get(path_of(link)), 200)
    fields = {"token": token_of(link), "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}

    missing = accounts.client.post("/portal/reset-password", data=fields)
    forged = accounts.client.post("/portal/reset-password", data={**fields, "_csrf_token": "0" * 128})

    for response in (missing, forged):
        assert "This form could not be accepted" in html(response, 403)
    # Nothing changed.
    accounts.login("ana@example.com", PASSWORD)


def test_the_reset_form_from_another_site_is_refused(accounts: Accounts) -> None:
    """A cross-site post carries the victim's cookie but cannot read the token in the form."""
    accounts.verified("ana@example.com")
    link = reset_link(accounts)
    form = html(accounts.client.get(path_of(link)), 200)
    accounts.client.cookies.clear()
    # The attacker's own token and cookie pair would be valid, but not with the victim's cookie.
    attacker_form = html(accounts.client.get("/portal/forgot-password"), 200)
    accounts.client.cookies.clear()
    html(accounts.client.get("/portal/forgot-password"), 200)  # the victim's cookie

    response = accounts.client.post(
        "/portal/reset-password",
        data={
            "_csrf_token": csrf_token(attacker_form),
            "token": token_of(link),
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
        },
    )
    html(response, 403)
    assert csrf_token(form)
    accounts.login("ana@example.com", PASSWORD)


def test_the_reset_form_shows_a_mismatch_in_the_form(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    form = html(accounts.client.get(path_of(reset_link(accounts))), 200)

    page = html(submit_password(accounts, form, "reset-password", NEW_PASSWORD, "something else"), 400)

    assert "The two passwords are not the same." in page
    assert 'aria-invalid="true"' in page
    assert 'name="token"' in page  # the form is shown again, ready to retry
    accounts.login("ana@example.com", PASSWORD)


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "at least 8 characters"), ("password123", "most commonly used"), ("", "Enter a new password")],
)
def test_the_reset_form_shows_a_weak_password_in_the_form(
    accounts: Accounts, password: str, message: str
) -> None:
    accounts.verified("ana@example.com")
    form = html(accounts.client.get(path_of(reset_link(accounts))), 200)

    page = html(submit_password(accounts, form, "reset-password", password), 400)

    assert message in page
    assert 'id="password-error"' in page
    # The link still works after a refused attempt.
    assert "Your password has been changed" in html(
        submit_password(accounts, page, "reset-password", NEW_PASSWORD), 200
    )


def test_a_used_reset_link_says_it_is_done_before_asking_for_anything(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    link = path_of(reset_link(accounts))
    form = html(accounts.client.get(link), 200)
    html(submit_password(accounts, form, "reset-password", NEW_PASSWORD), 200)

    reopened = html(accounts.client.get(link), 200)  # signature and age still fine, but used
    assert "Already done" in reopened
    assert 'href="/portal/login"' in reopened
    assert 'type="password"' not in reopened
    # The form still open in another tab: the same answer, and the password stays.
    again = html(submit_password(accounts, form, "reset-password", "yet another passphrase"), 200)
    assert "Already done" in again
    accounts.login("ana@example.com", NEW_PASSWORD)


def test_the_password_forms_name_the_account_for_password_managers(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    form = html(accounts.client.get(path_of(reset_link(accounts))), 200)
    field = re.search(r"<input[^>]*autocomplete=\"username\"[^>]*>", form)
    assert field is not None
    assert 'value="ana@example.com"' in field[0]
    assert "hidden" in field[0]
    welcome = html(accounts.client.get(path_of(welcome_link(accounts, "eva@example.com"))), 200)
    assert re.search(r'<input[^>]*value="eva@example.com"[^>]*autocomplete="username"', welcome)
    # Re-shown after a mistake, it still names the account.
    mistake = html(submit_password(accounts, form, "reset-password", NEW_PASSWORD, "different"), 400)
    assert re.search(r'<input[^>]*value="ana@example.com"[^>]*autocomplete="username"', mistake)


def test_the_bad_link_page_links_to_the_sign_in_page(accounts: Accounts) -> None:
    page = html(accounts.client.get("/portal/reset-password?token=abc.def"), 400)
    assert "sign in" in page
    assert 'href="/portal/login"' in page


@pytest.mark.parametrize("page_name", ["reset-password", "set-password"])
def test_a_tampered_or_missing_token_shows_the_bad_link_page(accounts: Accounts, page_name: str) -> None:
    assert "This link cannot be used" in html(accounts.client.get(f"/portal/{page_name}?token=abc.def"), 400)
    assert "incomplete" in html(accounts.client.get(f"/portal/{page_name}"), 400)


def test_an_expired_reset_link_says_so_before_asking_for_a_password(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    link = path_of(reset_link(accounts))
    accounts.clock.advance(dt.timedelta(hours=1, seconds=1))

    page = html(accounts.client.get(link), 400)
    assert "expired" in page
    assert 'type="password"' not in page


def test_the_forgot_form_mails_a_new_reset_link(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    form = html(accounts.client.get("/portal/forgot-password"), 200)

    response = accounts.client.post(
        "/portal/forgot-password", data={"_csrf_token": csrf_token(form), "email": "ana@example.com"}
    )

    assert "Check your inbox" in html(response, 200)
    assert "/portal/reset-password?token=" in accounts.last_link("ana@example.com", "reset-password")


def test_the_forgot_form_shows_an_invalid_address_escaped(accounts: Accounts) -> None:
    form = html(accounts.client.get("/portal/forgot-password"), 200)

    response = accounts.client.post(
        "/portal/forgot-password", data={"_csrf_token": csrf_token(form), "email": '"><script>x</script>'}
    )

    page = html(response, 400)
    assert 'aria-invalid="true"' in page
    assert "&#34;&gt;&lt;script&gt;x&lt;/script&gt;" in page


def test_values_echoed_in_the_password_form_are_escaped(accounts: Accounts) -> None:
    form = html(accounts.client.get("/portal/forgot-password"), 200)
    response = accounts.client.post(
        "/portal/reset-password",
        data={
            "_csrf_token": csrf_token(form),
            "token": '"><script>alert(1)</script>',
            "password": NEW_PASSWORD,
            "password_confirmation": "different",
        },
    )
    page = html(response, 400)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- set-password (the welcome mail after a purchase) ---------------------------------------


def welcome_link(accounts: Accounts, email: str) -> str:
    """What the purchase flow mails: an account without a password and its set-password link."""
    service = accounts.container.accounts
    with accounts.container.database.unit_of_work() as uow:
        customer, created = service.find_or_create_for_purchase(uow, email, "Ana", None, accounts.clock.now())
        uow.commit()
    assert created
    return service.set_password_link(customer)


def test_the_set_password_link_sets_the_first_password(accounts: Accounts) -> None:
    link = welcome_link(accounts, "ana@example.com")
    assert "/portal/set-password?token=" in link

    form = html(accounts.client.get(path_of(link)), 200)
    assert "Set your password" in form
    assert 'action="set-password"' in form
    done = html(submit_password(accounts, form, "set-password", NEW_PASSWORD), 200)

    assert "Your password is set" in done
    session = accounts.login("ana@example.com", NEW_PASSWORD)
    assert session["user"]["email_verified"] is True  # the link proved the mailbox
    assert "Already done" in html(
        submit_password(accounts, form, "set-password", "yet another passphrase"), 200
    )
    assert "Already done" in html(accounts.client.get(path_of(link)), 200)
    # The first password is no change to warn about: no "password changed" mail...
    assert all(m.template is not EmailTemplate.PASSWORD_CHANGED for m in accounts.mail_to("ana@example.com"))
    # ...but every later one is.
    html(
        submit_password(
            accounts,
            html(accounts.client.get(path_of(reset_link(accounts))), 200),
            "reset-password",
            "a third long passphrase",
        ),
        200,
    )
    assert accounts.mail_to("ana@example.com")[-1].template is EmailTemplate.PASSWORD_CHANGED


def test_a_set_password_link_lasts_seven_days_and_is_not_a_reset_link(accounts: Accounts) -> None:
    link = welcome_link(accounts, "ana@example.com")
    token = token_of(link)
    html(accounts.client.get(f"/portal/reset-password?token={token}"), 400)
    accounts.clock.advance(dt.timedelta(days=6, hours=23))
    html(accounts.client.get(path_of(link)), 200)
    accounts.clock.advance(dt.timedelta(hours=2))
    assert "expired" in html(accounts.client.get(path_of(link)), 400)


# --- the JSON API is not behind CSRF; tokens stay out of the logs ----------------------------


def test_the_json_api_needs_no_csrf_token_even_with_the_portal_cookie(accounts: Accounts) -> None:
    html(accounts.client.get("/portal/forgot-password"), 200)
    assert accounts.client.cookies.get(CSRF_COOKIE)
    assert accounts.register("ana@example.com").status_code == 202
    assert accounts.post("forgot-password", {"email": "ana@example.com"}).status_code == 202


def test_the_csrf_cookie_is_scoped_to_the_portal(accounts: Accounts) -> None:
    response = accounts.client.get("/portal/forgot-password")
    cookie = response.headers["set-cookie"]
    assert "Path=/portal" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_the_secure_flag_follows_the_public_url(tmp_path: Path) -> None:
    with open_accounts(tmp_path / "data", public_url="https://api.example.com") as accounts:
        assert "Secure" in accounts.client.get("/portal/forgot-password").headers["set-cookie"]


def test_tokens_are_never_logged(accounts: Accounts, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    accounts.register("ana@example.com")
    verify = accounts.last_link("ana@example.com", "verify-email")
    accounts.client.get(path_of(verify))
    accounts.client.get(path_of(verify))
    session = accounts.login("ana@example.com")
    accounts.post("refresh", {"refresh_token": session["refresh_token"]})
    accounts.post("refresh", {"refresh_token": session["refresh_token"]})  # reuse: logged as a warning
    accounts.mailer.fail_next(1, transient=False)  # the mail with the reset link fails: logged
    accounts.post("forgot-password", {"email": "ana@example.com"})
    accounts.container.relay.drain()
    link = reset_link(accounts)
    form = html(accounts.client.get(path_of(link)), 200)
    submit_password(accounts, form, "reset-password", "short")
    submit_password(accounts, form, "reset-password", NEW_PASSWORD)
    submit_password(accounts, form, "reset-password", NEW_PASSWORD)

    # httpx logs the test client's own requests: that is the browser's side, not the server's.
    server = [record for record in caplog.records if not record.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(record.getMessage() for record in server)
    assert "refresh token reused" in logged
    assert "is dead" in logged
    secrets = [token_of(verify), token_of(link), csrf_token(form), session["refresh_token"]]
    secrets += [session["access_token"], NEW_PASSWORD, PASSWORD]
    for secret in secrets:
        assert secret not in logged


# --- key rotation ---------------------------------------------------------------------------

OLD_KEY = "the-old-secret-key-" + "o" * 30
NEW_KEY = "the-new-secret-key-" + "n" * 30


def test_a_form_and_a_link_made_before_a_key_rotation_still_work_during_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with open_accounts(data, secret_key=OLD_KEY) as before:
        before.verified("ana@example.com")
        link = path_of(reset_link(before))
        form = html(before.client.get(link), 200)
        cookie = before.client.cookies[CSRF_COOKIE]

    with open_accounts(data, secret_key=NEW_KEY, secret_key_previous=OLD_KEY) as rotating:
        rotating.client.cookies.set(CSRF_COOKIE, cookie, path="/portal")
        response = submit_password(rotating, form, "reset-password", NEW_PASSWORD)
        assert "password has been changed" in html(response, 200).lower()
        rotating.login("ana@example.com", NEW_PASSWORD)


def test_a_form_of_a_key_no_longer_kept_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with open_accounts(data, secret_key=OLD_KEY) as before:
        before.verified("ana@example.com")
        form = html(before.client.get(path_of(reset_link(before))), 200)
        cookie = before.client.cookies[CSRF_COOKIE]

    with open_accounts(data, secret_key=NEW_KEY) as after:
        after.client.cookies.set(CSRF_COOKIE, cookie, path="/portal")
        refused = submit_password(after, form, "reset-password", NEW_PASSWORD)
        assert "This form could not be accepted" in html(refused, 403)
