"""The MIME, charset, date and address cases real mail gets wrong, as fixtures built here.

Each fixture is the smallest message that shows the trap; each test states what a reader
expects to see.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import time
from datetime import datetime, timedelta, timezone
from email.message import Message

import pytest

from beacon.models import Address
from beacon.parse import parse_message
from beacon.parse.body import extract_parts
from beacon.parse.headers import unfold
from beacon.parse.text import CONTROL_CHARS, clean_text, decode_bytes, fold_whitespace

HEAD = b"From: Ann <ann@example.org>\nTo: bob@example.org\nMessage-ID: <x@example.org>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n"


def kinds(email) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(p.kind, p.detail) for p in email.problems]


# --- MIME ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [
    b'multipart/mixed;\n\tboundary=\n\t"----=_NextPart_000_0001"',
    b'multipart/mixed; boundary="----=_NextPart_000_\n 0001"',  # folded inside the quotes
])
def test_folded_boundary_keeps_the_tree_and_the_attached_message(content_type: bytes) -> None:
    raw = HEAD + b"Subject: folded\nMIME-Version: 1.0\nContent-Type: " + content_type + b"""

------=_NextPart_000_0001
Content-Type: text/plain; charset=us-ascii

Hello, see the forwarded mail.
------=_NextPart_000_0001
Content-Type: message/rfc822

From: x@example.net
Subject: inner

inner body
------=_NextPart_000_0001--
"""
    parsed = parse_message(raw)
    email = parsed.email
    assert email.text == "Hello, see the forwarded mail."
    assert [(a.filename, a.content_type, a.part) for a in email.attachments] == [
        ("inner.eml", "message/rfc822", "2")]
    assert b"inner body" in parsed.attachments[0][1]


def test_malformed_first_header_line_keeps_the_other_headers() -> None:
    raw = b"Fro : someone@example.org\nTo: c@example.org\nSubject: broken first line\n" \
          b"Message-ID: <bf@x>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nBody text here.\n"
    email = parse_message(raw).email
    assert email.subject == "broken first line"
    assert email.message_id == "bf@x" and email.to == [Address(address="c@example.org")]
    assert email.text == "Body text here."
    assert ("header", "malformed header line 'Fro :' read as a header") in kinds(email)


@pytest.mark.parametrize("cte", [b"quoted-printable   ", b" Quoted-Printable\t", b"quoted-printable;"])
def test_transfer_encoding_with_blanks_is_decoded(cte: bytes) -> None:
    raw = HEAD + b"Subject: qp\nContent-Type: text/plain; charset=iso-8859-1\n" \
          b"Content-Transfer-Encoding: " + cte + b"\n\ncaf=E9 cr=E8me soft=\nbreak\n"
    assert parse_message(raw).email.text == "café crème softbreak"


def test_two_content_type_headers() -> None:
    # The first Content-Type hides the multipart the body really is.
    raw = HEAD + b"""Subject: two
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Type: multipart/alternative; boundary="B"

--B
Content-Type: text/plain; charset=utf-8

plain text here
--B
Content-Type: text/html; charset=utf-8

<p>html text here</p>
--B--
"""
    email = parse_message(raw).email
    assert email.text == "plain text here"
    assert email.html == "<p>html text here</p>"
    assert "--B" not in email.text
    # A part repeating its Content-Type keeps its text too.
    raw2 = raw.replace(b"Content-Type: text/plain; charset=utf-8\nContent-Type: multipart",
                       b"Content-Type: multipart").replace(
        b"--B\nContent-Type: text/plain; charset=utf-8\n",
        b"--B\nContent-Type: text/plain; charset=utf-8\nContent-Type: text/plain\n")
    assert parse_message(raw2).email.text == "plain text here"


def test_inline_named_text_part_is_the_body() -> None:
    raw = HEAD + b"""Subject: inline named
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="B"

--B
Content-Type: text/plain; charset=utf-8; name="body.txt"
Content-Disposition: inline; filename="body.txt"

The real body text.
--B
Content-Type: text/plain; name="notes.txt"
Content-Disposition: attachment; filename="notes.txt"

attached notes
--B--
"""
    email = parse_message(raw).email
    assert email.text == "The real body text."
    assert [a.filename for a in email.attachments] == ["notes.txt"]


def test_gzip_text_part_is_inflated_and_a_bomb_refused() -> None:
    def gz_message(payload: bytes) -> bytes:
        return HEAD + b"Subject: gz\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n" \
               b"Content-Encoding: gzip\nContent-Transfer-Encoding: base64\n\n" + \
               base64.encodebytes(gzip.compress(payload))

    assert parse_message(gz_message("Compressed body text, café.".encode())).email.text == \
        "Compressed body text, café."
    bomb = gz_message(b"\0" * (64 * 1024 * 1024))
    assert len(bomb) < 200_000
    email = parse_message(bomb).email
    assert email.text == ""
    assert [a.content_type for a in email.attachments] == ["application/gzip"]
    assert any(k == "decode" and "inflates beyond" in d for k, d in kinds(email))


def test_five_thousand_parts_flat_and_nested() -> None:
    raw = HEAD + b"Subject: many\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=TOP\n\n"
    raw += b"".join(b"--TOP\nContent-Type: application/octet-stream; name=p%d.bin\n\npart %d\n" % (i, i)
                    for i in range(5000))
    raw += b"--TOP\nContent-Type: text/plain\n\nthe text\n--TOP--\n"
    email = parse_message(raw).email
    assert email.text == "the text" and len(email.attachments) == 5000

    deep = HEAD + b"Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n"
    deep += b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i - 1, i) for i in range(1, 5000))
    deep += b"--b4999\nContent-Type: text/plain\n\nhello from the bottom\n"
    started = time.process_time()
    email = parse_message(deep).email
    assert time.process_time() - started < 10
    assert email.subject == "deep" and email.text == "hello from the bottom"
    assert any(k == "structure" and "read flat" in d for k, d in kinds(email))


def test_attachment_bytes_are_derived_from_the_raw_message() -> None:
    data = bytes(range(256)) * 10
    raw = HEAD + b"Subject: att\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n" \
          b"--B\nContent-Type: text/plain\n\nsee\n--B\nContent-Type: application/octet-stream; name=a.bin\n" \
          b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(data) + b"--B--\n"
    parsed = parse_message(raw, keep_attachments=False)
    info = parsed.email.attachments[0]
    assert parsed.attachments == [] and info.part == "2"
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert extract_parts(raw, {"2"}) == {"2": data}


# --- charsets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "codec", "declared"), [
    ("Vodafone agreed to pay £750m for the stake.", "cp1252", None),
    ("Il est très content de la réunion.", "iso-8859-1", None),
    ("João e Conceição chegaram às três.", "iso-8859-1", "default"),
    ("Price: £5", "cp1252", None),  # short text: was guessed Shift_JIS
    ("“Smart quotes” – and a dash…", "cp1252", "unknown-8bit"),
    ("Grüße aus München", "iso-8859-1", "us-ascii"),
])
def test_western_text_is_read_as_western(text: str, codec: str, declared: str | None) -> None:
    decoded, problem = decode_bytes(text.encode(codec), declared)
    assert decoded == text
    assert problem is not None and "guessed cp1252" in problem


@pytest.mark.parametrize(("text", "codec"), [
    ("Привет, как дела? Всё хорошо, спасибо за письмо.", "cp1251"),
    ("日本語のテキストです。よろしくお願いします。", "shift_jis"),
])
def test_non_western_text_is_still_detected(text: str, codec: str) -> None:
    decoded, problem = decode_bytes(text.encode(codec), None)
    assert decoded == text and problem is not None and "guessed" in problem


def test_undeclared_western_body_in_a_message() -> None:
    raw = HEAD + b"Subject: deal\nContent-Type: text/plain; charset=default\n\n" + \
        "The deal is worth £750m; très bien, João.".encode("cp1252")
    email = parse_message(raw).email
    assert email.text == "The deal is worth £750m; très bien, João."
    assert any(k == "charset" and "guessed cp1252" in d for k, d in kinds(email))


# --- dates and addresses ------------------------------------------------------------------------


def test_twelve_hour_clock_date() -> None:
    raw = HEAD.replace(b"Date: Mon, 1 Jan 2024 10:00:00 +0000", b"Date: Wed 29 May 2019 06:09:22 PM EDT")
    email = parse_message(raw + b"Subject: pm\n\nx").email
    assert email.date == datetime(2019, 5, 29, 18, 9, 22, tzinfo=timezone(timedelta(hours=-4)))
    assert email.date_source == "header"


def test_future_date_is_not_trusted() -> None:
    raw = (b"Received: from a by b; Mon, 2 Sep 2002 10:00:00 +0000\n"
           + HEAD.replace(b"Mon, 1 Jan 2024", b"Sat, 1 Jan 2028") + b"Subject: spam\n\nx")
    email = parse_message(raw).email
    assert email.date == datetime(2002, 9, 2, 10, 0, tzinfo=timezone.utc)
    assert email.date_source == "received"
    assert any(k == "date" and "not trusted" in d for k, d in kinds(email))
    # Without Received headers the import time is the yardstick.
    now = datetime(2024, 5, 1, tzinfo=timezone.utc)
    email = parse_message(HEAD.replace(b"Mon, 1 Jan 2024", b"Sat, 1 Jan 2028") + b"\nx",
                          fallback_date=now).email
    assert email.date_source == "import"


def test_nul_in_address_is_a_problem_and_bare_names_keep_their_case() -> None:
    raw = HEAD.replace(b"To: bob@example.org", b"To: bob\x00@example.org\nCc: Undisclosed Recipients") \
        + b"Subject: nul\n\nx"
    email = parse_message(raw).email
    assert email.to == [Address(address="bob@example.org")]
    assert email.cc == [Address(name="Undisclosed Recipients")]
    assert ("header", "To: NUL bytes removed from the address header") in kinds(email)


def test_huge_subject_and_recipient_list_parse_in_bounded_time() -> None:
    rcpts = ", ".join(f"user{i}@example.org" for i in range(100_000))
    raw = HEAD.replace(b"To: bob@example.org", f"To: {rcpts}".encode()) + \
        b"Subject: " + b"long " * 1_000_000 + b"\n\nbody"
    started = time.process_time()
    email = parse_message(raw).email
    assert time.process_time() - started < 30
    assert len(email.to) == 100_000 and len(email.subject) > 4_000_000


def test_big_message_parts_are_measured_or_decoded_on_request() -> None:
    from beacon.parse.mime import BIG_MESSAGE

    data = bytes(range(256)) * (BIG_MESSAGE // 256 + 4096)
    raw = HEAD + b"Subject: big\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n" \
          b"--B\nContent-Type: text/plain\n\nsee the file\n--B\nContent-Type: application/octet-stream; " \
          b"name=big.bin\nContent-Transfer-Encoding: base64\n\n" + base64.encodebytes(data) + b"--B--\n"
    assert len(raw) > BIG_MESSAGE
    light = parse_message(raw, keep_attachments=False)
    full = parse_message(raw)
    for parsed in (light, full):
        assert parsed.email.text == "see the file"
        info = parsed.email.attachments[0]
        assert (info.filename, info.size, info.part) == ("big.bin", len(data), "2")
        assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert light.attachments == [] and full.attachments[0][1] == data
    assert extract_parts(raw, {"2"}) == {"2": data}


@pytest.mark.parametrize("text", [
    "  Ann   Example \r\n\tTeam ", "a\x0bb\x0cc\x1cd", "nul\x00inside", "caf\u00e9\u00a0au\u2028lait",
    "lone \udcff surrogate", "tab\tand\r\rcr", "", " \r\n ",
])
def test_whitespace_folding_keeps_to_its_definition(text: str) -> None:
    # Plain ASCII takes a shortcut; every text folds as clean_text + split say.
    assert fold_whitespace(text) == " ".join(clean_text(text).split())
    assert unfold(text) == re.sub(r"\r?\n(?=[ \t])", "", text).replace("\r", "").replace("\n", " ")
    assert clean_text(text) == CONTROL_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).encode(
        "utf-8", "replace").decode("utf-8")


@pytest.mark.parametrize("raw", [
    b"", b"\n", b"From x\r\nA: b\r\n\r\nbody", b" cont\nA: b\n\nx", b"A: b\nFrom y\n\nx", b"A: b\nFrom y\n",
    b":x\nA: b\n\nbody", b"A: b\nnot a header\nC: d\n\nx", b"A: b\n\tcont\n more\nB:c\n\n", b"A: b", b"A:b\rB:c\r\rbody\r",
    b"Content-Type: message/rfc822\n\nA: b\n\nx", b"Content-Type: multipart/mixed; boundary=x\n\n--x\n\nhi\n--x--\n",
    b"A: \xff\xfe\n\n\xff", b"X-A:   \t spaced \r\n\r\n", b"A: b\x0c\nB: c\n\nx\x0cy",
    b"From a@b Mon Jan  1 00:00:00 2024\nSubject: s\nContent-Type: text/plain; charset=utf-8\n\nbody\n",
    b"From x\n cont\nA: b\n\n", b"From x\n\nbody", b"A: b\n\n", b"A: b\n c\nnot a header\n", b"A: b\r\n\r\n\r\n",
    b"A: b\n\tc", b"A: b\rB: c\r\n\r\nbody\n\nmore",
])
def test_leaf_messages_read_as_the_stdlib_reads_them(raw: bytes) -> None:
    from email.parser import BytesParser

    from beacon.parse.headers import RAW_POLICY
    from beacon.parse.mime import parse_bytes

    def shape(msg: Message) -> tuple[object, ...]:
        payload = msg.get_payload()
        return (type(msg), msg._headers, msg.get_unixfrom(), [repr(d) for d in msg.defects], msg.preamble,
                msg.epilogue, [shape(p) for p in payload] if isinstance(payload, list) else msg._payload)

    assert shape(parse_bytes(raw)) == shape(BytesParser(policy=RAW_POLICY).parsebytes(raw))


def test_header_groups_read_first_values_and_problems_in_order() -> None:
    from beacon.parse.headers import first_raw_values
    from beacon.parse.mime import parse_bytes

    msg = parse_bytes(b"List-Id: <a.example>\nPrecedence: bulk\nprecedence: junk\nX-Spam-Flag: =?x-bad?q?YES?=\n\nx")
    assert first_raw_values(msg, ("precedence", "list-id", "x-mailer")) == ["bulk", "<a.example>", None]
    # User-Agent comes after X-Mailer in the list headers: their problems are recorded in that order.
    email = parse_message(b"List-Id: <a.example>\nPrecedence: bulk\nUser-Agent: \xff\xfe\nX-Mailer: caf\xe9\n"
                          b"X-Spam-Level: =?utf-8?q?caf=C3=A9?=\nX-Spam-Flag: YES\nX-Campaign-Id: c1\n\nx").email
    assert (email.list_headers.list_id, email.list_headers.precedence) == ("<a.example>", "bulk")
    assert (email.list_headers.x_mailer, email.list_headers.user_agent, email.list_headers.x_campaign) == (
        "caf\u00e9", "\u044f\u044e", "c1")
    assert (email.spam_headers.x_spam_flag, email.spam_headers.x_spam_level, email.spam_headers.x_spam) == (
        "YES", "caf\u00e9", None)
    assert [p.detail.split(":")[0] for p in email.problems if "8-bit" in p.detail] == ["X-Mailer", "User-Agent"]


def test_the_header_block_ends_at_the_first_blank_line_of_either_kind() -> None:
    import itertools

    from beacon.parse.mime import _header_end

    def first_blank(raw: bytes) -> int:
        ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if i >= 0]
        return min(ends) if ends else len(raw)

    for n in range(9):
        for chars in itertools.product(b"\r\na", repeat=n):
            raw = bytes(chars)
            assert _header_end(raw) == first_blank(raw), raw
