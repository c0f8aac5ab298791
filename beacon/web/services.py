"""Operations shared by the JSON API and the HTML UI, so both behave identically."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from collections.abc import Callable

from fastapi import UploadFile
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from beacon.analysis.version import pipeline_version
from beacon.errors import AnalysisBusy, EngineUnavailable, InvalidInput, NotFound, SourceError, UploadTooLarge
from beacon.models import Email
from beacon.settings import Settings
from beacon.store import emails as store
from beacon.store.analyses import current_analysis, load_scored, rescore_all
from beacon.store.inbox import Count, InboxFilter, inbox_count
from beacon.store.inbox import inbox_page as store_inbox_page
from beacon.store.inbox import pending_count as store_pending_count
from beacon.store.schema import Account, AttachmentRow, EmailRow, Run
from beacon.store.app_settings import SettingsUpdate, apply_update
from beacon.web.auth import SessionData
from beacon.web.revoked import revoke
from beacon.web.sanitize import MAX_INLINE_IMAGE
from beacon.web.state import WebState
from beacon.web.view_models import EmailView, InboxItem, RunView, inbox_item, run_view

__all__ = [
    "ENGINE_FIELDS", "InboxPage", "SCORING_FIELDS", "account_rows", "analyse_new_mail",
    "cid_images", "end_session", "get_job", "import_upload", "inbox_page", "load_email_view",
    "pending_count", "recent_jobs", "save_settings", "start_analysis", "start_path_import",
]

log = logging.getLogger(__name__)

# Changing one of these means the analysis workers must start again with the new value.
ENGINE_FIELDS = {"spacy_model", "nlp_mode", "batch_size", "memory_budget"}
# Changing one of these changes scores, not analyses: re-score in the main process.
SCORING_FIELDS = {"own_addresses", "vip_senders", "priority_high", "priority_medium"}


@dataclass(frozen=True)
class InboxPage:
    items: list[InboxItem]
    total: Count  # exact up to a cap ("10,000+")
    page: int
    per_page: int
    next_cursor: str | None = None  # the page of the rows after these

    @property
    def pages(self) -> int:
        return max(1, -(-self.total.n // self.per_page))


def inbox_page(s: Session, f: InboxFilter, page: int, per_page: int, cursor: str | None = None) -> InboxPage:
    """A cursor page (keyset: as fast deep down as at the top), or page ``page`` counted from
    the top (kept for small results: the database skips the rows before it)."""
    offset = 0 if cursor else (page - 1) * per_page
    result = store_inbox_page(s, f, limit=per_page, cursor=cursor, offset=offset)
    terms = f.terms()
    items = [inbox_item(e, a, terms) for e, a in result.rows]
    return InboxPage(items, inbox_count(s, f), page, per_page, result.next_cursor)


def load_email_view(s: Session, settings: Settings, email_id: int) -> EmailView:
    row = store.get_email_row(s, email_id)
    if row is None or row.deleted:
        raise NotFound(f"no email {email_id}")
    arow = current_analysis(s, email_id, settings)
    return EmailView(row, store.load_email(row), load_scored(arow) if arow else None)


def cid_images(s: Session, email_id: int, email: Email) -> Callable[[str], tuple[str, bytes] | None]:
    """Resolves ``cid:`` references to (type, bytes) of the email's inline images.

    The images are read once, in one query, on the first reference; attachments that cannot
    be shown inline (not images, or too big) are never loaded.
    """
    by_cid = {a.content_id.strip("<> "): a.sha256 for a in email.attachments if a.content_id}
    images: dict[str, tuple[str, bytes]] | None = None

    def resolve(cid: str) -> tuple[str, bytes] | None:
        nonlocal images
        sha = by_cid.get(cid)
        if sha is None:
            return None
        if images is None:
            rows = list(s.scalars(
                select(AttachmentRow).where(
                    AttachmentRow.email_id == email_id,
                    AttachmentRow.sha256.in_(set(by_cid.values())),
                    AttachmentRow.content_type.startswith("image/"),
                    AttachmentRow.size <= MAX_INLINE_IMAGE,
                )
            ))
            # Decoded from the raw message (parsed once for all of them).
            data = store.attachment_bytes(s, email_id, rows)
            images = {r.sha256: (r.content_type, data[r.id]) for r in rows if r.id in data}
        return images.get(sha)

    return resolve


def start_analysis(st: WebState) -> int:
    """Begin a background analysis run of everything not analysed yet; its run id."""
    if st.engine is None:
        raise EngineUnavailable("the analysis engine is not running in this server")
    return st.engine.start_run()


def analyse_new_mail(st: WebState, email_ids: list[int]) -> None:
    """Called by the IMAP scheduler: queue the new mail, and start a run unless one is going."""
    if st.engine is None or not email_ids:
        return
    try:
        run_id = start_analysis(st)
        log.info("new mail: %d emails, analysis run %d", len(email_ids), run_id)
    except AnalysisBusy:
        log.info("new mail: %d emails queued for the running analysis", len(email_ids))
    except EngineUnavailable as exc:
        log.info("new mail: %d emails queued; no analysis now (%s)", len(email_ids), exc)


def save_settings(st: WebState, s: Session, update: SettingsUpdate) -> Settings:
    """Store the change, re-score when scoring inputs changed, restart the engine if needed
    (in the background: the request does not wait for the workers to stop)."""
    changed = set(update.model_dump(exclude_unset=True, exclude_none=True))
    new = apply_update(s, st.settings, update)
    if changed & SCORING_FIELDS:
        n = rescore_all(s, new)
        log.info("settings changed (%s): re-scored %d analyses", ", ".join(sorted(changed)), n)
    if changed & ENGINE_FIELDS and st.engine is not None:
        st.engine.replace_soon(new)
    return new


def end_session(st: WebState, s: Session, data: SessionData) -> SessionData:
    """Log out: the old cookie is revoked server-side, and a fresh anonymous session replaces it."""
    if data.uid is not None:
        revoke(s, data.sid, st.codec.max_age)
    return st.codec.new()


def recent_jobs(s: Session, limit: int = 20) -> list[RunView]:
    now = datetime.now(timezone.utc)
    runs = s.scalars(select(Run).order_by(Run.id.desc()).limit(limit))
    return [run_view(r, now) for r in runs]


def get_job(s: Session, run_id: int) -> RunView:
    run = s.get(Run, run_id)
    if run is None:
        raise NotFound(f"no job {run_id}")
    return run_view(run, datetime.now(timezone.utc))


def pending_count(s: Session, settings: Settings) -> Count:
    """Emails with no analysis at the current pipeline version (capped like inbox counts)."""
    return store_pending_count(s, pipeline_version(settings))


def start_path_import(st: WebState, raw_path: str, account: str) -> int:
    """Import a file or directory already on the server, after refusing paths the web must not
    read: standard input ("-"), relative paths, and anything inside (or containing) Beacon's
    own data directory, which holds the secret key and the database."""
    text = raw_path.strip()
    if text == "-":
        raise SourceError("'-' (standard input) can only be imported with the command line")
    path = Path(text)
    if not path.is_absolute():
        raise SourceError(f"{text}: give an absolute path on the server")
    resolved = path.resolve()
    data_dir = Path(st.settings.data_dir).resolve()
    if resolved == data_dir or data_dir in resolved.parents or resolved in data_dir.parents:
        raise SourceError(f"{text}: Beacon's data directory cannot be imported (nor a folder containing it)")
    if not resolved.exists():
        raise SourceError(f"{text}: no such file or directory")
    return st.imports.start(path, account)


def import_upload(st: WebState, upload: UploadFile, account: str) -> int:
    """Save an uploaded mail file under data_dir and import it (the temp dir goes afterwards)."""
    limit = st.settings.upload_max_bytes
    if upload.size is not None and upload.size > limit:
        raise _too_large(limit)
    root = Path(st.settings.data_dir) / "uploads"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root))
    try:
        # Only the last path component of the client's name, never a path it chose.
        name = Path(upload.filename or "upload").name.lstrip(".") or "upload"
        target = tmp / name
        _copy_limited(upload, target, limit)
        if target.stat().st_size == 0:
            raise InvalidInput("the uploaded file is empty")
        return st.imports.start(target, account, cleanup=tmp)  # the import thread removes tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _copy_limited(upload: UploadFile, target: Path, limit: int) -> None:
    copied = 0
    with target.open("wb") as fh:
        while chunk := upload.file.read(1024 * 1024):
            copied += len(chunk)
            if copied > limit:
                raise _too_large(limit)
            fh.write(chunk)


def _too_large(limit: int) -> UploadTooLarge:
    return UploadTooLarge(
        f"the upload is larger than {limit // (1024 * 1024)} MiB; import big files by their path on the server"
    )


def account_rows(s: Session) -> list[dict[str, Any]]:
    counts = dict(
        s.execute(select(EmailRow.account_id, func.count(EmailRow.id)).group_by(EmailRow.account_id)).all()
    )
    return [
        {"id": a.id, "name": a.name, "kind": a.kind, "imap_host": a.imap_host, "imap_user": a.imap_user,
         "last_sync_at": a.last_sync_at, "last_error": a.last_error, "emails": counts.get(a.id, 0)}
        for a in s.scalars(select(Account).order_by(Account.name))
    ]
