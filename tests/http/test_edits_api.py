"""``/api/v1/customer/sites/{slug}/edits`` and ``.../versions/{n}/restore``, and the draft
preview at ``/_preview/{token}/`` -- every status code of the contract, owner-only access,
and the preview token (tampered, expired)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from edits_support import EDITS, EditShop, open_edit_shop
from payments_support import problem
from subscriptions_support import API, bearer

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.lifecycle import Trigger

ROSA, ANA = "rosa@example.com", "ana@example.com"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[EditShop]:
    with open_edit_shop(tmp_path / "data", edits_per_month=3) as running:
        yield running


@pytest.fixture
def rosa(shop: EditShop) -> str:
    return shop.owner(ROSA)


def test_asking_answers_202_with_a_pending_edit(shop: EditShop, rosa: str) -> None:
    response = shop.ask(rosa)
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "status",
        "instructions",
        "summary",
        "base_version",
        "version",
        "preview_url",
        "diff",
        "reason",
        "created_at",
        "updated_at",
    }
    assert body["status"] == "pending"
    assert body["instructions"] == "Add the words Fresh bread daily"
    assert (body["summary"], body["preview_url"], body["diff"], body["version"]) == (None, None, None, None)
    listed = shop.client.get(EDITS, headers=bearer(rosa))
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()] == [body["id"]]


@pytest.mark.parametrize(
    "body", [{}, {"instructions": ""}, {"instructions": "x" * 4001}, {"instructions": 5}]
)
def test_bad_instructions_are_a_400_naming_them(shop: EditShop, rosa: str, body: dict[str, Any]) -> None:
    response = shop.client.post(EDITS, json=body, headers=bearer(rosa))
    assert "instructions" in str(problem(response, 400))
    assert shop.client.get(EDITS, headers=bearer(rosa)).json() == []


def test_a_ready_edit_has_its_summary_preview_and_diff(shop: EditShop, rosa: str) -> None:
    edit = shop.drafted(rosa)
    assert edit["base_version"] == 1
    assert edit["summary"]
    assert edit["preview_url"].startswith("http://127.0.0.1:8000/_preview/")  # the sites origin
    (change,) = edit["diff"]
    assert change["name"] == "index.html"
    assert change["added"] >= 1
    assert "Fresh bread daily" in change["unified_diff"]
    with shop.container.database.unit_of_work() as uow:
        ready = [m for m in uow.outbox.list() if m.message.template is EmailTemplate.EDIT_READY]
    assert [m.message.to for m in ready] == [ROSA]
    assert edit["preview_url"] in ready[0].render(shop.container.renderer).text  # as it will be sent


def test_approve_makes_the_draft_live_on_the_next_request(shop: EditShop, rosa: str) -> None:
    before = shop.client.get("/sunrise-bakery")
    assert "Fresh bread daily" not in before.text
    edit = shop.drafted(rosa)
    assert "Fresh bread daily" not in shop.client.get("/sunrise-bakery").text  # not before approval
    response = shop.client.post(f"{EDITS}/{edit['id']}/approve", headers=bearer(rosa))
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["version"]) == ("applied", 2)
    assert "Fresh bread daily" in shop.client.get("/sunrise-bakery").text
    versions = shop.client.get(f"{API}/sunrise-bakery/versions", headers=bearer(rosa)).json()
    assert versions[0] == {
        "number": 2,
        "created_at": versions[0]["created_at"],
        "cause": "edit",
        "edit_id": edit["id"],
        "restored_from": None,
        "current": True,
    }
    again = shop.client.post(f"{EDITS}/{edit['id']}/approve", headers=bearer(rosa))
    problem(again, 409)


def test_approving_a_stale_draft_is_a_409_and_changes_nothing(shop: EditShop, rosa: str) -> None:
    first = shop.drafted(rosa, "one")
    second = shop.drafted(rosa, "two")
    shop.client.post(f"{EDITS}/{first['id']}/approve", headers=bearer(rosa))
    live = shop.client.get("/sunrise-bakery").text
    response = shop.client.post(f"{EDITS}/{second['id']}/approve", headers=bearer(rosa))
    assert "changed since" in problem(response, 409)["detail"]
    assert shop.client.get("/sunrise-bakery").text == live
    assert shop.client.get(f"{EDITS}/{second['id']}", headers=bearer(rosa)).json()["status"] == "ready"


def test_pending_edits_are_not_approved_but_may_be_rejected(shop: EditShop, rosa: str) -> None:
    edit_id = shop.ask(rosa).json()["id"]
    problem(shop.client.post(f"{EDITS}/{edit_id}/approve", headers=bearer(rosa)), 409)
    response = shop.client.post(f"{EDITS}/{edit_id}/reject", headers=bearer(rosa))
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    problem(shop.client.post(f"{EDITS}/{edit_id}/reject", headers=bearer(rosa)), 409)


def test_a_suspended_site_is_a_409(shop: EditShop, rosa: str) -> None:
    shop.move("sunrise-bakery", Trigger.HOSTING_EXPIRED)
    assert "suspended" in problem(shop.ask(rosa), 409)["detail"]
    problem(shop.client.post(f"{API}/sunrise-bakery/versions/1/restore", headers=bearer(rosa)), 409)


def test_over_the_monthly_quota_is_a_429_with_retry_after(shop: EditShop, rosa: str) -> None:
    for _ in range(3):
        assert shop.ask(rosa).status_code == 202
    response = shop.ask(rosa)
    problem(response, 429)
    now = shop.clock.now()
    next_month = (
        now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=32)
    ).replace(day=1)
    assert int(response.headers["retry-after"]) == int((next_month - now).total_seconds())


def test_another_owners_site_and_edits_are_404(shop: EditShop, rosa: str) -> None:
    ana = shop.owner(ANA, slug="ana-florist", name="Ana Florist")
    edit = shop.drafted(rosa)
    for method, url in [
        ("get", EDITS),
        ("post", EDITS),
        ("get", f"{EDITS}/{edit['id']}"),
        ("post", f"{EDITS}/{edit['id']}/approve"),
        ("post", f"{EDITS}/{edit['id']}/reject"),
        ("get", f"{API}/ana-florist/edits/{edit['id']}"),
        ("post", f"{API}/ana-florist/edits/{edit['id']}/approve"),
        ("post", f"{API}/sunrise-bakery/versions/1/restore"),
    ]:
        extra = {"json": {"instructions": "mine"}} if method == "post" else {}
        response = getattr(shop.client, method)(url, headers=bearer(ana), **extra)
        problem(response, 404)
    problem(shop.client.get(f"{EDITS}/{uuid.uuid4()}", headers=bearer(rosa)), 404)
    assert shop.client.get(f"{EDITS}/{edit['id']}", headers=bearer(rosa)).json()["status"] == "ready"


def test_without_a_token_it_is_401(shop: EditShop, rosa: str) -> None:
    problem(shop.client.get(EDITS), 401)
    problem(shop.client.post(EDITS, json={"instructions": "x"}), 401)


def test_restore_answers_201_with_the_new_version(shop: EditShop, rosa: str) -> None:
    edit = shop.drafted(rosa)
    shop.client.post(f"{EDITS}/{edit['id']}/approve", headers=bearer(rosa))
    original = shop.client.get("/sunrise-bakery/").text
    response = shop.client.post(f"{API}/sunrise-bakery/versions/1/restore", headers=bearer(rosa))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["number"], body["cause"], body["restored_from"], body["current"]) == (3, "restore", 1, True)
    assert "Fresh bread daily" not in shop.client.get("/sunrise-bakery").text
    assert len(shop.client.get(f"{API}/sunrise-bakery/versions", headers=bearer(rosa)).json()) == 3
    problem(shop.client.post(f"{API}/sunrise-bakery/versions/9/restore", headers=bearer(rosa)), 404)
    assert original


# --- The draft preview ------------------------------------------------------------------------


def test_the_preview_shows_the_draft_with_its_bar_never_cached_nor_indexed(shop: EditShop, rosa: str) -> None:
    edit = shop.drafted(rosa)
    path = urlsplit(edit["preview_url"]).path
    page = shop.client.get(path)
    assert page.status_code == 200
    assert "Fresh bread daily" in page.text
    assert "Draft preview" in page.text
    assert page.headers["cache-control"] == "private, no-store"
    assert page.headers["x-robots-tag"] == "noindex"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "sandbox" in page.headers["content-security-policy"]
    # Its files are served under the preview too, referenced from the page.
    assert f"{path}styles.css" in page.text
    css = shop.client.get(f"{path}styles.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert shop.client.get(f"{path}nope.css").status_code == 404
    # The live site has not changed.
    assert "Fresh bread daily" not in shop.client.get("/sunrise-bakery").text


def test_a_tampered_or_expired_preview_token_is_a_404(shop: EditShop, rosa: str) -> None:
    edit = shop.drafted(rosa)
    token = edit["preview_url"].rstrip("/").rsplit("/", 1)[1]
    flipped = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert shop.client.get(f"/_preview/{flipped}/").status_code == 404
    assert shop.client.get("/_preview/not-a-token/").status_code == 404
    shop.clock.advance(dt.timedelta(days=7, seconds=1))
    assert shop.client.get(f"/_preview/{token}/").status_code == 404
    again = shop.login(ROSA)  # a week later: the access token has long expired
    fresh = shop.client.get(f"{EDITS}/{edit['id']}", headers=bearer(again)).json()["preview_url"]
    assert shop.client.get(urlsplit(fresh).path).status_code == 200
