"""Import: stream raw messages from a source, parse each, store it, and report a summary.

One broken message never stops an import: parse problems are stored with the message, and a
message that cannot even be read or stored is counted as failed with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy.exc import IntegrityError

from beacon.ingest.sources import RawItem
from beacon.parse import parse_message
from beacon.store import emails as store
from beacon.store.db import Database

log = logging.getLogger(__name__)

# Commit in chunks so the session stays small. Each message is stored inside its own savepoint,
# so a message is either stored whole (row, raw bytes, attachments) or not at all; on SQLite a
# savepoint outside a transaction commits when released, so there every message is durable at once.
COMMIT_EVERY = 200


@dataclass
class ImportSummary:
    seen: int = 0
    imported: int = 0
    duplicates: int = 0
    with_problems: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (ref, reason), capped

    MAX_FAILURES_KEPT = 100

    def fail(self, ref: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < self.MAX_FAILURES_KEPT:
            self.failures.append((ref, reason))


ProgressFn = Callable[[RawItem, ImportSummary], None]


def import_items(
    db: Database,
    items: Iterable[RawItem],
    *,
    account: str,
    on_item: ProgressFn | None = None,
) -> ImportSummary:
    summary = ImportSummary()
    import_time = datetime.now(timezone.utc)
    session = db.new_session()
    try:
        account_id = store.get_or_create_account(session, account).id
        session.commit()
        pending = 0
        for item in items:
            summary.seen += 1
            if item.skipped:
                summary.skipped += 1
            elif item.raw is None:
                summary.fail(item.ref, item.error or "unreadable")
            else:
                _import_one(session, account_id, item, import_time, summary)
                pending += 1
                if pending >= COMMIT_EVERY:
                    session.commit()
                    session.expunge_all()
                    pending = 0
            if on_item is not None:
                on_item(item, summary)
        session.commit()
    finally:
        session.close()
    log.info(
        "import finished",
        extra={"account": account, **{k: v for k, v in vars(summary).items() if isinstance(v, int)}},
    )
    return summary


def _import_one(
    session, account_id: int, item: RawItem, import_time: datetime, summary: ImportSummary
) -> None:
    assert item.raw is not None
    parsed = parse_message(item.raw, fallback_date=import_time)
    try:
        # A savepoint, so one message the database refuses does not undo the chunk.
        with session.begin_nested():
            res = store.add_email(session, account_id, parsed, item.raw, source=item.ref)
    except IntegrityError:
        # Another importer (an IMAP sync, a second import) stored the same message meanwhile.
        existing = store.find_email_id(session, account_id, parsed.email.message_id, parsed.email.content_hash)
        if existing is not None:
            summary.duplicates += 1
            return
        summary.fail(item.ref, "cannot store: integrity error")
        return
    except Exception as exc:  # noqa: BLE001 - reported per message, the import goes on
        log.warning("cannot store message", extra={"ref": item.ref, "error": repr(exc)})
        summary.fail(item.ref, f"cannot store: {exc.__class__.__name__}: {exc}"[:500])
        return
    if res.created:
        summary.imported += 1
        if parsed.email.problems:
            summary.with_problems += 1
    else:
        summary.duplicates += 1
