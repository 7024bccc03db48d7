"""Access tokens (missing, expired, tampered, revoked → 401), refresh-token reuse, throttling
(429 + Retry-After) and no enumeration (the same answer for known and unknown addresses)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from accounts_support import NEW_PASSWORD, PASSWORD, Accounts, bearer, open_accounts, problem, token_of

from webmagic_adapters.keys import Keyring
from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.testing.fakes import FakeClock
from webmagic_http import auth
from webmagic_http.auth import ALGORITHM, AUDIENCE, JWT_KEY_LABEL, AccessTokens, BearerTokenRejected

ME = "/api/v1/customer/me"


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    with open_accounts(tmp_path / "data") as harness:
        yield harness


def jwt_key(accounts: Accounts) -> str:
    return Keyring(accounts.container.settings.secret_key_value()).key(JWT_KEY_LABEL)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def forge(
    accounts: Accounts, claims: dict[str, Any], *, key: str | None = None, algorithm: str = ALGORITHM
) -> str:
    return jwt.encode(claims, key if key is not None else jwt_key(accounts), algorithm=algorithm)


def rejected(accounts: Accounts, token: str) -> dict[str, Any]:
    response = accounts.client.get(ME, headers=bearer(token))
    body = problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="webmagic", error="invalid_token"'
    return body


# --- access tokens ------------------------------------------------------------------------


def test_the_access_token_carries_the_customer_and_token_version(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    claims = claims_of(session["access_token"])

    assert claims["sub"] == session["user"]["id"]
    assert claims["extras"] == {"ver": 1, "sid": claims["extras"]["sid"]}
    uuid.UUID(claims["extras"]["sid"])  # the login (refresh-token family) it belongs to
    assert claims["aud"] == AUDIENCE
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert claims["iat"] == int(accounts.clock.now().timestamp())
    # Signed with a key derived from the secret key, not the secret key itself.
    jwt.decode(
        session["access_token"],
        jwt_key(accounts),
        algorithms=[ALGORITHM],
        audience=AUDIENCE,
        options={"verify_exp": False},
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            session["access_token"],
            accounts.container.settings.secret_key_value(),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"verify_exp": False},
        )


def test_a_missing_access_token_is_401_with_a_bearer_challenge(accounts: Accounts) -> None:
    response = accounts.client.get(ME)
    problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="webmagic"'


@pytest.mark.parametrize(
    "header", ["Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer", "Bearer ", "Bearer a b", "token"]
)
def test_a_malformed_authorization_header_is_401(accounts: Accounts, header: str) -> None:
    problem(accounts.client.get(ME, headers={"Authorization": header}), 401)


def test_the_scheme_name_is_case_insensitive(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    response = accounts.client.get(ME, headers={"Authorization": f"bearer {session['access_token']}"})
    assert response.status_code == 200


def test_an_expired_access_token_is_401(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    accounts.clock.advance(dt.timedelta(minutes=14, seconds=59))
    assert accounts.client.get(ME, headers=bearer(session["access_token"])).status_code == 200
    accounts.clock.advance(dt.timedelta(seconds=1))

    body = rejected(accounts, session["access_token"])
    assert "expired" in body["detail"]


def test_a_tampered_access_token_is_401(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    # The genuine token is read (and its verification remembered) first: a forgery of it
    # is still checked on its own.
    assert accounts.client.get(ME, headers=bearer(session["access_token"])).status_code == 200
    header, payload, signature = session["access_token"].split(".")
    claims = claims_of(session["access_token"])
    claims["sub"] = str(uuid.uuid4())
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    flipped = signature[:-3] + ("AAA" if signature[-3:] != "AAA" else "BBB")

    rejected(accounts, f"{header}.{forged_payload}.{signature}")
    rejected(accounts, f"{header}.{payload}.{flipped}")
    rejected(accounts, f"{header}.{payload}")
    rejected(accounts, "not-a-jwt")


def test_tokens_not_made_by_us_are_401(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    claims = claims_of(session["access_token"])

    rejected(accounts, forge(accounts, claims, key="another key, long enough for HS256 use"))
    rejected(accounts, forge(accounts, claims, key="", algorithm="none"))
    rejected(accounts, forge(accounts, {**claims, "aud": "someone-else"}))
    rejected(accounts, forge(accounts, {k: v for k, v in claims.items() if k != "extras"}))
    rejected(accounts, forge(accounts, {**claims, "extras": {**claims["extras"], "ver": True}}))
    rejected(accounts, forge(accounts, {**claims, "extras": {"ver": claims["extras"]["ver"]}}))  # no login
    rejected(accounts, forge(accounts, {**claims, "extras": {**claims["extras"], "sid": "not-a-uuid"}}))
    rejected(accounts, forge(accounts, {**claims, "extras": {**claims["extras"], "sid": str(uuid.uuid4())}}))
    rejected(accounts, forge(accounts, {**claims, "sub": "not-a-uuid"}))
    rejected(accounts, forge(accounts, {**claims, "exp": claims["exp"] + 3600}))  # longer than we issue
    future = claims["iat"] + 3600
    rejected(accounts, forge(accounts, {**claims, "iat": future, "exp": future + 900}))
    # A well-made token of a customer that does not exist.
    rejected(accounts, forge(accounts, {**claims, "sub": str(uuid.uuid4())}))
    # The genuine one still works.
    assert accounts.client.get(ME, headers=bearer(session["access_token"])).status_code == 200


def test_a_revoked_access_token_is_401(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    auth = bearer(session["access_token"])
    changed = accounts.post(
        "me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=auth
    )
    assert changed.status_code == 204

    body = rejected(accounts, session["access_token"])
    assert "no longer valid" in body["detail"]
    fresh = accounts.login("ana@example.com", NEW_PASSWORD)
    assert claims_of(fresh["access_token"])["extras"]["ver"] == 2
    assert accounts.client.get(ME, headers=bearer(fresh["access_token"])).status_code == 200


def test_logout_revokes_the_access_tokens_of_that_login_at_once(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    other = accounts.login("ana@example.com")
    assert accounts.client.get(ME, headers=bearer(session["access_token"])).status_code == 200

    assert accounts.post("logout", {"refresh_token": session["refresh_token"]}).status_code == 204

    body = rejected(accounts, session["access_token"])
    assert "no longer valid" in body["detail"]
    assert accounts.client.get(ME, headers=bearer(other["access_token"])).status_code == 200


def test_refresh_token_reuse_revokes_every_access_token_of_that_login(accounts: Accounts) -> None:
    first = accounts.signed_in("ana@example.com")
    other = accounts.login("ana@example.com")
    second = accounts.post("refresh", {"refresh_token": first["refresh_token"]}).json()
    assert (
        claims_of(second["access_token"])["extras"]["sid"]
        == claims_of(first["access_token"])["extras"]["sid"]
    )
    assert accounts.client.get(ME, headers=bearer(second["access_token"])).status_code == 200

    problem(accounts.post("refresh", {"refresh_token": first["refresh_token"]}), 401)  # the thief's replay

    rejected(accounts, first["access_token"])
    rejected(accounts, second["access_token"])
    assert accounts.client.get(ME, headers=bearer(other["access_token"])).status_code == 200


OLD_KEY = "the-old-secret-key-" + "o" * 30
NEW_KEY = "the-new-secret-key-" + "n" * 30


def test_access_tokens_of_the_previous_key_hold_during_a_rotation_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with open_accounts(data, secret_key=OLD_KEY) as before:
        old_session = before.signed_in("ana@example.com")
    with open_accounts(data, secret_key=NEW_KEY, secret_key_previous=OLD_KEY) as rotating:
        assert rotating.client.get(ME, headers=bearer(old_session["access_token"])).status_code == 200
        new_session = rotating.login("ana@example.com")
    with open_accounts(data, secret_key=OLD_KEY) as old_only:
        rejected(old_only, new_session["access_token"])  # signed with the new key alone
    with open_accounts(data, secret_key=NEW_KEY) as after:
        rejected(after, old_session["access_token"])
        assert after.client.get(ME, headers=bearer(new_session["access_token"])).status_code == 200


# --- refresh tokens -----------------------------------------------------------------------


def test_reusing_a_spent_refresh_token_revokes_the_whole_login(accounts: Accounts) -> None:
    first = accounts.signed_in("ana@example.com")
    other_login = accounts.login("ana@example.com")
    second = accounts.post("refresh", {"refresh_token": first["refresh_token"]}).json()

    problem(accounts.post("refresh", {"refresh_token": first["refresh_token"]}), 401)

    # The newer token of that login is revoked too: whoever holds it must sign in again.
    problem(accounts.post("refresh", {"refresh_token": second["refresh_token"]}), 401)
    # Another login of the same customer is not affected.
    assert accounts.post("refresh", {"refresh_token": other_login["refresh_token"]}).status_code == 200


def test_a_refresh_token_expires(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    accounts.clock.advance(dt.timedelta(days=30, seconds=1))
    problem(accounts.post("refresh", {"refresh_token": session["refresh_token"]}), 401)


def test_refresh_after_a_password_change_is_401(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    accounts.post("forgot-password", {"email": "ana@example.com"})
    token = token_of(accounts.last_link("ana@example.com", "reset-password"))
    accounts.post("reset-password", {"token": token, "new_password": NEW_PASSWORD})

    problem(accounts.post("refresh", {"refresh_token": session["refresh_token"]}), 401)


# --- throttling ---------------------------------------------------------------------------


def test_failed_logins_per_address_are_throttled_with_retry_after(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    for _ in range(5):
        problem(accounts.post("login", {"email": "ana@example.com", "password": "wrong password"}), 401)

    response = accounts.post("login", {"email": "ana@example.com", "password": PASSWORD})

    problem(response, 429)
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= 15 * 60
    accounts.clock.advance(dt.timedelta(seconds=retry_after))
    accounts.login("ana@example.com")


def test_failed_logins_per_client_are_throttled(accounts: Accounts) -> None:
    for number in range(20):
        problem(accounts.post("login", {"email": f"guess{number}@example.com", "password": "x" * 8}), 401)

    response = accounts.post("login", {"email": "someone-else@example.com", "password": "x" * 8})

    problem(response, 429)
    assert 0 < int(response.headers["retry-after"]) <= 60


def test_wrong_current_passwords_count_as_failed_logins(accounts: Accounts) -> None:
    session = accounts.signed_in("ana@example.com")
    auth = bearer(session["access_token"])
    wrong = {"current_password": "not my password", "new_password": NEW_PASSWORD}
    for _ in range(5):
        assert accounts.post("me/password", wrong, headers=auth).status_code == 400

    response = accounts.post("me/password", wrong, headers=auth)
    problem(response, 429)
    assert int(response.headers["retry-after"]) > 0


# --- no enumeration -----------------------------------------------------------------------


def answers(accounts: Accounts, path: str, body: dict[str, str]) -> tuple[int, Any, str]:
    response = accounts.post(path, body)
    return response.status_code, response.json(), response.headers["content-type"]


@pytest.mark.parametrize(
    ("path", "extra"),
    [("register", {"password": PASSWORD}), ("resend-verification", {}), ("forgot-password", {})],
)
def test_the_answer_is_the_same_for_known_and_unknown_addresses(
    accounts: Accounts, path: str, extra: dict[str, str]
) -> None:
    accounts.verified("known@example.com")
    accounts.register("unverified@example.com")

    known = answers(accounts, path, {"email": "known@example.com", **extra})
    unverified = answers(accounts, path, {"email": "unverified@example.com", **extra})
    unknown = answers(accounts, path, {"email": "unknown@example.com", **extra})

    assert known == unverified == unknown
    assert known[0] == 202


def test_registering_a_taken_address_tells_the_mailbox_owner_instead(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    accounts.register("ana@example.com", "another good passphrase")

    assert accounts.mail_to("ana@example.com")[-1].template is EmailTemplate.ACCOUNT_EXISTS
    accounts.login("ana@example.com")  # the first password still holds


def test_mail_requests_past_the_limit_get_the_same_answer_and_no_mail(accounts: Accounts) -> None:
    accounts.verified("ana@example.com")
    first = answers(accounts, "forgot-password", {"email": "ana@example.com"})
    for _ in range(5):
        assert answers(accounts, "forgot-password", {"email": "ana@example.com"}) == first

    resets = [m for m in accounts.mail_to("ana@example.com") if m.template is EmailTemplate.PASSWORD_RESET]
    assert len(resets) == 3


def test_remembered_verifications_are_bounded_and_still_time_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "VERIFIED_TOKENS_KEPT", 2)
    clock = FakeClock(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    tokens = AccessTokens("k" * 64, clock, dt.timedelta(minutes=15))
    now = clock.now()
    issued = [
        tokens.issue(Customer.new(email=f"owner{n}@example.com", now=now), uuid.uuid4()) for n in range(3)
    ]
    read = [tokens.read(token) for token in issued]
    assert [r[0] for r in read] == [
        uuid.UUID(jwt.decode(t, options={"verify_signature": False})["sub"]) for t in issued
    ]
    assert len(tokens._verified) <= 2
    assert tokens.read(issued[2]) == read[2]  # remembered
    clock.advance(dt.timedelta(minutes=15))
    with pytest.raises(BearerTokenRejected, match="expired"):
        tokens.read(issued[2])
