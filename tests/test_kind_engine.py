"""The store's facts reach the kind decision through the job runner: the reader's sent mail, a Junk
folder, an IMAP ``$Junk`` keyword, a server verdict; and the priority follows the kind."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from beacon.engine.service import EngineService
from beacon.ingest.importer import import_items
from beacon.ingest.sources import RawItem
from beacon.store.analyses import load_scored
from beacon.store.db import Database
from beacon.store.schema import AnalysisRow, EmailRow, ImapFolder, ImapMessage
from helpers import engine_settings

ME = "alex@example.com"


def raw(sender: str, subject: str, body: str, to: str = ME, extra: str = "", n: int = 0) -> bytes:
    return (f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: Wed, 06 Mar 2024 09:{n:02d}:00 +0000\n"
            f"Message-ID: <m{n}@example.com>\n{extra}\n{body}\n").encode()


LUNCH = "Hi Alex,\n\nare we still on for lunch on Friday? Let me know.\n\nDana"


def test_store_context_flows_to_the_kind_and_the_priority(sqlite_db: Database, tmp_path: Path) -> None:
    items = [
        RawItem("sent/1", raw(f"Alex <{ME}>", "Lunch", "Lunch on Friday?", to="dana@example.org", n=1)),
        # The server flagged both; only Dana is someone Alex has written to.
        RawItem("inbox/2", raw("Dana <dana@example.org>", "Re: Lunch", LUNCH, extra="X-Spam-Flag: YES\n", n=2)),
        RawItem("inbox/3", raw("Eve <eve@example.net>", "Lunch", LUNCH, extra="X-Spam-Flag: YES\n", n=3)),
        RawItem("/home/alex/Maildir/.Junk/cur/1700000000.M4:2,S", raw("Mallory <m@example.net>", "Hi", LUNCH, n=4)),
        RawItem("inbox/5", raw("Trent <trent@example.net>", "Hello", LUNCH, n=5)),
    ]
    assert import_items(sqlite_db, iter(items), account="me").imported == 5
    with sqlite_db.session() as s:
        ids = {r.source: r.id for r in s.scalars(select(EmailRow))}
        folder = ImapFolder(account_id=1, name="INBOX", uidvalidity=1, last_uid=1)
        s.add(folder)
        s.flush()
        s.add(ImapMessage(folder_id=folder.id, uid=1, email_id=ids["inbox/5"], flags=["$Junk", "\\Seen"]))
    settings = engine_settings(tmp_path, sqlite_db, nlp_mode="inprocess", own_addresses=[ME])
    with EngineService(settings, sqlite_db) as svc:
        svc.enqueue_missing()
        assert svc.run().done == 5
    with sqlite_db.session() as s:
        scored = {e.source: load_scored(a) for a, e in s.execute(
            select(AnalysisRow, EmailRow).join(EmailRow, EmailRow.id == AnalysisRow.email_id))}

    dana = scored["inbox/2"]
    assert dana.analysis.kind == "personal"
    assert any("overruled: you have written to this sender" in r for r in dana.analysis.kind_reasons)
    factors = {f.name: f for f in dana.priority.factors}
    assert factors["correspondent"].detail.startswith("you have written to this sender (1 sent")
    assert dana.needs_reply

    eve = scored["inbox/3"]
    assert eve.analysis.kind == "spam" and eve.analysis.kind_reasons[0] == "server verdict X-Spam-Flag: YES"
    assert eve.priority.level == "LOW" and not eve.needs_reply
    assert "correspondent" not in {f.name for f in eve.priority.factors}

    junk = scored["/home/alex/Maildir/.Junk/cur/1700000000.M4:2,S"]
    assert junk.analysis.kind == "spam" and junk.analysis.kind_reasons[0].startswith("in your junk folder")
    keyword = scored["inbox/5"]
    assert keyword.analysis.kind == "spam" and keyword.analysis.kind_reasons[0] == "marked as junk ($Junk keyword)"
    for s in (eve, junk, keyword):
        assert s.analysis.depth == "light" and s.analysis.requests == []
