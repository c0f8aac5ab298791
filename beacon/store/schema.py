"""The database schema (SQLAlchemy 2 declarative). Alembic migrations mirror it.

Large things live apart from the ``emails`` row so listing mail never drags them in:
raw bytes (compressed) in ``raw_messages``; ``attachments`` lists each attachment and where
in the raw message its bytes are (they are not stored a second time).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql import text
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as UTC and read back aware, on every backend.

    SQLite has no timezone type: SQLAlchemy would store the sender's wall-clock time and drop
    the offset, so 10:00+09:00 would sort after 05:00Z. Normalising to UTC on the way in makes
    ordering and comparisons right everywhere; the Email JSON keeps the sender's own offset.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Account(Base):
    """A mail account, owned by one user (None: not yet, before the first user exists); its
    mail, analyses and IMAP state belong to that user."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_account_user_name"),
        Index("ix_accounts_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE", name="fk_accounts_user"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="local")  # local | imap
    addresses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    imap_host: Mapped[str | None] = mapped_column(String(255))
    imap_port: Mapped[int | None] = mapped_column(Integer)
    imap_security: Mapped[str | None] = mapped_column(String(20))  # tls | starttls | none
    imap_user: Mapped[str | None] = mapped_column(String(255))
    password_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    folders: Mapped[list[Any]] = mapped_column(JSON, default=lambda: ["INBOX"])
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Where "done" moves mail when the server marks no folder SPECIAL-USE \Archive (0008).
    imap_archive_folder: Mapped[str | None] = mapped_column(String(500))
    # Entered by a user in the web (0009): its host must resolve to public addresses at every
    # connection unless the admin allows private hosts. Accounts the operator adds on the
    # command line are not limited.
    imap_host_restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


OWN_CHECK_INDEX = "ix_emails_own_check"
PROBE_INDEX = "ix_analyses_email_probe"


class EmailRow(Base):
    __tablename__ = "emails"
    __table_args__ = (
        UniqueConstraint("account_id", "message_id", "content_hash", name="uq_email_identity"),
        Index("ix_emails_account_date", "account_id", "date"),
        Index("ix_emails_thread", "thread_id"),
        Index("ix_emails_from_addr", "from_addr"),
        # Only the hidden ones: the inbox leaves these out without reading every row.
        Index("ix_emails_deleted", "id", sqlite_where=text("deleted"), postgresql_where=text("deleted")),
        # What the inbox walk checks on each email's row (its own mail, the server's flags, the
        # account) without reading the row: SQLite keeps ``folder`` after the JSON, behind its
        # overflow pages (beacon.store.inbox reads the row through this index).
        Index(OWN_CHECK_INDEX, "id", "from_addr", "folder", "account_id", "flagged", "answered"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(998))
    message_id_synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    content_hash: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[str] = mapped_column(String(998))
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[list[Any]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    from_name: Mapped[str] = mapped_column(String(998), default="")
    from_addr: Mapped[str] = mapped_column(String(998), default="")
    # Lower-cased To + Cc addresses, space separated: "did the reader write to X" queries.
    recipients: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[datetime] = mapped_column(UTCDateTime())
    date_source: Mapped[str] = mapped_column(String(20), default="header")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False)
    problem_count: Mapped[int] = mapped_column(Integer, default=0)
    # The whole typed Email (beacon.models.Email) as JSON: the source of truth for
    # everything else; the columns above are for querying.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(Text)  # where it came from (path, folder)
    # The mail folder it was filed in at its source (Maildir/IMAP folder, mbox file name).
    folder: Mapped[str | None] = mapped_column(String(500))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The pipeline version of the email's latest analysis: "not analysed yet" is then an index
    # range (``beacon.store.inbox.pending_count``), not an anti-join over every email.
    # '' until analysed (not NULL: the count is then two index ranges around the version).
    analysed_version: Mapped[str] = mapped_column(String(200), default="", server_default="", index=True)
    seen: Mapped[bool] = mapped_column(Boolean, default=False)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    account: Mapped[Account] = relationship()


class RawMessage(Base):
    __tablename__ = "raw_messages"

    email_id: Mapped[int] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True
    )
    codec: Mapped[str] = mapped_column(String(20), default="zlib")
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AttachmentRow(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_id: Mapped[int] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    # Attachments are stored once, inside the raw message: ``part`` is the MIME part path
    # ("1.2") the bytes are decoded from on demand. ``data`` holds the bytes only for rows
    # written before that (and stays readable).
    part: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[bytes | None] = mapped_column(LargeBinary)


def _inbox_order(name: str, *lead: str) -> Index:
    """An index serving one inbox order (priority, then newest first) after equality on the
    owner, the away flag and ``lead``: one reader's inbox is one range of it."""
    return Index(name, "pipeline_version", "user_id", "away", *lead, "score", "email_date", "email_id")


class AnalysisRow(Base):
    __tablename__ = "analyses"
    __table_args__ = (
        UniqueConstraint("email_id", "pipeline_version", name="uq_analysis"),
        # The inbox orders and the common filters are index walks that stop after a page.
        _inbox_order("ix_analyses_priority"),
        _inbox_order("ix_analyses_level_priority", "level"),
        _inbox_order("ix_analyses_kind_priority", "kind"),
        _inbox_order("ix_analyses_reply_priority", "needs_reply"),
        _inbox_order("ix_analyses_attach_priority", "has_attachments"),
        _inbox_order("ix_analyses_read_priority", "is_read"),
        Index("ix_analyses_date", "pipeline_version", "user_id", "away", "email_date", "email_id"),
        Index("ix_analyses_due", "pipeline_version", "due_at"),
        # Conversations (beacon.triage.threads): the inbox of thread heads is an index walk too.
        _inbox_order("ix_analyses_head_priority", "thread_head"),
        # The periodic rescore (beacon.triage.rescore) reads what is due for it as one range.
        Index("ix_analyses_rescore", "pipeline_version", "rescore_at"),
        # An email's analysis by its id with the inbox's base conditions (owner, version, away),
        # read from the index alone: a search probes it for each match the full-text index
        # gives, and the row itself (its JSON spills onto overflow pages, before the owner
        # column) cost a page read or more per match (0019).
        Index(PROBE_INDEX, "email_id", "pipeline_version", "user_id", "away"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    pipeline_version: Mapped[str] = mapped_column(String(200))
    score: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(30))
    category: Mapped[str] = mapped_column(String(30), index=True)
    needs_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # beacon.analysis.models.Analysis
    # Copies kept beside the score so the inbox's orders and filters are index walks: the
    # email's date (kept in step by store.emails.update_parsed) and the earliest action-item due.
    email_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # -- time is now, and conversations (beacon.triage) --
    # The thread's representative in the conversation inbox: its most important open message
    # (one per account and thread; none when every message is done, snoozed or the reader's).
    thread_head: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # When time alone next changes the score (a deadline crossing a day, a snooze waking);
    # None: never. The periodic rescore takes what is due.
    rescore_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # -- copies that make one reader's inbox one index range (0010) --
    # The email's owner (its account's user; None: before any user existed), kept in step by
    # save_analysis and adopt_unowned.
    user_id: Mapped[int | None] = mapped_column(Integer)
    # Done or snoozed (asleep, or woken and not acted on yet): out of the inbox's walk. Kept in
    # step with ``email_states`` by beacon.triage.states.write_state (see beacon.store.state_sets).
    away: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The email's attachment flag (0011): ``has:attachment`` is one range of an inbox index.
    # Kept in step by save_analysis and update_parsed.
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The reader marked it read (``email_states.read_at``; 0019): ``is:unread`` is one range of
    # an inbox index, and its count exact. Kept in step as ``away`` is.
    is_read: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class AnalysisJob(Base):
    """One email to analyse at one pipeline version: the durable, idempotent unit of work.

    Any executor (in-process, worker pool, a future Celery worker) claims it, bumps
    ``attempts`` and marks it done by writing the analysis; "done" means the same for all.
    """

    __tablename__ = "analysis_jobs"
    __table_args__ = (
        UniqueConstraint("email_id", "pipeline_version", name="uq_analysis_job"),
        Index("ix_analysis_jobs_status", "status"),
        Index("ix_analysis_jobs_fair", "status", "pipeline_version", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    pipeline_version: Mapped[str] = mapped_column(String(200))
    # The email's owner, copied here so claiming can take turns between users cheaply.
    user_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # beacon.store.jobs.JobStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Run(Base):
    """A user-visible job: an import, an analysis run or a sync, with its progress."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_user", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The user who started it (or whose account it syncs); None: before any user existed.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE", name="fk_runs_user"))
    kind: Mapped[str] = mapped_column(String(20))  # import | analyze | sync
    status: Mapped[str] = mapped_column(String(20), default="running")  # beacon.store.runs.RunStatus
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RunEvent(Base):
    """Progress events of a run, numbered so an SSE client can resume by Last-Event-ID."""

    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(30))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ImapFolder(Base):
    __tablename__ = "imap_folders"
    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_imap_folder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # HIGHESTMODSEQ (CONDSTORE) at the last complete flag refresh; None without CONDSTORE (0008).
    highest_modseq: Mapped[int | None] = mapped_column(BigInteger)


class ImapMessage(Base):
    """Where a stored email sits on the server (folder + UID) and its flags there."""

    __tablename__ = "imap_messages"
    __table_args__ = (UniqueConstraint("folder_id", "uid", name="uq_imap_message"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("imap_folders.id", ondelete="CASCADE"))
    uid: Mapped[int] = mapped_column(BigInteger)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), index=True)
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Admins manage users and the engine-wide settings, and may import from the server's disk.
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)  # can no longer log in
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AppSetting(Base):
    """Settings changed at run time (web UI); they override the environment's defaults."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class ChangeCounter(Base):
    """Numbers the database's triggers move on every change of some tables (beacon.store.changes)."""

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class UserSetting(Base):
    """A user's personal settings (own addresses, VIPs, thresholds, weights), over the
    environment's and the engine-wide ones."""

    __tablename__ = "user_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


# -- triage: the reader's states of their mail and the actions that set them -------------------
class EmailStateRow(Base):
    """What the reader made of one email (no row: open, unread, no importance, not replied).

    ``emails.seen/answered/flagged`` stay the IMAP flags as last seen on the server; these are
    Beacon's own states (beacon.triage.states). Ownership is the email's.
    """

    __tablename__ = "email_states"
    __table_args__ = (
        # The inbox leaves done and snoozed mail out by reading these two small partial
        # indexes (beacon.store.inbox), not every email's state.
        Index("ix_email_states_done", "email_id", sqlite_where=text("done_at IS NOT NULL"),
              postgresql_where=text("done_at IS NOT NULL")),
        Index("ix_email_states_snoozed", "snoozed_until", "email_id",
              sqlite_where=text("snoozed_until IS NOT NULL"), postgresql_where=text("snoozed_until IS NOT NULL")),
    )

    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    importance: Mapped[str | None] = mapped_column(String(20))  # beacon.triage.models.Importance
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class EmailActionRow(Base):
    """The append-only log of what was done to mail (beacon.triage.actions): undo reads it,
    learning and the IMAP write-back follow it."""

    __tablename__ = "email_actions"
    __table_args__ = (
        Index("ix_email_actions_email", "email_id", "id"),
        Index("ix_email_actions_user", "user_id", "id"),
        # What the IMAP write-back still has to push: few rows, read often.
        Index("ix_email_actions_unsynced", "id", sqlite_where=text("imap_synced_at IS NULL"),
              postgresql_where=text("imap_synced_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The email's owner when the action was taken (None: mail from before any user existed).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(30))  # beacon.triage.models.Action
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # snooze: when it wakes
    source: Mapped[str] = mapped_column(String(10))  # beacon.triage.models.Source
    before: Mapped[dict[str, Any]] = mapped_column(JSON)  # the state fields it changed, as they were
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    imap_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())



# --- issue 14c: per-user learning ------------------------------------------------------------
class LearningModelRow(Base):
    """What one reader's feedback taught Beacon (``beacon.triage.learning``): the online model's
    weights and the counts behind its reasons, as plain JSON. One row per user (None: the
    installation's before any user exists; adopted with the rest by the first user)."""

    __tablename__ = "learning_models"
    __table_args__ = (Index("ix_learning_models_user", "user_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_learning_models_user"))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    events: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
