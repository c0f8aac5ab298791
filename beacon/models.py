"""Typed models shared by every layer: what a parsed email is.

An :class:`Email` is plain, JSON-serialisable data so it can cross a process boundary
(engine workers) or a network one (Celery) unchanged. Attachment bytes are not part of
it: the parser hands them over separately and the store keeps them in their own table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = ""
    address: str = ""

    def __str__(self) -> str:
        if self.name and self.address:
            return f"{self.name} <{self.address}>"
        return self.name or self.address


class AttachmentInfo(BaseModel):
    filename: str
    content_type: str
    size: int
    sha256: str
    content_id: str | None = None
    inline: bool = False
    part: str | None = None  # MIME part path ("1.2") its bytes are decoded from


class ParseProblem(BaseModel):
    """Something about the raw message that was wrong or had to be guessed."""

    kind: str  # e.g. "mime-defect", "charset", "header", "date", "decode", "structure"
    detail: str
    part: str | None = None  # MIME part path such as "1.2" when it concerns one part


class ListHeaders(BaseModel):
    """Headers that tell bulk, list and automated mail apart from personal mail."""

    list_id: str | None = None
    list_unsubscribe: str | None = None
    list_unsubscribe_post: str | None = None
    precedence: str | None = None
    auto_submitted: str | None = None
    x_mailer: str | None = None
    user_agent: str | None = None
    feedback_id: str | None = None
    x_auto_response_suppress: str | None = None
    return_path: str | None = None
    x_campaign: str | None = None


DateSource = Literal["header", "received", "import"]


class Email(BaseModel):
    message_id: str
    message_id_synthetic: bool = False
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    thread_id: str

    from_: list[Address] = Field(default_factory=list, alias="from")
    sender: Address | None = None
    to: list[Address] = Field(default_factory=list)
    cc: list[Address] = Field(default_factory=list)
    reply_to: list[Address] = Field(default_factory=list)

    subject: str = ""
    date: datetime
    date_source: DateSource = "header"

    text: str = ""  # whole plain-text body (from text/plain, or converted from HTML)
    text_from_html: bool = False
    html: str | None = None  # the original HTML, as it came
    new_text: str = ""  # the message's own new text: no quoted history, no signature
    signature: str = ""

    attachments: list[AttachmentInfo] = Field(default_factory=list)
    list_headers: ListHeaders = Field(default_factory=ListHeaders)
    problems: list[ParseProblem] = Field(default_factory=list)

    content_hash: str  # sha256 of the raw bytes
    size: int = 0

    model_config = ConfigDict(populate_by_name=True)

    @property
    def from_address(self) -> Address:
        return self.from_[0] if self.from_ else (self.sender or Address())
