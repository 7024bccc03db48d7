"""Errors become RFC 9457 problem documents (problems.py is the one place that maps them)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar, get, post
from litestar.params import FromPath, FromQuery
from litestar.testing import TestClient

from webmagic_core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    TransientError,
    ValidationError,
)
from webmagic_http.problems import PROBLEM_JSON, exception_handlers

Client = TestClient[Litestar]


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert set(body) <= {"title", "status", "detail", "type", "errors"}
    return body


def test_unknown_api_path_is_a_problem(client: Client) -> None:
    body = assert_problem(client.get("/api/v1/no-such-thing"), 404)
    assert body["title"] == "Not Found"


def test_unknown_site_in_the_api_is_a_problem(client: Client) -> None:
    body = assert_problem(client.get("/api/v1/sites/no-such-site"), 404)
    assert "no-such-site" in body["detail"]


def test_wrong_method_is_a_problem_with_allow(client: Client) -> None:
    response = client.delete("/api/v1/sites/some-site")
    body = assert_problem(response, 405)
    assert "DELETE" in body["detail"]
    assert "GET" in response.headers["allow"]
    assert_problem(client.post("/healthz"), 405)


@post("/api/test/boom/{kind:str}", sync_to_thread=False)
def raise_error(kind: FromPath[str]) -> None:
    errors: dict[str, Exception] = {
        "not-found": NotFound("no site has the slug 'x'"),
        "conflict": Conflict("the slug 'x' is already taken"),
        "transition": InvalidTransition("a site that is archived cannot take 'purchase_paid'"),
        "denied": PermissionDenied("you may not edit this site"),
        "invalid": ValidationError("invalid slug 'X': a slug is ...", field="slug"),
        "invalid-no-field": ValidationError("the request makes no sense"),
        "transient": TransientError("the database is busy"),
        "bug": RuntimeError("secret internals: password=hunter2"),
    }
    raise errors[kind]


@get("/api/test/count", sync_to_thread=False)
def count(limit: FromQuery[int]) -> dict[str, int]:
    return {"limit": limit}


@pytest.fixture
def error_client() -> Iterator[Client]:
    app = Litestar([raise_error, count], exception_handlers=exception_handlers(None), logging_config=None)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("not-found", 404),
        ("conflict", 409),
        ("transition", 409),
        ("denied", 403),
        ("invalid", 400),
        ("invalid-no-field", 400),
        ("transient", 503),
    ],
)
def test_core_errors_map_to_statuses(error_client: Client, kind: str, status: int) -> None:
    body = assert_problem(error_client.post(f"/api/test/boom/{kind}"), status)
    assert "errors" not in body or kind == "invalid"


def test_validation_error_names_the_field(error_client: Client) -> None:
    body = assert_problem(error_client.post("/api/test/boom/invalid"), 400)
    assert body["errors"] == [{"field": "slug", "message": "invalid slug 'X': a slug is ..."}]


def test_transient_error_asks_to_retry(error_client: Client) -> None:
    response = error_client.post("/api/test/boom/transient")
    assert response.headers["retry-after"].isdigit()


def test_unexpected_errors_are_logged_and_hidden(
    error_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="webmagic_http.problems"):
        response = error_client.post("/api/test/boom/bug")
    body = assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert body["detail"] == "The server failed to handle this request."
    assert any(record.exc_info for record in caplog.records)


def test_framework_validation_errors_name_the_parameter(error_client: Client) -> None:
    missing = assert_problem(error_client.get("/api/test/count"), 400)
    wrong = assert_problem(error_client.get("/api/test/count", params={"limit": "many"}), 400)
    for body in (missing, wrong):
        assert [error["field"] for error in body["errors"]] == ["limit"]
        assert all(error["message"] for error in body["errors"])


def test_paths_outside_the_api_get_the_not_found_page(client: Client) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == client.get("/no-such-site").content
