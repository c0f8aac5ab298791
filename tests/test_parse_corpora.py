"""Every message of three real-mail corpora parses without raising, into storable JSON.

SpamAssassin (6,046 messages, 2002 ham and spam: charsets, HTML-only, broken MIME),
CPython's email test messages and mail-parser's test mails. For each message: no
exception, some content or a recorded problem, JSON that PostgreSQL accepts (no NUL,
valid UTF-8), and attachment metadata that matches the returned bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from beacon.parse import parse_message
from testkit import corpora


def check_corpus(files: Iterable[Path]) -> int:
    failures: list[str] = []
    count = 0
    for path in files:
        count += 1
        raw = path.read_bytes()
        try:
            parsed = parse_message(raw)
            email = parsed.email
            dumped = email.model_dump_json()
            dumped.encode("utf-8")  # raises on lone surrogates
            assert "\\u0000" not in dumped and "\x00" not in dumped, "NUL in output"
            json.loads(dumped)
            assert email.subject or email.text.strip() or email.problems, "nothing extracted"
            assert not any(p.kind == "internal" for p in email.problems), [
                p.detail for p in email.problems if p.kind == "internal"]
            assert email.content_hash == hashlib.sha256(raw).hexdigest()
            assert [info for info, _ in parsed.attachments] == email.attachments
            for info, data in parsed.attachments:
                assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
        except Exception as exc:  # collect all failures, report them together
            failures.append(f"{path}: {type(exc).__name__}: {exc}")
    assert not failures, f"{len(failures)} of {count} failed:\n" + "\n".join(failures[:20])
    return count


@pytest.mark.slow
def test_spamassassin_corpus() -> None:
    assert check_corpus(corpora.iter_files(corpora.spamassassin_dir(), "*.txt")) == 6046


def test_cpython_email_corpus() -> None:
    assert check_corpus(corpora.iter_files(corpora.cpython_email_dir(), "msg_*.txt")) >= 45


def test_mailparser_corpus() -> None:
    assert check_corpus(corpora.iter_files(corpora.mailparser_dir(), "mail_*")) == 23
