"""The signed-in portal: sign in and out, my sites, a site's page with its subscription, the
account; the session cookie over the API's token service; CSRF on every form; no open
redirect after signing in; another owner's site is a 404."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from payments_support import PASSWORD, Shop, csrf_token, html, open_shop, path_of, portal_link, query_of
from portal_support import location, portal_form, portal_login, set_cookies, signed_in_portal
from subscriptions_support import API, bearer, own_site, subscribe

from webmagic_core.errors import TransientError
from webmagic_core.payments.gateway import GatewayError, GatewayUnavailable
from webmagic_core.payments.subscriptions import SubscriptionState
from webmagic_core.testing.subscriptions import ProviderSimulator
from webmagic_http.portal_session import REFRESH_COOKIE, SESSION_COOKIE, safe_next

ROSA, ANA = "rosa@example.com", "ana@example.com"
NEW_PASSWORD = "a brand new secret phrase 77"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with open_shop(tmp_path / "data") as running:
        yield running


@pytest.fixture
def rosa(shop: Shop) -> str:
    """Rosa owns sunrise-bakery (bought on January 1, 2026) and is signed in to the portal."""
    token = shop.signed_in(ROSA)
    own_site(shop, token, email=ROSA)
    signed_in_portal(shop, ROSA)
    return token


def get(shop: Shop, path: str) -> str:
    return html(shop.client.get(path, follow_redirects=False), 200)


def sign_out_browser(shop: Shop) -> None:
    shop.client.cookies.clear()


# --- signing in ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "login"),
    [
        ("/portal", "/portal/login"),
        ("/portal/account", "/portal/login?next=/portal/account"),
        ("/portal/sites/sunrise-bakery", "/portal/login?next=/portal/sites/sunrise-bakery"),
        (
            "/portal/sites/sunrise-bakery?notice=cancelled",
            "/portal/login?next=/portal/sites/sunrise-bakery?notice=cancelled",
        ),
    ],
)
def test_an_anonymous_visitor_is_sent_to_sign_in_and_back(shop: Shop, path: str, login: str) -> None:
    shop.signed_in(ROSA)
    assert location(shop.client.get(path, follow_redirects=False)) == login

    response = portal_login(shop, ROSA, next_path=query_of(login, "next") if "next=" in login else None)

    assert location(response) == path
    assert "Your websites" in get(shop, "/portal")


def test_the_session_cookies_are_httponly_lax_scoped_to_the_portal_and_not_secure_on_http(
    shop: Shop,
) -> None:
    shop.signed_in(ROSA)
    cookies = set_cookies(portal_login(shop, ROSA))
    for name in (SESSION_COOKIE, REFRESH_COOKIE):
        flags = [part.strip().lower() for part in cookies[name].split(";")]
        assert "httponly" in flags
        assert "samesite=lax" in flags
        assert "path=/portal" in flags
        assert "secure" not in flags
        assert not any(flag.startswith(("max-age", "expires")) for flag in flags)  # a browser session


def test_the_session_cookies_are_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    with open_shop(tmp_path / "data", public_url="https://webmagic.example") as shop:
        shop.client.base_url = "https://webmagic.example"  # so the Secure CSRF cookie is sent back
        shop.signed_in(ROSA)
        cookies = set_cookies(portal_login(shop, ROSA))
    for name in (SESSION_COOKIE, REFRESH_COOKIE):
        assert "secure" in [part.strip().lower() for part in cookies[name].split(";")]


def test_a_wrong_password_is_one_line_on_the_form_and_opens_no_session(shop: Shop) -> None:
    shop.signed_in(ROSA)
    response = portal_login(shop, ROSA, "not the password")
    page = html(response, 401)
    assert "The email address or the password is incorrect." in page
    assert SESSION_COOKIE not in set_cookies(response)
    assert f'value="{ROSA}"' in page  # the address is kept, the password is not
    assert location(shop.client.get("/portal", follow_redirects=False)) == "/portal/login"


def test_an_unverified_account_is_told_to_verify_first(shop: Shop) -> None:
    shop.client.post("/api/v1/customer/register", json={"email": ANA, "password": PASSWORD})
    page = html(portal_login(shop, ANA), 403)
    assert "not verified yet" in page
    assert 'href="/portal/resend-verification"' in page


def test_login_throttling_is_shared_with_the_api(shop: Shop) -> None:
    shop.signed_in(ROSA)
    for _ in range(5):
        wrong = {"email": ROSA, "password": "wrong password here"}
        assert shop.client.post("/api/v1/customer/login", json=wrong).status_code == 401

    response = portal_login(shop, ROSA)  # the right password, but the address is locked

    page = html(response, 429)
    assert "Too many attempts to sign in. Try again in" in page
    assert int(response.headers["retry-after"]) > 0
    assert SESSION_COOKIE not in set_cookies(response)


def test_wrong_portal_passwords_lock_the_api_login_too(shop: Shop) -> None:
    shop.signed_in(ROSA)
    for _ in range(5):
        assert portal_login(shop, ROSA, "wrong password here").status_code == 401
    answer = shop.client.post("/api/v1/customer/login", json={"email": ROSA, "password": PASSWORD})
    assert answer.status_code == 429


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/portal",
        "//evil.example/portal",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/portal/../evil",
        "/elsewhere",
        "/portalx",
        "/portal\r\nSet-Cookie: x=1",
        "/portal/login?next=https://evil.example",
        " //evil.example",
    ],
)
def test_next_never_leads_off_the_portal(shop: Shop, target: str) -> None:
    shop.signed_in(ROSA)
    assert location(portal_login(shop, ROSA, next_path=target)) == "/portal"
    # An already signed-in visitor of the sign-in page is not sent there either.
    assert (
        location(shop.client.get("/portal/login", params={"next": target}, follow_redirects=False))
        == "/portal"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/portal/account", "/portal/account"),
        ("/portal/sites/a-b?notice=cancelled", "/portal/sites/a-b?notice=cancelled"),
        ("/portal", "/portal"),
        (None, "/portal"),
        ("", "/portal"),
        ("//evil.example", "/portal"),
        ("/portal/./x", "/portal"),
        ("/portal/x/..", "/portal"),
        ("/portal/" + "a" * 3000, "/portal"),
        ("/portal/\\evil.example", "/portal"),  # a backslash: browsers read it as a slash
        ("/portal/\t/x", "/portal"),
    ],
)
def test_safe_next(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_signing_out_ends_the_login_on_the_server(shop: Shop, rosa: str) -> None:
    refresh = shop.client.cookies.get(REFRESH_COOKIE)
    assert refresh

    response = portal_form(shop, "/portal/logout", "/portal/logout", {})

    assert location(response) == "/portal/login?notice=signed_out"
    cleared = set_cookies(response)
    assert "max-age=0" in cleared[SESSION_COOKIE].lower()
    assert "You are signed out." in get(shop, "/portal/login?notice=signed_out")
    assert location(shop.client.get("/portal", follow_redirects=False)) == "/portal/login"
    # The refresh token of that login is revoked, not merely forgotten by the browser.
    assert shop.client.post("/api/v1/customer/refresh", json={"refresh_token": refresh}).status_code == 401


# The site page reads the session on the event loop (SQLite) and renews it in a thread.
@pytest.mark.parametrize("page", ["/portal", "/portal/sites/sunrise-bakery"])
def test_an_expired_access_cookie_is_renewed_with_the_refresh_cookie(
    shop: Shop, rosa: str, page: str
) -> None:
    old_access = shop.client.cookies.get(SESSION_COOKIE)
    shop.clock.advance(dt.timedelta(minutes=16))  # past the access token's 15 minutes

    response = shop.client.get(page, follow_redirects=False)

    html(response, 200)
    renewed = set_cookies(response)
    assert SESSION_COOKIE in renewed
    assert REFRESH_COOKIE in renewed
    assert shop.client.cookies.get(SESSION_COOKIE) != old_access
    assert "httponly" in renewed[SESSION_COOKIE].lower()
    html(shop.client.get("/portal/account", follow_redirects=False), 200)


def test_a_password_reset_ends_the_portal_session(shop: Shop, rosa: str) -> None:
    shop.client.post("/api/v1/customer/forgot-password", json={"email": ROSA})
    token = query_of(portal_link(shop.mail_to(ROSA)[-1], "reset-password"), "token")
    answer = shop.client.post(
        "/api/v1/customer/reset-password", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert answer.status_code == 200

    assert location(shop.client.get("/portal", follow_redirects=False)) == "/portal/login"
    shop.clock.advance(dt.timedelta(minutes=16))  # and the refresh cookie cannot revive it
    assert location(shop.client.get("/portal", follow_redirects=False)) == "/portal/login"


def test_sign_out_everywhere_ends_the_portal_and_api_sessions(shop: Shop, rosa: str) -> None:
    api = shop.client.post("/api/v1/customer/login", json={"email": ROSA, "password": PASSWORD}).json()

    response = portal_form(shop, "/portal/account", "/portal/account/sign-out-everywhere", {})

    assert location(response) == "/portal/login?notice=signed_out_everywhere"
    assert location(shop.client.get("/portal", follow_redirects=False)) == "/portal/login"
    assert shop.client.get("/api/v1/customer/me", headers=bearer(api["access_token"])).status_code == 401
    refreshed = shop.client.post("/api/v1/customer/refresh", json={"refresh_token": api["refresh_token"]})
    assert refreshed.status_code == 401
    signed_in_portal(shop, ROSA)  # the password still works


# --- CSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_a_form_without_the_right_csrf_token_is_refused_and_changes_nothing(
    shop: Shop, rosa: str, token: str | None
) -> None:
    subscribe(shop, rosa)
    data = {"full_name": "Mallory"} if token is None else {"full_name": "Mallory", "_csrf_token": token}

    assert html(shop.client.post("/portal/account", data=data, follow_redirects=False), 403)
    cancel = {} if token is None else {"_csrf_token": token}
    html(shop.client.post("/portal/sites/sunrise-bakery/subscription/cancel", data=cancel), 403)
    html(shop.client.post("/portal/account/sign-out-everywhere", data=cancel), 403)

    me = shop.client.get("/api/v1/customer/me", headers=bearer(shop.login(ROSA))).json()
    assert me["full_name"] != "Mallory"
    sub = shop.client.get(f"{API}/sunrise-bakery/subscription", headers=bearer(shop.login(ROSA))).json()
    assert (sub["status"], sub["cancel_at_period_end"]) == ("active", False)
    html(shop.client.get("/portal", follow_redirects=False), 200)  # still signed in


def test_the_login_form_needs_its_csrf_token(shop: Shop) -> None:
    shop.signed_in(ROSA)
    response = shop.client.post("/portal/login", data={"email": ROSA, "password": PASSWORD})
    html(response, 403)
    assert SESSION_COOKIE not in set_cookies(response)


def test_every_portal_form_carries_a_csrf_token(shop: Shop, rosa: str) -> None:
    for path in ("/portal", "/portal/account", "/portal/sites/sunrise-bakery", "/portal/logout"):
        page = get(shop, path)
        forms = page.count("<form")
        assert forms > 0
        assert page.count('name="_csrf_token"') == forms, path


# --- my sites and one site -------------------------------------------------------------------


def test_my_sites_lists_name_address_status_and_the_date_that_matters(shop: Shop, rosa: str) -> None:
    page = get(shop, "/portal")
    assert "Sunrise Bakery" in page
    assert "sunrise-bakery" in page
    assert "Online" in page
    assert "Hosting is included until" in page
    assert 'href="/portal/sites/sunrise-bakery"' in page


def test_another_owners_site_is_a_404_and_its_forms_change_nothing(shop: Shop, rosa: str) -> None:
    sign_out_browser(shop)
    shop.signed_in(ANA)
    signed_in_portal(shop, ANA)

    page = html(shop.client.get("/portal/sites/sunrise-bakery", follow_redirects=False), 404)
    assert "Sunrise Bakery" not in page
    html(shop.client.get("/portal/sites/no-such-site", follow_redirects=False), 404)
    started = portal_form(shop, "/portal", "/portal/sites/sunrise-bakery/subscription/start", {})
    html(started, 404)
    assert "Sunrise Bakery" not in get(shop, "/portal")
    rosa_sub = shop.client.get(f"{API}/sunrise-bakery/subscription", headers=bearer(rosa))
    assert rosa_sub.status_code == 404  # Ana started nothing on Rosa's site


def test_the_subscription_starts_at_the_checkout_and_the_page_then_shows_the_next_payment(
    shop: Shop, rosa: str
) -> None:
    page = get(shop, "/portal/sites/sunrise-bakery")
    assert "Start the subscription" in page
    assert "You bought the website" in page  # the history

    response = portal_form(
        shop, "/portal/sites/sunrise-bakery", "/portal/sites/sunrise-bakery/subscription/start", {}
    )

    checkout_url = response.headers["location"]
    assert response.status_code == 303
    checkout_id = checkout_url.rstrip("/").rsplit("/", 1)[-1]
    _, events = ProviderSimulator(shop.gateway, shop.clock).pay_checkout(checkout_id)
    for event in events:
        assert shop.deliver(event).json() == {"status": "processed"}

    page = get(shop, "/portal/sites/sunrise-bakery")
    assert "Subscription active. Next payment of $95.00 on" in page
    assert "The monthly hosting subscription started." in page
    assert "Cancel at the end of the paid month" in page
    assert "Monthly payment of $95.00 received" in page


@pytest.mark.parametrize(
    ("fault", "status", "line"),
    [
        (GatewayError("invalid api key sk_live_123"), 502, "The payment service refused the request."),
        (GatewayUnavailable("timeout"), 503, "The payment service cannot be reached right now."),
        (TransientError("database is busy"), 503, "We are busy right now."),
    ],
)
def test_a_refused_or_failed_start_is_one_line_on_the_page_and_starts_nothing(
    shop: Shop, rosa: str, fault: Exception, status: int, line: str
) -> None:
    shop.gateway.fail_next(method="create_checkout", error=fault)

    response = portal_form(
        shop, "/portal/sites/sunrise-bakery", "/portal/sites/sunrise-bakery/subscription/start", {}
    )

    page = html(response, status)
    assert line in page
    assert "sk_live_123" not in page  # the provider's own words may name the shop's keys
    assert "Traceback" not in page
    assert "Start the subscription" in page  # still offered: nothing was started
    started = shop.client.get(f"{API}/sunrise-bakery/subscription", headers=bearer(rosa))
    assert started.json()["status"] == "expired"  # the held checkout given up, not left pending
    assert started.json()["started_at"] is None
    again = portal_form(
        shop, "/portal/sites/sunrise-bakery", "/portal/sites/sunrise-bakery/subscription/start", {}
    )
    assert again.status_code == 303  # trying again goes to the checkout


def test_cancel_says_the_date_the_site_stops_and_resume_says_a_new_month_starts(
    shop: Shop, rosa: str
) -> None:
    subscribe(shop, rosa)

    response = portal_form(
        shop, "/portal/sites/sunrise-bakery", "/portal/sites/sunrise-bakery/subscription/cancel", {}
    )

    assert location(response) == "/portal/sites/sunrise-bakery?notice=cancelled"
    page = get(shop, "/portal/sites/sunrise-bakery?notice=cancelled")
    assert "Your subscription is cancelled. Nothing more will be charged." in page
    assert "the site goes offline on January 31, 2026" in page
    assert "Resume the subscription" in page
    assert "starts a new monthly subscription today" in page
    assert "not carried over" in page
    sub = shop.client.get(f"{API}/sunrise-bakery/subscription", headers=bearer(shop.login(ROSA))).json()
    assert (sub["status"], sub["cancel_at_period_end"]) == (SubscriptionState.CANCELLED.value, True)

    resumed = portal_form(
        shop, "/portal/sites/sunrise-bakery", "/portal/sites/sunrise-bakery/subscription/start", {}
    )
    assert resumed.status_code == 303
    assert "/checkout" in resumed.headers["location"] or "ch_" in resumed.headers["location"]


def test_a_refusal_of_the_core_is_one_line_on_the_page(shop: Shop, rosa: str) -> None:
    # Nothing to cancel on a site without a subscription: 409, one line, the page still whole.
    response = portal_form(
        shop, "/portal/sites/sunrise-bakery", "/portal/sites/sunrise-bakery/subscription/cancel", {}
    )
    page = html(response, 409)
    assert 'role="alert">This site has no subscription to cancel.</div>' in page
    assert "Traceback" not in page
    assert "<h1>Sunrise Bakery</h1>" in page


def test_an_unknown_notice_shows_nothing_and_input_is_never_echoed(shop: Shop, rosa: str) -> None:
    page = get(shop, "/portal/sites/sunrise-bakery?notice=<script>alert(1)</script>")
    assert "alert(1)" not in page


# --- account ---------------------------------------------------------------------------------


def test_the_account_saves_name_and_phone(shop: Shop, rosa: str) -> None:
    response = portal_form(
        shop, "/portal/account", "/portal/account", {"full_name": "Rosa  Díaz", "phone": "+502 5555 1234"}
    )
    assert location(response) == "/portal/account?notice=profile_saved"
    page = get(shop, "/portal/account?notice=profile_saved")
    assert "Your details are saved." in page
    assert 'value="Rosa Díaz"' in page
    assert 'value="+502 5555 1234"' in page


def test_a_bad_phone_is_one_line_and_nothing_is_saved(shop: Shop, rosa: str) -> None:
    response = portal_form(
        shop, "/portal/account", "/portal/account", {"full_name": "Rosa", "phone": "call me"}
    )
    page = html(response, 400)
    assert 'aria-invalid="true"' in page
    assert "phone number has 6 to 20 digits" in page
    me = shop.client.get("/api/v1/customer/me", headers=bearer(shop.login(ROSA))).json()
    assert me["phone"] is None
    assert me["full_name"] != "Rosa"


def test_the_change_password_form_names_the_account_for_password_managers(shop: Shop, rosa: str) -> None:
    page = get(shop, "/portal/account")
    form = page[page.index('action="/portal/account/password"') :]
    field = re.search(r'<input[^>]*autocomplete="username"[^>]*>', form[: form.index("</form>")])
    assert field is not None
    assert f'value="{ROSA}"' in field[0]
    assert "hidden" in field[0]


def test_changing_the_password_keeps_this_browser_signed_in_and_signs_out_the_rest(
    shop: Shop, rosa: str
) -> None:
    other = shop.client.post("/api/v1/customer/login", json={"email": ROSA, "password": PASSWORD}).json()
    fields = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "new_password_confirmation": NEW_PASSWORD,
    }

    response = portal_form(shop, "/portal/account", "/portal/account/password", fields)

    assert location(response) == "/portal/account?notice=password_changed"
    assert "Every other device was signed out." in get(shop, "/portal/account?notice=password_changed")
    assert shop.client.get("/api/v1/customer/me", headers=bearer(other["access_token"])).status_code == 401
    old = shop.client.post("/api/v1/customer/login", json={"email": ROSA, "password": PASSWORD})
    assert old.status_code == 401


def test_a_wrong_current_password_changes_nothing(shop: Shop, rosa: str) -> None:
    fields = {
        "current_password": "not it at all",
        "new_password": NEW_PASSWORD,
        "new_password_confirmation": NEW_PASSWORD,
    }
    page = html(portal_form(shop, "/portal/account", "/portal/account/password", fields), 400)
    assert "The current password is incorrect." in page
    assert (
        shop.client.post("/api/v1/customer/login", json={"email": ROSA, "password": PASSWORD}).status_code
        == 200
    )


# --- email links -----------------------------------------------------------------------------


def test_the_subscription_emails_link_lands_on_the_site_page_after_sign_in(shop: Shop, rosa: str) -> None:
    sign_out_browser(shop)
    link = "/portal/sites/sunrise-bakery/subscription"

    first = shop.client.get(link, follow_redirects=False)
    assert location(first) == "/portal/sites/sunrise-bakery#subscription"
    # The fragment stays in the browser; the page itself asks for a sign-in and comes back.
    assert location(shop.client.get("/portal/sites/sunrise-bakery", follow_redirects=False)) == (
        "/portal/login?next=/portal/sites/sunrise-bakery"
    )
    response = portal_login(shop, ROSA, next_path="/portal/sites/sunrise-bakery")
    assert location(response) == "/portal/sites/sunrise-bakery"
    assert "Hosting subscription" in get(shop, "/portal/sites/sunrise-bakery")


def test_the_welcome_link_sets_the_password_then_offers_to_sign_in(shop: Shop) -> None:
    shop.preview()
    started = shop.started(email=ANA)
    assert shop.deliver(shop.paid_payload(started["checkout_id"], customer_email=ANA)).json() == {
        "status": "processed"
    }
    link = path_of(portal_link(shop.mail_to(ANA)[-1], "set-password"))
    page = get(shop, link)
    token = query_of(link, "token")
    response = portal_form(
        shop,
        link,
        "/portal/set-password",
        {"token": token, "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD},
    )
    done = html(response, 200)
    assert 'href="/portal/login"' in done
    assert page
    signed_in_portal(shop, ANA, NEW_PASSWORD)
    assert "Sunrise Bakery" in get(shop, "/portal")


def test_a_password_change_on_an_expired_access_cookie_leaves_the_new_session(shop: Shop, rosa: str) -> None:
    fields = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "new_password_confirmation": NEW_PASSWORD,
        "_csrf_token": csrf_token(get(shop, "/portal/account")),
    }
    shop.clock.advance(dt.timedelta(minutes=16))  # the form's post refreshes the login first

    response = shop.client.post("/portal/account/password", data=fields, follow_redirects=False)

    assert location(response) == "/portal/account?notice=password_changed"
    assert [name for name in set_cookies(response) if name in (SESSION_COOKIE, REFRESH_COOKIE)]
    assert len(response.headers.get_list("set-cookie")) == len(set_cookies(response))  # one of each
    html(shop.client.get("/portal/account", follow_redirects=False), 200)


def test_signing_out_on_an_expired_access_cookie_clears_the_cookies(shop: Shop, rosa: str) -> None:
    token = csrf_token(get(shop, "/portal/logout"))
    shop.clock.advance(dt.timedelta(minutes=16))
    response = shop.client.post("/portal/logout", data={"_csrf_token": token}, follow_redirects=False)
    session = [h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")]
    assert len(session) == 1
    assert "max-age=0" in session[0].lower()
    assert location(shop.client.get("/portal", follow_redirects=False)) == "/portal/login"
