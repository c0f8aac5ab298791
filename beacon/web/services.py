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
from beacon.errors import (
    AnalysisBusy, EngineUnavailable, Forbidden, InvalidInput, NothingToAnalyse, NotFound, UploadTooLarge,
)
from beacon.models import Email
from beacon.settings import Settings
from beacon.store import emails as store
from beacon.store.analyses import current_analysis, load_scored
from beacon.store.inbox import Count, InboxFilter, inbox_count
from beacon.store.inbox import inbox_page as store_inbox_page
from beacon.store.inbox import pending_count as store_pending_count
from beacon.store.list_rows import ListRow
from beacon.store.private import private_dir
from beacon.store.schema import Account, AttachmentRow, EmailRow, User, utcnow
from beacon.store.state_sets import one_read
from beacon.store.app_settings import ENGINE_WIDE, SettingsUpdate, apply_update, current_settings
from beacon.store.runs import get_run, recent_runs
from beacon.store.tenancy import account_ids
from beacon.triage.states import load_states, state_of
from beacon.triage.rescore import rescore_scope, rescore_woken
from beacon.triage.threads import thread_counts, thread_messages
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
ENGINE_FIELDS = {"spacy_model", "nlp_mode", "batch_size", "memory_budget", "workers"}
# Changing one of these changes scores, not analyses: re-score in the main process.
SCORING_FIELDS = {"own_addresses", "vip_senders", "priority_high", "priority_medium", "priority_weights"}


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


def inbox_page(s: Session, f: InboxFilter, page: int, per_page: int, cursor: str | None = None,
               settings: Settings | None = None) -> InboxPage:
    """A cursor page (keyset: as fast deep down as at the top), or page ``page`` counted from
    the top (kept for small results: the database skips the rows before it). With ``settings``,
    mail whose snooze just ended is rescored first, so it heads its conversation at once."""
    offset = 0 if cursor else (page - 1) * per_page
    with one_read(s):
        if settings is not None and not cursor and offset == 0 and f.inbox_view():
            rescore_woken(s, f.scope, f.now or utcnow(), settings)
        result = store_inbox_page(s, f, limit=per_page, cursor=cursor, offset=offset, light=True)
        rows: list[ListRow] = result.rows  # type: ignore[assignment]  # a light page's
        terms = f.terms()
        states = load_states(s, [r.id for r in rows])
        now = f.now or utcnow()
        counts = thread_counts(s, rows) if f.threads else {}
        items = [inbox_item(r, terms, states[r.id], now=now, thread_count=counts.get(r.id)) for r in rows]
        return InboxPage(items, inbox_count(s, f), page, per_page, result.next_cursor)


def load_email_view(s: Session, settings: Settings, email_id: int, user: User, *,
                    thread_texts: bool = True) -> EmailView:
    """One email with its analysis and thread (``thread_texts``: with each message's text)."""
    row = store.get_email_row(s, email_id, user.id)
    if row is None or row.deleted:
        raise NotFound(f"no email {email_id}")
    arow = current_analysis(s, email_id, settings)
    thread = thread_messages(s, row, pipeline_version(settings), texts=thread_texts)
    return EmailView(row, store.load_email(row), load_scored(arow) if arow else None, thread, utcnow(),
                     state_of(s, email_id))


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
    """Begin a background analysis run of everything not analysed yet; its run id. Raises
    NothingToAnalyse (and records no run) when every email has its analysis."""
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
    except NothingToAnalyse:
        log.info("new mail: %d emails, all analysed already", len(email_ids))
    except EngineUnavailable as exc:
        log.info("new mail: %d emails queued; no analysis now (%s)", len(email_ids), exc)


def save_settings(st: WebState, s: Session, update: SettingsUpdate, user: User) -> Settings:
    """Store the change (personal fields for ``user``; engine-wide ones only from an admin),
    re-score the user's mail when scoring inputs changed, restart the engine if needed (in the
    background: the request does not wait for the workers to stop)."""
    changed = set(update.model_dump(exclude_unset=True, exclude_none=True))
    engine_wide = sorted(changed & set(ENGINE_WIDE))
    if engine_wide and not user.is_admin:
        raise Forbidden(f"only an admin may change engine-wide settings ({', '.join(engine_wide)})")
    new = apply_update(s, st.settings, update, user.id)
    if changed & SCORING_FIELDS:
        n = rescore_scope(s, new, user.id).emails
        log.info("settings changed (%s): re-scored %d analyses", ", ".join(sorted(changed)), n)
    if changed & ENGINE_FIELDS and st.engine is not None:
        # The installation's settings, not this user's: every owner's personal ones apply
        # per email when it is scored (beacon.store.analyses.account_settings).
        st.engine.replace_soon(current_settings(s, st.settings))
    return new


def end_session(st: WebState, s: Session, data: SessionData) -> SessionData:
    """Log out: the old cookie is revoked server-side, and a fresh anonymous session replaces it."""
    if data.uid is not None:
        revoke(s, data.sid, st.codec.max_age)
    return st.codec.new()


def recent_jobs(s: Session, user: User, limit: int = 20) -> list[RunView]:
    now = datetime.now(timezone.utc)
    return [run_view(r, now) for r in recent_runs(s, user.id, limit)]


def get_job(s: Session, run_id: int, user: User) -> RunView:
    run = get_run(s, run_id, user.id)
    if run is None:
        raise NotFound(f"no job {run_id}")
    return run_view(run, datetime.now(timezone.utc))


def pending_count(s: Session, settings: Settings, user: User) -> Count:
    """The user's emails with no analysis at the current pipeline version (capped like inbox
    counts)."""
    return store_pending_count(s, pipeline_version(settings), scope=user.id)


def start_path_import(st: WebState, user: User, raw_path: str, account: str) -> int:
    """Import a file or directory already on the server: an admin's task, and only from below
    the configured import roots (see beacon.ingest.roots)."""
    if not user.is_admin:
        raise Forbidden("only an admin may import from the server's disk; upload the file instead")
    path, root = st.roots.check(raw_path)
    return st.imports.start(path, account, within=root, user_id=user.id)


def import_upload(st: WebState, user: User, upload: UploadFile, account: str) -> int:
    """Save an uploaded mail file under data_dir and import it (the temp dir goes afterwards)."""
    limit = st.settings.upload_max_bytes
    if upload.size is not None and upload.size > limit:
        raise _too_large(limit)
    root = private_dir(Path(st.settings.data_dir) / "uploads")
    tmp = Path(tempfile.mkdtemp(dir=root))
    try:
        # Only the last path component of the client's name, never a path it chose.
        name = Path(upload.filename or "upload").name.lstrip(".") or "upload"
        target = tmp / name
        _copy_limited(upload, target, limit)
        if target.stat().st_size == 0:
            raise InvalidInput("the uploaded file is empty")
        return st.imports.start(target, account, cleanup=tmp, user_id=user.id)  # the thread removes tmp
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


def account_rows(s: Session, user: User) -> list[dict[str, Any]]:
    mine = account_ids(user.id)
    counts = dict(
        s.execute(select(EmailRow.account_id, func.count(EmailRow.id))
                  .where(EmailRow.account_id.in_(mine)).group_by(EmailRow.account_id)).all()
    )
    return [
        {"id": a.id, "name": a.name, "kind": a.kind, "imap_host": a.imap_host, "imap_user": a.imap_user,
         "last_sync_at": a.last_sync_at, "last_error": a.last_error, "emails": counts.get(a.id, 0)}
        for a in s.scalars(select(Account).where(Account.id.in_(mine)).order_by(Account.name))
    ]
