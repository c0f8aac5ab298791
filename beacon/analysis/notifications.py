"""What happened, in one line, for mail from common automated senders.

A bug tracker's change mail, a code host's notification, a CI result or a calendar invitation
says what happened in a table, a subject line or a fixed phrase, not in its first sentences;
an extractive summary of it picks footers and boilerplate. Each extractor below reads one
sender's fixed format and returns a headline such as "Bug 123 RESOLVED FIXED: spamd leaves its
pid file". Extractors that key on a format no person writes by hand (a Bugzilla change table, a
GitHub footer) run for every mail; the plain subject line is used only for mail already known
to be a notification.
"""

from __future__ import annotations

import re
from collections.abc import Callable

NOTIFICATION_KINDS = frozenset({"notification", "automated", "transactional"})

_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|aw|sv|tr)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_BUG_SUBJECT = re.compile(r"\[Bug\s+(\d+)\]\s*(?:(New):\s*)?(.*)", re.IGNORECASE)
_BUG_URL = re.compile(r"show_bug\.cgi\?id=(\d+)")
_CHANGE_ROW = re.compile(r"^\s*([A-Za-z][\w ]{1,30}?)\s*\|\s*(.*?)\s*\|\s*(.*?)\s*$")
_BUG_COMMENT = re.compile(r"^\s*-{3,}\s*(?:Additional Comments? From|Comment #\d+ from)\s+(.+?)\s+(?:\d{4}-\d\d-\d\d.*)?-{3,}\s*$",
                          re.IGNORECASE | re.MULTILINE)
_GITHUB_SUBJECT = re.compile(r"^\[([\w.-]+/[\w.-]+)\]\s+(.+?)\s+\((#\d+)\)\s*$")
_GITHUB_FOOTER = re.compile(r"(?:view it on GitHub|You are receiving this because)", re.IGNORECASE)
_GITHUB_EVENTS = [
    (re.compile(r"^\s*Merged\s+#\d+\s+into\s+(\S+?)\.?\s*$", re.MULTILINE), "merged into {0}"),
    (re.compile(r"^\s*Closed\s+#\d+(?:\s+as\s+(completed|not planned))?\.?\s*$", re.MULTILINE), "closed"),
    (re.compile(r"^\s*Reopened\s+#\d+\.?\s*$", re.MULTILINE), "reopened"),
    (re.compile(r"^\s*@?([\w-]+)\s+approved this pull request\.?", re.MULTILINE), "approved by {0}"),
    (re.compile(r"^\s*@?([\w-]+)\s+requested changes on this pull request\.?", re.MULTILINE), "changes requested by {0}"),
    (re.compile(r"^\s*@?([\w-]+)\s+pushed\s+(\d+)\s+commits?\.?", re.MULTILINE), "{0} pushed {1} commit(s)"),
    (re.compile(r"^\s*@?([\w-]+)\s+commented on this (?:pull request|issue)\.?", re.MULTILINE), "comment by {0}"),
    (re.compile(r"^\s*Assigned\s+#\d+\s+to\s+@?([\w-]+)\.?", re.MULTILINE), "assigned to {0}"),
]
_GITLAB_SUBJECT = re.compile(r"^(.+?)\s+\|\s+(.+?)\s+\(([!#]\d+)\)\s*$")
_GITLAB_FOOTER = re.compile(r"view it on GitLab", re.IGNORECASE)
_GITLAB_EVENTS = re.compile(
    r"^\s*((?:Merge request|Issue)\s+[!#]?\d*\s*was\s+(?:merged|closed|reopened)(?:\s+by\s+.+)?|"
    r"Pipeline\s+#\d+\s+has\s+(?:failed|passed|been fixed)|Assignee changed.*|Status changed.*)\s*[.!]?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_CI = re.compile(
    r"\b(?:build|pipeline|run|job|workflow|tests?|check)\b[^.\n]{0,80}?\b(failed|failing|passed|succeeded|"
    r"fixed|broken|errored|canceled|cancelled|still failing|is back to normal|was successful)\b",
    re.IGNORECASE,
)
_CALENDAR = re.compile(
    r"^((?:updated\s+)?invitation(?:\s+with\s+note)?|cancel+ed\s+(?:event|invitation)|accepted|declined|"
    r"tentatively accepted|new event|event reminder|meeting (?:request|cancel+ed|update[d]?)|reminder)\s*:\s*(.+)$",
    re.IGNORECASE,
)
_TRAILING_ADDRESS = re.compile(r"\s*\((?:[\w.+-]+@[\w.-]+)\)\s*$")

Extractor = Callable[[str, str], "str | None"]


def _clean_subject(subject: str) -> str:
    return " ".join(_REPLY_PREFIX.sub("", subject or "").split())


def bugzilla(subject: str, text: str) -> str | None:
    """"Bug 123 RESOLVED FIXED: title" from Bugzilla's subject, change table and comments."""
    subj = _BUG_SUBJECT.search(_clean_subject(subject))
    url = _BUG_URL.search(text)
    rows = [m for m in map(_CHANGE_ROW.match, text.splitlines()) if m and m.group(1).strip().lower() != "what"]
    if not subj and not (url and rows):
        return None
    number = subj.group(1) if subj else url.group(1)  # type: ignore[union-attr]
    title = subj.group(3).strip() if subj else ""
    changes = {m.group(1).strip().lower(): m.group(3).strip() for m in rows}
    status = " ".join(v for v in (changes.get("status"), changes.get("resolution")) if v)
    if status:
        what = status
    elif subj and subj.group(2):
        what = "new"
    elif changes:
        what = ", ".join(f"{k} -> {v}" if v else f"{k} cleared" for k, v in list(changes.items())[:3])
    elif (c := _BUG_COMMENT.search(text)):
        what = f"comment from {c.group(1).strip()}"
    else:
        what = "updated"
    return f"Bug {number} {what}" + (f": {title}" if title else "")


def github(subject: str, text: str) -> str | None:
    subj = _GITHUB_SUBJECT.match(_clean_subject(subject))
    if not subj or not _GITHUB_FOOTER.search(text):
        return None
    repo, title, number = subj.groups()
    events = []
    for pattern, template in _GITHUB_EVENTS:
        m = pattern.search(text)
        if m:
            events.append(template.format(*m.groups()))
    head = f"{repo}{number} {title}"
    return f"{head}: {'; '.join(events[:2])}" if events else head


def gitlab(subject: str, text: str) -> str | None:
    subj = _GITLAB_SUBJECT.match(_clean_subject(subject))
    if not subj or not _GITLAB_FOOTER.search(text):
        return None
    project, title, number = subj.groups()
    event = _GITLAB_EVENTS.search(text)
    head = f"{project} {number} {title}"
    return f"{head}: {event.group(1).strip()}" if event else head


def calendar(subject: str, text: str) -> str | None:
    m = _CALENDAR.match(_clean_subject(subject))
    if not m:
        return None
    return f"{m.group(1).strip().capitalize()}: {_TRAILING_ADDRESS.sub('', m.group(2)).strip()}"


def ci(subject: str, text: str) -> str | None:
    """A CI result: the subject when it states it, else the first line that does."""
    clean = _clean_subject(subject)
    if _CI.search(clean):
        return clean
    for line in text.splitlines()[:15]:
        if _CI.search(line) and len(line.split()) <= 20:
            return " ".join(line.split())
    return None


# Formats nobody types by hand: safe on any mail.
_STRICT: tuple[Extractor, ...] = (bugzilla, github, gitlab)
# Phrases people also write ("the build failed"): only for mail known to be a notification.
_LOOSE: tuple[Extractor, ...] = (calendar, ci)


def describe(subject: str, text: str, kind: str) -> str | None:
    """One line saying what happened, or None when no extractor recognises the mail."""
    for extract in _STRICT:
        line = extract(subject, text)
        if line:
            return line
    if kind not in NOTIFICATION_KINDS:
        return None
    for extract in _LOOSE:
        line = extract(subject, text)
        if line:
            return line
    clean = _clean_subject(subject)
    return clean if len(clean.split()) >= 2 else None
