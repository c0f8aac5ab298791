"""What one demo message is, as plain data: people, content, threading and its ground truth.

The demo mailbox is written as a list of :class:`DemoMessage` values (see ``messages.py``)
and turned into MIME by ``render.py``. Keeping the *kind* and the *deadline phrase* next to
the content means tests of the analysis can read the expected answers from the same place
the mail came from, instead of repeating them; they never reach the generated mbox.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr
from typing import Literal

Kind = Literal[
    "work-request",  # someone asks Alex to do something, usually with a deadline
    "work-reply",  # a later message in a work thread
    "work-fyi",  # work mail that informs, thanks or announces; no task for Alex
    "mailing-list",  # a colleague's post to a discussion list Alex is on
    "newsletter",  # bulk marketing or a digest
    "notification",  # machine-sent: CI, code review, calendar, receipts, resets, OOO
    "personal",  # friends and family
    "cold-outreach",  # an unsolicited sales email from a stranger
    "hostile",  # HTML built to attack a mail viewer (for the web app's safety tests)
]


@dataclass(frozen=True)
class Person:
    name: str
    address: str

    def header(self) -> str:
        """``Name <address>``, quoted where RFC 5322 needs it (e.g. parentheses)."""
        return formataddr((self.name, self.address))

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/csv", "application/pdf", "image/png", ...
    data: bytes
    # Set for an image shown inside the HTML body (``<img src="cid:...">``).
    content_id: str | None = None


@dataclass(frozen=True)
class DemoMessage:
    key: str  # unique slug; fixes the Message-ID and lets replies name their parent
    kind: Kind
    date: datetime  # timezone-aware; becomes the Date header and the mbox "From " line
    sender: Person
    to: tuple[Person, ...]
    subject: str
    text: str | None = None  # plain-text body (a reply's quoted history is added for it)
    html: str | None = None
    cc: tuple[Person, ...] = ()
    reply_to: Person | None = None
    parent: str | None = None  # key of the message this one replies to
    # How a reply quotes its parent: a Gmail or Apple Mail style attribution line.
    quote_style: Literal["gmail", "apple"] = "gmail"
    headers: tuple[tuple[str, str], ...] = ()  # extra headers, in order
    attachments: tuple[Attachment, ...] = ()
    calendar: str | None = None  # an iCalendar REQUEST offered beside the text/HTML
    # HTML with no text part, wrapped in multipart/alternative anyway (some senders do).
    html_in_alternative: bool = False
    charset: str = "utf-8"  # anything else uses the legacy MIME classes (see render.py)
    # Ground truth for tests; never written into the message.
    deadline: str | None = None  # the deadline phrase exactly as it appears in the text

    @property
    def message_id(self) -> str:
        # Stable across runs: derived from the slug and date, never from the clock.
        digest = hashlib.sha1(self.key.encode()).hexdigest()[:12]
        return f"<{self.date:%Y%m%d%H%M%S}.{digest}@{self.sender.domain}>"
