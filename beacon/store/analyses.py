"""Saving and reading analyses, and the store context that priority scoring needs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.orm import Session

from beacon.analysis import priority as prio
from beacon.analysis.models import Analysis, Priority, ScoredAnalysis
from beacon.analysis.version import pipeline_version
from beacon.errors import NotFound
from beacon.models import Email
from beacon.settings import Settings
from beacon.store.context import sent_to
from beacon.store.emails import load_email
from beacon.store.app_settings import personal_settings
from beacon.store.schema import Account, AnalysisRow, EmailRow, EmailStateRow, utcnow
from beacon.store.state_sets import is_away, is_read
from beacon.triage.learning import learned_factor, with_learned
from beacon.triage.threads import elect_head


def account_settings(s: Session, account_id: int, settings: Settings) -> Settings:
    """``settings`` with the account owner's personal settings (addresses, VIPs, thresholds)
    and the account's own addresses: what its mail is scored with."""
    acc = s.get(Account, account_id)
    settings = personal_settings(s, settings, acc.user_id if acc else None)
    extra = [a.lower() for a in (acc.addresses if acc else []) or []]
    if not extra:
        return settings
    merged = sorted(set(settings.own_addresses) | set(extra))
    return settings.model_copy(update={"own_addresses": merged})


def priority_context(s: Session, row: EmailRow, email: Email, settings: Settings,
                     state: EmailStateRow | None = None, now: datetime | None = None) -> prio.PriorityContext:
    """What the store knows about ``row``: the reader's correspondence with its sender, whether
    the reader wrote in its thread before it (a reply in their thread) or after it (answered:
    also when its state says replied, or the server flagged it \\Answered), and a snooze that
    woke at ``now``."""
    own = [a.lower() for a in settings.own_addresses]
    sender = row.from_addr
    known = {"account": row.account_id, "id": row.id, "sender": sender, "thread": row.thread_id, "own": own,
             "date": row.date}
    from_sender = 0
    to_sender = 0
    if sender:
        from_sender = s.scalar(_FROM_SENDER, known) or 0
        to_sender = sent_to(s, row.account_id, own, sender)

    def reader_wrote(statement: Any) -> bool:
        return bool(own) and bool(s.scalar(statement, known))

    replied = bool(row.answered) or (state is not None and state.replied_at is not None)
    woke = None
    if state is not None and state.snoozed_until is not None and now is not None and state.snoozed_until <= now:
        woke = state.snoozed_until
    return prio.PriorityContext(
        messages_from_sender=from_sender, messages_to_sender=to_sender,
        reader_in_thread=reader_wrote(_WROTE_BEFORE),
        replied=replied or reader_wrote(_WROTE_AFTER),
        woke_at=woke,
    )


# Built once (the engine scores every analysed email with them; building cost as much as
# running them): the sender's other mail in the account, and the reader's own messages in the
# email's thread up to its date or after it.
_FROM_SENDER = select(func.count(EmailRow.id)).where(
    EmailRow.account_id == bindparam("account"), EmailRow.from_addr == bindparam("sender"),
    EmailRow.id != bindparam("id"))


def _reader_wrote(when: Any) -> Any:
    return select(exists().where(
        EmailRow.account_id == bindparam("account"), EmailRow.thread_id == bindparam("thread"),
        EmailRow.from_addr.in_(bindparam("own", expanding=True)), EmailRow.id != bindparam("id"),
        EmailRow.deleted.is_(False), when))


_WROTE_BEFORE = _reader_wrote(EmailRow.date <= bindparam("date"))
_WROTE_AFTER = _reader_wrote(EmailRow.date > bindparam("date"))


def score_row(s: Session, row: EmailRow, analysis: Analysis, settings: Settings, now: datetime | None = None,
              state: EmailStateRow | None = None) -> ScoredAnalysis:
    """``row``'s priority at ``now`` (None: the current time) with ``settings``, its account's
    (``account_settings``: callers resolve them once per account, not once per row), and its
    ``state`` as the caller read it with the row (None: it has none; every caller reads states
    in bulk, and reading a missing one again cost a query per email)."""
    now = now or utcnow()
    email = load_email(row)
    ctx = priority_context(s, row, email, settings, state, now)
    return ScoredAnalysis(
        analysis=analysis,
        priority=_learned(s, row, analysis, prio.score(email, analysis, ctx, settings, now), settings),
        needs_reply=prio.needs_reply(email, analysis, settings, ctx),
    )


def _learned(s: Session, row: EmailRow, analysis: Analysis, priority: Priority, settings: Settings) -> Priority:
    """``priority`` with the owner's learned taste added, a factor of its own (beacon.triage.learning)."""
    owner = s.get(Account, row.account_id)
    learned = learned_factor(s, owner.user_id if owner else None, row, analysis, factors=priority.factors,
                             settings=settings)
    return priority if learned is None else with_learned(priority, learned, settings, spam=analysis.kind == "spam")


def save_analysis(s: Session, email_id: int, analysis: Analysis, settings: Settings,
                  now: datetime | None = None) -> AnalysisRow:
    """Score (at ``now``; None: the current time) and upsert the analysis of one email at its
    pipeline version (idempotent)."""
    return save_analyses(s, [(email_id, analysis)], settings, now)[0]


def save_analyses(s: Session, analyses: Sequence[tuple[int, Analysis]], settings: Settings,
                  now: datetime | None = None, accounts: AccountSettings | None = None) -> list[AnalysisRow]:
    """:func:`save_analysis` for several emails (a batch of the job runner), with the same
    result as saving them one by one: scoring reads nothing that saving writes (the sender's
    history, states, settings, the learned model), and each thread's head is elected once,
    after every analysis of the batch is in. The rows, states and existing analyses are read in
    one statement each, all scores are computed before the first write (SQLite's write lock
    is held for the writes only), and the inserts go in one flush. ``accounts``: each
    account's settings when the caller has them already."""
    if not analyses:  # every lease of a batch taken over, or none of its analyses valid
        return []
    now = now or utcnow()
    accounts = accounts or AccountSettings(settings)
    ids = [email_id for email_id, _ in analyses]
    rows = {r.id: r for r in s.scalars(select(EmailRow).where(EmailRow.id.in_(ids)))}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise NotFound(f"no email {missing[0]}")
    states = {st.email_id: st for st in s.scalars(select(EmailStateRow).where(EmailStateRow.email_id.in_(ids)))}
    existing = {(a.email_id, a.pipeline_version): a for a in s.scalars(select(AnalysisRow).where(
        AnalysisRow.email_id.in_(ids), AnalysisRow.pipeline_version.in_({a.pipeline_version for _, a in analyses})))}
    saved: list[AnalysisRow] = []
    with s.no_autoflush:
        for email_id, analysis in analyses:
            row, state = rows[email_id], states.get(email_id)
            mine = accounts.of(s, row.account_id)
            key = (email_id, analysis.pipeline_version)
            target = existing.get(key) or AnalysisRow(email_id=email_id, pipeline_version=analysis.pipeline_version)
            _score_into(s, target, row, analysis, mine, now, state)
            target.email_date = row.date
            target.user_id = row.account.user_id
            target.away = is_away(state)
            target.is_read = is_read(state)
            target.has_attachments = bool(row.has_attachments)
            row.analysed_version = analysis.pipeline_version
            if key not in existing:
                s.add(target)
                existing[key] = target  # the same email twice in one call: its last analysis wins
            saved.append(target)
    s.flush()
    # Each may be its conversation's most important message now.
    threads = dict.fromkeys((rows[i].account_id, rows[i].thread_id, a.pipeline_version) for i, a in analyses)
    for account_id, thread_id, version in threads:
        elect_head(s, account_id, thread_id, version, now, accounts.of(s, account_id).own_addresses)
    return saved


class AccountSettings:
    """Each account's settings (``account_settings``), read once per pass however many of its
    threads or emails the pass scores."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._read: dict[int, Settings] = {}

    def of(self, s: Session, account_id: int) -> Settings:
        if account_id not in self._read:
            self._read[account_id] = account_settings(s, account_id, self.settings)
        return self._read[account_id]


def _fill(target: AnalysisRow, scored: ScoredAnalysis) -> None:
    target.score = scored.priority.score
    target.level = scored.priority.level
    target.kind = scored.analysis.kind
    target.category = scored.analysis.category
    target.needs_reply = scored.needs_reply
    target.data = scored.model_dump(mode="json")
    dues = [x.due for x in scored.analysis.action_items if x.due]
    target.due_at = min(dues) if dues else None


def rescore_time(scored: ScoredAnalysis, row: EmailRow, now: datetime, settings: Settings,
                 state: EmailStateRow | None = None) -> datetime | None:
    """When time alone next changes this score: a deadline crossing a day, a snooze waking,
    or a woken snooze's lift ending."""
    times = [prio.next_change(scored.analysis, row.date, now, settings)]
    if state is not None and state.snoozed_until is not None and state.done_at is None:
        wake = state.snoozed_until
        times.append(wake if wake > now else wake + prio.SNOOZE_LIFT if wake + prio.SNOOZE_LIFT > now else None)
    found = [t for t in times if t is not None]
    return min(found) if found else None


def load_scored(row: AnalysisRow) -> ScoredAnalysis:
    return ScoredAnalysis.model_validate(row.data)


def current_analysis(s: Session, email_id: int, settings: Settings) -> AnalysisRow | None:
    return s.scalar(_CURRENT, {"id": email_id, "version": pipeline_version(settings)})


# Built once (building it cost more than running it).
_CURRENT = select(AnalysisRow).where(AnalysisRow.email_id == bindparam("id"),
                                     AnalysisRow.pipeline_version == bindparam("version"))


def rescore_row(s: Session, arow: AnalysisRow, erow: EmailRow, settings: Settings, now: datetime,
                state: EmailStateRow | None) -> bool:
    """Recompute one stored analysis's score at ``now`` with its account's ``settings``
    (``account_settings``); whether its score, level or needs-reply changed."""
    before = (arow.score, arow.level, arow.needs_reply)
    _score_into(s, arow, erow, load_scored(arow).analysis, settings, now, state)
    return before != (arow.score, arow.level, arow.needs_reply)


def _score_into(s: Session, target: AnalysisRow, row: EmailRow, analysis: Analysis, settings: Settings,
                now: datetime, state: EmailStateRow | None) -> None:
    """``analysis`` of ``row`` scored at ``now`` into ``target``, with when to score it again."""
    scored = score_row(s, row, analysis, settings, now, state)
    _fill(target, scored)
    target.rescore_at = rescore_time(scored, row, now, settings, state)
