"""Per-user learning: real model updates (scikit-learn), persistence, undo, reset, tenancy, on
SQLite and PostgreSQL; the API and the CLI that show and reset it.

Analyses are built here as typed values (the learning reads an analysis, it does not make one),
so this stays in the fast layer without spaCy; the replay over real analysed mail is
``bench/learning.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from typer.testing import CliRunner

from beacon.analysis.models import Analysis, ScoredAnalysis
from beacon.analysis.version import pipeline_version
from beacon.settings import Settings
from beacon.store.analyses import save_analysis
from beacon.triage.rescore import rescore_scope
from beacon.store.db import Database
from beacon.store.schema import AnalysisRow, EmailRow, LearningModelRow, User
from beacon.store.tenancy import adopt_unowned
from beacon.triage.learning import observe, reset, summary
from beacon.triage.learning.features import MailFacts, features
from beacon.triage.learning.model import UserModel
from beacon.triage.learning.signals import Signal, example_for
from beacon.triage.learning.versus import versus_for
from beacon.triage.models import EmailState, Importance
from beacon.web.auth import create_user
from tests.helpers import PASSWORD, assert_table_migrates, store_messages

LIST = "news.example.org"
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


@dataclass
class Feedback:
    """An action record with the fields of the ``email_actions`` contract that learning reads."""

    user_id: int | None
    email_id: int
    action: str
    created_at: datetime = T0 + timedelta(days=30)
    before: dict[str, Any] = field(default_factory=dict)
    undone_at: datetime | None = None
    state: EmailState = field(default_factory=EmailState)


def _raw(i: int, *, on_list: bool) -> bytes:
    sender = f"poster{i}@lists.example.net" if on_list else f"friend{i}@example.com"
    extra = f"List-Id: News <{LIST}>\n" if on_list else ""
    return (f"From: Person {i} <{sender}>\nTo: reader@example.com\nSubject: note {i}\n"
            f"Message-ID: <n{i}-{on_list}@example.org>\n{extra}Date: Fri, 1 Mar 2024 09:{i:02d}:00 +0000\n\n"
            f"Some words, number {i}.\n").encode()


def _analysis(settings: Settings, kind: str) -> Analysis:
    return Analysis(pipeline_version=pipeline_version(settings), model="test", text="Some words.",
                    text_source="new_text", kind=kind, category=kind)  # type: ignore[arg-type]


def _mailbox(db: Database, settings: Settings, user_id: int | None, account: str) -> tuple[list[int], list[int]]:
    """Six list posts (newsletter) and four personal mails for ``user_id``, analysed and scored."""
    lists = store_messages(db, [_raw(i, on_list=True) for i in range(6)], account=account, user_id=user_id)
    people = store_messages(db, [_raw(10 + i, on_list=False) for i in range(4)], account=f"{account}-p",
                            user_id=user_id)
    with db.session() as s:
        for eid in lists:
            save_analysis(s, eid, _analysis(settings, "newsletter"), settings)
        for eid in people:
            save_analysis(s, eid, _analysis(settings, "personal"), settings)
    return lists, people


def _scored(db: Database, email_id: int) -> ScoredAnalysis:
    with db.session() as s:
        row = s.scalar(select(AnalysisRow).where(AnalysisRow.email_id == email_id))
        return ScoredAnalysis.model_validate(row.data)


def _users(db: Database, *names: str) -> list[int]:
    with db.session() as s:
        return [create_user(s, n, PASSWORD).id for n in names]


def _alice_and_bob(db: Database, settings: Settings) -> tuple[int, int, tuple[list[int], list[int]],
                                                            tuple[list[int], list[int]]]:
    """Two users, each with the same mailbox (list posts, personal mail) in accounts of their own."""
    alice, bob = _users(db, "alice", "bob")
    return alice, bob, _mailbox(db, settings, alice, "a"), _mailbox(db, settings, bob, "b")


def test_feedback_moves_the_readers_ranking_with_a_reason_and_never_anothers(any_db: Database) -> None:
    settings = Settings()
    alice, bob, (a_list, a_people), (b_list, b_people) = _alice_and_bob(any_db, settings)
    before_a = _scored(any_db, a_list[5]).priority
    before_b = {e: _scored(any_db, e).priority for e in b_list + b_people}

    # The one post she wants first, then four she does not: each mark against what the model
    # then says (marks that agree with the ranking teach little: test_learning_versus).
    marks = [Feedback(alice, a_list[4], "important")] + [Feedback(alice, e, "not_important") for e in a_list[:4]]
    with any_db.session() as s:
        assert observe(s, marks) == 5
        rescore_scope(s, settings, alice)
        rescore_scope(s, settings, bob)

    after = _scored(any_db, a_list[5]).priority  # a list post Alice never acted on
    learned = next(f for f in after.factors if f.name == "learned")
    assert learned.points < 0 and after.score < before_a.score
    assert learned.detail == f"learned from your feedback: you marked 4 of 5 mails from the list {LIST} not important"
    assert learned.evidence == LIST
    # Personal mail shares none of those features: it keeps its score.
    assert all(f.name != "learned" for f in _scored(any_db, a_people[0]).priority.factors)
    # Bob's identical mail is untouched by Alice's feedback.
    assert {e: _scored(any_db, e).priority for e in b_list + b_people} == before_b
    with any_db.session() as s:
        assert summary(s, bob).events == 0
        view = summary(s, alice)
    assert view.events == 5
    top = next(f for f in view.features if f.feature == f"list:{LIST}")
    assert (top.important, top.not_important, top.signals) == (1, 4, {"important": 1, "not_important": 4})
    assert top.weight < 0


def test_the_model_persists_and_continues_as_if_never_stored(any_db: Database) -> None:
    settings = Settings()
    (alice,) = _users(any_db, "alice")
    lists, people = _mailbox(any_db, settings, alice, "a")
    sequence = [(e, "not_important") for e in lists[:3]] + [(e, "replied") for e in people[:3]]
    for eid, action in sequence:  # one session per action, as the web would do it
        with any_db.session() as s:
            observe(s, [Feedback(alice, eid, action)])
    with any_db.session() as s:
        row = s.scalar(select(LearningModelRow).where(LearningModelRow.user_id == alice))
        stored = UserModel.from_state(json.loads(json.dumps(row.state)))
        assert row.events == 6
        feats = {}
        for eid, _ in sequence:
            email = s.get(EmailRow, eid)
            scored = ScoredAnalysis.model_validate(
                s.scalar(select(AnalysisRow).where(AnalysisRow.email_id == eid)).data)
            feats[eid] = features(MailFacts.of_row(email.from_addr, email.thread_id, email.data),
                                  scored.analysis, scored.priority.factors)
        # Each lesson was compared with the same open mail (the draw is the email's own).
        scores = {eid: s.scalar(select(AnalysisRow.score).where(AnalysisRow.email_id == eid)) for eid, _ in sequence}
        versus = versus_for(s, alice, {eid: (feats[eid], scores[eid]) for eid, _ in sequence}, Settings())
    in_memory = UserModel()
    for eid, action in sequence:
        ex = example_for(Feedback(alice, eid, action), None, timedelta(hours=2))
        assert ex is not None and len(versus[eid]) == 5
        in_memory.learn_many([(feats[eid], ex, versus[eid])])
    assert stored.state()["coef"].keys() == in_memory.state()["coef"].keys()
    a = np.array([stored.state()["coef"][k] for k in sorted(stored.state()["coef"])])
    b = np.array([in_memory.state()["coef"][k] for k in sorted(in_memory.state()["coef"])])
    assert np.allclose(a, b) and stored.state()["t"] == in_memory.state()["t"] == 7.0
    assert stored.stats == in_memory.stats


def test_undo_takes_back_what_an_action_taught(any_db: Database) -> None:
    settings = Settings()
    (alice,) = _users(any_db, "alice")
    lists, _ = _mailbox(any_db, settings, alice, "a")
    mark = Feedback(alice, lists[0], "not_important")
    with any_db.session() as s:
        observe(s, [mark])
        rescore_scope(s, settings, alice)
    assert any(f.name == "learned" for f in _scored(any_db, lists[1]).priority.factors)
    with any_db.session() as s:
        observe(s, [Feedback(alice, lists[0], "not_important", undone_at=T0 + timedelta(days=31))])
        rescore_scope(s, settings, alice)
        assert summary(s, alice).events == 0 and summary(s, alice).features == []
    assert all(f.name != "learned" for f in _scored(any_db, lists[1]).priority.factors)


def test_reset_forgets_and_rescores(any_db: Database) -> None:
    settings = Settings()
    alice, bob, (a_list, _), (b_list, _) = _alice_and_bob(any_db, settings)
    with any_db.session() as s:
        observe(s, [Feedback(alice, e, "not_important") for e in a_list[:3]]
                + [Feedback(bob, e, "important") for e in b_list[:2]])
    with any_db.session() as s:
        assert reset(s, alice) == 3
        rescore_scope(s, settings)
    with any_db.session() as s:
        assert summary(s, alice).events == 0 and summary(s, bob).events == 2
    assert all(f.name != "learned" for f in _scored(any_db, a_list[5]).priority.factors)
    assert any(f.name == "learned" and f.points > 0 for f in _scored(any_db, b_list[5]).priority.factors)


def test_an_installation_without_users_learns_and_its_first_user_keeps_it(any_db: Database) -> None:
    settings = Settings()
    lists, _ = _mailbox(any_db, settings, None, "a")
    with any_db.session() as s:
        observe(s, [Feedback(None, e, "not_important") for e in lists[:2]])
        assert summary(s, None).events == 2
    (first,) = _users(any_db, "first")
    with any_db.session() as s:
        adopt_unowned(s, first)
    with any_db.session() as s:
        assert summary(s, first).events == 2 and summary(s, None).events == 0


def test_signals_from_actions() -> None:
    soon = timedelta(hours=2)

    def ex(action: str, **kw: Any) -> tuple[Signal, bool, float, bool] | None:
        e = example_for(Feedback(1, 1, action, **kw), T0, soon)
        return None if e is None else (e.signal, e.positive, e.weight, e.unlearn)

    assert ex("important") == (Signal.important, True, 1.0, False)
    assert ex("not_important") == (Signal.not_important, False, 1.0, False)
    assert ex("replied")[:2] == (Signal.replied, True)
    assert ex("snooze")[:2] == (Signal.snoozed, True)
    assert ex("read", created_at=T0 + timedelta(minutes=30))[:2] == (Signal.read_soon, True)
    assert ex("read", created_at=T0 + timedelta(days=3)) is None  # read, but not eagerly
    assert ex("done")[:2] == (Signal.done_unread, False)
    assert ex("done", before={"read_at": "2024-03-01T10:00:00+00:00"}) is None
    # 14a's records carry the email's state after the action: done after reading is no verdict.
    assert ex("done", state=EmailState(read_at=T0, done_at=T0)) is None
    assert ex("done", state=EmailState(importance=Importance.IMPORTANT, done_at=T0)) is None
    assert ex("done", state=EmailState(done_at=T0))[:2] == (Signal.done_unread, False)
    assert ex("unread") is None and ex("undone") is None and ex("unsnooze") is None
    # Taking a mark back unlearns it; undoing that learns it again.
    assert ex("clear_importance", before={"importance": "important"}) == (Signal.important, False, 1.0, True)
    assert ex("clear_importance", before={"importance": "important"}, undone_at=T0) == \
        (Signal.important, True, 1.0, False)
    assert ex("important", undone_at=T0) == (Signal.important, False, 1.0, True)


def test_migration_0007_matches_the_schema_and_downgrades(any_db: Database) -> None:
    assert_table_migrates(any_db, "learning_models", "0004")
    any_db.migrate()
    assert "learning_models" in sa_inspect(any_db.sql_engine).get_table_names()


# -- API and CLI ---------------------------------------------------------------------------------
def test_api_shows_and_resets_what_was_learned(tmp_path: Path) -> None:
    from tests.helpers import make_served

    srv, client = make_served(tmp_path, engine=False)
    c, h = srv.login(client)
    with srv.db.session() as s:
        alice = s.scalar(select(User.id).where(User.username == "alice"))
        ids = list(s.scalars(select(EmailRow.id).order_by(EmailRow.id)))
        for eid in ids:
            save_analysis(s, eid, _analysis(srv.settings, "personal"), srv.settings)
        sender = s.get(EmailRow, ids[0]).from_addr
        same = [e for e in ids if s.get(EmailRow, e).from_addr == sender]
        observe(s, [Feedback(alice, e, "important") for e in same])
        rescore_scope(s, srv.settings, alice)
    assert c.get("/api/learning").status_code == 200
    view = c.get("/api/learning").json()
    assert view["events"] == len(same)
    row = next(f for f in view["features"] if f["feature"] == f"sender:{sender}")
    assert row["important"] == len(same) and row["weight"] > 0 and row["about"] == f"from {sender}"
    factors = c.get(f"/api/emails/{same[0]}").json()["priority"]["factors"]
    assert any(f["name"] == "learned" and f["points"] > 0 for f in factors)

    assert c.delete("/api/learning").status_code == 403  # no CSRF token
    r = c.delete("/api/learning", headers=h)
    assert r.status_code == 200 and r.json()["forgotten_events"] == len(same) and r.json()["rescored"] >= len(same)
    assert c.get("/api/learning").json() == {"events": 0, "updated_at": None, "features": []}
    factors = c.get(f"/api/emails/{same[0]}").json()["priority"]["factors"]
    assert all(f["name"] != "learned" for f in factors)
    c.post("/api/logout", headers=h)
    assert c.get("/api/learning").status_code == 401


def test_cli_shows_and_resets_the_users_learning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from beacon.cli.main import app

    monkeypatch.setenv("BEACON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps table cells to the terminal's width
    settings = Settings()
    db = Database(settings.database_url_resolved)
    db.migrate()
    alice, bob, (a_list, _), (b_list, _) = _alice_and_bob(db, settings)
    with db.session() as s:
        observe(s, [Feedback(alice, e, "not_important") for e in a_list[:4]] + [Feedback(bob, b_list[0], "important")])
    db.dispose()
    cli = CliRunner()

    assert cli.invoke(app, ["learning", "show"]).exit_code == 2  # two users: whose?
    r = cli.invoke(app, ["--user", "alice", "learning", "show", "--json"])
    assert r.exit_code == 0, r.output
    view = json.loads(r.stdout)
    assert view["events"] == 4 and view["features"][0]["weight"] < 0
    r = cli.invoke(app, ["--user", "alice", "learning", "show"])
    assert f"from the list {LIST}" in r.stdout and "Learned from 4 feedback events" in r.stdout
    assert cli.invoke(app, ["--user", "alice", "learning", "reset"], input="n\n").exit_code == 1
    r = cli.invoke(app, ["--user", "alice", "learning", "reset", "--yes"])
    assert r.exit_code == 0 and "Forgot 4 feedback events" in r.stdout
    assert "Nothing learned yet" in cli.invoke(app, ["--user", "alice", "learning", "show"]).stdout
    assert json.loads(cli.invoke(app, ["--user", "bob", "learning", "show", "--json"]).stdout)["events"] == 1


def test_a_bulk_action_teaches_what_the_same_actions_one_by_one_would() -> None:
    from beacon.triage.learning.signals import Example

    pairs = [({f"sender:s{i % 3}@x.org": 1.0, "kind:personal": 1.0, "factor:request": 0.9},
              Example(Signal.important if i % 2 else Signal.not_important, bool(i % 2), 1.0)) for i in range(7)]
    one, bulk = UserModel(), UserModel()
    for f, ex in pairs:
        one.learn(f, ex)
    bulk.learn_many(pairs)
    a, b = one.state(), bulk.state()
    assert a["coef"].keys() == b["coef"].keys() and a["stats"] == b["stats"] and a["events"] == b["events"] == 7
    assert np.allclose([a["coef"][k] for k in a["coef"]], [b["coef"][k] for k in a["coef"]])
    assert np.isclose(a["intercept"], b["intercept"])


def test_the_reason_quotes_the_feedback_behind_the_strongest_feature() -> None:
    from beacon.triage.learning.explain import counts_sentence, learned_factor_for
    from beacon.triage.learning.signals import Example

    assert counts_sentence("list:l.example.org", {"not_important": 4, "important": 1}, False) == \
        "you marked 4 of 5 mails from the list l.example.org not important"
    assert counts_sentence("sender:bo@x.org", {"replied": 2, "important": 1, "done_unread": 1}, True) == \
        "3 of 4 mails from bo@x.org were important to you (replied to 2, marked important 1)"
    assert counts_sentence("due:yes", {"not_important": 2}, True) is None
    m = UserModel()
    assert learned_factor_for(m, {"kind:personal": 1.0}, points_per_logit=12, max_points=40) is None  # untrained
    for _ in range(6):
        m.learn({"sender:bo@x.org": 1.0, "kind:personal": 1.0}, Example(Signal.replied, True, 0.8))
    f = learned_factor_for(m, {"sender:bo@x.org": 1.0, "kind:personal": 1.0, "thread:t1": 1.0},
                           points_per_logit=12, max_points=5)
    assert f is not None and f.points == 5  # capped
    assert f.detail == "learned from your feedback: you replied to 6 of 6 mails from bo@x.org" and f.evidence == "bo@x.org"


def _served_with_two_from_one_sender(tmp_path: Path) -> tuple[Any, Any, int, int]:
    """The demo app, every email analysed (as personal mail), and two emails of one sender."""
    from tests.helpers import make_served

    srv, client = make_served(tmp_path, engine=False)
    with srv.db.session() as s:
        ids = list(s.scalars(select(EmailRow.id).order_by(EmailRow.id)))
        for eid in ids:
            save_analysis(s, eid, _analysis(srv.settings, "personal"), srv.settings)
        by_sender: dict[str, list[int]] = {}
        for eid in ids:
            by_sender.setdefault(s.get(EmailRow, eid).from_addr, []).append(eid)
    first, other = next(v for v in by_sender.values() if len(v) >= 2)[:2]
    return srv, client, first, other


def test_actions_through_the_api_teach_at_once_and_their_undo_unteaches(tmp_path: Path) -> None:
    """The triage loop end to end: POST an action, the app's after-actions thread learns and
    re-scores the sender's other mail once it is answered; undoing the action takes the lesson
    back."""
    srv, client, first, other = _served_with_two_from_one_sender(tmp_path)
    c, h = srv.login(client)

    def learned(eid: int) -> list[dict[str, Any]]:
        return [f for f in c.get(f"/api/emails/{eid}").json()["priority"]["factors"] if f["name"] == "learned"]

    before = c.get(f"/api/emails/{other}").json()["priority"]["score"]
    deferred = srv.app.state.beacon.deferred
    r = c.post(f"/api/emails/{first}/actions", json={"action": "not_important"}, headers=h)
    assert r.status_code == 200, r.text
    deferred.join()
    assert c.get("/api/learning").json()["events"] == 1
    [factor] = learned(other)
    assert factor["points"] < 0 and "you marked 1 of 1 mail from" in factor["detail"]
    assert c.get(f"/api/emails/{other}").json()["priority"]["score"] < before

    r = c.post(r.json()["actions"][0]["undo_url"], headers=h)
    assert r.status_code == 200, r.text
    deferred.join()
    assert deferred.passes == 2  # each action's lesson, in the thread
    assert c.get("/api/learning").json()["events"] == 0
    assert learned(other) == [] and c.get(f"/api/emails/{other}").json()["priority"]["score"] == before


def test_related_mail_is_the_users_own_open_mail_of_the_same_list_sender_or_thread(any_db: Database) -> None:
    from beacon.store.schema import EmailStateRow
    from beacon.triage.learning.hook import related_email_ids

    settings = Settings()
    alice, bob, (a_list, a_people), (b_list, _) = _alice_and_bob(any_db, settings)
    with any_db.session() as s:
        s.add(EmailStateRow(email_id=a_list[3], done_at=T0))
    with any_db.session() as s:
        assert set(related_email_ids(s, alice, [a_list[0]])) == set(a_list) - {a_list[3]}  # five senders, one list
        assert related_email_ids(s, alice, [a_people[1]]) == [a_people[1]]
        assert set(related_email_ids(s, bob, [b_list[0]])) == set(b_list)
        assert len(related_email_ids(s, alice, [a_list[0]], limit=2)) == 2


def test_the_work_after_answering_is_short_transactions_each_writing_little(tmp_path: Path) -> None:
    """What the web runs after an action (run_hooks_later): the lesson in a transaction of its
    own, then the related mail's refresh a few emails per transaction, so the database's write
    lock is never held for the whole of it; a mark changes no state a score reads, so no thread
    is rescored for it."""
    from sqlalchemy import event

    from beacon.triage.actions import apply_action, run_hooks_later
    from beacon.triage.learning.hook import REFRESH_CHUNK
    srv, _, first, other = _served_with_two_from_one_sender(tmp_path)
    with srv.db.session() as s:
        user = s.scalar(select(User.id).where(User.username == "alice"))
        before = s.get(AnalysisRow, s.scalar(select(AnalysisRow.id).where(AnalysisRow.email_id == other))).score
        records = apply_action(s, user, [first], "not_important", hooks_now=False)
    txs: list[list[str]] = [[]]

    def keep(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE"):
            txs[-1].append(statement)

    event.listen(srv.db.sql_engine, "before_cursor_execute", keep)
    event.listen(srv.db.sql_engine, "commit", lambda conn: txs.append([]))
    try:
        run_hooks_later(srv.db, records)
    finally:
        event.remove(srv.db.sql_engine, "before_cursor_execute", keep)
    writes = [t for t in txs if t]
    learned = [t for t in writes if any("learning_models" in w for w in t)]
    assert len(learned) == 1 and not any("analyses" in w for w in learned[0])  # the lesson alone
    refreshed = [t for t in writes if any(w.lstrip().startswith("UPDATE analyses SET") for w in t)]
    assert refreshed and all(sum("UPDATE analyses" in w for w in t) <= REFRESH_CHUNK for t in refreshed)
    assert not any("needs_reply" in w or "rescore_at" in w for t in writes for w in t)  # no thread rescored
    with srv.db.session() as s:
        assert s.scalar(select(AnalysisRow.score).where(AnalysisRow.email_id == other)) < before
