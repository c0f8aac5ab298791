"""The search language's tree (:mod:`beacon.query`) as SQL conditions, for SQLite or PostgreSQL.

Text terms go to the full-text index (:mod:`beacon.store.search_index`); a run of text terms
under one AND (or one OR) is merged into a single index query. Every other term is a plain
condition on ``emails`` / ``analyses``, which the inbox query joins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import ColumnElement, and_, column, func, literal, literal_column, not_, or_, select, table, true

from beacon.query.model import (
    Age, And, DateBound, Due, Equals, Has, InAccount, Node, Not, Or, State, Text, TextField,
)
from beacon.store.schema import Account, AnalysisRow, EmailRow
from beacon.store.search_gin import FIELD_TAGS
from beacon.store.search_index import SQLITE_COLUMNS
from beacon.store.state_sets import state_condition
from beacon.store.tenancy import EVERYONE, UserScope, account_ids

__all__ = ["Clock", "Compiled", "compile_query", "words"]

_WORD = re.compile(r"[^\W_]+")
# Index columns per field operator (beacon.store.search_index.FIELDS).
_COLUMN = {
    TextField.SUBJECT: "subject", TextField.FROM: "sender", TextField.TO: "to_addrs",
    TextField.CC: "cc_addrs", TextField.LIST: "list_id", TextField.FILENAME: "files",
}
# bm25 weights per FTS5 column (1.0 where not named): a word in the subject says more about
# what the mail is than the same word deep in the text.
_WEIGHTS = {"subject": 8.0, "sender": 4.0, "files": 2.0}
_BM25 = f"bm25(email_search, {', '.join(str(_WEIGHTS.get(c, 1.0)) for c in SQLITE_COLUMNS)})"

fts = table("email_search", column("rowid"))
# PostgreSQL: the view of the computed vectors (beacon.store.search_gin).
pg_search = table("email_search", column("email_id"), column("doc"))


def words(text: str) -> list[str]:
    """The words the index holds for ``text`` (letters and digits; punctuation separates)."""
    return _WORD.findall(text)


@dataclass(frozen=True)
class Clock:
    """What relative dates are relative to: ``now`` and the zone whose days ``before:`` means."""

    now: datetime
    zone: ZoneInfo

    @classmethod
    def at(cls, now: datetime | None = None, zone: str = "UTC") -> Clock:
        return cls(now or datetime.now(timezone.utc), ZoneInfo(zone))

    def day_start(self, day: date) -> datetime:
        return datetime.combine(day, time(), self.zone).astimezone(timezone.utc)

    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def ago(self, age: Age) -> datetime:
        delta = {"d": relativedelta(days=age.amount), "w": relativedelta(weeks=age.amount),
                 "m": relativedelta(months=age.amount), "y": relativedelta(years=age.amount)}[age.unit]
        return self.now - delta


@dataclass(frozen=True)
class Compiled:
    """A query as SQL: ``where`` selects the mail; ``main`` (when the query's top level has
    positive text terms) is the index match that relevance is ranked on, and ``rest`` the
    conditions besides it; ``rank`` is the relevance expression (higher is better; None:
    PostgreSQL ranks in Python, see :mod:`beacon.query.relevance`).
    ``check``: what ``main`` alone does not decide, as a condition on the email's row (PostgreSQL:
    its phrases, whose positions the index does not keep; ``main`` then finds their words), to
    be tested on the few rows a page needs; ``where`` includes it."""

    where: ColumnElement[bool]
    main: ColumnElement[bool] | None
    rest: ColumnElement[bool]
    rank: ColumnElement[Any] | None
    ranked_from: Any  # the index table the ranked query starts from (None: no ranking)
    check: ColumnElement[bool] | None = None


def compile_query(node: Node, *, sqlite: bool, clock: Clock, scope: UserScope = EVERYONE) -> Compiled:
    """``scope``: whose accounts ``account:`` names (the inbox query adds the owner itself)."""
    c: _Compiler = _Sqlite(clock, scope) if sqlite else _Postgres(clock, scope)
    items = node.items if isinstance(node, And) else (node,)
    texts = [i for i in items if _text_only(i)]
    others = [i for i in items if not _text_only(i)]
    text_node = (And(tuple(texts)) if len(texts) > 1 else texts[0]) if texts else None
    main = c.text_match(text_node) if text_node is not None else None
    if main is None:
        where = c.condition(node)
        return Compiled(where, None, where, None, None)
    check = c.check(text_node)  # type: ignore[arg-type]
    rest = and_(true(), *(c.condition(i) for i in others))
    where = and_(c.wrap(main), rest, *([] if check is None else [check]))
    return Compiled(where, main, rest, c.rank(texts), c.ranked_table, check)


def _text_only(node: Node) -> bool:
    if isinstance(node, Text):
        return True
    if isinstance(node, Not):
        return _text_only(node.item)
    if isinstance(node, (And, Or)):
        return all(_text_only(i) for i in node.items)
    return False


class _Compiler:
    ranked_table: Any = None

    def __init__(self, clock: Clock, scope: UserScope = EVERYONE) -> None:
        self.clock = clock
        self.scope = scope

    # -- text: per backend
    def text_match(self, node: Node) -> ColumnElement[bool] | None:
        """One index condition for a text-only subtree, or None if the index cannot answer it
        alone (a purely negative term: ``-word``)."""
        raise NotImplementedError

    def wrap(self, match: ColumnElement[bool]) -> ColumnElement[bool]:
        """``match`` as a condition on the inbox query's ``emails`` row."""
        raise NotImplementedError

    def check(self, node: Node) -> ColumnElement[bool] | None:
        """What :meth:`text_match` of ``node`` leaves undecided, on the email's row (None: nothing)."""
        return None

    def _matched(self, node: Node) -> ColumnElement[bool] | None:
        match = self.text_match(node)
        if match is None:
            return None
        check = self.check(node)
        return self.wrap(match) if check is None else and_(self.wrap(match), check)

    def rank(self, texts: list[Node]) -> ColumnElement[Any] | None:
        raise NotImplementedError

    # -- the whole tree
    def condition(self, node: Node) -> ColumnElement[bool]:
        if _text_only(node):
            matched = self._matched(node)
            if matched is not None:
                return matched
        if isinstance(node, Not):
            return not_(self.condition(node.item))
        if isinstance(node, And):
            texts = [i for i in node.items if _text_only(i)]
            merged = self._matched(And(tuple(texts))) if len(texts) > 1 else None
            if merged is not None:
                rest = [self.condition(i) for i in node.items if not _text_only(i)]
                return and_(merged, *rest)
            return and_(*(self.condition(i) for i in node.items))
        if isinstance(node, Or):
            return or_(*(self.condition(i) for i in node.items))
        return self.filter(node)

    def filter(self, node: Node) -> ColumnElement[bool]:
        clock = self.clock
        if isinstance(node, Equals):
            if node.column == "category":
                return func.lower(AnalysisRow.category) == node.value.lower()
            return getattr(AnalysisRow, node.column) == node.value
        if isinstance(node, State):
            if node.name in _STATES:
                return _STATES[node.name]()
            return state_condition(node.name, clock.now)
        if isinstance(node, Has):  # the analysis' copy: a range of ix_analyses_attach_priority
            return AnalysisRow.has_attachments.is_(True)
        if isinstance(node, DateBound):
            bound = clock.day_start(node.day) if node.day else clock.ago(node.age)  # type: ignore[arg-type]
            return AnalysisRow.email_date < bound if node.side == "before" else AnalysisRow.email_date >= bound
        if isinstance(node, Due):
            start = clock.day_start(clock.today())
            if node.when == "overdue":
                return AnalysisRow.due_at < clock.now
            end = start + timedelta(days=1 if node.when == "today" else 7)
            return and_(AnalysisRow.due_at >= start, AnalysisRow.due_at < end)
        if isinstance(node, InAccount):
            # Names are unique per user: only the scope's own account of that name.
            return EmailRow.account_id.in_(account_ids(self.scope).where(Account.name == node.name))
        raise TypeError(f"not a query node: {node!r}")


# States of the analysis and the server's flags; the reader's own come from email_states.
_STATES = {
    "needs-reply": lambda: AnalysisRow.needs_reply.is_(True),
    "flagged": lambda: EmailRow.flagged.is_(True),
    "answered": lambda: EmailRow.answered.is_(True),
}


class _Sqlite(_Compiler):
    """FTS5: a text subtree becomes one MATCH expression string."""

    ranked_table = fts

    def _expr(self, node: Node) -> str | None:
        if isinstance(node, Text):
            toks = words(node.text)
            phrase = '"' + " ".join(toks) + '"' + ("*" if node.prefix else "")
            return f"{{{_COLUMN[node.field]}}} : {phrase}" if node.field else phrase
        if isinstance(node, And):
            pos = [self._expr(i) for i in node.items if not isinstance(i, Not)]
            neg = [self._expr(i.item) for i in node.items if isinstance(i, Not)]
            if not pos or None in pos or None in neg:
                return None  # FTS5's NOT needs something on its left
            return "(" + " AND ".join(f"({p})" for p in pos) + ")" + "".join(f" NOT ({n})" for n in neg)
        if isinstance(node, Or):
            parts = [self._expr(i) for i in node.items]
            return None if None in parts else "(" + " OR ".join(f"({p})" for p in parts) + ")"
        return None

    def text_match(self, node: Node) -> ColumnElement[bool] | None:
        expr = self._expr(node)
        if expr is None:
            return None
        return literal_column("email_search").op("MATCH")(expr)

    def wrap(self, match: ColumnElement[bool]) -> ColumnElement[bool]:
        return AnalysisRow.email_id.in_(select(fts.c.rowid).where(match))

    def rank(self, texts: list[Node]) -> ColumnElement[Any]:
        return -literal_column(_BM25)  # bm25: lower is better


class _Postgres(_Compiler):
    """One tsquery per text subtree, over the one computed vector (field words tagged, see
    :mod:`beacon.store.search_gin`). GIN has no positions: the index condition looks for a
    phrase's words (``relaxed``), and :meth:`check` tests the phrase on the email's row."""

    ranked_table = pg_search

    @staticmethod
    def _tsq(node: Text, relaxed: bool) -> str:
        toks = [f"'{t}'" for t in words(node.text)]
        if node.prefix:
            toks[-1] += ":*"
        return (" & " if relaxed else " <-> ").join(toks)

    @staticmethod
    def _query(node: Node, relaxed: bool) -> ColumnElement[Any]:
        """``node`` as a tsquery; ``relaxed``: a phrase as its words, except under a negation
        (where its words would exclude more than the phrase)."""
        if isinstance(node, Text):
            q = _Postgres._tsq(node, relaxed)
            if node.field is None:
                return func.to_tsquery(literal_column("'beacon_search'::regconfig"), q)
            return func.beacon_search_query(literal(FIELD_TAGS[_COLUMN[node.field]]), q)
        if isinstance(node, Not):
            return func.tsquery_not(_Postgres._query(node.item, False))
        parts = [_Postgres._query(i, relaxed) for i in node.items]  # type: ignore[union-attr]
        combine = func.tsquery_and if isinstance(node, And) else func.tsquery_or
        q = parts[0]
        for part in parts[1:]:
            q = combine(q, part)
        return q

    @staticmethod
    def _has_phrase(node: Node) -> bool:
        if isinstance(node, Text):
            return len(words(node.text)) > 1
        if isinstance(node, Not):
            return False  # kept exact (see _query)
        return any(_Postgres._has_phrase(i) for i in node.items)  # type: ignore[union-attr]

    def text_match(self, node: Node) -> ColumnElement[bool] | None:
        if isinstance(node, Not):
            return None  # "everything but": NOT IN the matches, not a scan of the index
        return pg_search.c.doc.op("@@")(self._query(node, True))

    def check(self, node: Node) -> ColumnElement[bool] | None:
        if not self._has_phrase(node):
            return None
        doc = func.beacon_search_doc(EmailRow.subject, EmailRow.from_name + " " + EmailRow.from_addr, EmailRow.data)
        return doc.op("@@")(self._query(node, False))

    def wrap(self, match: ColumnElement[bool]) -> ColumnElement[bool]:
        return AnalysisRow.email_id.in_(select(pg_search.c.email_id).where(match))

    def rank(self, texts: list[Node]) -> None:
        return None  # ranked in Python on the candidates' subject and sender (beacon.query.relevance)
