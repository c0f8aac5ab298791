"""Shared helpers for the engine tests (no tests here): real mail into a real database."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select

from beacon.ingest.importer import import_items
from beacon.ingest.sources import detect
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import AnalysisJob, AnalysisRow, EmailRow
from beacon.testing.corpora import iter_files, spamassassin_dir


def spamassassin_files(n: int, folder: str = "easy-ham-1") -> list[Path]:
    files = list(iter_files(spamassassin_dir() / folder, "*.txt"))
    assert len(files) >= n
    return files[:n]


def poison_message(fault: str) -> bytes:
    return (
        f"From: Mallory <mallory@example.org>\nTo: reader@example.com\nSubject: poison {fault}\n"
        f"Message-ID: <poison-{fault}@example.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\n"
        f"Hello, this one is special: BEACON-FAULT:{fault} - please do not analyse it.\n"
    ).encode()


def import_corpus(db: Database, tmp: Path, n: int, faults: tuple[str, ...] = ()) -> int:
    """Import ``n`` SpamAssassin messages (plus one poison message per fault); return count."""
    mail = tmp / "mail"
    mail.mkdir()
    for i, path in enumerate(spamassassin_files(n)):
        shutil.copy(path, mail / f"{i:05d}.eml")
    for fault in faults:
        (mail / f"zz-poison-{fault}.eml").write_bytes(poison_message(fault))
    summary = import_items(db, detect(mail).iter_items(), account="test")
    assert summary.failed == 0
    return summary.imported


def engine_settings(tmp: Path, db: Database, **kw: object) -> Settings:
    base: dict[str, object] = dict(data_dir=tmp / "data", database_url=db.url, workers=2,
                                   batch_timeout=60.0)
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


def outcome(db: Database) -> dict[str, int]:
    """Exactly-once bookkeeping: emails, analyses, distinct analysed emails, job states."""
    with db.session() as s:
        emails = s.scalar(select(func.count(EmailRow.id)))
        analyses = s.scalar(select(func.count(AnalysisRow.id)))
        analysed = s.scalar(select(func.count(func.distinct(AnalysisRow.email_id))))
        by_status = dict(s.execute(select(AnalysisJob.status, func.count()).group_by(AnalysisJob.status)).all())
    return {"emails": emails, "analyses": analyses, "analysed": analysed,
            "done": by_status.get("done", 0), "quarantined": by_status.get("quarantined", 0),
            "pending": by_status.get("pending", 0), "running": by_status.get("running", 0)}
