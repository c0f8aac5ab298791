"""Reply links: the mailto URL a mail client reads back into the same reply a Reply button makes."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from beacon.parse.message import parse_message
from beacon.web.reply import MAX_REFERENCES, reply_links, reply_subject


def _mail(headers: str) -> bytes:
    return (headers.strip() + "\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\n\r\nBody.\r\n").replace("\n", "\r\n").replace("\r\r", "\r").encode()


def _read(url: str) -> tuple[list[str], dict[str, str]]:
    """What a client takes from a mailto URL (RFC 6068): recipients and header fields."""
    parts = urlsplit(url)
    assert parts.scheme == "mailto" and "+" not in parts.query
    to = [unquote(a) for a in parts.path.split(",") if a]
    fields = {k.lower(): v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return to, fields


@pytest.mark.parametrize(("subject", "expected"), [
    ("Budget for Q3", "Re: Budget for Q3"),
    ("Re: Budget", "Re: Budget"),
    ("RE: re:Budget", "Re: Budget"),
    ("Re[2]: Budget", "Re: Budget"),
    ("AW: Sv: Budget", "Re: Budget"),
    ("Fwd: Budget", "Re: Fwd: Budget"),
    ("Remember the budget", "Re: Remember the budget"),
    ("", "Re:"),
])
def test_subject_gets_one_re(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_reply_goes_to_reply_to_over_from_and_threads() -> None:
    email = parse_message(_mail("""
From: Priya Shah <priya@example.com>
Reply-To: team-list@example.org
To: me@example.net, Bob <bob@example.com>
Cc: carol@example.com, ME@example.net
Subject: Re: Offsite plan & budget?
Message-ID: <abc.123@mail.example.com>
References: <root@example.com> <mid@example.com>
In-Reply-To: <mid@example.com>
""")).email
    links = reply_links(email, ["me@example.net"])
    to, fields = _read(links.reply)
    assert to == ["team-list@example.org"]
    assert fields["subject"] == "Re: Offsite plan & budget?"
    assert fields["in-reply-to"] == "<abc.123@mail.example.com>"
    assert fields["references"] == "<root@example.com> <mid@example.com> <abc.123@mail.example.com>"
    assert "cc" not in fields

    assert links.reply_all is not None
    to, fields = _read(links.reply_all)
    assert to == ["team-list@example.org"]
    # The others, without the reader's own address (in any case).
    assert fields["cc"].split(",") == ["bob@example.com", "carol@example.com"]


def test_reply_to_from_when_no_reply_to_and_no_reply_all_alone() -> None:
    email = parse_message(_mail("""
From: Priya <priya@example.com>
To: me@example.net
Subject: Lunch
Message-ID: <x1@example.com>
""")).email
    links = reply_links(email, ["me@example.net"])
    to, fields = _read(links.reply)
    assert to == ["priya@example.com"] and fields["subject"] == "Re: Lunch"
    assert links.reply_all is None


def test_no_thread_headers_for_a_made_up_message_id_and_references_are_capped() -> None:
    no_id = parse_message(_mail("From: a@example.com\nTo: b@example.com\nSubject: x")).email
    assert no_id.message_id_synthetic
    _, fields = _read(reply_links(no_id).reply)
    assert "in-reply-to" not in fields and "references" not in fields

    refs = " ".join(f"<r{i}@example.com>" for i in range(30))
    long = parse_message(_mail(f"From: a@example.com\nSubject: x\nMessage-ID: <last@example.com>\nReferences: {refs}")).email
    _, fields = _read(reply_links(long).reply)
    kept = fields["references"].split()
    assert len(kept) == MAX_REFERENCES and kept[0] == "<r0@example.com>" and kept[-1] == "<last@example.com>"
