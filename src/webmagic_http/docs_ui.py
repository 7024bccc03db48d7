"""The OpenAPI document and its Swagger UI, served entirely by the app.

Litestar's Swagger plugin loads its scripts and styles from a CDN by default, which leaves
``/schema`` blank on a machine without internet access (and tells a third party who reads
the docs). The same Swagger UI build ships in the ``litestar-offline-docs`` package; it is
served here under ``/schema/assets`` with a long cache lifetime (the file names are fixed
per package release, so an upgrade of the package is also a restart of the app).
"""

from __future__ import annotations

from pathlib import Path

import litestar_offline_docs
from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

SCHEMA_PATH = "/schema"
ASSETS_PATH = f"{SCHEMA_PATH}/assets"
ASSETS_DIR = Path(litestar_offline_docs.__file__).parent / "static"
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css")


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="WebMagic",
        version=version,
        path=SCHEMA_PATH,
        render_plugins=[
            JsonRenderPlugin(),
            SwaggerRenderPlugin(
                path="/",
                js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
                css_url=f"{ASSETS_PATH}/swagger-ui.css",
                favicon='<link rel="icon" type="image/svg+xml" href="/favicon.svg">',
            ),
        ],
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
    )


def docs_assets_router() -> Router:
    """Swagger UI's own files, and nothing else from the package's folder."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[ASSETS_DIR],
        name="docs-assets",
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=86400, public=True),
    )
