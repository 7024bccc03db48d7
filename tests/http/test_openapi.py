"""The OpenAPI document at ``/schema/openapi.json``."""

from __future__ import annotations

import json

from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]


def test_openapi_document_is_served(client: Client) -> None:
    response = client.get("/schema/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/")
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "WebMagic"
    paths = document["paths"]
    assert {"/healthz", "/readyz", "/api/v1/sites/{slug}"} <= set(paths)
    site_info = paths["/api/v1/sites/{slug}"]["get"]
    assert "404" in site_info["responses"]
    assert "application/problem+json" in site_info["responses"]["404"]["content"]
    # Hosting serves arbitrary sites, not an API: it stays out of the document.
    assert not any(path.startswith("/{slug") for path in paths)


def test_schema_ui_is_served(client: Client) -> None:
    assert client.get("/schema").status_code == 200
