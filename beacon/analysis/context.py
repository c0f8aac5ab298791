"""What the store knows about an email that its own bytes do not say.

The kind of a mail is decided in the worker, before spaCy runs (it picks the full or the light
pipeline), but the reader's history with the sender and the folder or IMAP keywords live in the
database, which only the main process opens. So the job runner computes this small context per
email when it claims a batch and sends it along with the Email JSON; ad-hoc analyses without a
store (``beacon analyze-text``, tests) use the empty context.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

# A Junk/Spam folder anywhere in an IMAP folder name ("INBOX.Junk", "[Gmail]/Spam") or an import
# path ("~/Maildir/.Junk/cur/1700000000.M1:2,S", "spam.mbox#12").
_JUNK_FOLDER = re.compile(r"(?:^|[/.\\\]])(?:junk(?:[ -]?e-?mail)?|spam|bulk mail|courrier ind[ée]sirable|"
                          r"spam-verdacht)(?:$|[/.\\#;])", re.IGNORECASE)


class MailContext(BaseModel):
    sent_to_sender: int = 0  # messages the reader sent to this very address
    sent_to_domain: int = 0  # messages the reader sent to anyone at the sender's (non-freemail) domain
    folder: str | None = None  # IMAP folder or import path the email came from
    keywords: list[str] = Field(default_factory=list)  # IMAP flags and keywords ($Junk, $NotJunk, ...)

    @property
    def in_junk_folder(self) -> bool:
        return bool(self.folder) and bool(_JUNK_FOLDER.search(self.folder))  # type: ignore[arg-type]

    def has_keyword(self, name: str) -> bool:
        want = name.lower().lstrip("$")
        return any(k.lower().lstrip("$\\") == want for k in self.keywords)


EMPTY_CONTEXT = MailContext()
