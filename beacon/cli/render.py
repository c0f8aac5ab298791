"""Rich rendering of one email (and its analysis, when there is one) for ``beacon show``."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from beacon.models import Email
from beacon.store.schema import AttachmentRow, EmailRow


# A 5 MB subject or 100,000 recipients are kept whole in the store; showing them is capped.
_SHOW_ADDRESSES = 50
_SHOW_CHARS = 1_000


def _cap(text: str) -> str:
    if len(text) <= _SHOW_CHARS:
        return text
    return f"{text[:_SHOW_CHARS]}… [dim]({len(text):,} characters)[/dim]"


def _addrs(addrs) -> str:  # type: ignore[no-untyped-def]
    shown = ", ".join(escape(_cap(str(a))) for a in addrs[:_SHOW_ADDRESSES]) or "—"
    if len(addrs) > _SHOW_ADDRESSES:
        shown += f" [dim]… and {len(addrs) - _SHOW_ADDRESSES:,} more[/dim]"
    return shown


def render_email(
    console: Console,
    row: EmailRow,
    email: Email,
    attachments: list[AttachmentRow],
) -> None:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("ID", str(row.id))
    head.add_row("Subject", _cap(escape(email.subject)) or "(no subject)")
    head.add_row("From", _addrs(email.from_))
    head.add_row("To", _addrs(email.to))
    if email.cc:
        head.add_row("Cc", _addrs(email.cc))
    if email.reply_to:
        head.add_row("Reply-To", _addrs(email.reply_to))
    date_note = "" if email.date_source == "header" else f"  [yellow](from {email.date_source})[/yellow]"
    head.add_row("Date", email.date.isoformat() + date_note)
    if row.folder:
        head.add_row("Folder", escape(row.folder))
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


def render_thread(console: Console, thread: list, current: int) -> None:  # type: ignore[type-arg]
    """The conversation an email belongs to (``beacon.triage.threads.ThreadMessage``s), oldest
    first, when it has more than this one message."""
    if len(thread) < 2:
        return
    t = Table(title=f"Conversation ({len(thread)} messages)")
    for col in ("ID", "From", "Date", "Level", "State"):
        t.add_column(col, overflow="ellipsis")
    for m in thread:
        mark = "▶ " if m.email.id == current else ""
        level = f"{m.analysis.level} {m.analysis.score}" if m.analysis else ""
        state = "done" if m.state is not None and m.state.done_at else ("needs reply" if m.analysis and m.analysis.needs_reply else "")
        t.add_row(f"{mark}{m.email.id}", m.email.from_name or m.email.from_addr, f"{m.email.date:%Y-%m-%d %H:%M}",
                  level, state)
    console.print(t)


def render_analysis(console: Console, scored, due=None) -> None:  # type: ignore[no-untyped-def]
    """The analysis of one email and the explanation of its priority; ``due``: its deadline
    judged now (``beacon.triage.due.Due``)."""
    from beacon.analysis.models import ScoredAnalysis

    sa: ScoredAnalysis = scored
    a, p = sa.analysis, sa.priority
    style = {"HIGH": "bold red", "MEDIUM": "yellow", "LOW": "dim"}[p.level]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("Priority", f"[{style}]{p.level}[/] {p.score}/100")
    head.add_row("Kind", a.kind)
    for reason in a.kind_reasons:
        head.add_row("", f"· {reason}")
    head.add_row("Category", a.category)
    head.add_row("Language", a.language)
    head.add_row("Analysis", a.depth)
    for note in a.notes:
        head.add_row("", f"[dim]{note}[/dim]")
    if a.sentiment is not None:
        head.add_row("Sentiment", f"{a.sentiment.label} ({a.sentiment.compound:+.2f})")
    if a.tone:
        head.add_row("Tone", ", ".join(sorted({f"{t.flag} ({t.text!r})" for t in a.tone})))
    head.add_row("Needs reply", "yes" if sa.needs_reply else "no")
    if due is not None:
        head.add_row("Due", f"[{'bold red' if due.days < 0 else 'default'}]{due.label}[/]")
    if a.summary:
        head.add_row("Summary", " ".join(a.summary))
    if a.key_phrases:
        head.add_row("Key phrases", ", ".join(k.text for k in a.key_phrases))
    if a.entities:
        head.add_row("Entities", ", ".join(f"{e.text} [{e.label}]" + (f"×{e.count}" if e.count > 1 else "") for e in a.entities[:15]))
    if a.truncated:
        head.add_row("Note", f"text capped at {len(a.text):,} of {a.original_chars:,} characters")
    console.print(Panel(head, title=f"Analysis ({a.pipeline_version})", expand=True))

    t = Table(title="Why this priority")
    for col in ("Factor", "Points", "Detail", "Evidence"):
        t.add_column(col, overflow="fold")
    for f in p.factors:
        t.add_row(f.name, f"{f.points:+g}", f.detail, (f.evidence or "")[:120])
    t.add_row("[bold]total[/bold]", f"[bold]{p.score}[/bold]", "clamped to 0–100", "")
    console.print(t)

    if a.action_items or a.requests or a.questions:
        t = Table(title="Action items, requests and questions")
        for col in ("Type", "Text", "Due"):
            t.add_column(col, overflow="fold")
        for x in a.action_items:
            t.add_row("action", x.text, f"{x.due:%a %d %b %Y %H:%M} ({x.due_text})" if x.due else "")
        action_texts = {x.text for x in a.action_items}
        for r in a.requests:
            if r.text not in action_texts:
                t.add_row("request", r.text, "")
        req_texts = {r.text for r in a.requests} | action_texts
        for q in a.questions:
            if q.text not in req_texts:
                t.add_row("question", q.text, "")
        console.print(t)
