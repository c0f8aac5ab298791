"""The parsed query: a tree of typed nodes, independent of any database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Literal, Union


class TextField(str, Enum):
    """Where a text term must appear; ``None`` on a :class:`Text` means anywhere."""

    SUBJECT = "subject"
    FROM = "from"
    TO = "to"
    CC = "cc"
    LIST = "list"
    FILENAME = "filename"


@dataclass(frozen=True)
class Text:
    """A word (``prefix``: ``meet*``) or a ``"phrase"``, anywhere or in one field.

    A word holding punctuation (``priya@example.com``) is matched as the phrase of its parts.
    """

    text: str
    field: TextField | None = None
    phrase: bool = False
    prefix: bool = False


@dataclass(frozen=True)
class Equals:
    """``level:``, ``kind:``, ``category:``: one analysis value."""

    column: Literal["level", "kind", "category"]
    value: str


@dataclass(frozen=True)
class State:
    """``is:``: needs-reply, flagged and answered (the server's flags), and the reader's states:
    unread, read, important, not-important, replied, done, snoozed."""

    name: str


@dataclass(frozen=True)
class Has:
    name: Literal["attachment"]


@dataclass(frozen=True)
class Age:
    """``older_than:`` / ``newer_than:`` amounts: ``3d``, ``2w``, ``6m``, ``1y``."""

    amount: int
    unit: Literal["d", "w", "m", "y"]


@dataclass(frozen=True)
class DateBound:
    """``before:D`` (earlier than day D), ``after:D`` (day D or later), or the same relative
    to now (``older_than:`` is a ``before``, ``newer_than:`` an ``after``)."""

    side: Literal["before", "after"]
    day: date | None = None
    age: Age | None = None


@dataclass(frozen=True)
class Due:
    """``due:``: an action item due today, in the next seven days, or already past."""

    when: Literal["today", "week", "overdue"]


@dataclass(frozen=True)
class InAccount:
    name: str


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Node = Union[Text, Equals, State, Has, DateBound, Due, InAccount, Not, And, Or]


def positive_texts(node: Node) -> list[Text]:
    """The text terms a result must (or may) contain: what snippets highlight and ranking weighs."""
    if isinstance(node, Text):
        return [node]
    if isinstance(node, (And, Or)):
        return [t for item in node.items for t in positive_texts(item)]
    return []
