"""What the per-user model sees of one email: named features a person can read back.

On top of the explainable priority factors (their points, scaled) come the facts Gmail's
Priority Inbox found most telling (social, thread and label features): who sent it, from which
domain, through which mailing list, in which conversation, what kind of mail it is, and whether
it carries a due date. Every feature has a name such as ``list:exmh-users.example.com``, so the
model's contribution can be said in words (:mod:`beacon.triage.learning.explain`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from beacon.analysis.models import Analysis, Factor
from beacon.models import Email

# Scaled so a typical factor (8-20 points) is a feature value near 0.5-1, like a yes/no fact.
FACTOR_SCALE = 20.0
# Not evidence about the email: the starting score, caps, a note about the language, ourselves.
_SKIP_FACTORS = frozenset({"base", "spam_cap", "language", "learned"})
_LIST_ID = re.compile(r"<([^<>]+)>")

# Feature prefixes whose stats say "N of M mails <what>" (categorical facts, not amounts).
KEYED = ("list", "sender", "domain", "thread", "kind", "due")


@dataclass(frozen=True)
class MailFacts:
    """The few facts about an email the features need, from a parsed Email or a stored row."""

    sender: str
    list_id: str | None
    thread_id: str

    @classmethod
    def of_email(cls, email: Email) -> MailFacts:
        return cls(email.from_address.address.lower(), normal_list_id(email.list_headers.list_id), email.thread_id)

    @classmethod
    def of_row(cls, from_addr: str, thread_id: str, data: Mapping[str, Any]) -> MailFacts:
        """From an ``emails`` row: its columns and its Email JSON (only the list header is read)."""
        headers = data.get("list_headers") or {}
        return cls((from_addr or "").lower(), normal_list_id(headers.get("list_id")), thread_id)


def normal_list_id(raw: str | None) -> str | None:
    """``"Exmh Users <exmh-users.redhat.com>"`` -> ``"exmh-users.redhat.com"`` (RFC 2919's id)."""
    if not raw:
        return None
    m = _LIST_ID.search(raw)
    value = (m.group(1) if m else raw).strip().lower()
    return value or None


def has_due_date(analysis: Analysis) -> bool:
    return any(a.due is not None for a in analysis.action_items)


def has_deadline(analysis: Analysis) -> bool:
    """A due date on an action item, or a phrase the analysis read as a deadline ("by Friday")."""
    return has_due_date(analysis) or any(t.is_deadline for t in analysis.time_refs)


def features(facts: MailFacts, analysis: Analysis, factors: Iterable[Factor]) -> dict[str, float]:
    """Feature name -> value for one email (sparse: absent means 0)."""
    out: dict[str, float] = {}
    for f in factors:
        if f.name not in _SKIP_FACTORS and f.points:
            out[f"factor:{f.name}"] = out.get(f"factor:{f.name}", 0.0) + f.points / FACTOR_SCALE
    out[f"kind:{analysis.kind}"] = 1.0
    if has_deadline(analysis):
        out["due:yes"] = 1.0
    if facts.sender:
        out[f"sender:{facts.sender}"] = 1.0
        domain = facts.sender.rpartition("@")[2]
        if domain and domain != facts.sender:
            out[f"domain:{domain}"] = 1.0
    if facts.list_id:
        out[f"list:{facts.list_id}"] = 1.0
    if facts.thread_id:
        out[f"thread:{facts.thread_id}"] = 1.0
    return out


def keyed(names: Iterable[str]) -> list[str]:
    """The categorical features among ``names`` (those the stats count)."""
    return [n for n in names if n.partition(":")[0] in KEYED]
