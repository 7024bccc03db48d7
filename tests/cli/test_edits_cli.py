"""``webmagic edits list|show|draft|fail|work`` on the test's database: operators drafting
by hand (the manual engine) and the worker drafting with the openai engine against a
local imitation of the chat-completions endpoint."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_payments_support import Shop
from typer.testing import Result

from chat_imitation import KEY, MODEL, Behaviour, ChatImitation, running
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.edits.model import EditStatus

Invoke = object


def ask(shop: Shop, text: str = "Add our phone number 555-0100") -> uuid.UUID:
    site = shop.container.sites.details("casa-rosa").site
    assert site.owner_id is not None
    return shop.container.edits.request(site.owner_id, "casa-rosa", text).edit.id


def status(shop: Shop, edit_id: uuid.UUID) -> EditStatus:
    return shop.container.edits.show(edit_id).edit.status


def owner_mails(shop: Shop, template: EmailTemplate) -> list[str]:
    """The text of the queued mail of ``template``, as the relay will render it."""
    with shop.container.database.unit_of_work() as uow:
        queued = [m for m in uow.outbox.list() if m.message.template is template]
    return [m.render(shop.container.renderer).text for m in queued]


@pytest.fixture
def bought(shop: Shop) -> Shop:
    shop.buy()
    return shop


def run(invoke: object, *args: str) -> Result:
    result: Result = invoke(*args)  # type: ignore[operator]
    return result


def test_list_and_show_with_short_and_full_ids(invoke: object, bought: Shop) -> None:
    edit_id = ask(bought)
    table = run(invoke, "edits", "list")
    assert table.exit_code == 0, table.output
    assert str(edit_id)[:8] in table.stdout
    assert str(edit_id) not in table.stdout  # short ids in tables
    assert "casa-rosa" in table.stdout
    [row] = json.loads(run(invoke, "edits", "list", "--json", "--status", "pending").stdout)
    assert (row["id"], row["site"], row["status"]) == (str(edit_id), "casa-rosa", "pending")
    assert json.loads(run(invoke, "edits", "list", "--json", "--status", "ready").stdout) == []
    shown = run(invoke, "edits", "show", str(edit_id)[:8])
    assert shown.exit_code == 0, shown.output
    assert "Add our phone number 555-0100" in shown.stdout
    assert json.loads(run(invoke, "edits", "show", str(edit_id), "--json").stdout)["id"] == str(edit_id)


def test_unknown_or_too_short_ids_are_one_line_errors(invoke: object, bought: Shop) -> None:
    ask(bought)
    for ref, words in [
        ("abc", "at least its first 8"),
        ("ffffffff", "no edit"),
        (str(uuid.uuid4()), "no edit"),
    ]:
        result = run(invoke, "edits", "show", ref)
        assert result.exit_code == 1
        assert words in result.output.lower() or words in result.output
        assert "Traceback" not in result.output


def test_an_operator_drafts_from_the_live_files_and_the_owner_gets_the_preview(
    invoke: object, bought: Shop, tmp_path: Path
) -> None:
    edit_id = ask(bought)
    folder = tmp_path / "live"
    shown = run(invoke, "edits", "show", str(edit_id), "--files", str(folder))
    assert shown.exit_code == 0, shown.output
    page = folder / "index.html"
    assert page.read_text() == "<h1>Casa Rosa</h1>"
    page.write_text("<h1>Casa Rosa</h1><p>Call us: 555-0100</p>")
    result = run(
        invoke,
        "edits",
        "draft",
        str(edit_id)[:8],
        "--html",
        str(page),
        "--summary",
        "Added your phone number",
    )
    assert result.exit_code == 0, result.output
    assert "/_preview/" in result.stdout
    edit = bought.container.edits.show(edit_id).edit
    assert (edit.status, edit.summary, edit.drafted_by) == (
        EditStatus.READY,
        "Added your phone number",
        "operator",
    )
    [mail] = owner_mails(bought, EmailTemplate.EDIT_READY)
    assert "/_preview/" in mail
    again = run(invoke, "edits", "draft", str(edit_id), "--html", str(page))
    assert again.exit_code == 1
    assert "pending" in again.output


def test_a_draft_that_breaks_the_rules_is_refused_and_nothing_changes(
    invoke: object, bought: Shop, tmp_path: Path
) -> None:
    edit_id = ask(bought)
    bad = tmp_path / "bad.html"
    bad.write_text('<h1>x</h1><script src="https://tracker.example/t.js"></script>')
    result = run(invoke, "edits", "draft", str(edit_id), "--html", str(bad))
    assert result.exit_code == 1
    assert "tracker.example" in result.output
    assert status(bought, edit_id) is EditStatus.PENDING
    missing = run(invoke, "edits", "draft", str(edit_id), "--html", str(tmp_path / "nope.html"))
    assert missing.exit_code != 0
    assert run(invoke, "edits", "draft", str(edit_id)).exit_code == 1


def test_fail_tells_the_owner_why(invoke: object, bought: Shop) -> None:
    edit_id = ask(bought)
    result = run(invoke, "edits", "fail", str(edit_id), "--reason", "We need your new logo as a file first.")
    assert result.exit_code == 0, result.output
    edit = bought.container.edits.show(edit_id).edit
    assert (edit.status, edit.reason) == (EditStatus.FAILED, "We need your new logo as a file first.")
    [mail] = owner_mails(bought, EmailTemplate.EDIT_FAILED)
    assert "We need your new logo as a file first." in mail


def test_work_refuses_with_the_manual_engine(invoke: object, bought: Shop) -> None:
    ask(bought)
    result = run(invoke, "edits", "work", "--once")
    assert result.exit_code == 1
    assert "manual" in result.output


@pytest.fixture
def imitation(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatImitation]:
    """The openai engine, pointed at a local imitation (set before ``shop``)."""
    with running(ChatImitation()) as server:
        monkeypatch.setenv("WEBMAGIC_EDIT_ENGINE", "openai")
        monkeypatch.setenv("WEBMAGIC_LLM_BASE_URL", server.url)
        monkeypatch.setenv("WEBMAGIC_LLM_API_KEY", KEY)
        monkeypatch.setenv("WEBMAGIC_LLM_MODEL", MODEL)
        yield server


def test_work_drafts_every_pending_edit_with_the_engine(
    invoke: object, imitation: ChatImitation, shop: Shop
) -> None:
    shop.buy()
    first, second = ask(shop, "Say we open at 7"), ask(shop, "Say we close at 5")
    imitation.script = [Behaviour("error", status=503)]  # one retry on the way
    result = run(invoke, "edits", "work", "--once")
    assert result.exit_code == 0, result.output
    assert "Drafted or failed 2 edits." in result.stdout
    assert (status(shop, first), status(shop, second)) == (EditStatus.READY, EditStatus.READY)
    assert len(imitation.requests) == 3
    assert KEY not in result.output
