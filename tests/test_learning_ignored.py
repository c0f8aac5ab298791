"""The "ignored" signal from real reader behaviour: mail left untouched for days while the reader
acted on newer mail teaches "not important" (a little), once; mail she touched, mail newer than
anything she acted on, and a reader who acted on nothing teach nothing. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import EmailRow
from beacon.triage.actions import apply_action
from beacon.triage.learning import summary
from beacon.triage.learning.ignored import learn_ignored, learn_ignored_for
from beacon.triage.learning.store import load_model
from tests.test_learning import LIST, T0, _mailbox, _users


def _arrived(db: Database, ids: list[int], start_hours: int) -> None:
    """Each email arrives an hour after the one before, from T0 + ``start_hours``."""
    with db.session() as s:
        for k, eid in enumerate(ids):
            s.execute(update(EmailRow).where(EmailRow.id == eid).values(
                imported_at=T0 + timedelta(hours=start_hours + k), date=T0 + timedelta(hours=start_hours + k)))


def test_mail_passed_over_for_days_teaches_ignored_once(any_db: Database) -> None:
    settings = Settings(learning_ignored_days=3)
    alice, bob = _users(any_db, "alice", "bob")
    posts, people = _mailbox(any_db, settings, alice, "a")
    bob_posts, _ = _mailbox(any_db, settings, bob, "b")
    _arrived(any_db, posts, 0)  # posts 0..5 at T0 .. T0+5h
    _arrived(any_db, people, 10)  # people's mail later, at T0+10h ..
    _arrived(any_db, bob_posts, 0)
    with any_db.session() as s:
        # Alice works through her inbox on day 1: opens post 5, marks post 4 not important, opens post 1.
        apply_action(s, alice, [posts[5]], "read", source="cli", now=T0 + timedelta(days=1))
        apply_action(s, alice, [posts[4]], "not_important", source="cli", now=T0 + timedelta(days=1))
        apply_action(s, alice, [posts[1]], "read", source="cli", now=T0 + timedelta(days=1))
    with any_db.session() as s:
        # Two days on: not yet "for days".
        assert learn_ignored_for(s, alice, settings, now=T0 + timedelta(days=2)) == 0
    with any_db.session() as s:
        # A week on: posts 0, 2 and 3 were passed over; the people's mail came after her last action.
        assert learn_ignored(s, settings, now=T0 + timedelta(days=7)) == 3  # bob acted on nothing: none of his
        assert load_model(s, bob) is None
    with any_db.session() as s:
        view = summary(s, alice)
        listed = next(f for f in view.features if f.feature == f"list:{LIST}")
        assert listed.signals == {"not_important": 1, "ignored": 3} and listed.weight < 0
        assert view.events == 4
    with any_db.session() as s:
        assert learn_ignored_for(s, alice, settings, now=T0 + timedelta(days=8)) == 0  # each email judged once
    with any_db.session() as s:
        # Later she acts on the newest personal mail: the older personal mail she skipped is ignored now.
        apply_action(s, alice, [people[-1]], "important", source="cli", now=T0 + timedelta(days=9))
    with any_db.session() as s:
        assert learn_ignored_for(s, alice, settings, now=T0 + timedelta(days=9)) == len(people) - 1
        assert summary(s, alice).events == 4 + 1 + len(people) - 1


def test_mail_the_server_says_she_read_is_not_ignored(any_db: Database) -> None:
    settings = Settings(learning_ignored_days=1)
    (alice,) = _users(any_db, "alice")
    posts, _ = _mailbox(any_db, settings, alice, "a")
    _arrived(any_db, posts, 0)
    with any_db.session() as s:
        s.execute(update(EmailRow).where(EmailRow.id.in_(posts[:3])).values(seen=True))  # read in another client
        apply_action(s, alice, [posts[5]], "important", source="cli", now=T0 + timedelta(days=1))
    with any_db.session() as s:
        assert learn_ignored_for(s, alice, settings, now=T0 + timedelta(days=5)) == 2  # posts 3 and 4


def test_two_lessons_at_once_follow_each_other(postgres_db: Database) -> None:
    """The web learns after answering, so one action's lesson can still be in its transaction
    when the next action's begins: the second waits for the first and builds on it (no lesson
    is overwritten)."""
    import threading

    from beacon.triage.learning import observe
    from tests.test_learning import Feedback

    settings = Settings()
    (alice,) = _users(postgres_db, "alice")
    posts, people = _mailbox(postgres_db, settings, alice, "a")
    with postgres_db.session() as s:
        observe(s, [Feedback(alice, posts[0], "not_important")])
    first = postgres_db.new_session()
    first.begin()
    observe(first, [Feedback(alice, posts[1], "not_important")])  # learned, not yet committed
    finished = threading.Event()

    def second() -> None:
        with postgres_db.session() as s:
            observe(s, [Feedback(alice, people[0], "important")])
        finished.set()

    t = threading.Thread(target=second)
    t.start()
    assert not finished.wait(1.0)  # waits for the first lesson's transaction
    first.commit()
    first.close()
    t.join(10)
    assert finished.is_set()
    with postgres_db.session() as s:
        view = summary(s, alice)
    assert view.events == 3
    listed = next(f for f in view.features if f.feature == f"list:{LIST}")
    assert listed.signals == {"not_important": 2}


def test_acting_on_ignored_mail_after_all_takes_the_lesson_back_and_undo_keeps_it_back(any_db: Database) -> None:
    """Post 0 was judged ignored; days later the reader opens it (or reopens it, or marks it):
    she did not ignore it, so that lesson goes, once, and the action's own lesson stays;
    undoing the action takes back its own lesson only (she has seen the mail)."""
    from beacon.triage.actions import undo_action

    settings = Settings(learning_ignored_days=1)
    (alice,) = _users(any_db, "alice")
    posts, _ = _mailbox(any_db, settings, alice, "a")
    _arrived(any_db, posts, 0)
    with any_db.session() as s:
        apply_action(s, alice, [posts[5]], "read", source="cli", now=T0 + timedelta(days=1))
    with any_db.session() as s:
        assert learn_ignored_for(s, alice, settings, now=T0 + timedelta(days=5)) == 5  # posts 0-4
    with any_db.session() as s:
        assert load_model(s, alice).ignored == set(posts[:5])
        listed = next(f for f in summary(s, alice).features if f.feature == f"list:{LIST}")
        assert listed.signals == {"ignored": 5}
        weight_ignored_5 = listed.weight
        events = summary(s, alice).events
    with any_db.session() as s:
        [marked] = apply_action(s, alice, [posts[0]], "important", source="cli", now=T0 + timedelta(days=6))
        apply_action(s, alice, [posts[1]], "unread", source="cli", now=T0 + timedelta(days=6))  # teaches nothing itself
    with any_db.session() as s:
        view = summary(s, alice)
        listed = next(f for f in view.features if f.feature == f"list:{LIST}")
        assert listed.signals == {"ignored": 3, "important": 1}
        assert view.events == events - 2 + 1
        assert load_model(s, alice).ignored == set(posts[2:5])
        assert listed.weight > weight_ignored_5
    with any_db.session() as s:
        undo_action(s, alice, marked.id, now=T0 + timedelta(days=6, hours=1))
    with any_db.session() as s:
        listed = next(f for f in summary(s, alice).features if f.feature == f"list:{LIST}")
        assert listed.signals == {"ignored": 3}  # neither the mark nor "ignored" again
        assert posts[0] not in load_model(s, alice).ignored
    with any_db.session() as s:
        assert learn_ignored_for(s, alice, settings, now=T0 + timedelta(days=9)) == 0  # never judged again
