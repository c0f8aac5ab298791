"""Rich rendering of one email (and its analysis, when there is one) for ``beacon show``."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from beacon.models import Email
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import AttachmentRow, EmailRow


def _addrs(addrs) -> str:  # type: ignore[no-untyped-def]
    return ", ".join(str(a) for a in addrs) or "—"


def render_email(
    console: Console,
    row: EmailRow,
    email: Email,
    attachments: list[AttachmentRow],
    settings: Settings,
    db: Database,
) -> None:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("ID", str(row.id))
    head.add_row("Subject", email.subject or "(no subject)")
    head.add_row("From", _addrs(email.from_))
    head.add_row("To", _addrs(email.to))
    if email.cc:
        head.add_row("Cc", _addrs(email.cc))
    if email.reply_to:
        head.add_row("Reply-To", _addrs(email.reply_to))
    date_note = "" if email.date_source == "header" else f"  [yellow](from {email.date_source})[/yellow]"
    head.add_row("Date", email.date.isoformat() + date_note)
    mid = email.message_id + ("  [yellow](synthetic)[/yellow]" if email.message_id_synthetic else "")
    head.add_row("Message-ID", mid)
    if email.in_reply_to:
        head.add_row("In-Reply-To", email.in_reply_to)
    head.add_row("Thread", email.thread_id)
    lh = {k: v for k, v in email.list_headers.model_dump().items() if v}
    for k, v in lh.items():
        head.add_row(k.replace("_", "-").title(), str(v)[:120])
    console.print(Panel(head, title="Email", expand=True))

    body = email.new_text or email.text
    label = "New text" if email.new_text and email.new_text != email.text else "Text"
    if email.text_from_html:
        label += " (converted from HTML)"
    console.print(Panel(body.strip() or "[dim](no text)[/dim]", title=label, expand=True))

    if attachments:
        t = Table(title="Attachments")
        for col in ("#", "File name", "Type", "Size"):
            t.add_column(col)
        for a in attachments:
            t.add_row(str(a.position + 1), a.filename, a.content_type, f"{a.size:,} B")
        console.print(t)
    if email.problems:
        t = Table(title="Parse problems")
        for col in ("Kind", "Part", "Detail"):
            t.add_column(col)
        for p in email.problems:
            t.add_row(p.kind, p.part or "", p.detail)
        console.print(t)
