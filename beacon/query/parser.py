"""Reading the search language with Lark: what the user typed becomes a :mod:`model` tree.

Syntax (Gmail's, mostly): words (every word must appear), ``"a phrase"``, ``-word`` (must not
appear), ``a OR b``, parentheses, ``word*`` (prefix), and ``operator:value`` terms. Anything
that cannot be read raises :class:`~beacon.errors.QueryError` saying what and where.
"""

from __future__ import annotations

import re
from datetime import date

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from beacon.analysis.models import MAIL_KINDS
from beacon.errors import QueryError
from beacon.query.model import (
    Age, And, DateBound, Due, Equals, Has, InAccount, Node, Not, Or, State, Text, TextField,
)

__all__ = ["HELP", "MAX_QUERY_CHARS", "MAX_TERMS", "parse"]

MAX_QUERY_CHARS = 500
MAX_TERMS = 32  # each term is one index lookup; a pasted paragraph is refused, not run

_GRAMMAR = r"""
?start: expr?
?expr: and_expr (_OR and_expr)*        -> or_
?and_expr: unary (_AND? unary)*        -> and_
?unary: NEG atom                       -> neg
      | atom
?atom: "(" expr ")"
     | OPERATOR value                  -> operator
     | PHRASE                          -> phrase
     | WORD                            -> word
value: PHRASE | WORD
_OR: "OR"
_AND: "AND"
NEG: "-"
OPERATOR.3: /[A-Za-z_][A-Za-z_-]*:/
PHRASE: /"[^"]*"/
WORD: /[^\s()"\-][^\s()"]*/
%ignore /\s+/
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False)

# flagged and answered are the server's IMAP flags; the others the reader's states in Beacon.
_STATES = {"needs-reply", "unread", "read", "flagged", "answered", "important", "not-important", "done",
           "snoozed", "replied"}
_STATE_ALIASES = {"needs_reply": "needs-reply", "starred": "flagged", "not_important": "not-important",
                  "unimportant": "not-important", "archived": "done"}
_LEVELS = ("high", "medium", "low")
_DUE = ("today", "week", "overdue")
_AGE = re.compile(r"^(\d{1,5})([dwmy])$")
_DAY = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")

OPERATORS = (
    "from", "to", "cc", "subject", "list", "filename", "has", "is", "level", "kind", "category",
    "before", "after", "older_than", "newer_than", "due", "account",
)

HELP = """\
Words: every word must appear (subject, sender, recipients, text, file names); accents and
case do not matter. "a phrase" in quotes; -word excludes; a OR b; (parentheses) group;
meet* matches words starting with meet.
from:priya  to:ops@example.com  cc:  subject:"board deck"  list:python-dev  filename:pdf
has:attachment   is:needs-reply  is:unread  is:read  is:important  is:not-important  is:replied
is:done  is:snoozed (done and snoozed mail is left out of the inbox unless asked for, or words searched)
is:flagged  is:answered (the mail server's flags)
level:high|medium|low   kind:personal|notification|newsletter|marketing|spam   category:work
before:2024-05-01  after:2024/01/31  older_than:2y  newer_than:10d (d, w, m, y)
due:today|week|overdue   account:work
Several terms: all must hold. Searching ranks results by relevance; without words, by priority."""


def parse(text: str) -> Node | None:
    """The query tree of ``text``; None for an empty query. Raises QueryError."""
    text = text.strip()
    if not text:
        return None
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    if text.count('"') % 2:
        raise QueryError(f'unclosed quote at column {text.rfind(chr(34)) + 1}: add the closing "')
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise QueryError(_syntax_message(text, exc)) from None
    if not isinstance(tree, (Tree, Token)) or (isinstance(tree, Tree) and tree.data == "start" and not tree.children):
        return None
    try:
        node = _Build().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, QueryError):
            raise exc.orig_exc from None
        raise
    if _count_terms(node) > MAX_TERMS:
        raise QueryError(f"the query has more than {MAX_TERMS} terms")
    return node


def _syntax_message(text: str, exc: UnexpectedInput) -> str:
    col = getattr(exc, "column", None)
    where = f" at column {col}" if isinstance(col, int) and col > 0 else ""
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        if text.count("(") > text.count(")"):
            return "missing ')': a parenthesis is not closed"
        last = text.split()[-1] if text.split() else text
        if last == "OR":
            return "OR needs a term on both sides"
        if last.endswith(":"):
            return f"'{last}' needs a value"
        if last.endswith("-"):
            return "'-' must be followed by the word or term to exclude"
        return "the query ends too early"
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "RPAR":
            return f"unmatched ')'{where}"
        if tok.type == "_OR":
            return f"OR needs a term on both sides{where}"
        if tok.type == "NEG":
            return f"'-' must be followed by the word or term to exclude{where}"
        if tok.type == "OPERATOR" and exc.state is not None:
            return f"'{tok}' needs a value{where} (quote a phrase: subject:\"a b\")"
        return f"unexpected '{tok}'{where}"
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {text[exc.pos_in_stream]!r}{where}"
    return f"cannot read the query{where}"


def _count_terms(node: Node) -> int:
    if isinstance(node, (And, Or)):
        return sum(_count_terms(i) for i in node.items)
    if isinstance(node, Not):
        return _count_terms(node.item)
    return 1


def _word(raw: str, field: TextField | None = None) -> Text:
    prefix = raw.endswith("*")
    word = raw.rstrip("*") if prefix else raw
    if "*" in word:
        raise QueryError(f"'{raw}': '*' is allowed only at the end of a word (prefix search)")
    _searchable(raw, word)
    return Text(word, field=field, prefix=prefix)


def _phrase(raw: str, field: TextField | None = None) -> Text:
    inner = " ".join(raw[1:-1].split())
    _searchable(raw, inner)
    return Text(inner, field=field, phrase=True)


def _searchable(raw: str, text: str) -> None:
    # The indexes keep letters and digits only; a term with neither could match nothing.
    if not any(ch.isalnum() for ch in text):
        raise QueryError(f"{raw!r} has no letters or digits to search for")


def _operator(name: str, raw: str) -> Node:
    """One ``name:value`` term; ``raw`` is the value as typed (a phrase keeps its quotes)."""
    key = name.lower()
    quoted = raw.startswith('"')
    value = raw[1:-1].strip() if quoted else raw
    if key in TextField._value2member_map_:
        field = TextField(key)
        return _phrase(raw, field) if quoted else _word(raw, field)
    low = value.lower()
    if key == "has":
        if low in ("attachment", "attachments"):
            return Has("attachment")
        raise QueryError(f"has:{value}: only has:attachment is known")
    if key == "is":
        low = _STATE_ALIASES.get(low, low)
        if low in _STATES:
            return State(low)
        raise QueryError(f"is:{value}: unknown state; known: is:" + ", is:".join(sorted(_STATES)))
    if key == "level":
        if low in _LEVELS:
            return Equals("level", low.upper())
        raise QueryError(f"level:{value}: use level:high, level:medium or level:low")
    if key == "kind":
        if low in MAIL_KINDS:
            return Equals("kind", low)
        raise QueryError(f"kind:{value}: use one of " + ", ".join(f"kind:{k}" for k in MAIL_KINDS))
    if key == "category":
        if not value:
            raise QueryError("category: needs a value")
        return Equals("category", low)
    if key in ("before", "after"):
        return DateBound(key, day=_day(key, value))  # type: ignore[arg-type]
    if key in ("older_than", "newer_than"):
        m = _AGE.match(low)
        if not m:
            raise QueryError(f"{key}:{value}: give a number and d, w, m or y (e.g. {key}:3d)")
        side = "before" if key == "older_than" else "after"
        return DateBound(side, age=Age(int(m.group(1)), m.group(2)))  # type: ignore[arg-type]
    if key == "due":
        if low in _DUE:
            return Due(low)  # type: ignore[arg-type]
        raise QueryError(f"due:{value}: use due:today, due:week or due:overdue")
    if key == "account":
        if not value:
            raise QueryError("account: needs an account name")
        return InAccount(value)
    raise QueryError(
        f"unknown operator '{name}:' (known: " + ", ".join(f"{o}:" for o in OPERATORS)
        + f"); to search for the text, quote it: \"{name}:{value}\""
    )


def _day(key: str, value: str) -> date:
    m = _DAY.match(value)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    raise QueryError(f"{key}:{value}: give a date as YYYY-MM-DD or YYYY/MM/DD")


class _Build(Transformer[Token, Node]):
    def word(self, items: list[Token]) -> Node:
        return _word(str(items[0]))

    def phrase(self, items: list[Token]) -> Node:
        return _phrase(str(items[0]))

    def value(self, items: list[Token]) -> str:
        return str(items[0])

    def operator(self, items: list[Token | str]) -> Node:
        return _operator(str(items[0])[:-1], str(items[1]))

    def neg(self, items: list[Node]) -> Node:
        inner = items[1]
        return inner.item if isinstance(inner, Not) else Not(inner)

    def and_(self, items: list[Node]) -> Node:
        flat: list[Node] = []
        for item in items:
            flat.extend(item.items if isinstance(item, And) else (item,))
        return flat[0] if len(flat) == 1 else And(tuple(flat))

    def or_(self, items: list[Node]) -> Node:
        flat: list[Node] = []
        for item in items:
            flat.extend(item.items if isinstance(item, Or) else (item,))
        return flat[0] if len(flat) == 1 else Or(tuple(flat))
