"""``webmagic sites ...`` through Typer's CliRunner, on a SQLite file per test."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_payments_support import Shop
from typer.testing import Result

from webmagic_core.services.sites import SiteService
from webmagic_core.sites import MAX_HTML_BYTES, VersionCause
from webmagic_core.slugs import RULE

pytestmark = pytest.mark.usefixtures("migrated")

Invoke = Callable[..., Result]
Listed = Callable[..., list[dict[str, Any]]]
ErrorLine = Callable[[Result], str]
Slugs = Callable[[], list[str]]
WriteSite = Callable[..., Path]

PAGE = "<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "index.html").write_text(PAGE.format(title="Rosa's Bakery"), encoding="utf-8")
    (folder / "v2.html").write_text(PAGE.format(title="Rosa's Bakery, new hours"), encoding="utf-8")
    (folder / "styles.css").write_text("body { color: brown; }", encoding="utf-8")
    (folder / "new.css").write_text("body { color: green; }", encoding="utf-8")
    (folder / "app.js").write_text("console.log('hi');", encoding="utf-8")
    (folder / "latin1.html").write_bytes("<p>Panader\xeda</p>".encode("latin-1"))
    (folder / "empty.html").write_bytes(b"  \n")
    (folder / "huge.html").write_bytes(b"<p>" + b"x" * MAX_HTML_BYTES)
    return folder


def create(invoke: Invoke, files: Path, slug: str = "rosas-bakery", *extra: str) -> None:
    result = invoke(
        "sites", "create", slug, "--name", "Rosa's Bakery", "--html", str(files / "index.html"),
        "--css", str(files / "styles.css"), "--js", str(files / "app.js"), *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output


# --- create ---------------------------------------------------------------------------------


def test_create_stores_the_files_and_prints_the_url(
    invoke: Invoke, files: Path, service: SiteService
) -> None:
    result = invoke(
        "sites", "create", "rosas-bakery", "--name", "  Rosa's   Bakery ",
        "--html", str(files / "index.html"),
        "--css", str(files / "styles.css"), "--js", str(files / "app.js"),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Created rosas-bakery (Rosa's Bakery), version 1." in result.stdout
    assert "http://127.0.0.1:8000/rosas-bakery" in result.stdout
    site = service.details("rosas-bakery").site
    assert (site.business_name, site.status.value, site.current_version) == ("Rosa's Bakery", "preview", 1)
    texts = service.text_files(site.id, 1)
    assert "<h1>Rosa's Bakery</h1>" in texts["index.html"]
    assert texts["styles.css"] == "body { color: brown; }"
    assert texts["app.js"] == "console.log('hi');"


def test_create_with_html_only(invoke: Invoke, files: Path, service: SiteService) -> None:
    result = invoke("sites", "create", "joes-plumbing", "-n", "Joe's", "--html", str(files / "index.html"))

    assert result.exit_code == 0, result.output
    site = service.details("joes-plumbing").site
    assert [f.path for f in service.version(site.id, 1).files] == ["index.html"]


def test_settings_given_as_options_win_over_the_environment(
    invoke: Invoke, files: Path, tmp_path: Path, listed: Listed
) -> None:
    other = f"sqlite:///{(tmp_path / 'other.db').as_posix()}"
    assert invoke("db", "upgrade", "--create", "--database-url", other).exit_code == 0

    create(invoke, files, "rosas-bakery", "--database-url", other)

    assert listed() == []
    assert [s["slug"] for s in listed("--database-url", other)] == ["rosas-bakery"]


@pytest.mark.parametrize(
    ("slug", "html", "code", "message"),
    [
        ("rosas-bakery", "index.html", 1, "the slug 'rosas-bakery' is already taken"),
        ("api", "index.html", 1, "slug 'api' is reserved"),
        ("Rosas_Bakery", "index.html", 1, RULE),
        ("ab", "index.html", 1, RULE),
        ("-rosa", "index.html", 1, RULE),
        ("new-site", "missing.html", 2, "cannot read the --html file"),
        ("new-site", ".", 2, "is a folder, not a file"),
        ("new-site", "latin1.html", 1, "latin1.html: the HTML is not valid UTF-8"),
        ("new-site", "empty.html", 1, "empty.html: the HTML is empty"),
        ("new-site", "huge.html", 1, "the limit is 5,242,880 bytes"),
    ],
)
def test_create_refuses_bad_input_with_one_line(
    invoke: Invoke,
    files: Path,
    service: SiteService,
    slug: str,
    html: str,
    code: int,
    message: str,
    error_line: ErrorLine,
    slugs: Slugs,
) -> None:
    create(invoke, files)

    # "--" ends the options so that a slug starting with a hyphen is taken as the slug.
    result = invoke("sites", "create", "--name", "X", "--html", str(files / html), "--", slug)

    assert result.exit_code == code, result.output
    assert message in error_line(result)
    assert slugs() == ["rosas-bakery"]
    assert service.details("rosas-bakery").site.business_name == "Rosa's Bakery"


def test_create_refuses_an_unreadable_css_file(
    invoke: Invoke, files: Path, service: SiteService, error_line: ErrorLine, slugs: Slugs
) -> None:
    result = invoke(
        "sites", "create", "new-site", "-n", "X", "--html", str(files / "index.html"),
        "--css", str(files / "nope.css"),
    )  # fmt: skip

    assert result.exit_code == 2
    assert "cannot read the --css file" in error_line(result)
    assert "No such file or directory" in result.stderr
    assert slugs() == []


def test_create_refuses_an_empty_business_name(
    invoke: Invoke, files: Path, service: SiteService, error_line: ErrorLine, slugs: Slugs
) -> None:
    result = invoke("sites", "create", "new-site", "--name", "  ", "--html", str(files / "index.html"))

    assert result.exit_code == 1
    assert "the business name is empty" in error_line(result)
    assert slugs() == []


def test_missing_required_option_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("sites", "create", "new-site", "--name", "X")

    assert result.exit_code == 2
    assert "--html" in result.stderr


# --- bad settings and database URLs -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "the database URL is not a URL"),
        ("mysql://admin:hunter2@db.example.com/shop", "unsupported database 'mysql'"),
        ("postgresql+asyncpg://admin:hunter2@localhost/db", "driver 'asyncpg' is not supported"),
    ],
)
def test_bad_database_url_is_one_line_without_the_password(
    invoke: Invoke, url: str, message: str, error_line: ErrorLine
) -> None:
    result = invoke("sites", "list", "--database-url", url)

    assert result.exit_code == 2
    line = error_line(result)
    assert "WEBMAGIC_DATABASE_URL" in line
    assert message in line
    assert "hunter2" not in result.output


def test_bad_database_url_from_the_environment(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, error_line: ErrorLine
) -> None:
    monkeypatch.setenv("WEBMAGIC_DATABASE_URL", "oracle://scott:tiger@host/db")

    result = invoke("sites", "list")

    assert result.exit_code == 2
    assert "unsupported database 'oracle'" in error_line(result)
    assert "tiger" not in result.output


def test_unreachable_database_is_one_line(invoke: Invoke, error_line: ErrorLine) -> None:
    # Port 1 on the loopback refuses at once.
    result = invoke("sites", "list", "--database-url", "postgresql://admin:hunter2@127.0.0.1:1/db")

    assert result.exit_code == 1
    assert "the database is unavailable" in error_line(result)
    assert "hunter2" not in result.output


def test_bad_setting_names_the_variable(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, error_line: ErrorLine
) -> None:
    monkeypatch.setenv("WEBMAGIC_PUBLIC_URL", "ftp://example.com")

    result = invoke("sites", "list")

    assert result.exit_code == 2
    assert "WEBMAGIC_PUBLIC_URL" in error_line(result)


# --- import ----------------------------------------------------------------------------------


def test_import_creates_every_good_folder_and_reports_the_bad_ones(
    invoke: Invoke, files: Path, service: SiteService, tmp_path: Path, slugs: Slugs, write_site: WriteSite
) -> None:
    create(invoke, files, "taken-slug")
    root = tmp_path / "batch"
    write_site(root, "alpha-cafe", css="a{}", js="1;", meta=("site.json", '{"business_name": "Alpha Café"}'))
    write_site(root, "beta-barber", meta=("site.toml", 'business_name = "Beta Barbers"'))
    write_site(root, "gamma-garage", html=PAGE.format(title="Gamma Garage &amp; Tyres | Open 7 days"))
    write_site(root, "delta-deli", html="<h1>no title here</h1>")
    write_site(root, "Bad_Name")
    write_site(root, "api")
    write_site(root, "latin-one", html="<p>Panader\xeda</p>".encode("latin-1"))
    write_site(root, "empty-page", html=" ")
    write_site(root, "taken-slug")
    write_site(root, "odd-keys", meta=("site.json", '{"business_name": "Odd", "colour": "red"}'))
    write_site(root, "broken-toml", meta=("site.toml", "business_name = "))
    (root / "no-index").mkdir()
    (root / "no-index" / "styles.css").write_text("a{}", encoding="utf-8")
    (root / ".hidden").mkdir()

    result = invoke("sites", "import", str(root))

    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "4 sites imported, 8 failed." in out
    expected_failures = {
        "Bad_Name": RULE,
        "api": "reserved",
        "latin-one": "index.html: is not valid UTF-8 text",
        "empty-page": "index.html: is empty",
        "taken-slug": "already taken",
        "odd-keys": "unknown key(s) 'colour'",
        "broken-toml": "site.toml is not valid TOML",
        "no-index": "index.html: is missing",
    }
    failed_lines = [line for line in out.splitlines() if line.strip().startswith("✗")]
    assert len(failed_lines) == len(expected_failures)
    for slug, message in expected_failures.items():
        assert any(f"✗ {slug}  " in line and message in line for line in failed_lines), (slug, out)
    assert slugs() == ["alpha-cafe", "beta-barber", "delta-deli", "gamma-garage", "taken-slug"]
    names = {s.slug: s.business_name for s in service.list_sites()}
    assert names["alpha-cafe"] == "Alpha Café"
    assert names["beta-barber"] == "Beta Barbers"
    assert names["gamma-garage"] == "Gamma Garage & Tyres"
    assert names["delta-deli"] == "Delta Deli"
    alpha = service.details("alpha-cafe").site
    texts = service.text_files(alpha.id, 1)
    assert (texts["styles.css"], texts["app.js"]) == ("a{}", "1;")


def test_import_again_fails_on_taken_slugs_unless_told_to_skip(
    invoke: Invoke, service: SiteService, tmp_path: Path, slugs: Slugs, write_site: WriteSite
) -> None:
    root = tmp_path / "batch"
    write_site(root, "alpha-cafe")
    write_site(root, "beta-barber")
    assert invoke("sites", "import", str(root)).exit_code == 0
    write_site(root, "gamma-garage")

    again = invoke("sites", "import", str(root))
    assert again.exit_code == 1
    assert "1 site imported, 2 failed." in again.stdout
    assert "2 slugs already taken" in again.stdout
    assert "--skip-existing" in again.stdout

    write_site(root, "delta-deli")
    skipping = invoke("sites", "import", "--skip-existing", str(root))
    assert skipping.exit_code == 0, skipping.output
    assert "1 site imported, 3 already there." in skipping.stdout
    assert slugs() == ["alpha-cafe", "beta-barber", "delta-deli", "gamma-garage"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing", "is not a folder"),
        ("only-site/index.html", "is not a folder"),
        ("only-site", "holds an index.html itself"),
        (".", "has no sub-folders"),
    ],
)
def test_import_refuses_a_folder_that_holds_no_site_folders(
    invoke: Invoke,
    service: SiteService,
    tmp_path: Path,
    target: str,
    message: str,
    error_line: ErrorLine,
    slugs: Slugs,
    write_site: WriteSite,
) -> None:
    root = tmp_path / "batch"
    root.mkdir()
    if target.startswith("only-site"):
        write_site(root, "only-site")

    result = invoke("sites", "import", str(root / target))

    assert result.exit_code == 2
    assert message in error_line(result)
    assert slugs() == []


# --- list and show ---------------------------------------------------------------------------


def test_list_table_and_json(invoke: Invoke, files: Path, listed: Listed) -> None:
    assert "No sites yet" in invoke("sites", "list").stdout
    assert listed() == []
    create(invoke, files, "rosas-bakery")
    create(invoke, files, "alpha-cafe")
    assert invoke("sites", "archive", "alpha-cafe", "--yes").exit_code == 0

    table = invoke("sites", "list")
    assert table.exit_code == 0
    rows = [line for line in table.stdout.splitlines() if "rosas-bakery" in line or "alpha-cafe" in line]
    assert len(rows) == 2
    assert "archived" in rows[0]
    assert "preview" in rows[1]
    assert "Rosa's Bakery" in rows[1]
    assert "2 sites, served at http://127.0.0.1:8000/SLUG" in table.stdout

    data = listed()
    assert [item["slug"] for item in data] == ["alpha-cafe", "rosas-bakery"]
    rosa = data[1]
    assert set(rosa) == {"slug", "business_name", "status", "current_version", "created_at", "url"}
    assert (rosa["business_name"], rosa["status"], rosa["current_version"]) == ("Rosa's Bakery", "preview", 1)
    assert rosa["url"] == "http://127.0.0.1:8000/rosas-bakery"
    created = dt.datetime.fromisoformat(rosa["created_at"])
    assert created.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(minutes=5)
    assert data[0]["url"] is None


def test_list_by_status(invoke: Invoke, files: Path, listed: Listed) -> None:
    create(invoke, files, "rosas-bakery")
    create(invoke, files, "alpha-cafe")
    invoke("sites", "archive", "alpha-cafe", "--yes")

    assert [s["slug"] for s in listed("--status", "preview")] == ["rosas-bakery"]
    assert [s["slug"] for s in listed("-s", "ARCHIVED")] == ["alpha-cafe"]
    assert listed("--status", "active") == []
    assert "No active sites." in invoke("sites", "list", "--status", "active").stdout
    bad = invoke("sites", "list", "--status", "sold")
    assert bad.exit_code == 2
    assert "sold" in bad.stderr


def test_show_prints_versions_and_timeline(invoke: Invoke, files: Path) -> None:
    create(invoke, files)
    invoke(
        "sites", "publish", "rosas-bakery", "--html", str(files / "v2.html"), "--cause", "new opening hours"
    )
    invoke("sites", "archive", "rosas-bakery", "--yes")

    result = invoke("sites", "show", "rosas-bakery")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Rosa's Bakery" in out
    assert "archived" in out
    assert "new opening hours" in out
    timeline = out[out.index("Timeline") :]
    assert "created as preview: created from the CLI (admin)" in timeline
    assert "preview -> archived: archived from the CLI (admin)" in timeline


def test_show_json(invoke: Invoke, files: Path) -> None:
    create(invoke, files)
    invoke(
        "sites", "publish", "rosas-bakery", "--html", str(files / "v2.html"), "--cause", "new opening hours"
    )
    invoke("sites", "archive", "rosas-bakery", "--yes")

    result = invoke("sites", "show", "rosas-bakery", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "archived"
    assert data["owner_email"] is None  # never sold
    assert data["current_version"] == 2
    assert data["url"] is None
    assert [(v["number"], v["cause"], v["note"]) for v in data["versions"]] == [
        (2, "publish", "new opening hours"),
        (1, "import", "created from the CLI"),
    ]
    events = [
        (e["from_status"], e["to_status"], e["cause"], e["actor"], e["reference"]) for e in data["events"]
    ]
    assert events == [
        (None, "preview", "created from the CLI", "admin", None),
        ("preview", "archived", "archived from the CLI", "admin", None),
    ]
    for event in data["events"]:
        assert dt.datetime.fromisoformat(event["occurred_at"]).utcoffset() == dt.timedelta(0)
    assert [(e["kind"], e["summary"], e["reference"]) for e in data["timeline"]] == [
        ("site", "created as preview: created from the CLI (admin)", None),
        ("site", "preview -> archived: archived from the CLI (admin)", None),
    ]
    assert [e["at"] for e in data["timeline"]] == [e["occurred_at"] for e in data["events"]]


def test_show_timeline_tells_the_whole_purchase_in_time_order(invoke: Invoke, shop: Shop) -> None:
    message_id, started = shop.buy()  # created at :00, purchase started at :01, paid at :02
    shop.later()
    assert shop.container.relay.drain().sent == 2  # the emails go out at :03

    data = json.loads(invoke("sites", "show", "casa-rosa", "--json").stdout)

    timeline = [(e["at"][11:19], e["kind"], e["summary"], e["reference"]) for e in data["timeline"]]
    assert [entry[:2] for entry in timeline] == [
        ("12:00:00", "site"),
        ("12:00:01", "purchase"),
        ("12:00:01", "checkout"),
        ("12:00:02", "site"),
        ("12:00:02", "purchase"),
        ("12:00:02", "webhook"),
        ("12:00:02", "email"),
        ("12:00:02", "email"),
        ("12:00:03", "email"),
        ("12:00:03", "email"),
    ]
    ats = [e["at"] for e in data["timeline"]]
    assert ats == sorted(ats)
    sold = timeline[3]
    assert sold[2].startswith(f"preview -> owned: purchase {started.purchase_id} paid (webhook)")
    assert sold[3] == message_id
    assert timeline[1][2].startswith("purchase started by buyer@example.com for $495.00")
    assert timeline[1][3] == str(started.purchase_id)
    assert timeline[2][3] == started.checkout_id
    assert timeline[5][2:] == ("webhook payment_intent.succeeded received, processed", message_id)
    emails = [entry[2] for entry in timeline[6:]]
    assert emails == [
        "email purchase_confirmation to buyer@example.com queued",
        "email welcome_set_password to buyer@example.com queued",
        "email purchase_confirmation to buyer@example.com sent",
        "email welcome_set_password to buyer@example.com sent",
    ]

    assert data["owner_email"] == "buyer@example.com"
    result = invoke("sites", "show", "casa-rosa")

    assert result.exit_code == 0, result.output
    assert "Owner    buyer@example.com" in result.stdout
    table = result.stdout[result.stdout.index("Timeline") :].splitlines()
    header = [cell.strip() for cell in table[1].split("┃")]
    assert header == ["When", "Kind", "What", "Reference"]
    rows = [[cell.strip() for cell in line.split("│")] for line in table if line.startswith("2026-01-01")]
    assert [(cells[0][11:19], cells[1]) for cells in rows] == [entry[:2] for entry in timeline]
    assert rows[5][3] == message_id
    assert rows[8][2] == "email purchase_confirmation to buyer@example.com sent"


def test_show_unknown_slug(invoke: Invoke, error_line: ErrorLine) -> None:
    result = invoke("sites", "show", "nobody-here")

    assert result.exit_code == 1
    assert "no site has the slug 'nobody-here'" in error_line(result)


# --- publish ---------------------------------------------------------------------------------


def test_publish_adds_a_version_and_keeps_css_and_js_left_out(
    invoke: Invoke, files: Path, service: SiteService
) -> None:
    create(invoke, files)

    result = invoke("sites", "publish", "rosas-bakery", "--html", str(files / "v2.html"), "-c", "new hours")

    assert result.exit_code == 0, result.output
    assert "Published version 2 of rosas-bakery." in result.stdout
    site = service.details("rosas-bakery").site
    assert site.current_version == 2
    v2 = service.version(site.id, 2)
    assert v2.cause is VersionCause.PUBLISH
    assert v2.note == "new hours"
    texts = service.text_files(site.id, 2)
    assert "Rosa's Bakery, new hours" in texts["index.html"]
    assert (texts["styles.css"], texts["app.js"]) == ("body { color: brown; }", "console.log('hi');")
    assert "<h1>Rosa's Bakery</h1>" in service.text_files(site.id, 1)["index.html"]

    replaced = invoke(
        "sites", "publish", "rosas-bakery", "--html", str(files / "v2.html"), "--css", str(files / "new.css")
    )
    assert replaced.exit_code == 0
    v3 = service.version(site.id, 3)
    texts = service.text_files(site.id, 3)
    assert (texts["styles.css"], texts["app.js"], v3.note) == (
        "body { color: green; }",
        "console.log('hi');",
        "published from the CLI",
    )


@pytest.mark.parametrize(
    ("slug", "html", "code", "message"),
    [
        ("nobody-here", "v2.html", 1, "no site has the slug 'nobody-here'"),
        ("rosas-bakery", "missing.html", 2, "cannot read the --html file"),
        ("rosas-bakery", "latin1.html", 1, "not valid UTF-8"),
        ("rosas-bakery", "empty.html", 1, "the HTML is empty"),
        ("rosas-bakery", "huge.html", 1, "the limit is 5,242,880 bytes"),
    ],
)
def test_publish_refuses_bad_input(
    invoke: Invoke,
    files: Path,
    service: SiteService,
    slug: str,
    html: str,
    code: int,
    message: str,
    error_line: ErrorLine,
) -> None:
    create(invoke, files)

    result = invoke("sites", "publish", slug, "--html", str(files / html))

    assert result.exit_code == code, result.output
    assert message in error_line(result)
    assert service.details("rosas-bakery").site.current_version == 1


def test_publish_refuses_an_archived_site(invoke: Invoke, files: Path, error_line: ErrorLine) -> None:
    create(invoke, files)
    invoke("sites", "archive", "rosas-bakery", "--yes")

    result = invoke("sites", "publish", "rosas-bakery", "--html", str(files / "v2.html"))

    assert result.exit_code == 1
    assert "the site 'rosas-bakery' is archived" in error_line(result)


# --- archive ---------------------------------------------------------------------------------


def test_archive_asks_first(invoke: Invoke, files: Path, service: SiteService) -> None:
    create(invoke, files)

    declined = invoke("sites", "archive", "rosas-bakery", input="n\n")
    assert declined.exit_code == 1
    assert "Archive rosas-bakery (Rosa's Bakery)?" in declined.stdout
    assert "Nothing changed." in declined.stdout
    assert service.details("rosas-bakery").site.status.value == "preview"

    accepted = invoke("sites", "archive", "rosas-bakery", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "Archived rosas-bakery." in accepted.stdout
    assert service.details("rosas-bakery").site.status.value == "archived"


def test_archive_with_yes_does_not_ask(invoke: Invoke, files: Path, service: SiteService) -> None:
    create(invoke, files)

    result = invoke("sites", "archive", "-y", "rosas-bakery")

    assert result.exit_code == 0, result.output
    assert "Archive rosas-bakery (" not in result.stdout
    assert service.details("rosas-bakery").site.status.value == "archived"


@pytest.mark.parametrize(
    ("slug", "message"),
    [("nobody-here", "no site has the slug 'nobody-here'"), ("rosas-bakery", "is already archived")],
)
def test_archive_refuses_unknown_and_archived_sites(
    invoke: Invoke, files: Path, slug: str, message: str, error_line: ErrorLine
) -> None:
    create(invoke, files)
    invoke("sites", "archive", "rosas-bakery", "--yes")

    result = invoke("sites", "archive", slug, "--yes")

    assert result.exit_code == 1
    assert message in error_line(result)


def test_every_timeline_kind_has_a_style() -> None:
    from webmagic_cli.site_details import TIMELINE_STYLES
    from webmagic_core.services.timeline import TimelineKind

    assert set(TIMELINE_STYLES) == set(TimelineKind)
