"""The prioritised inbox and search query, shared by the CLI, the web UI and the API.

Every order is an index walk that stops after a page (``analyses`` carries the sort keys; see
``beacon.store.schema``); pages after the first are keyset pages ("older than this row"), so
page 1,000 costs what page 1 costs. Counts stop at :data:`COUNT_CAP` ("10,000+").
Searching with words ranks by relevance the newest :data:`RANK_WINDOW` matches; the other
orders page through every match.

Every query here sees only the mail of the filter's ``scope`` (a user's, or everyone's for the
system's own work): :func:`_owned` is the one owner condition, part of every filter's base
conditions and of the counts, categories and pending counts beside them.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    ARRAY, Column, Integer, Select, and_, any_, bindparam, false, true, column, func, literal, literal_column, select, table, text,
    tuple_, union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Join
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.sql.visitors import iterate
from sqlalchemy.orm import Session, defer

from beacon.errors import InvalidInput, SearchIndexEmpty
from beacon.query import And, Node, Not, Text, parse
from beacon.query.model import DateBound, Due, Equals, Has, InAccount, Or, State, positive_texts
from beacon.query.relevance import head_rank
from beacon.store import search_index, statistics
from beacon.store.list_rows import ListRow, load_list_rows
from beacon.store.query_sql import Clock, compile_query, fts
from beacon.store.schema import OWN_CHECK_INDEX, AnalysisRow, EmailRow, User, UTCDateTime
from beacon.store.state_sets import account_addresses, kept, not_away, not_own, woken
from beacon.store.tenancy import EVERYONE, UserScope, account_ids, is_everyone

__all__ = [
    "COUNT_CAP", "EXACT_SIZE", "RANK_WINDOW", "SCAN_ROWS", "SLICE_SORT", "SORTS", "Count", "InboxFilter", "InboxPage", "categories", "inbox",
    "inbox_count", "inbox_page", "pending_count", "require_index",
]

SORTS = ("priority", "date", "oldest", "relevance")
COUNT_CAP = 1_000
RANK_WINDOW = 1_000
SCAN_ROWS = 5_000
# A recent slice (after:, newer_than:) of at most this many emails is sorted; a larger one
# is read in the priority order (see inbox_page).
SLICE_SORT = 1_000
# Session.info key: the ranked page found more than RANK_WINDOW matches of this filter.
_MORE_MATCHES = "beacon.inbox.more_matches"
# Session.info key: how many candidates of this filter's phrase the ranked page checked.
_CHECKED = "beacon.inbox.phrase_checked"

_ORDERS = {
    "priority": (AnalysisRow.score, AnalysisRow.email_date, AnalysisRow.email_id),
    "date": (AnalysisRow.email_date, AnalysisRow.email_id),
    "oldest": (AnalysisRow.email_date, AnalysisRow.email_id),
}


@dataclass(frozen=True)
class InboxFilter:
    """What to list: the query (``search``, in the search language) and the form's filters.

    Every inbox query is built from this one object (``_conditions``), so a new restriction
    (such as the mail's owner) is added in one place.
    """

    pipeline_version: str
    level: str | None = None
    kind: str | None = None
    category: str | None = None
    needs_reply: bool | None = None
    account: str | None = None
    search: str | None = None
    sort: str | None = None  # None: relevance when the search has words, else priority
    include_hidden: bool = False  # also what the inbox leaves out (deleted, done, snoozed, own mail)
    own_addresses: tuple[str, ...] = ()  # the reader's (besides their accounts'): their own mail is no inbox item
    timezone: str = "UTC"  # whose days before:, after: and due:today mean
    now: datetime | None = None
    scope: UserScope = EVERYONE  # whose mail: the logged-in user's in the web, --user's in the CLI
    threads: bool = False  # conversations: one row per thread, its head (beacon.triage.threads)
    query: Node | None = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        if self.sort is not None and self.sort not in SORTS:
            raise InvalidInput(f"unknown sort {self.sort!r}; use one of {', '.join(SORTS)}")
        object.__setattr__(self, "query", parse(self.search or ""))

    def terms(self) -> list[Text]:
        """The text terms to highlight."""
        return positive_texts(self.query) if self.query is not None else []

    def form_node(self) -> Node | None:
        """The form's filters as query terms (so both compile the same way)."""
        items: list[Node] = []
        if self.level:
            items.append(Equals("level", self.level.upper()))
        if self.kind:
            items.append(Equals("kind", self.kind.lower()))
        if self.category:
            items.append(Equals("category", self.category))
        if self.needs_reply is not None:
            node: Node = State("needs-reply")
            items.append(node if self.needs_reply else Not(node))
        if self.account:
            items.append(InAccount(self.account))
        if self.query is not None:
            items.extend(self.query.items if isinstance(self.query, And) else (self.query,))
        if not items:
            return None
        return items[0] if len(items) == 1 else And(tuple(items))

    def leaves_out_own(self) -> bool:
        """The inbox leaves out the reader's own mail, unless words are searched (a search finds
        all mail, as mail clients' searches do)."""
        return not self.include_hidden and not self.terms()

    def inbox_view(self) -> bool:
        """Whether this lists the inbox, which also leaves out done and snoozed mail: not when
        the query names done or snoozed mail itself."""
        return self.leaves_out_own() and not any(
            isinstance(n, State) and n.name in ("done", "snoozed") for n in _nodes(self.query))

    def away_only(self) -> bool:
        """Whether the query asks for done or snoozed mail (a top-level ``is:done`` or
        ``is:snoozed``): only the away range of the inbox indexes holds it."""
        items = self.query.items if isinstance(self.query, And) else (self.query,)
        return any(isinstance(n, State) and n.name in ("done", "snoozed") for n in items)

    @property
    def effective_sort(self) -> str:
        if self.sort and self.sort != "relevance":
            return self.sort
        return "relevance" if self.terms() else "priority"


@dataclass(frozen=True)
class Count:
    """How many emails match: exact, at least ``n`` (counting stopped at the cap), or about
    ``n`` (estimated from the first :data:`SCAN_ROWS` emails of the inbox)."""

    n: int
    exact: bool
    estimated: bool = False

    def __str__(self) -> str:
        if self.estimated:
            return f"about {self.n:,}"
        return f"{self.n:,}" if self.exact else f"{self.n:,}+"

    def __bool__(self) -> bool:
        return self.n > 0


@dataclass(frozen=True)
class InboxPage:
    rows: list[tuple[EmailRow, AnalysisRow]] | list[ListRow]  # ListRow: a light page (see inbox_page)
    next_cursor: str | None


def _nodes(node: Node | None) -> list[Node]:
    if node is None:
        return []
    if isinstance(node, (And, Or)):
        return [n for item in node.items for n in _nodes(item)]
    if isinstance(node, Not):
        return _nodes(node.item)
    return [node]


def _owned(s: Session, scope: UserScope) -> list[Any]:
    """The owner condition, on the analysis' copy of the owner (the leading key of the inbox
    indexes, so no email row is read to learn whose it is). Everyone's mail is unowned while
    no user exists: the same condition then keeps the walks on those indexes."""
    if not is_everyone(scope):
        return [AnalysisRow.user_id == scope]
    return [AnalysisRow.user_id.is_(None)] if s.scalar(select(User.id).limit(1)) is None else []


def require_index(s: Session, f: InboxFilter) -> None:
    """Raise :class:`SearchIndexEmpty` when ``f`` searches words and the full-text index is
    waiting for ``beacon reindex`` (an upgrade of a large store left it empty): an answer that
    says so, not an empty page. Read once per ``one_read``."""
    if any(isinstance(n, Text) for n in _nodes(f.query)) and kept(
            s, ("inbox.needs_reindex",), lambda: search_index.needs_reindex(s.connection())):
        raise SearchIndexEmpty("words cannot be searched yet: the upgrade left the search index empty (a large "
                               "mailbox is not reindexed while the server starts). Run `beacon reindex`; "
                               "searches without words work meanwhile.")


def _compiled(s: Session, f: InboxFilter, *, woken_only: list[int] | None = None,
              sample: bool = False, own_checked: bool = True) -> tuple[Any, Any]:
    """(where, compiled query or None): every condition of the filter, the owner's first.
    Built once per ``one_read`` (a page and its count share it: building the expressions cost
    0.5-1.2 ms a time).
    ``woken_only``: those of these ids (mail whose snooze ended) that the inbox lists instead
    (see :func:`_woken_rows`). ``sample``: the conditions for rows of a sample already taken
    from the reader's range of an index (without the owner's, version's and away flag's).
    ``own_checked=False``: without the check that leaves out the reader's own mail."""
    key = ("inbox.compiled", f, None if woken_only is None else tuple(woken_only), sample, own_checked)
    return kept(s, key, lambda: _build(s, f, woken_only, sample, own_checked))  # type: ignore[no-any-return]


def _build(s: Session, f: InboxFilter, woken_only: list[int] | None, sample: bool,
           own_checked: bool) -> tuple[Any, Any]:
    conds: list[Any] = [] if sample else [*_owned(s, f.scope), AnalysisRow.pipeline_version == f.pipeline_version]
    if not f.include_hidden:
        conds.append(AnalysisRow.email_id.not_in(_HIDDEN))
    if f.leaves_out_own():
        # Checked on each row the walk reads (the email's row, its state's primary key): the
        # cost follows the page, not how much mail is done or the reader's own.
        if own_checked:
            conds.append(not_own((*f.own_addresses, *account_addresses(s, f.scope))))
        if woken_only is not None:
            conds.append(AnalysisRow.email_id.in_(woken_only))
        elif f.inbox_view() and not sample:
            conds.append(not_away())
    if not sample and f.away_only():
        conds.append(AnalysisRow.away == true())
    if f.threads:  # equality on the head flag: the walk of ix_analyses_head_priority
        conds.append(AnalysisRow.thread_head == true())
    node = f.form_node()
    compiled = None
    if node is not None:
        sqlite = s.get_bind().dialect.name == "sqlite"
        compiled = compile_query(node, sqlite=sqlite, clock=Clock.at(f.now, f.timezone), scope=f.scope)
    return and_(*conds), compiled


# Hidden (deleted) emails are few: their ids come from a small partial index, so the inbox's
# index walks need not read each email's row to learn it is not hidden. ("WHERE deleted" is
# written as the index's own condition, so both databases use it.)
_HIDDEN = select(column("id")).select_from(table("emails")).where(literal_column("deleted"))


class _EmailsChecked(Join):
    """``analyses JOIN emails`` for conditions on the email's row; SQLite reads that row
    through ``ix_emails_own_check`` (its planner would take the primary key, and with it the
    row's overflow pages: see migration 0014)."""

    inherit_cache = True


@compiles(_EmailsChecked)
def _emails_checked(element: _EmailsChecked, compiler: Any, **kw: Any) -> str:
    return compiler.visit_join(element, **kw)


@compiles(_EmailsChecked, "sqlite")
def _emails_checked_sqlite(element: _EmailsChecked, compiler: Any, **kw: Any) -> str:
    sql = compiler.visit_join(element, **kw)
    return sql.replace(" JOIN emails ON ", f" JOIN emails INDEXED BY {OWN_CHECK_INDEX} ON ", 1)


def _from(s: Session, *conds: Any) -> Any:
    """``analyses``, joined to ``emails`` only when a condition reads an email's column."""
    emails = EmailRow.__table__
    if any(_reads_email(s, c) for c in conds if c is not None):
        return _EmailsChecked(AnalysisRow.__table__, emails, EmailRow.id == AnalysisRow.email_id)
    return AnalysisRow.__table__


def _reads_email(s: Session, cond: Any) -> bool:
    """Whether ``cond`` reads an email's column: walked once per condition within ``one_read``
    (a page, its count and its woken rows share their conditions; each walk visited every
    literal of the filter, ~1 ms a list page)."""
    def walk() -> tuple[Any, bool]:
        emails = EmailRow.__table__
        return cond, any(isinstance(e, Column) and e.table is emails for e in iterate(cond))

    kept_cond, found = kept(s, ("inbox.reads_email", id(cond)), walk)
    return found if kept_cond is cond else walk()[1]  # (an id reused by another condition)


def _joined() -> Select[Any]:
    return select(EmailRow, AnalysisRow).join(EmailRow, EmailRow.id == AnalysisRow.email_id)


def inbox_page(s: Session, f: InboxFilter, *, limit: int = 50, cursor: str | None = None,
               offset: int = 0, light: bool = False) -> InboxPage:
    """One page, and the cursor of the next one (None on the last page). ``offset`` skips
    rows from the top (page numbers, for small results); a cursor costs nothing however deep.
    ``light``: the rows are :class:`ListRow` (what a list page shows), not ORM rows."""
    require_index(s, f)
    load = _load_light if light else _load
    base, compiled = _compiled(s, f)
    sort = f.effective_sort
    if sort == "relevance" and compiled is not None and compiled.main is not None:
        start = _decode(cursor, "relevance") if cursor else offset
        return _ranked_page(s, f, base, compiled, limit, start, load)
    if sort == "relevance":
        sort = "priority"
    # The order's keys first (an index walk), then the page's rows: sorting never carries
    # whole rows (their JSON) when an index cannot give the order.
    cols = _ORDERS[sort]
    query_where = compiled.where if compiled is not None else None
    where = and_(base, query_where) if compiled is not None else base
    q = select(AnalysisRow.email_id, *cols).select_from(_from(s, base, query_where)).where(where)
    keyset: list[Any] = []
    if cursor:
        key = _decode(cursor, sort)
        after = tuple_(*(literal(v, t) for v, t in zip(key, _key_types(sort))))
        keyset.append(tuple_(*cols) > after if sort == "oldest" else tuple_(*cols) < after)
        q = q.where(*keyset)
    order = cols
    if sort == "priority" and _recent_only(f.query) and _small_slice(s, f, keyset):
        # "after:"/"newer_than:" keep a recent slice. A small one is sorted (unary + hides the
        # priority index): walking the priority order would read most of it to find a page. A
        # large one is walked in that order, the date checked on the index entry, and stops
        # after a page (at 1M emails, sorting 20,000 of them took 440 ms).
        order = (literal_column("+analyses.score"), *cols[1:])
    q = q.order_by(*(c.asc() if sort == "oldest" else c.desc() for c in order)).limit(limit + 1).offset(offset)
    if not f.inbox_view() and not f.away_only():
        q = _both_ranges(q, limit + 1 + offset, sort, offset)
    keys = s.execute(q).all()
    rows = load(s, f, [k[0] for k in keys[:limit]])
    nxt = _encode(sort, list(keys[limit - 1][1:])) if len(keys) > limit else None
    if not cursor and not offset and sort != "oldest" and f.inbox_view():
        rows = _woken_rows(s, f, sort, limit, load) + rows
    return InboxPage(rows, nxt)


def _small_slice(s: Session, f: InboxFilter, keyset: list[Any]) -> bool:
    """Whether the filter's recent slice (after the cursor's row) holds at most SLICE_SORT
    emails, counted without the check for the reader's own mail: on the date index alone, not
    an email row read for each of up to SLICE_SORT + 1 rows (1,240 of the 1,800 page reads of
    an ``after:`` request at 100k emails). A slice counted large may hold a few of the reader's
    own: it is walked, which gives the same page."""
    base, compiled = _compiled(s, f, own_checked=False)
    where = and_(base, compiled.where, *keyset)
    return _count(s, select(AnalysisRow.email_id).select_from(_from(s, where)).where(where)
                  .limit(SLICE_SORT + 1)) <= SLICE_SORT


def _both_ranges(q: Select[Any], n: int, sort: str, offset: int) -> Select[Any]:
    """``q`` (a page's keys in its order) when the inbox's away flag is not a condition: the
    indexes give the order within the open and within the away mail, so each range is walked
    for ``n`` rows and the two merged (not every row of the reader's mail sorted)."""
    parts = [q.limit(n).offset(0).where(AnalysisRow.away == away).subquery() for away in (false(), true())]
    u = union_all(*(select(*p.c) for p in parts)).subquery()
    keys = [u.c[c.key] for c in _ORDERS[sort]]
    return (select(*u.c).order_by(*(k.asc() if sort == "oldest" else k.desc() for k in keys))
            .limit(n - offset).offset(offset))


def _now(f: InboxFilter) -> datetime:
    return f.now or datetime.now(timezone.utc)


def _woken_rows(s: Session, f: InboxFilter, sort: str, limit: int, load: Any) -> list[Any]:
    """Mail whose snooze has ended stands on top of the first page (in the page's order) until
    the reader acts on it; the pages' walk leaves it out, so it is listed once. Few rows, from
    the snooze index."""
    ids = woken(s, _now(f))
    if not ids:
        return []
    base, compiled = _compiled(s, f, woken_only=ids)
    query_where = compiled.where if compiled is not None else None
    where = and_(base, query_where) if compiled is not None else base
    cols = _ORDERS[sort]
    q = select(AnalysisRow.email_id).select_from(_from(s, base, query_where)).where(where)
    ids = s.scalars(q.order_by(*(c.desc() for c in cols)).limit(limit)).all()
    return load(s, f, list(ids))


def _load(s: Session, f: InboxFilter, ids: list[int]) -> list[tuple[EmailRow, AnalysisRow]]:
    """The rows of ``ids``, in that order (the text only when snippets need it)."""
    if not ids:
        return []
    q = _joined().where(AnalysisRow.pipeline_version == f.pipeline_version, EmailRow.id.in_(ids))
    if not f.terms():
        q = q.options(defer(EmailRow.data))
    by_id = {e.id: (e, a) for e, a in s.execute(q)}
    return [by_id[i] for i in ids if i in by_id]


def _load_light(s: Session, f: InboxFilter, ids: list[int]) -> list[ListRow]:
    return load_list_rows(s, f.pipeline_version, ids, text=bool(f.terms()))


def _recent_only(node: Node | None) -> bool:
    items = node.items if isinstance(node, And) else (node,)
    return any(isinstance(i, DateBound) and i.side == "after" for i in items)


@dataclass(frozen=True)
class _Ranked:
    id: int
    rank: float | None


def _ranked_page(s: Session, f: InboxFilter, base: Any, compiled: Any, limit: int, offset: int,
                 load: Any) -> InboxPage:
    """Relevance: the newest RANK_WINDOW matches ranked in Python, then the page loaded."""
    idx = compiled.ranked_from
    sqlite = "rowid" in idx.c
    id_col = idx.c.rowid if sqlite else idx.c.email_id
    cand = (
        select(id_col.label("id"), (compiled.rank if sqlite else literal(None)).label("rank"))
        .select_from(idx.join(_from(s, compiled.rest, base), AnalysisRow.email_id == id_col))
        .where(compiled.main, compiled.rest, base)
        .limit(RANK_WINDOW + 1)  # one more: whether there are more matches than the window
    )
    if sqlite:  # FTS5 reads its matches newest first and stops at the limit
        found = s.execute(cand.order_by(id_col.desc())).all()
    else:
        # The windows find the ids; only the final window's (at most RANK_WINDOW + 1) are
        # ranked, once: ranking reads each match's whole vector.
        ids = _newest_matches(s, cand.with_only_columns(id_col.label("id")).order_by((id_col + 0).desc()), id_col)
        # Ranked on the subject and sender, read from the rows' keys (beacon.query.relevance).
        score = head_rank(f.terms())
        heads = s.execute(select(EmailRow.id, EmailRow.subject, EmailRow.from_name, EmailRow.from_addr)
                          .where(_one_of(EmailRow.id, [r.id for r in ids]))).all() if ids else []
        ranks = {h.id: score(h.subject, f"{h.from_name} {h.from_addr}") for h in heads}
        found = [_Ranked(r.id, ranks.get(r.id)) for r in ids]
    if len(found) > RANK_WINDOW and compiled.check is None:  # the count that follows need not look again
        s.info[(_MORE_MATCHES, f)] = True
    ranked = sorted(found[:RANK_WINDOW], key=lambda r: (-(r.rank or 0.0), -r.id))
    if compiled.check is not None:  # the candidates' phrases, in rank order until the page is full
        ranked, tried = _checked(s, compiled.check, ranked, offset + limit + 1)
        # what the count that follows may reuse (its candidates: at most RANK_WINDOW + 1)
        s.info[(_CHECKED, f)] = _Checked(tried, len(ranked), len(found))
    nxt = _encode("relevance", offset + limit) if len(ranked) > offset + limit else None
    return InboxPage(load(s, f, [r.id for r in ranked[offset:offset + limit]]), nxt)


# A phrase's candidates are checked this many at least at a time.
_CHECK_BATCH = 16
# PostgreSQL: how many of the newest candidates of a query with a phrase are checked for a count.
CHECK_SAMPLE = 50
# PostgreSQL: a phrase count's candidates (its words' matches) are counted up to this many
# times the cap at most (enough to tell that the share with the phrase passes the cap).
_CANDIDATES_PER_CAP = 10


@dataclass(frozen=True)
class _Checked:
    """Candidates of a phrase search checked (the first ``checked``, of which ``passed`` hold
    the phrase) out of ``candidates`` found (at most RANK_WINDOW + 1: more than the window)."""

    checked: int
    passed: int
    candidates: int


def _one_of(col: Any, ids: list[int]) -> Any:
    """PostgreSQL: ``col`` is one of ``ids``, as one array parameter (an IN list of a thousand
    parameters cost ~10 ms to render and send, more than the read it asks for)."""
    return col == any_(bindparam(None, ids, type_=ARRAY(Integer)))


def _checked(s: Session, check: Any, ranked: list[Any], need: int) -> tuple[list[Any], int]:
    """The first ``need`` of ``ranked`` (candidates with ``.id``) that pass ``check`` (a
    condition on the email's row), checked a batch at a time in that order; and how many
    candidates were checked."""
    out: list[Any] = []
    at = 0
    while at < len(ranked) and len(out) < need:
        batch = ranked[at:at + max(need - len(out), _CHECK_BATCH)]
        at += len(batch)
        ok = set(s.scalars(select(EmailRow.id).where(_one_of(EmailRow.id, [r.id for r in batch]), check)))
        out.extend(r for r in batch if r.id in ok)
    return out[:need], at


# PostgreSQL: GIN gives every match in no order, and walking the ids newest first tests each
# email's vector; the newest ids are searched first (the id window a condition of the index,
# see beacon.store.search_gin), widening only while too few match: to the first window the
# density found so far says is enough, or to every match when they are few.
# ("+ 0" keeps the planner off the id order walk.)
_ID_WINDOWS = (2_500, 5_000, 10_000, 20_000, 30_000, 45_000, 70_000, 100_000, 160_000, 250_000, 400_000, 640_000)


def _newest_matches(s: Session, cand: Select[Any], id_col: Any) -> list[Any]:
    found: list[Any] = []

    def run(cond: Any) -> int:
        found[:] = s.execute(cand if cond is None else cand.where(cond)).all()
        return len(found)

    _widening(s, id_col, run, RANK_WINDOW + 1)
    return found


def _widening(s: Session, id_col: Any, run: Any, need: int) -> None:
    """``run(condition)`` on the newest ids' windows until it finds ``need`` rows (the last
    run: with no condition, every id)."""
    top = s.scalar(select(func.max(EmailRow.id))) or 0  # (the index's view is a union: the table's key)
    # The planner prices reading a tsvector far too low and would test the window's rows one
    # by one: plain index scans are off for these statements only; and so are parallel workers,
    # whose start costs more than these small bitmap reads.
    saved = s.execute(text("SELECT current_setting('enable_indexscan'), "
                           "current_setting('max_parallel_workers_per_gather'), current_setting('jit')")).one()
    # (JIT: the index function's price would have these small reads compiled, 40 ms a time.)
    s.execute(text("SELECT set_config('enable_indexscan', 'off', true), "
                   "set_config('max_parallel_workers_per_gather', '0', true), set_config('jit', 'off', true)"))
    try:
        wanted = 0.0
        for span in _ID_WINDOWS:
            if top <= span:
                break
            if span < wanted:
                continue
            got = run(id_col > top - span)
            if got >= need:
                return
            wanted = span * need / max(got, 1) * 1.25
            # A window costs its ids in the index (~0.4 us each) and its matches' rows (~6 us
            # each, with their analyses; at 100k emails); no window costs every match's row:
            # read them all at once when that is the cheaper (a rare word in a large mailbox,
            # whose next window would be most of it).
            if got * top / span < wanted / 16 + 1.25 * need:
                break
        run(None)
    finally:
        s.execute(text("SELECT set_config('enable_indexscan', :a, true), "
                       "set_config('max_parallel_workers_per_gather', :b, true), set_config('jit', :c, true)"),
                  {"a": saved[0], "b": saved[1], "c": saved[2]})


def inbox(s: Session, f: InboxFilter, *, limit: int | None = 50, offset: int = 0) -> list[tuple[EmailRow, AnalysisRow]]:
    """``limit`` rows after ``offset`` (None: every row, read a page at a time by cursor)."""
    if limit is not None:
        return inbox_page(s, f, limit=limit, offset=offset).rows
    out: list[tuple[EmailRow, AnalysisRow]] = []
    page = inbox_page(s, f, limit=500, offset=offset)
    out.extend(page.rows)
    while page.next_cursor is not None:
        page = inbox_page(s, f, limit=500, cursor=page.next_cursor)
        out.extend(page.rows)
    return out


def inbox_count(s: Session, f: InboxFilter, cap: int = COUNT_CAP) -> Count:
    """Exact up to ``cap`` when an index finds the matches (words, level, kind, needs reply,
    attachments, read or unread, dates); other filters are checked email by email, so they are
    counted in the newest SCAN_ROWS emails and estimated beyond them."""
    require_index(s, f)
    base, compiled = _compiled(s, f)
    query_where = compiled.where if compiled is not None else None
    where = and_(base, query_where) if compiled is not None else base
    q = select(literal(1)).select_from(_from(s, base, query_where)).where(where)
    if compiled is not None and compiled.main is not None:
        # Read as a join that the index drives. FTS5 answers "IN (its matches)" by listing
        # every match first; newest first, as the ranked page reads them, FTS5 drives the join
        # (else SQLite would walk the reader's analyses and run the MATCH once per row).
        idx = compiled.ranked_from
        id_col = idx.c.rowid if idx is fts else idx.c.email_id
        q = (select(literal(1)).select_from(idx.join(_from(s, compiled.rest, base), AnalysisRow.email_id == id_col))
             .where(compiled.main, compiled.rest, base))
        q = q.order_by(id_col.desc()) if idx is fts else q
    ids = woken(s, _now(f)) if f.inbox_view() else []
    if ids:
        awake, _ = _compiled(s, f, woken_only=ids)
        extra = _count(s, select(literal(1)).select_from(_from(s, awake, compiled.where if compiled is not None else None))
                       .where(awake, *([compiled.where] if compiled is not None else [])).limit(cap + 1))
        result = _plain_count(s, f, q, compiled, cap)
        n = result.n + extra
        return Count(min(n, cap), result.exact and n <= cap, result.estimated)
    return _plain_count(s, f, q, compiled, cap)


def _plain_count(s: Session, f: InboxFilter, q: Select[Any], compiled: Any, cap: int) -> Count:
    if cap <= RANK_WINDOW and s.info.get((_MORE_MATCHES, f)):  # the ranked page just found more
        return Count(cap, False)
    if compiled is not None and compiled.main is not None and compiled.ranked_from is not fts:
        # PostgreSQL: the newest ids' windows first, as the ranked page reads them; a window
        # with more than the cap answers "cap+" without a bitmap of every match.
        id_col = compiled.ranked_from.c.email_id
        if compiled.check is None:
            n = _windowed_count(s, q, id_col, cap + 1)
            return Count(min(n, cap), n <= cap)
        return _phrase_count(s, f, q, compiled.check, id_col, cap)
    if compiled is None or compiled.main is not None or _indexed(f.form_node()):
        n = _count(s, q.limit(cap + 1))
        return Count(min(n, cap), n <= cap)
    inbox_rows = select(AnalysisRow.email_id).where(AnalysisRow.pipeline_version == f.pipeline_version,
                                                    *_owned(s, f.scope))
    scanned = _count(s, inbox_rows.limit(SCAN_ROWS + 1))
    if scanned <= SCAN_ROWS:  # a small inbox: every email checked
        n = _count(s, q.limit(cap + 1))
        return Count(min(n, cap), n <= cap)
    # The newest emails are the sample: an order by priority would sample its own kind of mail.
    # (By date, on the reader's range of the date index: no sort of all their mail.)
    if f.inbox_view():
        inbox_rows = inbox_rows.where(not_away())
    window = inbox_rows.order_by(AnalysisRow.email_date.desc(), AnalysisRow.email_id.desc()).limit(SCAN_ROWS)
    matched = _count(s, _sampled(window, *_compiled(s, f, sample=True)))
    total = _size(s, f)
    return Count(int(round(matched * total / SCAN_ROWS, -1 if matched < 100 else -2)), False, estimated=True)


def _windowed_count(s: Session, q: Select[Any], id_col: Any, limit: int) -> int:
    """PostgreSQL: ``q``'s rows counted up to ``limit``, the newest ids' windows first."""
    n = 0

    def run(cond: Any) -> int:
        nonlocal n
        n = _count(s, (q if cond is None else q.where(cond)).limit(limit))
        return n

    _widening(s, id_col, run, limit)
    return n


def _phrase_count(s: Session, f: InboxFilter, q: Select[Any], check: Any, id_col: Any, cap: int) -> Count:
    """The count of a query with a phrase (``check``), whose words the index finds (``q``):
    the share of candidates that hold the phrase, from those the ranked page just checked
    (else from the newest CHECK_SAMPLE), applied to the candidates; exact when every candidate
    was checked. The candidates are counted only as far as the share could pass ``cap``."""
    page = s.info.get((_CHECKED, f))
    if page is not None and page.checked:
        checked, passed, candidates = page.checked, page.passed, page.candidates
    else:
        sample = _newest_candidates(s, q, id_col)
        checked, passed, candidates = len(sample), len(_checked(s, check, sample, len(sample))[0]), -1
        if checked < CHECK_SAMPLE:  # the index found no more
            candidates = checked
    if checked == candidates:
        return Count(min(passed, cap), passed <= cap)
    if passed == 0:
        return Count(0, False, estimated=True)
    share = passed / checked
    if not RANK_WINDOW >= candidates >= 0:  # more than the page saw, or unknown: counted
        bound = cap * _CANDIDATES_PER_CAP + 1 if share * _CANDIDATES_PER_CAP <= 1 else int((cap + 1) / share) + 1
        candidates = _windowed_count(s, q, id_col, bound)
        if candidates >= bound:  # at least this many hold it (as far as the share says)
            est = int(share * candidates)
            return Count(min(est, cap), False)
    est = round(share * candidates)
    return Count(min(est, cap), False, estimated=est <= cap)


def _newest_candidates(s: Session, q: Select[Any], id_col: Any) -> list[Any]:
    """The newest CHECK_SAMPLE candidates of ``q`` (the index's matches of a phrase's words)."""
    found: list[Any] = []
    ids_q = q.with_only_columns(id_col).order_by((id_col + 0).desc()).limit(CHECK_SAMPLE)

    def run(cond: Any) -> int:
        found[:] = s.scalars(ids_q if cond is None else ids_q.where(cond)).all()
        return len(found)

    _widening(s, id_col, run, CHECK_SAMPLE)
    return [_Ranked(i, None) for i in found]


def _sampled(window: Select[Any], base: Any, compiled: Any) -> Select[Any]:
    """The sample's rows that match: the conditions are read on the window's own rows (a
    derived table with the analyses' columns they name), not on analyses probed again by id,
    which PostgreSQL read whole to hash against the sample."""
    where = and_(base, compiled.where)
    analyses = AnalysisRow.__table__
    named = {c.key: c for c in iterate(where) if isinstance(c, Column) and c.table is analyses}
    recent = window.with_only_columns(*{AnalysisRow.email_id.key: AnalysisRow.email_id, **named}.values()).subquery()
    where = ClauseAdapter(recent, equivalents={}).traverse(where)
    emails = EmailRow.__table__
    reads_email = any(isinstance(e, Column) and e.table is emails for e in iterate(where))
    source = _EmailsChecked(recent, emails, EmailRow.id == recent.c.email_id) if reads_email else recent
    return select(literal(1)).select_from(source).where(where)


# Up to this many of a reader's analyses are counted for an estimate's total; beyond it the
# database's statistics estimate the rest (the count is "about" anyway).
EXACT_SIZE = 50_000


def _size(s: Session, f: InboxFilter) -> int:
    """How many analysed emails the filter's reader has (what the sample is drawn from):
    everyone's from the largest id (ids are dense: read from the index); a user's counted on
    their range of the date index up to EXACT_SIZE, beyond it the planner's estimate (SQLite:
    the rows per owner of that index in its statistics; PostgreSQL: the plan's rows) rather
    than a count of a million index entries. SQLite's figure is a sample's when the statistics
    were gathered with ``analysis_limit`` (as Beacon gathers them): then the reader's share of
    the newest emails is taken instead (:func:`_share`)."""
    if is_everyone(f.scope):
        return _top_id(s)
    mine = select(AnalysisRow.email_id).where(AnalysisRow.pipeline_version == f.pipeline_version, *_owned(s, f.scope))
    n = _count(s, mine.limit(EXACT_SIZE + 1))
    if n <= EXACT_SIZE:
        return n
    if s.get_bind().dialect.name != "sqlite":
        return max(n, statistics.planner_rows(s, mine))
    # ix_analyses_date leads with (pipeline_version, user_id): its second figure per key.
    per_owner = statistics.sqlite_rows_per_key(s, "ix_analyses_date", 2)
    if per_owner is not None:
        return max(n, per_owner)
    if statistics.sqlite_has_stats(s, "ix_analyses_date"):  # a sample's figure
        return max(n, _share(s, f))
    return _count(s, mine)  # no statistics yet (a store not analysed since it grew)


def _top_id(s: Session) -> int:
    return s.scalar(select(func.max(EmailRow.id))) or 0


def _share(s: Session, f: InboxFilter) -> int:
    """The reader's analyses estimated as their share of the newest SCAN_ROWS analyses at the
    filter's version (read in email id order from ix_analyses_email_probe alone) times the
    largest email id: a bounded read, where counting the reader's range (the fallback before)
    read every entry of it (1M emails: ~300 ms on each count of a filter checked email by
    email)."""
    # The version is checked outside the walk: a condition on it inside, SQLite took a version
    # range of another index and sorted all of it.
    newest = (select(AnalysisRow.user_id, AnalysisRow.pipeline_version)
              .order_by(AnalysisRow.email_id.desc()).limit(SCAN_ROWS).subquery())
    sampled, mine = s.execute(select(func.count(), func.count().filter(newest.c.user_id == f.scope))
                              .select_from(newest).where(newest.c.pipeline_version == f.pipeline_version)).one()
    return round(_top_id(s) * mine / sampled) if sampled else 0


def _count(s: Session, q: Select[Any]) -> int:
    return s.scalar(select(func.count()).select_from(q.subquery())) or 0


def _indexed(node: Node | None) -> bool:
    """Whether one index range finds exactly the matches of ``node``."""
    if isinstance(node, Equals):
        return node.column in ("level", "kind")
    if isinstance(node, State):  # done and snoozed: the away range (almost all of it matches)
        return node.name in ("needs-reply", "done", "snoozed", "read", "unread")
    if isinstance(node, Has):
        return True
    if isinstance(node, And):
        return all(isinstance(i, DateBound) for i in node.items)
    return isinstance(node, (DateBound, Due))


def categories(s: Session, scope: UserScope = EVERYONE) -> list[str]:
    """The distinct categories of ``scope``'s mail, one index probe each (a loose index scan,
    not a pass over every analysis); for a user, each kept if one of their emails has it."""
    if is_everyone(scope):
        return list(s.scalars(_CATEGORIES))
    return list(s.scalars(_THEIR_CATEGORIES, {"user": scope}))


# The probes of a user's categories run in the same statement as the scan (one statement per
# category cost more in the web process than the database's work).
_CATEGORY_SCAN = (
    "WITH RECURSIVE c(x) AS (SELECT min(category) FROM analyses UNION ALL "
    "SELECT (SELECT min(category) FROM analyses WHERE category > c.x) FROM c WHERE c.x IS NOT NULL) "
    "SELECT x FROM c WHERE x IS NOT NULL AND x <> ''"
)
_CATEGORIES = text(_CATEGORY_SCAN)
_THEIR_CATEGORIES = text(
    _CATEGORY_SCAN + " AND EXISTS (SELECT 1 FROM analyses a WHERE a.user_id = :user AND a.category = c.x)"
)


def pending_count(s: Session, version: str, cap: int = COUNT_CAP, scope: UserScope = EVERYONE) -> Count:
    """``scope``'s emails with no analysis at ``version`` ('' or another version in
    ``analysed_version``)."""
    everyone = is_everyone(scope)
    params = {"version": version, "cap": cap + 1, **({} if everyone else {"scope": scope})}
    n = s.scalar(_pending_statement(everyone), params) or 0
    return Count(min(n, cap), n <= cap)


@functools.cache
def _pending_statement(everyone: bool) -> Select[Any]:
    """pending_count's statement, built once (building it cost more than running it)."""
    col = EmailRow.analysed_version
    version = bindparam("version", type_=col.type)
    # The owner's condition on ``account_id + 0``: SQLite would otherwise walk the owner's
    # every email through the account index (20 ms for 341 emails, on every inbox page).
    owned = [] if everyone else [(EmailRow.account_id + 0).in_(account_ids(bindparam("scope")))]  # type: ignore[arg-type]
    ranges = [select(literal(1)).where(*owned, EmailRow.deleted.is_(False), cond)
              for cond in (col < version, col > version)]
    # two index ranges, not a pass over every email
    return select(func.count()).select_from(union_all(*ranges).limit(bindparam("cap")).subquery())


# -- cursors ---------------------------------------------------------------------------------
def _key_types(sort: str) -> tuple[Any, ...]:
    return (Integer(), UTCDateTime(), Integer()) if sort == "priority" else (UTCDateTime(), Integer())


def _encode(sort: str, key: Any) -> str:
    if isinstance(key, list):
        key = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    raw = json.dumps({"s": sort, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, sort: str) -> Any:
    """The key a cursor holds; it must come from a page of the same order."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != sort:
            raise ValueError(data["s"])
        key = data["k"]
        if sort == "relevance":
            if not isinstance(key, int) or not 0 <= key <= RANK_WINDOW:
                raise ValueError(key)
            return key
        types = _key_types(sort)
        if not isinstance(key, list) or len(key) != len(types):
            raise ValueError(key)
        return [datetime.fromisoformat(v) if isinstance(t, UTCDateTime) else int(v) for v, t in zip(key, types)]
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidInput("this page link is not valid (or is for another order): start from the first page") from exc

