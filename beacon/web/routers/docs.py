"""``/docs``: the API's Swagger UI, served by Beacon itself.

The app's Content-Security-Policy allows scripts and styles from this server only (no CDN, no
inline script), so the Swagger UI files (5.x, which reads FastAPI's OpenAPI 3.1) come from the
``fastapi-offline`` package, mounted under ``/docs/assets``, and the page starts Swagger UI
from ``/static/docs.js`` instead of the inline script of FastAPI's own page.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "install", "router"]

# The package's own copy of swagger-ui-dist (it has no accessor for the folder).
SWAGGER_UI_FILES = Path(fastapi_offline.__file__).parent / "static"

ASSETS = "/docs/assets"
router = APIRouter(include_in_schema=False)

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Beacon API · Beacon</title>
  <link rel="icon" href="/static/beacon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
  <link rel="stylesheet" href="/static/docs.css">
</head>
<body>
<div id="swagger-ui" data-spec="/openapi.json"><p class="loading">Loading the API description…</p></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""


@router.get("/docs")
def docs_page() -> HTMLResponse:
    return HTMLResponse(_PAGE)


def install(app: FastAPI) -> None:
    """Mount the Swagger UI files (the page itself is ``router``, in the app's ROUTERS)."""
    app.mount(ASSETS, StaticFiles(directory=str(SWAGGER_UI_FILES)), name="swagger-ui")
