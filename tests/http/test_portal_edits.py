"""The portal site page's change requests (ask, preview, approve, reject) and putting an
earlier version back: forms with CSRF, another owner's site a 404, refusals of the core as
one line on the page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from edits_support import EDITS, EditShop, open_edit_shop
from payments_support import html
from portal_support import location, portal_form, signed_in_portal
from subscriptions_support import bearer

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.lifecycle import Trigger
from webmagic_http.portal_edits_view import CLOSED_SHOWN

ROSA, ANA = "rosa@example.com", "ana@example.com"
SITE = "/portal/sites/sunrise-bakery"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[EditShop]:
    with open_edit_shop(tmp_path / "data", edits_per_month=2) as running:
        yield running


@pytest.fixture
def rosa(shop: EditShop) -> str:
    token = shop.owner(ROSA)
    signed_in_portal(shop, ROSA)
    return token


def page(shop: EditShop, path: str = SITE, status: int = 200) -> str:
    return html(shop.client.get(path, follow_redirects=False), status)


def post(shop: EditShop, action: str, fields: dict[str, str] | None = None) -> Any:
    return portal_form(shop, SITE, f"{SITE}/{action}", fields or {})


def alerts(page_html: str) -> list[str]:
    return [re.sub(r"\s+", " ", a).strip() for a in re.findall(r'role="alert">(.*?)</div>', page_html, re.S)]


def edits_of(shop: EditShop, token: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = shop.client.get(EDITS, headers=bearer(token)).json()
    return found


def test_asking_for_a_change_through_the_form(shop: EditShop, rosa: str) -> None:
    before = page(shop)
    assert f'action="{SITE}/edits"' in before
    assert '<label for="instructions">' in before
    response = post(shop, "edits", {"instructions": "Change our hours to 7-5"})
    assert location(response) == f"{SITE}?notice=edit_asked#edits"
    shown = page(shop, f"{SITE}?notice=edit_asked")
    assert "We are working on your change" in shown
    assert "Change our hours to 7-5" in shown
    assert "Being prepared" in shown
    assert [e["instructions"] for e in edits_of(shop, rosa)] == ["Change our hours to 7-5"]


def test_an_empty_request_is_one_line_on_the_page(shop: EditShop, rosa: str) -> None:
    response = post(shop, "edits", {"instructions": "   "})
    assert response.status_code == 400
    assert alerts(response.text) == ["The instructions are empty: say what should change."]
    assert edits_of(shop, rosa) == []


def test_without_the_csrf_token_nothing_is_asked(shop: EditShop, rosa: str) -> None:
    response = shop.client.post(f"{SITE}/edits", data={"instructions": "sneaky"}, follow_redirects=False)
    assert response.status_code == 403
    wrong = shop.client.post(
        f"{SITE}/edits", data={"instructions": "sneaky", "_csrf_token": "forged"}, follow_redirects=False
    )
    assert wrong.status_code == 403
    assert edits_of(shop, rosa) == []


def test_a_ready_draft_can_be_previewed_and_approved(shop: EditShop, rosa: str) -> None:
    post(shop, "edits", {"instructions": "Add the words Fresh bread daily"})
    shop.container.edits.work()
    shown = page(shop)
    assert "Ready for you to look at" in shown
    (edit,) = edits_of(shop, rosa)
    assert f'href="{edit["preview_url"]}"' in shown
    assert f'action="{SITE}/edits/{edit["id"]}/approve"' in shown
    response = post(shop, f"edits/{edit['id']}/approve")
    assert location(response) == f"{SITE}?notice=edit_applied#edits"
    assert "Fresh bread daily" in shop.client.get("/sunrise-bakery").text
    after = page(shop)
    assert "Live as" in after
    assert "Your requested change" in after  # the versions list says why version 2 exists


def test_approving_a_stale_draft_shows_why_and_changes_nothing(shop: EditShop, rosa: str) -> None:
    post(shop, "edits", {"instructions": "one"})
    post(shop, "edits", {"instructions": "two"})
    shop.container.edits.work()
    first, second = reversed(edits_of(shop, rosa))
    post(shop, f"edits/{first['id']}/approve")
    live = shop.client.get("/sunrise-bakery").text
    response = post(shop, f"edits/{second['id']}/approve")
    assert response.status_code == 409
    (line,) = alerts(response.text)
    assert "changed since this draft was made" in line
    assert shop.client.get("/sunrise-bakery").text == live


def test_rejecting_and_cancelling(shop: EditShop, rosa: str) -> None:
    post(shop, "edits", {"instructions": "one"})
    (edit,) = edits_of(shop, rosa)
    assert "Cancel this request" in page(shop)
    response = post(shop, f"edits/{edit['id']}/reject")
    assert location(response) == f"{SITE}?notice=edit_rejected#edits"
    assert "Set aside" in page(shop)
    again = post(shop, f"edits/{edit['id']}/reject")
    assert again.status_code == 409


def test_over_the_monthly_requests_the_page_says_so(shop: EditShop, rosa: str) -> None:
    post(shop, "edits", {"instructions": "one"})
    post(shop, "edits", {"instructions": "two"})
    response = post(shop, "edits", {"instructions": "three"})
    assert response.status_code == 429
    (line,) = alerts(response.text)
    assert "2 changes for this month" in line


def test_putting_an_earlier_version_back_after_a_confirmation(shop: EditShop, rosa: str) -> None:
    post(shop, "edits", {"instructions": "Add the words Fresh bread daily"})
    shop.container.edits.work()
    (edit,) = edits_of(shop, rosa)
    post(shop, f"edits/{edit['id']}/approve")
    shown = page(shop)
    assert "Put this version back" in shown
    assert f'action="{SITE}/versions/1/restore"' in shown
    assert f'action="{SITE}/versions/2/restore"' not in shown  # the live one
    response = post(shop, "versions/1/restore")
    assert location(response) == f"{SITE}?notice=version_restored#versions"
    assert "Fresh bread daily" not in shop.client.get("/sunrise-bakery").text
    assert "Version 1 was put back" in page(shop)


def test_another_owners_site_is_the_404_page_and_nothing_changes(shop: EditShop, rosa: str) -> None:
    shop.owner(ANA, slug="ana-florist", name="Ana Florist")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page(shop))
    assert token
    for action in ["edits", "versions/1/restore"]:
        response = shop.client.post(
            f"/portal/sites/ana-florist/{action}",
            data={"instructions": "mine", "_csrf_token": token[1]},
            follow_redirects=False,
        )
        assert response.status_code == 404
    ana = shop.login(ANA)
    assert edits_of_site(shop, ana, "ana-florist") == []


def edits_of_site(shop: EditShop, token: str, slug: str) -> list[Any]:
    found: list[Any] = shop.client.get(f"/api/v1/customer/sites/{slug}/edits", headers=bearer(token)).json()
    return found


def test_a_suspended_site_offers_no_change_form(shop: EditShop, rosa: str) -> None:
    shop.move("sunrise-bakery", Trigger.HOSTING_EXPIRED)
    shown = page(shop)
    assert f'action="{SITE}/edits"' not in shown
    assert "Put this version back" not in shown
    response = post(shop, "edits", {"instructions": "please"})
    assert response.status_code == 409


def test_the_draft_ready_mail_links_to_the_preview_and_the_site_page(shop: EditShop, rosa: str) -> None:
    post(shop, "edits", {"instructions": "Add the words Fresh bread daily"})
    shop.container.edits.work()
    with shop.container.database.unit_of_work() as uow:
        (mail,) = [m for m in uow.outbox.list() if m.message.template is EmailTemplate.EDIT_READY]
    links = re.findall(r"https?://\S+", mail.render(shop.container.renderer).text)  # as it will be sent
    preview = next(link for link in links if "/_preview/" in link)
    review = next(link for link in links if "/portal/sites/" in link)
    assert "Fresh bread daily" in shop.client.get(urlsplit(preview).path).text
    assert urlsplit(review).path == SITE
    assert "Changes to your website" in page(shop, urlsplit(review).path)
    # Signed out, the review link asks to sign in first and comes back to the page.
    shop.client.cookies.clear()
    response = shop.client.get(urlsplit(review).path, follow_redirects=False)
    assert location(response) == f"/portal/login?next={SITE}"


def test_the_page_lists_open_requests_and_the_recent_closed_ones_and_links_to_all(
    shop: EditShop, rosa: str
) -> None:
    post(shop, "edits", {"instructions": "Open: new opening hours"})
    for n in range(CLOSED_SHOWN + 2):
        asked = shop.ask(rosa, f"Closed number {n}")
        assert asked.status_code == 202, asked.text
        shop.container.edits.operator_fail(uuid.UUID(asked.json()["id"]), "We need a photo first.")

    shown = page(shop)

    asked_for = re.findall(r"<blockquote>(.*?)</blockquote>", shown)
    newest_closed = [f"Closed number {n}" for n in range(CLOSED_SHOWN + 1, 1, -1)]
    assert asked_for == [*newest_closed, "Open: new opening hours"]
    assert "Show all 8 requests" in shown
    every = page(shop, f"{SITE}?edits=all")
    assert re.findall(r"<blockquote>(.*?)</blockquote>", every) == [
        *newest_closed,
        "Closed number 1",
        "Closed number 0",
        "Open: new opening hours",
    ]
    assert "Show all" not in every
