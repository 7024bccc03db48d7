"""``webmagic edits``: owners' change requests for operators -- list, show, draft one by
hand (the manual engine), fail one, or run the drafting worker (an automatic engine)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from webmagic_cli import output
from webmagic_cli.options import DatabaseUrl, DataDir, Json, services, settings_from
from webmagic_core.edits.model import EditStatus
from webmagic_core.services.edits import EditService, EditView

app = typer.Typer(
    name="edits",
    help="Owners' change requests: list, show, draft one by hand, fail one, run the drafting worker.",
    no_args_is_help=True,
)

STATUS_STYLES = {
    EditStatus.PENDING: "cyan",
    EditStatus.READY: "yellow",
    EditStatus.APPLIED: "green",
    EditStatus.REJECTED: "dim",
    EditStatus.FAILED: "red",
}
EditId = Annotated[str, typer.Argument(help="The edit's id, or the first 8 or more characters of it")]


def edit_json(view: EditView) -> dict[str, Any]:
    edit = view.edit
    return {
        "id": str(edit.id),
        "site": view.slug,
        "status": edit.status.value,
        "instructions": edit.instructions,
        "summary": edit.summary,
        "base_version": edit.base_version,
        "version": edit.version,
        "preview_url": view.preview_url,
        "drafted_by": edit.drafted_by,
        "reason": edit.reason,
        "detail": edit.detail,
        "attempts": edit.attempts,
        "created_at": output.iso(edit.created_at),
        "updated_at": output.iso(edit.updated_at),
    }


def resolve(edits: EditService, ref: str) -> uuid.UUID:
    """A full id, or a unique prefix of one (as the tables show them)."""
    ref = ref.strip().lower()
    try:
        return uuid.UUID(ref)
    except ValueError:
        pass
    if len(ref) < 8:
        output.fail(f"{ref!r} is not an edit id (give the id, or at least its first 8 characters)")
    found = [v.edit.id for v in edits.list_all(limit=10_000) if str(v.edit.id).startswith(ref)]
    if not found:
        output.fail(f"no edit has an id starting with {ref!r}")
    if len(found) > 1:
        output.fail(f"{len(found)} edits have ids starting with {ref!r}: give more of the id")
    return found[0]


@app.command("list")
def list_edits(
    status: Annotated[
        EditStatus | None, typer.Option("--status", help="Only edits in this status.", case_sensitive=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 100,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Edit requests, newest first (short ids; full ones with --json).

    Example: `webmagic edits list --status pending`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        views = container.edits.list_all(status=status, limit=limit)
    if as_json:
        output.print_json([edit_json(v) for v in views])
        return
    if not views:
        output.say("No edit requests" + (f" in status {status.value}." if status else " yet."), style="dim")
        return
    grid = output.table("Id", "Site", "Status", "Asked", "Instructions", no_wrap=("Id", "Asked"))
    for view in views:
        edit = view.edit
        grid.add_row(
            str(edit.id)[:8],
            view.slug,
            Text(edit.status.value, style=STATUS_STYLES[edit.status]),
            output.when(edit.created_at),
            Text(_cut(edit.instructions, 70)),
        )
    output.print_table(grid)


@app.command()
def show(
    edit_id: EditId,
    files: Annotated[
        Path | None,
        typer.Option(
            "--files",
            help="Write the site's live text files (what a draft starts from) into this folder.",
            file_okay=False,
            metavar="DIR",
        ),
    ] = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """One edit request: the owner's words, its status, the draft and what became of it.

    Example: `webmagic edits show 3f2a9c1b`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        view = container.edits.show(resolve(container.edits, edit_id))
        live = container.edits.current_files(view.edit.id) if files is not None else {}
    if files is not None:
        _write_files(files, live)
    if as_json:
        output.print_json(edit_json(view))
        return
    edit = view.edit
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Edit", str(edit.id))
    grid.add_row("Site", view.slug)
    grid.add_row("Status", Text(edit.status.value, style=STATUS_STYLES[edit.status]))
    grid.add_row("Asked", output.when(edit.created_at))
    grid.add_row("Instructions", Text(edit.instructions))
    if edit.summary:
        grid.add_row(
            "Draft", Text(f"{edit.summary} (from version {edit.base_version}, by {edit.drafted_by})")
        )
    if view.preview_url:
        grid.add_row("Preview", view.preview_url)
    if edit.version:
        grid.add_row("Applied as", f"version {edit.version}")
    if edit.reason:
        grid.add_row("Failed", Text(edit.reason))
        grid.add_row("Detail", Text(edit.detail or "-"))
    grid.add_row("Attempts", str(edit.attempts))
    output.print_table(grid)
    if edit.status is EditStatus.PENDING:
        output.say(
            f"\nDraft it with: webmagic edits draft {str(edit.id)[:8]} --html FILE --summary TEXT "
            f"(the live files to start from: webmagic edits show {str(edit.id)[:8]} --files DIR)",
            style="dim",
        )


def _write_files(folder: Path, texts: dict[str, str] | Any) -> None:
    try:
        for name, text in texts.items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    except OSError as error:
        output.fail(f"{folder}: cannot write the files ({error.strerror})")
    output.err_console().print(f"Wrote {output.plural(len(texts), 'file')} to {folder}.")


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        output.fail(f"{path}: no such file")
    except UnicodeDecodeError:
        output.fail(f"{path}: not UTF-8 text")
    except OSError as error:
        output.fail(f"{path}: cannot be read ({error.strerror})")


@app.command()
def draft(
    edit_id: EditId,
    html: Annotated[Path | None, typer.Option("--html", help="The new index.html.", dir_okay=False)] = None,
    css: Annotated[Path | None, typer.Option("--css", help="The new styles.css.", dir_okay=False)] = None,
    js: Annotated[Path | None, typer.Option("--js", help="The new app.js.", dir_okay=False)] = None,
    summary: Annotated[
        str, typer.Option("--summary", help="One line for the owner: what changed.")
    ] = "Your change, made by our team",
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Draft a pending edit by hand: the files given replace the live ones (others are
    kept), the draft is checked like an engine's, and the owner is mailed a preview link
    to approve or reject. The live site does not change until they approve.

    Example: `webmagic edits draft 3f2a9c1b --html index.html --summary "New opening hours"`
    """
    files = {
        name: text
        for name, text in (("index.html", _read(html)), ("styles.css", _read(css)), ("app.js", _read(js)))
        if text is not None
    }
    if not files:
        output.fail("give at least one of --html, --css, --js")
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        view = container.edits.operator_draft(resolve(container.edits, edit_id), files, summary)
    output.say(f"Drafted edit {str(view.edit.id)[:8]} of {view.slug}; the owner was mailed the preview.")
    if view.preview_url:
        output.say(f"Preview: {view.preview_url}")


@app.command()
def fail(
    edit_id: EditId,
    reason: Annotated[
        str, typer.Option("--reason", help="Why, in words for the owner (it is mailed to them).")
    ],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Give up on a pending edit; the owner is mailed the reason. It does not count
    against the site's monthly edits.

    Example: `webmagic edits fail 3f2a9c1b --reason "We need your new logo as a file first."`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        view = container.edits.operator_fail(resolve(container.edits, edit_id), reason)
    output.say(f"Edit {str(view.edit.id)[:8]} of {view.slug} failed; the owner was told why.")


@app.command()
def work(
    once: Annotated[bool, typer.Option("--once", help="Draft what is pending now, then stop.")] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between looks when idle.")] = 5.0,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Run the drafting worker with the configured engine (WEBMAGIC_EDIT_ENGINE): claim
    pending edits one at a time, draft them, mail the owners. Several workers (and `webmagic
    serve`) may run at once; each edit is drafted by one. Stop with Ctrl+C.

    Example: `webmagic edits work --once`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        if not container.edit_engine.automatic:
            output.fail(
                "WEBMAGIC_EDIT_ENGINE is manual: nothing is drafted automatically "
                "(draft pending edits with `webmagic edits draft`)"
            )
        total = 0
        try:
            while True:
                done = container.edits.work()
                for outcome in done:
                    output.say(f"edit {str(outcome.edit_id)[:8]}: {outcome.status.value}")
                total += len(done)
                if once:
                    break
                if not done:
                    time.sleep(interval)
        except KeyboardInterrupt:
            pass
    output.say(f"Drafted or failed {output.plural(total, 'edit')}.")


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
