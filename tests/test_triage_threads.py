"""Time-is-now rescoring and conversations in the store, on both backends, with the clock
passed in: a reply answers its thread, deadlines move as days pass, one inbox row per thread."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from beacon.analysis.models import ActionItem, Analysis
from beacon.analysis.version import pipeline_version
from beacon.settings import Settings
from beacon.store.analyses import load_scored, save_analyses, save_analysis
from beacon.store.db import Database
from beacon.store.inbox import InboxFilter, inbox, inbox_page
from beacon.store.schema import AnalysisRow, EmailRow, EmailStateRow
from beacon.triage.rescore import after_analyses, rescore_due, rescore_emails
from beacon.triage.states import write_state
from beacon.triage.threads import thread_counts, thread_messages
from tests.helpers import store_messages
from tests.test_priority import analysis as make_analysis

ME = "reader@example.com"
SETTINGS = Settings(own_addresses=[ME])
VERSION = pipeline_version(SETTINGS)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def mail(key: str, *, sender: str, to: str, subject: str, at: datetime, body: str, reply_to: str = "") -> bytes:
    refs = f"In-Reply-To: <{reply_to}@test>\nReferences: <{reply_to}@test>\n" if reply_to else ""
    return (f"From: {sender}\nTo: {to}\nSubject: {subject}\nMessage-ID: <{key}@test>\n{refs}"
            f"Date: {at.strftime('%a, %d %b %Y %H:%M:%S +0000')}\n\n{body}\n").encode()


def analysed(request: bool, due: datetime | None = None, kind: str = "personal") -> Analysis:
    a = make_analysis(kind, request=request, due_days=None)
    a.pipeline_version = VERSION
    if due is not None:
        a.action_items = [ActionItem(text="send it", start=0, end=7, due=due, due_text="Friday")]
    return a


# key -> (message, analysis); the contract thread: Dana asks, the reader answers, Dana asks again.
def thread_mails() -> dict[str, tuple[bytes, Analysis]]:
    return {
        "ask": (mail("ask", sender="Dana <dana@example.com>", to=ME, subject="Contract", at=T0,
                     body="Can you send the signed contract by Friday?"), analysed(True, T0 + timedelta(days=4))),
        "answer": (mail("answer", sender=f"Reader <{ME}>", to="dana@example.com", subject="Re: Contract",
                        at=T0 + timedelta(hours=2), body="Sure, on it.", reply_to="ask"), analysed(False)),
        "again": (mail("again", sender="Dana <dana@example.com>", to=ME, subject="Re: Contract",
                       at=T0 + timedelta(hours=4), body="Thanks! Could you also check the invoice?",
                       reply_to="ask"), analysed(True)),
        "news": (mail("news", sender="News <news@lists.example.org>", to="list@example.org", subject="Weekly",
                      at=T0 + timedelta(hours=1), body="This week in news."), analysed(False, kind="newsletter")),
    }


def store(db: Database, mails: dict[str, tuple[bytes, Analysis]], now: datetime = T0) -> dict[str, int]:
    """Store every mail and analyse it at ``now`` as the engine's runner does."""
    ids = dict(zip(mails, store_messages(db, [m for m, _a in mails.values()])))
    analyse(db, ids, mails, list(mails), now)
    return ids


def analyse(db: Database, ids: dict[str, int], mails: dict[str, tuple[bytes, Analysis]], keys: list[str],
            now: datetime) -> None:
    with db.session() as s:
        save_analyses(s, [(ids[key], mails[key][1]) for key in keys], SETTINGS, now)
        after_analyses(s, [ids[key] for key in keys], SETTINGS, now)


def row(db: Database, email_id: int) -> AnalysisRow:
    with db.session() as s:
        a = s.scalar(select(AnalysisRow).where(AnalysisRow.email_id == email_id))
        assert a is not None
        s.expunge(a)
        return a


def factor_names(a: AnalysisRow) -> set[str]:
    return {f.name for f in load_scored(a).priority.factors}


def heads(db: Database, now: datetime = T0, **kw: object) -> list[int]:
    with db.session() as s:
        return [e.id for e, _a in inbox(s, InboxFilter(pipeline_version=VERSION, threads=True, now=now, **kw),
                                        limit=None)]


def test_a_reply_by_the_reader_answers_the_messages_before_it(any_db: Database) -> None:
    mails = thread_mails()
    answer = mails.pop("answer")
    ids = store(any_db, mails)
    before = row(any_db, ids["ask"])
    assert before.needs_reply and "request" in factor_names(before)

    ids |= store(any_db, {"answer": answer}, T0 + timedelta(hours=3))  # the reader's reply arrives
    after = row(any_db, ids["ask"])
    assert not after.needs_reply
    assert {"request", "thread"}.isdisjoint(factor_names(after)) and "replied" in factor_names(after)
    assert after.score < before.score  # replying no longer adds points to the original
    later = row(any_db, ids["again"])  # Dana's next question is a reply in the reader's thread, unanswered
    assert later.needs_reply and {"request", "thread"} <= factor_names(later)


def test_the_replied_state_and_the_answered_flag_also_answer_a_mail(any_db: Database) -> None:
    mails = thread_mails()
    ids = store(any_db, {k: mails[k] for k in ("ask", "news")})
    with any_db.session() as s:
        s.add(EmailStateRow(email_id=ids["ask"], replied_at=T0 + timedelta(hours=1)))
        s.flush()
        rescore_emails(s, [ids["ask"]], T0 + timedelta(hours=1), SETTINGS)
    assert not row(any_db, ids["ask"]).needs_reply
    with any_db.session() as s:
        s.execute(text("DELETE FROM email_states"))
        s.get(EmailRow, ids["ask"]).answered = True  # type: ignore[union-attr]
        s.flush()
        rescore_emails(s, [ids["ask"]], T0 + timedelta(hours=1), SETTINGS)
    assert not row(any_db, ids["ask"]).needs_reply


def saved_rows(db: Database) -> list[tuple[object, ...]]:
    """Every analysis as stored, by email id (ids are the same in two fresh stores)."""
    with db.session() as s:
        return [(a.email_id, a.score, a.level, a.needs_reply, a.thread_head, a.rescore_at, a.due_at, a.data)
                for a in s.scalars(select(AnalysisRow).order_by(AnalysisRow.email_id))]


def test_a_batch_is_saved_as_one_by_one_would_save_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The runner saves a batch at once (rows read together, one flush, each thread's head
    elected once): the stored analyses, scores and heads are those of saving each email in
    turn, also for a batch that holds the reader's own reply in the middle of its thread."""
    mails = thread_mails()
    order = ["ask", "answer", "news", "again"]
    stores = []
    for name in ("one-by-one", "batch"):
        db = Database(f"sqlite:///{tmp_path / name}.db")
        db.migrate()
        ids = dict(zip(mails, store_messages(db, [m for m, _a in mails.values()])))
        with db.session() as s:
            if name == "batch":
                save_analyses(s, [(ids[k], mails[k][1]) for k in order], SETTINGS, T0)
                after_analyses(s, [ids[k] for k in order], SETTINGS, T0)
            else:
                for k in order:
                    save_analysis(s, ids[k], mails[k][1], SETTINGS, T0)
                    after_analyses(s, [ids[k]], SETTINGS, T0)
        stores.append(saved_rows(db))
        db.dispose()
    assert stores[0] == stores[1]
    assert sum(1 for r in stores[1] if r[4]) == 2  # two conversations, a head each


def test_one_inbox_row_per_thread_at_its_most_important_open_message(any_db: Database) -> None:
    mails = thread_mails()
    ids = store(any_db, mails)
    assert heads(any_db) == [ids["again"], ids["news"]]  # "ask" is answered; "answer" is the reader's own
    with any_db.session() as s:
        page = inbox_page(s, InboxFilter(pipeline_version=VERSION, threads=True, now=T0))
        counts = thread_counts(s, [e for e, _a in page.rows])
        assert counts == {ids["again"]: 3, ids["news"]: 1}
        every = [e.id for e, _a in inbox(s, InboxFilter(pipeline_version=VERSION, now=T0), limit=None)]
        assert sorted(every) == sorted(ids.values())  # the message list keeps every email
        conversation = thread_messages(s, s.get(EmailRow, ids["ask"]), VERSION)  # type: ignore[arg-type]
        assert [m.email.id for m in conversation] == [ids["ask"], ids["answer"], ids["again"]]
    # Filters apply to the heads: the HIGH conversations only.
    assert heads(any_db, level="LOW") == [ids["news"]]


def test_done_moves_the_head_and_a_woken_snooze_comes_back_on_top(any_db: Database) -> None:
    mails = thread_mails()
    del mails["answer"]
    ids = store(any_db, mails)
    assert heads(any_db)[0] in (ids["ask"], ids["again"])
    top = heads(any_db)[0]
    other = ids["again"] if top == ids["ask"] else ids["ask"]
    now = T0 + timedelta(hours=5)
    with any_db.session() as s:
        write_state(s, top, {"done_at": now})  # as every action writes states
        rescore_emails(s, [top], now, SETTINGS)
    assert heads(any_db, now) == [other, ids["news"]]

    wake = now + timedelta(hours=6)
    with any_db.session() as s:
        write_state(s, other, {"snoozed_until": wake})
        rescore_emails(s, [other], now, SETTINGS)
    assert heads(any_db, now) == [ids["news"]]  # the whole conversation is out of the inbox
    assert row(any_db, other).rescore_at == wake  # the periodic pass brings it back then

    assert rescore_due(any_db, SETTINGS, wake - timedelta(minutes=1)).threads == 0
    done = rescore_due(any_db, SETTINGS, wake + timedelta(minutes=1))
    assert done.threads == 1
    assert heads(any_db, wake) == [other, ids["news"]]
    back = row(any_db, other)
    assert "snooze" in factor_names(back) and back.rescore_at == wake + timedelta(days=1)


def test_deadlines_move_with_the_clock_in_the_periodic_pass(any_db: Database) -> None:
    due = T0 + timedelta(days=1, hours=8)  # tomorrow 17:00
    mails = {"ask": (mail("ask", sender="Dana <dana@example.com>", to=ME, subject="Contract", at=T0,
                          body="Please send the contract by tomorrow 5pm."), analysed(True, due))}
    ids = store(any_db, mails)
    first = row(any_db, ids["ask"])
    assert first.level == "HIGH" and first.rescore_at == datetime(2026, 11, 3, tzinfo=timezone.utc)
    assert rescore_due(any_db, SETTINGS, T0 + timedelta(hours=3)).threads == 0  # nothing changed yet

    rescore_due(any_db, SETTINGS, T0 + timedelta(days=1, hours=1))
    today = row(any_db, ids["ask"])
    assert today.score > first.score and "deadline today" in _deadline(today)

    rescore_due(any_db, SETTINGS, T0 + timedelta(days=4))
    late = row(any_db, ids["ask"])
    assert "overdue by 3 days" in _deadline(late) and late.score < today.score

    result = rescore_due(any_db, SETTINGS, T0 + timedelta(days=30))
    gone = row(any_db, ids["ask"])
    assert result.changed == 1 and "lapsed" in _deadline(gone) and gone.level != "HIGH"
    assert gone.rescore_at is None  # time changes nothing more
    with any_db.session() as s:  # the index keys moved: the level filter sees it
        found = inbox(s, InboxFilter(pipeline_version=VERSION, level="HIGH"), limit=None)
        assert ids["ask"] not in [e.id for e, _a in found]


def _deadline(a: AnalysisRow) -> str:
    return next(f.detail for f in load_scored(a).priority.factors if f.name == "deadline")


@pytest.mark.parametrize("sort", ["priority"])
def test_the_conversation_inbox_is_an_index_walk(sqlite_db: Database, sort: str) -> None:
    store(sqlite_db, thread_mails())
    with sqlite_db.session() as s:
        f = InboxFilter(pipeline_version=VERSION, threads=True, sort=sort)
        from beacon.store.inbox import _compiled, _ORDERS  # the statement inbox_page runs

        base, _ = _compiled(s, f)
        q = select(AnalysisRow.email_id).where(base).order_by(*(c.desc() for c in _ORDERS[sort])).limit(51)
        plan = " ".join(str(r[-1]) for r in s.execute(text("EXPLAIN QUERY PLAN " + str(
            q.compile(s.get_bind(), compile_kwargs={"literal_binds": True})))))
    assert "ix_analyses_head_priority" in plan and "TEMP B-TREE" not in plan, plan


def test_actions_rescore_their_threads_through_the_hook(any_db: Database) -> None:
    from beacon.store.tenancy import EVERYONE
    from beacon.triage.actions import apply_action, undo_action
    from beacon.triage.models import Action

    mails = thread_mails()
    del mails["answer"]
    ids = store(any_db, mails)
    top = heads(any_db)[0]
    other = ids["again"] if top == ids["ask"] else ids["ask"]
    now = T0 + timedelta(hours=5)
    with any_db.session() as s:
        done = apply_action(s, EVERYONE, [top], Action.DONE, now=now)
    assert heads(any_db, now) == [other, ids["news"]]
    with any_db.session() as s:
        apply_action(s, EVERYONE, [other], Action.REPLIED, now=now)
    assert not row(any_db, other).needs_reply
    with any_db.session() as s:
        undo_action(s, EVERYONE, done[0].id, now=now + timedelta(minutes=1))
    assert heads(any_db, now)[0] == top


def test_a_deleted_head_or_an_answered_flag_is_taken_up_by_the_next_pass(any_db: Database) -> None:
    from beacon.imap.links import _mark_orphans_deleted, update_flags
    from beacon.store.schema import ImapFolder, ImapMessage

    mails = thread_mails()
    del mails["answer"]
    ids = store(any_db, mails)
    top = heads(any_db)[0]
    other = ids["again"] if top == ids["ask"] else ids["ask"]
    # Marked where no settings are at hand (the IMAP sync): due for the next pass, at the real now.
    with any_db.session() as s:
        _mark_orphans_deleted(s, [top])  # gone from the server
    rescore_due(any_db, SETTINGS)
    now = datetime.now(timezone.utc)
    assert heads(any_db, now) == [other, ids["news"]]
    with any_db.session() as s:
        folder = ImapFolder(account_id=s.get(EmailRow, other).account_id, name="INBOX")  # type: ignore[union-attr]
        s.add(folder)
        s.flush()
        link = ImapMessage(folder_id=folder.id, uid=7, email_id=other, flags=[])
        s.add(link)
        s.flush()
        update_flags(s, link, ["\\Answered"])
    assert row(any_db, other).needs_reply
    rescore_due(any_db, SETTINGS)
    assert not row(any_db, other).needs_reply
