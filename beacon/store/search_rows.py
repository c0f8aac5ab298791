"""One email's full-text index row, made where it was parsed (perhaps a parse worker).

The importer writes these rows (SQLite's) in the batch that stores the emails, instead of an
insert trigger that parsed each email's JSON again in the importing process. They must be
exactly what the database's own definition (:mod:`beacon.store.search_index`) makes from the
stored row: re-parse, delete and reindex still use that definition, and FTS5 removes an
email's words by reading them again from it. (PostgreSQL's index is of the emails' rows
themselves: it needs none.)

No SQLAlchemy here: parse workers import this module (:mod:`beacon.store.rows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json

from beacon.models import Address, Email

__all__ = ["MAX_BODY_CHARS", "SQLITE_MAX_FILES", "SearchRow", "search_row"]

MAX_BODY_CHARS = 100_000  # of the text indexed
SQLITE_MAX_FILES = 20  # attachment names the SQLite index reads


@dataclass(frozen=True)
class SearchRow:
    """The index's text fields; ``sqlite`` holds the address lists and file names as SQLite's
    definition writes them (to_addrs, cc_addrs, files)."""

    subject: str
    sender: str
    list_id: str | None
    body: str
    sqlite: tuple[str, str, str]

    def sqlite_params(self, email_id: int) -> tuple[Any, ...]:
        to, cc, files = self.sqlite
        return (email_id, self.subject, self.sender, to, cc, self.list_id or "", files, self.body)


def _json(value: Any) -> str:
    # The same serialiser as the Email JSON in ``data``: SQLite's json_extract gives back
    # an array's text with each string escaped as it was stored.
    return to_json(value).decode()


def _sqlite_addresses(addresses: list[Address]) -> str:
    return _json(addresses).replace('"name":', " ").replace('"address":', " ")


def _sqlite_files(email: Email) -> str:
    if not email.attachments:
        return ""
    names = [_json(a.filename) for a in email.attachments[:SQLITE_MAX_FILES]]
    names += ["null"] * (SQLITE_MAX_FILES - len(names))
    return f"[{','.join(names)}]".replace("null", "")


def search_row(email: Email, columns: dict[str, Any]) -> SearchRow:
    """The row for ``email`` stored with ``columns`` (its capped query columns)."""
    return SearchRow(
        subject=columns["subject"],
        sender=f"{columns['from_name']} {columns['from_addr']}",
        list_id=email.list_headers.list_id,
        body=email.text[:MAX_BODY_CHARS],
        sqlite=(_sqlite_addresses(email.to), _sqlite_addresses(email.cc), _sqlite_files(email)),
    )
