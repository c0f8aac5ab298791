"""The error responses the API documents in its OpenAPI schema, in one place, so every route
lists exactly the statuses it can answer with (``beacon.web.app`` maps Beacon's errors to
them) and their bodies' shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["ErrorOut", "InvalidOut", "errors"]


class ErrorOut(BaseModel):
    detail: str


class InvalidOut(BaseModel):
    """A 422: FastAPI's list of field errors, or Beacon's own message (settings that are
    valid one by one but not together)."""

    detail: str | list[dict[str, Any]]


_DESCRIPTIONS = {
    400: "the input is refused as it stands (the message says why)",
    401: "not logged in (or wrong username or password)",
    403: "missing or wrong CSRF token",
    404: "no such item",
    409: "an analysis run is already in progress",
    413: "the upload is too large",
    422: "invalid parameters or body",
    429: "too many failed logins from this address",
    502: "a server Beacon asked on your behalf failed (the message says which and how)",
    503: "not available now (try again shortly)",
}


def errors(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses; ``descriptions`` (``e503=...``)
    override the generic ones."""
    return {
        code: {"model": InvalidOut if code == 422 else ErrorOut,
               "description": descriptions.get(f"e{code}", _DESCRIPTIONS[code])}
        for code in codes
    }
