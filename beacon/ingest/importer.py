"""Import: stream raw messages from a source, parse them, store them in batches, summarise.

One broken message never stops an import: parse problems are stored with the message, and
a message that cannot even be read or stored is counted as failed with its reason. Files
that are not mail are counted as skipped, with their reason.

Parsing runs in a process pool on multi-core machines (:mod:`beacon.ingest.prepare`);
this process reads the source and writes each batch in one transaction with a few
statements. If a batch is refused (another importer stored one of its messages meanwhile),
it is written again message by message, each in its own savepoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from beacon.ingest.prepare import ParseJob, Prepared, Preparer
from beacon.ingest.sources import DEFAULT_MAX_MESSAGE_BYTES, RawItem
from beacon.store import emails as store
from beacon.store import statistics
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.triage.replies import detect_replies

log = logging.getLogger(__name__)

# Messages per write transaction, and the bytes its rows may hold in memory (Email JSON,
# compressed raw message, indexed text): a batch of long HTML mail is mostly JSON, and a count
# alone let a batch grow to 30 MB. The store's cost per message hardly depends on the batch
# size, but the parse workers wait while a batch is written once their queued tasks are done:
# a short write keeps them busy.
BATCH_MESSAGES = 100
BATCH_BYTES = 1024 * 1024


@dataclass
class ImportSummary:
    seen: int = 0
    imported: int = 0
    duplicates: int = 0
    with_problems: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (ref, reason), capped
    skips: list[tuple[str, str]] = field(default_factory=list)  # (ref, reason), capped

    MAX_KEPT = 100
    MAX_FAILURES_KEPT = MAX_KEPT

    def fail(self, ref: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < self.MAX_KEPT:
            self.failures.append((ref, reason))

    def skip(self, ref: str, reason: str) -> None:
        self.skipped += 1
        if len(self.skips) < self.MAX_KEPT:
            self.skips.append((ref, reason))


ProgressFn = Callable[[RawItem, ImportSummary], None]


def _jobs(items: Iterable[RawItem], import_time: datetime, max_bytes: int) -> Iterator[tuple[RawItem, ParseJob | None]]:
    """Parse jobs; the item travels on without its raw bytes (the job has them), so a big
    message's bytes are let go as soon as it is parsed."""
    for item in items:
        if item.raw is None or item.skipped:
            yield item, None
            continue
        light = RawItem(item.ref, b"", item.error, item.folder, item.skipped, item.truncated, item.nbytes, item.sha256)
        holder = [item]
        del item
        # No local name keeps the raw bytes while this generator waits at the yield.
        yield light, _job(holder.pop(), import_time, max_bytes)


def _job(item: RawItem, import_time: datetime, max_bytes: int) -> ParseJob:
    assert item.raw is not None
    truncated = (item.size, item.sha256) if item.truncated and item.sha256 else None
    return ParseJob(item.raw, item.ref, item.folder, import_time, truncated, max_bytes)


def import_items(
    db: Database,
    items: Iterable[RawItem],
    *,
    account: str,
    on_item: ProgressFn | None = None,
    workers: int | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    user_id: int | None = None,
    settings: Settings | None = None,
) -> ImportSummary:
    """Import ``items`` into ``user_id``'s ``account`` (made when missing); ``on_item`` is
    called once per item, in order, after the item is stored (or found a duplicate, skipped,
    failed). New mail that shows the reader replied marks what it answers (``settings``: whose
    own addresses besides the stored ones; see :mod:`beacon.triage.replies`)."""
    summary = ImportSummary()
    import_time = datetime.now(timezone.utc)
    with db.session() as s:
        account_id = store.get_or_create_account(s, account, user_id=user_id).id
    writer = _BatchWriter(db, account_id, summary, on_item, settings)
    with Preparer[RawItem](workers) as preparer:
        try:
            for item, prepared in preparer.run(_jobs(items, import_time, max_message_bytes)):
                writer.add(item, prepared)
                del item, prepared
        except Exception:
            # A source that fails part-way (a disk, a connection) must not cost the messages
            # already read and prepared: they are stored before its error goes on, and a
            # failure to store them does not hide that error.
            try:
                writer.flush()
            except Exception:
                log.exception("import: cannot store the messages read before the source failed")
            raise
        writer.flush()
    if summary.imported >= statistics.BULK_ROWS:  # a bulk load: the planner's statistics anew
        with db.sql_engine.begin() as conn:
            statistics.refresh(conn)
    log.info(
        "import finished",
        extra={"account": account, **{k: v for k, v in vars(summary).items() if isinstance(v, int)}},
    )
    return summary


class _BatchWriter:
    def __init__(self, db: Database, account_id: int, summary: ImportSummary, on_item: ProgressFn | None,
                 settings: Settings | None = None) -> None:
        self.db = db
        self.settings = settings
        self.account_id = account_id
        self.summary = summary
        self.on_item = on_item
        self.batch: list[tuple[RawItem, Prepared | None]] = []
        self.bytes = 0

    def add(self, item: RawItem, prepared: Prepared | None) -> None:
        self.batch.append((item, prepared))
        if prepared is not None and prepared.new is not None:
            new = prepared.new
            self.bytes += len(new.columns["data"]) + len(new.raw_compressed) + len(new.search.body)
        if len(self.batch) >= BATCH_MESSAGES or self.bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        batch, self.batch, self.bytes = self.batch, [], 0
        if not batch:
            return
        rows = [p.new for _, p in batch if p is not None and p.new is not None]
        results: list[store.AddResult | str] = []
        if rows:
            results = self._write(rows)
        it = iter(results)
        s = self.summary
        for item, prepared in batch:
            s.seen += 1
            if item.skipped:
                s.skip(item.ref, item.error or "not mail")
            elif prepared is None:
                s.fail(item.ref, item.error or "unreadable")
            elif prepared.new is None:
                s.fail(item.ref, prepared.error or "cannot parse")
            else:
                res = next(it)
                if isinstance(res, str):
                    s.fail(item.ref, res)
                elif res.created:
                    s.imported += 1
                    if prepared.new.problem_count:
                        s.with_problems += 1
                else:
                    s.duplicates += 1
            if self.on_item is not None:
                self.on_item(item, s)

    def _write(self, rows: list[store.NewEmail]) -> list[store.AddResult | str]:
        try:
            with self.db.session() as s:
                results = list(store.add_batch(s, self.account_id, rows))
                detect_replies(s, [r.email_id for r in results if r.created], self.settings)
                return results
        except SQLAlchemyError as exc:
            # Another importer stored one of these meanwhile, or one row is refused: go one by one.
            log.info("batch refused, storing one by one", extra={"error": repr(exc)[:300]})
        session = self.db.new_session()
        try:
            out = [self._write_one(session, row) for row in rows]
            detect_replies(session, [r.email_id for r in out if isinstance(r, store.AddResult) and r.created],
                           self.settings)
            session.commit()
            return out
        finally:
            session.close()

    def _write_one(self, session: Session, row: store.NewEmail) -> store.AddResult | str:
        try:
            with session.begin_nested():
                return store.add_batch(session, self.account_id, [row])[0]
        except IntegrityError:
            existing = store.find_email_id(session, self.account_id, *row.identity)
            if existing is not None:
                return store.AddResult(existing, False)
            return "cannot store: integrity error"
        except Exception as exc:  # noqa: BLE001 - reported per message, the import goes on
            log.warning("cannot store message", extra={"ref": row.columns.get("source"), "error": repr(exc)})
            return f"cannot store: {exc.__class__.__name__}: {exc}"[:500]
