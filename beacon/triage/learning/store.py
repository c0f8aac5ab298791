"""Each reader's model in the database, and the ways in and out of it: :func:`observe` (run after
actions), :func:`learned_factor` (scoring), :func:`summary` and :func:`reset` (API and CLI).

Every function takes the user whose model it is; one user's feedback never reaches another's
model. A loaded model is kept in the session's ``info`` for the rest of that session, so
re-scoring a whole inbox reads it once; scikit-learn is imported only when a model exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from beacon.analysis.models import Analysis, Factor, ScoredAnalysis
from beacon.settings import Settings
from beacon.store.schema import AnalysisRow, EmailRow, LearningModelRow
from beacon.triage.learning.explain import FACTOR_NAME, describe, learned_factor_for
from beacon.triage.learning.features import MailFacts, features
from beacon.triage.learning.signals import SIGNALS, ActionLike, Example, Signal, example_for
from beacon.triage.learning.versus import unlearned_score, versus_for

if TYPE_CHECKING:
    from beacon.triage.learning.model import UserModel

__all__ = ["LearnedFeature", "LearningView", "learned_factor", "load_model", "observe", "reset", "save_model", "summary"]

_CACHE = "beacon.learning.models"  # session.info key: user id -> UserModel | None


def _config(settings: Settings | None) -> Settings:
    # Hooks get no settings: then the defaults, never the process environment read on the side.
    return settings if settings is not None else Settings.model_construct()


def _row(s: Session, user_id: int | None) -> LearningModelRow | None:
    owner = LearningModelRow.user_id.is_(None) if user_id is None else LearningModelRow.user_id == user_id
    return s.scalar(select(LearningModelRow).where(owner))


def _owner(user_id: int | None):  # noqa: ANN202 -- a SQL condition
    return LearningModelRow.user_id.is_(None) if user_id is None else LearningModelRow.user_id == user_id


def lock_model(s: Session, user_id: int | None) -> None:
    """Hold the user's model row until this transaction ends, and read it afresh: two lessons
    learned at once (the web learns after answering, one action's lesson may still be in
    progress when the next comes) then follow each other instead of one overwriting the
    other. A no-op write takes the lock on PostgreSQL (the row) and SQLite (the database)."""
    s.execute(update(LearningModelRow).where(_owner(user_id)).values(events=LearningModelRow.events)
              .execution_options(synchronize_session=False))
    s.info.setdefault(_CACHE, {}).pop(user_id, None)


def load_model(s: Session, user_id: int | None) -> UserModel | None:
    """The user's model, or None when their feedback has taught nothing yet."""
    cache: dict[int | None, UserModel | None] = s.info.setdefault(_CACHE, {})
    if user_id not in cache:
        row = _row(s, user_id)
        model = None
        if row is not None and row.events > 0:
            from beacon.triage.learning.model import UserModel

            model = UserModel.from_state(row.state)
        cache[user_id] = model
    return cache[user_id]


def save_model(s: Session, user_id: int | None, model: UserModel) -> None:
    if model.events == 0:  # every example was taken back: exactly the empty model, not SGD's near-zero
        reset(s, user_id)
        return
    row = _row(s, user_id)
    now = datetime.now(timezone.utc)
    if row is None:
        row = LearningModelRow(user_id=user_id, created_at=now)
        s.add(row)
    row.state, row.events, row.updated_at = model.state(), model.events, now
    s.flush()
    s.info.setdefault(_CACHE, {})[user_id] = model


def _latest_analyses(s: Session, email_ids: Iterable[int]) -> dict[int, AnalysisRow]:
    out: dict[int, AnalysisRow] = {}
    rows = s.scalars(select(AnalysisRow).where(AnalysisRow.email_id.in_(list(email_ids))).order_by(AnalysisRow.id))
    for a in rows:
        out[a.email_id] = a  # the newest analysis of each email wins
    return out


def _features(row: EmailRow, analysis: Analysis, factors: Sequence[Factor]) -> dict[str, float]:
    return features(MailFacts.of_row(row.from_addr, row.thread_id, row.data or {}), analysis, factors)


def observe(s: Session, records: Sequence[ActionLike], settings: Settings | None = None) -> int:
    """Learn from actions just applied (or undone): the after-actions hook. Returns how many
    examples the models learned (or took back). An email not analysed yet teaches nothing (no
    features).

    Any action on an email that taught "ignored" (opened, marked, archived, answered, even in
    another client, or an undo) says she did not ignore it after all: that lesson is taken back
    first, once; undoing the action later does not make it ignored again (she has seen it)."""
    cfg = _config(settings)
    read_soon = timedelta(minutes=cfg.learning_read_soon_minutes)
    by_user: dict[int | None, list[ActionLike]] = {}
    for r in records:
        by_user.setdefault(r.user_id, []).append(r)
    learned = 0
    for user_id, recs in by_user.items():
        ids = {r.email_id for r in recs}
        emails = {e.id: e for e in s.scalars(select(EmailRow).where(EmailRow.id.in_(ids)))}
        analyses = _latest_analyses(s, ids)
        feats: dict[int, dict[str, float]] = {}
        scores: dict[int, int] = {}
        pending: list[tuple[ActionLike, Example | None]] = []
        for rec in recs:
            row, arow = emails.get(rec.email_id), analyses.get(rec.email_id)
            if row is None or arow is None:
                continue
            arrived = max(row.date, row.imported_at) if row.imported_at else row.date
            if rec.email_id not in feats:
                scored = ScoredAnalysis.model_validate(arow.data)
                feats[rec.email_id] = _features(row, scored.analysis, scored.priority.factors)
                scores[rec.email_id] = unlearned_score(scored.priority, scored.analysis.kind, cfg)
            pending.append((rec, example_for(rec, arrived, read_soon)))
        if not pending:
            continue
        # What she did to mail is compared with her other open mail; mail she left alone is not
        # (an "ignored" lesson is small, and the periodic pass gives hundreds at once).
        compared = versus_for(s, user_id, {rec.email_id: (feats[rec.email_id], scores[rec.email_id])
                                           for rec, ex in pending
                                           if ex is not None and ex.signal is not Signal.ignored}, cfg)
        lock_model(s, user_id)
        model = load_model(s, user_id)
        pairs = []
        for rec, ex in pending:
            if model is not None and str(rec.action) != Signal.ignored.value and rec.email_id in model.ignored:
                model.ignored.discard(rec.email_id)
                positive, weight = SIGNALS[Signal.ignored]
                pairs.append((feats[rec.email_id], Example(Signal.ignored, not positive, weight, unlearn=True)))
            if ex is not None:
                pairs.append((feats[rec.email_id], ex, compared.get(rec.email_id, [])))
        if not pairs:
            continue
        if model is None:
            from beacon.triage.learning.model import UserModel

            model = UserModel()
        model.learn_many(pairs)
        model.mark_ignored([rec.email_id for rec, ex in pending
                            if ex is not None and ex.signal is Signal.ignored and not ex.unlearn])
        save_model(s, user_id, model)
        learned += len(pairs)
    return learned


def learned_factor(s: Session, user_id: int | None, email_row: EmailRow, analysis: Analysis, *,
                   factors: Sequence[Factor] | None = None, settings: Settings | None = None) -> Factor | None:
    """What the user's model adds to this email's score, as a factor with its reason; None
    when learning is off or has nothing to say. ``factors``: the email's explainable priority
    factors (the stored ones when not given)."""
    if factors is None:
        arow = _latest_analyses(s, [email_row.id]).get(email_row.id)
        factors = ScoredAnalysis.model_validate(arow.data).priority.factors if arow else []
    facts = MailFacts.of_row(email_row.from_addr, email_row.thread_id, email_row.data or {})
    return factor_for_facts(s, user_id, facts, analysis, factors, settings)


def factor_for_facts(s: Session, user_id: int | None, facts: MailFacts, analysis: Analysis,
                     factors: Sequence[Factor], settings: Settings | None = None) -> Factor | None:
    """:func:`learned_factor` from the few facts of the email the features need."""
    cfg = _config(settings)
    if not cfg.learning_enabled:
        return None
    model = load_model(s, user_id)
    if model is None:
        return None
    feats = features(facts, analysis, [f for f in factors if f.name != FACTOR_NAME])
    return learned_factor_for(model, feats, points_per_logit=cfg.learning_points_per_logit,
                              max_points=cfg.learning_max_points)


class LearnedFeature(BaseModel):
    feature: str = Field(description="what the model keys on: list:…, sender:…, domain:…, thread:…, kind:…, due:yes")
    about: str = Field(description="the feature in words, as the reasons say it")
    weight: float = Field(description="its learned weight (log-odds): > 0 raises such mail, < 0 lowers it")
    important: int = Field(description="feedback on such mail that said it mattered")
    not_important: int = Field(description="feedback on such mail that said it did not")
    signals: dict[str, int] = Field(description="that feedback by kind (important, replied, done_unread…)")


class LearningView(BaseModel):
    events: int = Field(description="feedback events the model learned from")
    updated_at: datetime | None
    features: list[LearnedFeature]


def summary(s: Session, user_id: int | None, limit: int = 50) -> LearningView:
    """What the user's model learned: the features it weighs most, with the feedback behind them."""
    row = _row(s, user_id)
    model = load_model(s, user_id)
    if row is None or model is None:
        return LearningView(events=0, updated_at=None, features=[])
    weights = model.weights()
    items = []
    for name, counts in model.stats.items():
        pos = sum(n for sig, n in counts.items() if SIGNALS[Signal(sig)][0])
        items.append(LearnedFeature(feature=name, about=describe(name), weight=round(weights.get(name, 0.0), 4),
                                    important=pos, not_important=sum(counts.values()) - pos,
                                    signals={k: v for k, v in counts.items() if v}))
    items.sort(key=lambda f: (-abs(f.weight), f.feature))
    return LearningView(events=row.events, updated_at=row.updated_at, features=items[:limit])


def reset(s: Session, user_id: int | None) -> int:
    """Forget everything the user's feedback taught; returns how many events were forgotten."""
    row = _row(s, user_id)
    events = row.events if row is not None else 0
    owner = LearningModelRow.user_id.is_(None) if user_id is None else LearningModelRow.user_id == user_id
    s.execute(delete(LearningModelRow).where(owner))
    s.info.setdefault(_CACHE, {})[user_id] = None
    return events
