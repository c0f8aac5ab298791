"""Lessons compared with the reader's open mail (``beacon.triage.learning.versus``): the model
learns where the judged mail should rank among her mail, not only its label. Fast layer: the
model alone, and the store on SQLite and PostgreSQL with typed analyses (no spaCy)."""

from __future__ import annotations

from sqlalchemy import select, update

from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.analyses import save_analysis
from beacon.store.schema import AnalysisRow, EmailRow
from beacon.triage.learning import observe
from beacon.triage.learning.model import UserModel
from beacon.triage.learning.sgd import SparseSGD
from beacon.triage.learning.signals import Example, Signal
from beacon.triage.learning.store import load_model
from beacon.triage.learning.versus import RECENT, gap, pick, versus_for
from tests.helpers import store_messages
from tests.test_learning import Feedback, _analysis, _mailbox, _raw, _users

NO = Example(Signal.not_important, False, 1.0)


def test_a_pair_moves_only_what_the_judged_mail_has_of_its_own() -> None:
    sgd = SparseSGD(eta0=0.5, alpha=1e-3)
    judged, other = {1: 1.0, 2: 1.0, 3: 0.5}, {2: 1.0, 3: 0.2, 4: 1.0}
    sgd.pair_step(judged, other, gap=2.0, positive=False, weight=1.0)
    assert sgd.weight(1) < 0 and sgd.weight(2) == 0 and sgd.weight(4) == 0  # shared: cancels; other's: never
    assert sgd.weight(1) < sgd.weight(3) < 0  # by how much it differs (0.5 - 0.2 against 1)
    step = sgd.weight(1)
    sgd.pair_step(judged, other, gap=-3.0, positive=False, weight=1.0)  # already well below: a small step
    assert step / 10 < sgd.weight(1) - step < 0
    up = SparseSGD(eta0=0.5, alpha=1e-3)
    up.pair_step(judged, other, gap=-2.0, positive=True, weight=1.0)
    assert up.weight(1) == -step


def test_a_mark_that_agrees_with_the_ranking_teaches_less_than_one_against_it() -> None:
    """"Not important" on mail Beacon already ranks a logit below the open mail beside it moves
    its own features less than the same mark on mail a logit above it."""
    settings = Settings()
    below, above = UserModel(), UserModel()
    versus = [(_post(j), gap(18, 30, settings)) for j in range(5)]
    below.learn_many([(_work(1), NO, versus)])
    above.learn_many([(_work(1), NO, [(f, -g) for f, g in versus])])
    mine = "domain:work.example"
    assert above.weights()[mine] < 1.3 * below.weights()[mine] < 0


def _work(i: int) -> dict[str, float]:
    # The mail a reader does not want, on top of her inbox: it shares its kind and its factors
    # with the mail she does want, and differs by who sent it.
    return {f"sender:p{i % 7}@work.example": 1.0, "domain:work.example": 1.0, "kind:personal": 1.0,
            "factor:request": 0.9, "factor:deadline": 0.6, f"thread:w{i}": 1.0}


def _post(i: int) -> dict[str, float]:
    return {f"sender:m{i % 9}@lists.example": 1.0, "domain:lists.example": 1.0, "kind:personal": 1.0,
            "list:dev.lists.example": 1.0, f"thread:l{i}": 1.0}


def _final(model: UserModel, feats: dict[str, float], unlearned: float) -> float:
    return unlearned + max(-40.0, min(40.0, 12 * sum(model.contributions(feats).values())))


def test_rejecting_the_top_of_the_inbox_brings_the_rest_of_it_up() -> None:
    """Ten "not important" on work mail scored 58, with list posts scored 30 open beside it:
    compared with that open mail, the lesson goes into what work mail has of its own (its
    domain), and new work mail from a sender never judged sinks below the posts. Learned as
    labels alone, half of it goes into the kind of mail both share: the posts sink as much, and
    the work mail stays on top."""
    settings = Settings()
    compared, alone = UserModel(), UserModel()
    for i in range(10):
        versus = [(_post(i * 5 + j), gap(58, 30, settings)) for j in range(5)]
        compared.learn_many([(_work(i), NO, versus)])
        alone.learn_many([(_work(i), NO)])
    w, a = compared.weights(), alone.weights()
    assert w["domain:work.example"] < 3 * w["kind:personal"] < 0
    assert a["domain:work.example"] == a["kind:personal"]
    new_work, new_post = _work(100) | {"sender:new@work.example": 1.0}, _post(100)
    assert _final(compared, new_work, 58) < _final(compared, new_post, 30) - 5
    assert _final(alone, new_work, 58) > _final(alone, new_post, 30)
    # Nothing was learned about the posts themselves: their own features carry no weight.
    assert not {k for k in compared.contributions(new_post) if k.startswith(("list:", "sender:m", "domain:lists"))}
    # The reason still quotes what she did.
    assert compared.stats["domain:work.example"] == {"not_important": 10}


def test_the_open_mail_drawn_is_the_newest_the_same_every_time_and_never_the_mail_itself() -> None:
    candidates = list(range(3000))
    drawn = pick(candidates, 2999)
    assert drawn == pick(candidates, 2999) and len(drawn) == 5 and len(set(drawn)) == 5
    assert all(3000 - RECENT <= c < 2999 for c in drawn)
    assert pick(candidates, 7) != drawn
    assert sorted(pick([1, 2, 3], 2)) == [1, 3] and pick([], 2) == []


def _senders(drawn: list[tuple[dict[str, float], float]]) -> list[str]:
    return [next(k for k in feats if k.startswith("sender:"))[7:] for feats, _ in drawn]


def test_observe_compares_with_the_readers_own_open_mail(any_db: Database) -> None:
    settings = Settings()
    alice, bob = _users(any_db, "alice", "bob")
    lists, people = _mailbox(any_db, settings, alice, "a")
    bobs = store_messages(any_db, [_raw(50 + i, on_list=False) for i in range(4)], account="b", user_id=bob)
    with any_db.session() as s:
        for eid in bobs:
            save_analysis(s, eid, _analysis(settings, "personal"), settings)
        # Two of Alice's posts are done: out of her inbox.
        s.execute(update(AnalysisRow).where(AnalysisRow.email_id.in_(lists[:2])).values(away=True))
    with any_db.session() as s:
        rows = {r.email_id: r for r in s.scalars(select(AnalysisRow))}
        sender = {eid: s.get(EmailRow, eid).from_addr for eid in rows}
        judged = {eid: ({}, rows[eid].score) for eid in lists[2:] + people}
        drawn = versus_for(s, alice, judged, settings)
    open_mail = set(lists[2:] + people)
    for eid, versus in drawn.items():
        assert len(versus) == 5
        # Her own open mail only (not done, not Bob's), never the judged mail itself, each with
        # how far Beacon's score puts the judged mail above it.
        others = [next(o for o in open_mail - {eid} if sender[o] == addr) for addr in _senders(versus)]
        assert [g * settings.learning_points_per_logit for _, g in versus] == \
            [rows[eid].score - rows[o].score for o in others]
    with any_db.session() as s:
        assert observe(s, [Feedback(alice, people[0], "not_important")], settings) == 1
        model = load_model(s, alice)
    alone = UserModel()
    alone.learn(_features_of(any_db, people[0]), NO)
    # Compared with open posts: what the personal mail has of its own moves further than from
    # the label alone, and the posts' own features learn nothing.
    mine = f"sender:{sender[people[0]]}"
    assert model.contributions({mine: 1.0})[mine] < alone.contributions({mine: 1.0})[mine] < 0
    assert model.contributions({"kind:newsletter": 1.0}) == {}


def _features_of(db: Database, email_id: int) -> dict[str, float]:
    from beacon.analysis.models import ScoredAnalysis
    from beacon.triage.learning.store import _features

    with db.session() as s:
        row = s.get(EmailRow, email_id)
        scored = ScoredAnalysis.model_validate(s.scalar(select(AnalysisRow.data).where(AnalysisRow.email_id == email_id)))
        return _features(row, scored.analysis, scored.priority.factors)
