"""A version's files: path normalisation, types, limits (pure core, no I/O)."""

from __future__ import annotations

import posixpath
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webmagic_core.errors import ValidationError
from webmagic_core.site_files import (
    FileLimits,
    FilesRejected,
    SiteFiles,
    content_type,
    normalize_path,
    prepare_files,
    resolve_reference,
)

PAGE = b"<!doctype html><h1>hi</h1>"

# Paths built from the characters that matter: separators, dots, backslashes, controls,
# letters in both cases and composed/decomposed forms.
path_text = st.text(
    alphabet=st.sampled_from(list("/.\\ abcAB-_é\u0065\u0301\x00\x1f\u202e~:")), min_size=0, max_size=24
)


@given(path_text)
def test_a_normalised_path_never_leaves_the_version_and_normalising_is_idempotent(raw: str) -> None:
    try:
        path = normalize_path(raw)
    except ValidationError:
        return
    assert normalize_path(path) == path
    assert not path.startswith("/")
    assert "\\" not in path
    segments = path.split("/")
    assert all(s and s not in (".", "..") and not s.startswith(".") for s in segments)
    # Joined under a root, it stays under that root.
    assert posixpath.normpath(posixpath.join("/root", path)).startswith("/root/")
    assert unicodedata.is_normalized("NFC", path)
    assert not any(unicodedata.category(c) == "Cc" for c in path)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("index.html", "index.html"),
        ("./img//logo.png", "img/logo.png"),
        ("img/./Logo.PNG", "img/Logo.PNG"),  # case kept
        ("cafe\u0301.png", "caf\u00e9.png"),  # NFD (macOS) -> NFC
    ],
)
def test_paths_are_normalised(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("../secret.txt", "'..'"),
        ("img/../../x.png", "'..'"),
        ("img\\logo.png", "backslashes"),
        (".env", "hidden"),
        ("img/.git/config", "hidden"),
        ("a\x00b.png", "control characters"),
        ("a\u202eb.png", "control characters"),
        ("img/", "folder"),
        ("a/" * 200 + "x.png", "longer than"),
    ],
)
def test_bad_paths_are_refused_saying_why(raw: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        normalize_path(raw)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("a/b/MAIN.CSS", "text/css; charset=utf-8"),
        ("app.mjs", "text/javascript; charset=utf-8"),
        ("logo.svg", "image/svg+xml"),
        ("photo.JPG", "image/jpeg"),
        ("font.woff2", "font/woff2"),
        ("clip.webm", "video/webm"),
        ("menu.pdf", "application/pdf"),
        ("script.php", None),
        ("archive.zip", None),
        ("README", None),
    ],
)
def test_content_types_come_from_the_allow_list(path: str, expected: str | None) -> None:
    assert content_type(path) == expected


def test_every_problem_is_reported_at_once_naming_its_file() -> None:
    limits = FileLimits(max_file_bytes=100, max_version_bytes=150, max_files=3)
    with pytest.raises(FilesRejected) as caught:
        SiteFiles.build(
            {
                "index.html": PAGE,
                "../up.png": b"x",
                "tool.exe": b"MZ",
                "big.png": b"x" * 101,
                "bad.css": b"\xff",
                "ok.png": b"x" * 90,
                "more.png": b"x" * 50,
                "too-many.png": b"x",
            },
            limits,
        )
    reasons = [str(problem) for problem in caught.value.problems]
    assert reasons == [
        "../up.png: '..' would leave the site's folder",
        "tool.exe: the type .exe is not allowed",
        "big.png: is 101 bytes; the limit is 100 per file",
        "bad.css: is not valid UTF-8 text (byte 0)",
        "(the site): has 4 files; the limit is 3",
        "(the site): has 167 bytes of files; the limit is 150",
    ]


def test_limits_are_inclusive() -> None:
    limits = FileLimits(max_file_bytes=30, max_version_bytes=60, max_files=2)
    files = SiteFiles.build({"index.html": PAGE, "a.png": b"x" * 30}, limits)
    assert len(files) == 2
    with pytest.raises(FilesRejected, match="31 bytes"):
        SiteFiles.build({"index.html": PAGE, "a.png": b"x" * 31}, limits)


def test_index_html_is_required_and_not_empty() -> None:
    with pytest.raises(FilesRejected, match=r"index\.html: is missing"):
        SiteFiles.build({"about.html": PAGE}, FileLimits())
    with pytest.raises(FilesRejected, match=r"index\.html: is empty"):
        SiteFiles.build({"index.html": b"  \n"}, FileLimits())


def test_two_names_for_one_file_are_refused() -> None:
    with pytest.raises(FilesRejected, match="names the same file"):
        SiteFiles.build([("index.html", PAGE), ("./index.html", PAGE)], FileLimits())


@given(st.lists(st.binary(max_size=20), min_size=1, max_size=8))
def test_same_bytes_get_one_digest_and_one_body(bodies: list[bytes]) -> None:
    files = SiteFiles.build(
        {"index.html": PAGE, **{f"f{i}.png": body for i, body in enumerate(bodies)}}, FileLimits()
    )
    prepared = prepare_files(files)
    assert len(prepared.bodies) == len({PAGE, *bodies})
    by_path = {f.path: f for f in prepared.files}
    for i, body in enumerate(bodies):
        assert prepared.bodies[by_path[f"f{i}.png"].digest] == body


@pytest.mark.parametrize(
    ("origin", "reference", "expected"),
    [
        ("index.html", "img/a.png", "img/a.png"),
        ("css/main.css", "../img/a.png", "img/a.png"),
        ("css/main.css", "fonts/f.woff2", "css/fonts/f.woff2"),
        ("index.html", "../outside.png", None),
        ("index.html", "img/", None),
    ],
)
def test_references_resolve_from_the_file_that_makes_them(
    origin: str, reference: str, expected: str | None
) -> None:
    assert resolve_reference(origin, reference) == expected
