"""Sources and the importer, on real messages (CPython's test_email data) and a real store."""

from __future__ import annotations

import hashlib
import mailbox
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from beacon.ingest.importer import import_items
from beacon.ingest.sources import SourceError, detect
from beacon.store import emails as store
from beacon.store.schema import AttachmentRow, EmailRow
from testkit.corpora import cpython_email_dir

# Real messages with known content (read by hand).
MSG_PLAIN = "msg_01.txt"  # From: bbb@ddd.com (John X. Doe), Subject: This is a test message
MSG_ATTACH = "msg_02.txt"  # MIME digest
MSG_NO_HEADERS = "msg_19.txt"  # a body without any header block


def _real(name: str) -> bytes:
    return (cpython_email_dir() / name).read_bytes()


def _some_real_messages(n: int = 12) -> list[bytes]:
    files = sorted(cpython_email_dir().glob("msg_*.txt"))[:n]
    return [f.read_bytes() for f in files]


def _count(db) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.scalar(select(func.count(EmailRow.id))) or 0


def test_detect_each_kind(tmp_path: Path) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(_real(MSG_PLAIN))
    assert detect(eml).kind == "eml"

    tree = tmp_path / "tree" / "sub"
    tree.mkdir(parents=True)
    (tree / "a.eml").write_bytes(_real(MSG_PLAIN))
    assert detect(tmp_path / "tree").kind == "directory"

    mbox_path = tmp_path / "box"
    box = mailbox.mbox(mbox_path)
    for raw in _some_real_messages(3):
        box.add(raw)
    box.close()
    assert detect(mbox_path).kind == "mbox"

    md = tmp_path / "Maildir"
    (md / "cur").mkdir(parents=True)  # as cloned from git: no new/ or tmp/
    (md / "cur" / "1.host:2,S").write_bytes(_real(MSG_PLAIN))
    src = detect(md)
    assert src.kind == "maildir" and src.total == 1
    assert detect("-").kind == "stdin"
    with pytest.raises(SourceError):
        detect(tmp_path / "missing")


def test_maildir_plus_plus_subfolders_and_missing_dirs(tmp_path: Path, sqlite_db) -> None:  # type: ignore[no-untyped-def]
    md = tmp_path / "Maildir"
    (md / "cur").mkdir(parents=True)
    (md / ".Work.Projects" / "new").mkdir(parents=True)  # Maildir++ folder with only new/
    raws = _some_real_messages(4)
    (md / "cur" / "a:2,S").write_bytes(raws[0])
    (md / "cur" / "b:2,").write_bytes(raws[1])
    (md / ".Work.Projects" / "new" / "c").write_bytes(raws[2])
    (md / ".Work.Projects" / "new" / "d").write_bytes(raws[3])
    items = list(detect(md).iter_items())
    assert [i.folder for i in items] == ["INBOX", "INBOX", "Work.Projects", "Work.Projects"]
    summary = import_items(sqlite_db, detect(md).iter_items(), account="me")
    assert (summary.imported, summary.failed) == (4, 0)


def test_mbox_import_keeps_raw_and_deduplicates(tmp_path: Path, any_db) -> None:  # type: ignore[no-untyped-def]
    raws = _some_real_messages(12)
    mbox_path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(mbox_path)
    for raw in raws:
        box.add(raw)
    box.close()

    first = import_items(any_db, detect(mbox_path).iter_items(), account="alice")
    assert first.seen == 12 and first.imported + first.duplicates == 12 and first.failed == 0
    stored = _count(any_db)
    assert stored == first.imported

    again = import_items(any_db, detect(mbox_path).iter_items(), account="alice")
    assert again.imported == 0 and again.duplicates == 12
    assert _count(any_db) == stored

    # The same mail in another account is that account's own copy.
    other = import_items(any_db, detect(mbox_path).iter_items(), account="bob")
    assert other.imported == stored

    # Raw bytes survive compression byte for byte (mbox strips its "From " line only).
    with any_db.session() as s:
        row = s.scalar(select(EmailRow).where(EmailRow.subject == "This is a test message"))
        assert row is not None
        raw = store.load_raw(s, row.id)
    assert raw is not None and raw == _real(MSG_PLAIN)


def test_attachments_stored_apart(tmp_path: Path, any_db) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "mails"
    d.mkdir()
    for name in ("msg_05.txt", "msg_07.txt", "msg_36.txt"):
        shutil.copy(cpython_email_dir() / name, d / name)
    summary = import_items(any_db, detect(d).iter_items(), account="a")
    assert summary.imported == 3
    with any_db.session() as s:
        atts = list(s.scalars(select(AttachmentRow)))
        rows = list(s.scalars(select(EmailRow)))
        for row in rows:
            email = store.load_email(row)
            assert row.has_attachments == bool(email.attachments)
            stored = [a for a in atts if a.email_id == row.id]
            assert [a.filename for a in stored] == [a.filename for a in email.attachments]
            # Stored once: the bytes come back decoded from the raw message, checked by hash.
            assert all(a.data is None and a.part for a in stored)
            data = store.attachment_bytes(s, row.id, stored)
            assert sorted(data) == sorted(a.id for a in stored)
            for a in stored:
                assert a.size == len(data[a.id])
                assert a.sha256 == hashlib.sha256(data[a.id]).hexdigest()
    assert atts, "these messages carry attachments"


def test_broken_input_never_stops_an_import(tmp_path: Path, any_db) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "good.eml").write_bytes(_real(MSG_PLAIN))
    (d / "garbage.eml").write_bytes(os.urandom(3000).replace(b"\0", b"x"))
    (d / "empty.eml").write_bytes(b"")
    (d / "headerless.txt").write_bytes(_real(MSG_NO_HEADERS))
    (d / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    unreadable = d / "secret.eml"
    unreadable.write_bytes(_real(MSG_PLAIN))
    unreadable.chmod(0)
    summary = import_items(any_db, detect(d).iter_items(), account="x")
    unreadable.chmod(0o600)
    # Not mail, each with its reason: random bytes, an empty file, text without headers, a PNG.
    assert dict(summary.skips) == {
        str(d / "garbage.eml"): "not mail: binary data",
        str(d / "empty.eml"): "not mail: empty file",
        str(d / "headerless.txt"): "not mail: text without mail headers",
        str(d / "picture.png"): "not mail: PNG image",
    }
    # Running as root the chmod(0) file is still readable; either way it's never a crash.
    assert summary.imported + summary.duplicates + summary.failed == 2
    assert summary.imported >= 1


def test_parse_workers_that_die_lose_nothing(tmp_path: Path, sqlite_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A worker killed mid-import (OOM killer, a crash): its messages are parsed here instead."""
    import signal

    from beacon.ingest import prepare

    real_submit = prepare.ProcessPoolExecutor.submit

    def submit_then_kill(pool, fn, *args):  # type: ignore[no-untyped-def]
        future = real_submit(pool, fn, *args)
        for process in list((pool._processes or {}).values()):  # noqa: SLF001 - the real workers
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return future

    monkeypatch.setattr(prepare.ProcessPoolExecutor, "submit", submit_then_kill)
    d = tmp_path / "many"
    d.mkdir()
    raws = _some_real_messages(40)
    for i in range(300):
        raw = raws[i % len(raws)]
        (d / f"{i}.eml").write_bytes(b"Message-ID: <copy-%d@x>\n" % i + raw)
    summary = import_items(sqlite_db, detect(d).iter_items(), account="a", workers=2)
    assert (summary.imported, summary.failed) == (300 - summary.skipped, 0)
    assert _count(sqlite_db) == summary.imported


def test_importer_parses_itself_while_the_workers_are_behind(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Workers slow to answer: this process parses the chunks in between instead of waiting,
    and every result still comes out in input order, the same as parsed here alone."""
    import threading
    from concurrent.futures import Future
    from datetime import datetime, timezone

    from beacon.ingest import prepare

    real_submit = prepare.ProcessPoolExecutor.submit
    real_one = prepare.prepare_one
    here: list[str | None] = []

    def slow_submit(pool, fn, *args):  # type: ignore[no-untyped-def]
        real = real_submit(pool, fn, *args)
        late: Future[list[prepare.Prepared]] = Future()

        def answer(f: Future[list[prepare.Prepared]]) -> None:
            exc = f.exception()
            if exc is not None:
                late.set_exception(exc)
            else:
                late.set_result(f.result())

        # The answer arrives 0.3 s after the worker gave it.
        real.add_done_callback(lambda f: threading.Timer(0.3, answer, (f,)).start())
        return late

    def counted_one(job):  # type: ignore[no-untyped-def]
        here.append(job.source)  # only what this process parses: workers have their own copy
        return real_one(job)

    monkeypatch.setattr(prepare.ProcessPoolExecutor, "submit", slow_submit)
    monkeypatch.setattr(prepare, "prepare_one", counted_one)
    raws = _some_real_messages(40)
    now = datetime.now(timezone.utc)
    jobs = [(i, prepare.ParseJob(b"Message-ID: <order-%d@x>\n" % i + raws[i % len(raws)], str(i), None, now))
            for i in range(400)]
    with prepare.Preparer[int](1, pool_after=16) as preparer:
        out = list(preparer.run(iter(jobs)))
    assert [tag for tag, _ in out] == list(range(400))
    alone = [real_one(job) for _, job in jobs]
    assert [p.new.columns if p and p.new else None for _, p in out] == [p.new.columns if p.new else None for p in alone]
    # Beyond the first messages (always parsed here), chunks were parsed here while the worker was behind.
    assert len(here) > 16 + prepare.TASK_MESSAGES


def test_parse_workers_import_no_database_layer() -> None:
    """What a parse worker imports (the fork server preloads beacon.ingest.prepare) leaves out
    SQLAlchemy and Alembic: each worker is then some 40 MB instead of 75 MB."""
    import subprocess
    import sys

    code = ("import sys, beacon.ingest.prepare; "
            "print(sorted(m for m in ('sqlalchemy', 'alembic', 'beacon.store.db') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_a_batch_is_written_before_its_rows_hold_more_than_the_byte_bound(sqlite_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Long mail is written in small batches: the rows a batch holds (Email JSON, compressed raw
    message, indexed text) stay under BATCH_BYTES but for the message that crosses it."""
    import beacon.ingest.importer as importer
    from beacon.ingest.sources import RawItem
    from tests.helpers import synthetic_message

    batches: list[list[store.NewEmail]] = []
    real_add_batch = store.add_batch

    def recording(s, account_id, batch):  # type: ignore[no-untyped-def]
        batches.append(list(batch))
        return real_add_batch(s, account_id, batch)

    monkeypatch.setattr(store, "add_batch", recording)
    words = " ".join(f"word{i}" for i in range(40_000))  # ~360 KB of text, 100,000 chars indexed
    raws = [synthetic_message(i, body=words) for i in range(9)]
    summary = import_items(sqlite_db, [RawItem(f"m{i}", raw) for i, raw in enumerate(raws)], account="a", workers=0)
    assert summary.imported == 9 and _count(sqlite_db) == 9
    held = [[len(n.columns["data"]) + len(n.raw_compressed) + len(n.search.body) for n in b] for b in batches]
    assert len(batches) > 2 and sum(len(b) for b in batches) == 9
    assert all(sum(sizes[:-1]) < importer.BATCH_BYTES <= sum(sizes) for sizes in held[:-1])


def test_the_parse_pool_pipes_take_a_task_whole() -> None:
    """A task's pickled results (some 200 KB) fit in the result pipe: the worker does not wait
    in its send while the importing process, busy parsing too, reads a 64 KB pipe empty."""
    import fcntl

    from beacon.ingest.prepare import PIPE_BYTES, Preparer

    with Preparer[int](1) as preparer:
        pool = preparer._start_pool()
        for queue in (pool._call_queue, pool._result_queue):  # type: ignore[attr-defined]
            assert fcntl.fcntl(queue._reader.fileno(), fcntl.F_GETPIPE_SZ) >= PIPE_BYTES
