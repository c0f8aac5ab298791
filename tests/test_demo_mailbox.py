"""The bundled demo mailbox: reproducible, well-formed, and holding the cases it promises."""

from __future__ import annotations

import email
import mailbox
import re
from datetime import datetime, timezone
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

import pytest

from beacon.demo import DEMO_ACCOUNT, DEMO_MBOX, DEMO_OWN_ADDRESSES, DEMO_VIP_SENDERS
from beacon.demo.build import build_mbox
from beacon.demo.messages import MESSAGES

EXPECTED_COUNT = 41
ALLOWED_DOMAIN = re.compile(r"(^|\.)example\.(com|org|net)$")


def _read(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def raw_messages() -> list[bytes]:
    box = mailbox.mbox(DEMO_MBOX, create=False)
    try:
        return [box.get_bytes(key) for key in box.keys()]
    finally:
        box.close()


@pytest.fixture(scope="module")
def messages(raw_messages: list[bytes]) -> list[EmailMessage]:
    return [_read(raw) for raw in raw_messages]


@pytest.fixture(scope="module")
def by_id(messages: list[EmailMessage]) -> dict[str, EmailMessage]:
    return {m["Message-ID"]: m for m in messages}


def _addresses(msg: EmailMessage, *names: str) -> list[str]:
    values = [str(v) for name in names for v in msg.get_all(name, [])]
    return [addr.lower() for _, addr in getaddresses(values)]


def _text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


def test_committed_mbox_is_what_build_generates(tmp_path):
    out = tmp_path / "demo.mbox"
    assert build_mbox(out) == EXPECTED_COUNT
    assert out.read_bytes() == DEMO_MBOX.read_bytes(), "run `python -m beacon.demo.build` and commit"


def test_building_twice_gives_identical_bytes(tmp_path):
    first, second = tmp_path / "a.mbox", tmp_path / "b.mbox"
    build_mbox(first)
    build_mbox(second)
    build_mbox(second)  # rebuilding over an existing file must not append
    assert first.read_bytes() == second.read_bytes()


def test_constants_describe_the_mailbox(messages):
    assert DEMO_ACCOUNT == "demo"
    assert DEMO_MBOX.is_file()
    senders = {a for m in messages for a in _addresses(m, "From")}
    recipients = {a for m in messages for a in _addresses(m, "To", "Cc")}
    assert set(DEMO_VIP_SENDERS) <= senders
    assert set(DEMO_OWN_ADDRESSES) <= recipients
    assert DEMO_OWN_ADDRESSES[0] in senders  # Alex's own replies are in the mailbox


def test_count_and_required_headers(messages):
    assert len(messages) == EXPECTED_COUNT == len(MESSAGES)
    ids = [m["Message-ID"] for m in messages]
    assert all(re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", i) for i in ids)
    assert len(set(ids)) == len(ids)
    for m in messages:
        for name in ("Date", "From", "To", "Subject", "MIME-Version", "Content-Type"):
            assert m[name], f"{m['Message-ID']} lacks {name}"
        date = parsedate_to_datetime(str(m["Date"]))
        assert date.tzinfo is not None
        assert datetime(2026, 11, 6, tzinfo=timezone.utc) <= date <= datetime(2026, 11, 21, tzinfo=timezone.utc)


def test_mbox_from_lines_carry_the_message_dates():
    box = mailbox.mbox(DEMO_MBOX, create=False)
    try:
        for msg in box:
            stamp = msg.get_from().split(None, 1)[1]
            sent = parsedate_to_datetime(msg["Date"]).astimezone(timezone.utc)
            assert datetime.strptime(stamp, "%a %b %d %H:%M:%S %Y").replace(tzinfo=timezone.utc) == sent
    finally:
        box.close()


def test_every_address_and_link_uses_reserved_domains(messages):
    for m in messages:
        for addr in _addresses(m, "From", "To", "Cc", "Reply-To", "Sender"):
            assert ALLOWED_DOMAIN.search(addr.rpartition("@")[2]), addr
        texts = [p.get_content() for p in m.walk() if p.get_content_maintype() == "text"]
        for host in re.findall(r"https?://([A-Za-z0-9.-]+)", " ".join(texts)):
            assert ALLOWED_DOMAIN.search(host), host


def test_bulk_and_automated_counts(messages):
    unsubscribe = [m for m in messages if m["List-Unsubscribe"]]
    automated = [m for m in messages if m["Auto-Submitted"]]
    # 6 newsletters + the engineering mailing list + the code-review notification.
    assert len(unsubscribe) == 8
    # 6 notifications (auto-generated) + 1 out-of-office reply (auto-replied).
    assert len(automated) == 7
    assert sorted(str(m["Auto-Submitted"]) for m in automated) == ["auto-generated"] * 6 + ["auto-replied"]


def test_newsletters_look_like_bulk_mail(messages):
    bulk = [m for m in messages if str(m["Precedence"]) == "bulk"]
    assert len(bulk) == 6
    layouts = set()
    for m in bulk:
        assert m["List-Id"] and m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        html = m.get_body(preferencelist=("html",)).get_content()
        assert re.search(r'<img src="https://[^"]+" width="1" height="1"', html), "tracking pixel"
        assert "<style>" in html
        layouts.add((m.get_content_type(), m.get_body(preferencelist=("plain",)) is not None))
    # HTML-only single part, HTML-only inside multipart/alternative, and text + HTML.
    assert layouts == {
        ("text/html", False),
        ("multipart/alternative", False),
        ("multipart/alternative", True),
    }


def test_threads_resolve_inside_the_mailbox(messages, by_id):
    replies = [m for m in messages if m["In-Reply-To"]]
    assert replies
    roots: dict[str, list[EmailMessage]] = {}
    for m in replies:
        refs = str(m["References"]).split()
        assert refs[-1] == m["In-Reply-To"]
        assert all(r in by_id for r in refs), f"dangling reference in {m['Message-ID']}"
        parent = by_id[m["In-Reply-To"]]
        assert parsedate_to_datetime(str(m["Date"])) > parsedate_to_datetime(str(parent["Date"]))
        text = _text(m)
        assert re.search(r"^On .+ wrote:$", text, re.M)
        first_line = next(line for line in _text(parent).splitlines() if line.strip())
        assert f"> {first_line}" in text  # quotes the message it answers
        roots.setdefault(refs[0], [by_id[refs[0]]]).append(m)
    assert len(roots) == 3
    assert sorted(len(thread) for thread in roots.values()) == [3, 4, 4]
    # Alex answers in every thread: twice from work, once from the personal address.
    alex_senders = [{a for m in t for a in _addresses(m, "From")} & set(DEMO_OWN_ADDRESSES) for t in roots.values()]
    assert sorted(len(s) for s in alex_senders) == [1, 1, 1]
    assert sorted(s.pop() for s in alex_senders) == sorted([DEMO_OWN_ADDRESSES[0]] * 2 + [DEMO_OWN_ADDRESSES[1]])


def test_non_utf8_message_declares_and_uses_its_charset(messages, raw_messages):
    latin = [(m, raw) for m, raw in zip(messages, raw_messages) if m.get_content_charset() == "iso-8859-1"]
    assert len(latin) == 1
    msg, raw = latin[0]
    assert b"Subject: =?iso-8859-1?q?R=E9union_=E0_Lyon" in raw
    assert str(make_header(decode_header(raw.split(b"Subject: ")[1].split(b"\n")[0].decode()))) == (
        "Réunion à Lyon : propositions de dates"
    )
    body = msg.get_payload(decode=True)
    assert msg["Content-Transfer-Encoding"] == "8bit"
    assert b"r\xe9union \xe0 Lyon" in body and b"r\xe9union \xe0 Lyon" in raw
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert "réunion à Lyon" in msg.get_content()


def test_attachments_and_inline_image(messages):
    attached = {
        part.get_filename(): (m, part)
        for m in messages
        for part in m.iter_attachments()
        if part.get_filename()
    }
    _, csv_part = attached["Q3-budget.csv"]
    assert csv_part.get_content_type() == "text/csv"
    rows = csv_part.get_content().splitlines()
    assert rows[0].startswith("Department,Line item") and rows[-1].startswith("Total,")
    _, pdf_part = attached["INV-2026-1107.pdf"]
    assert pdf_part.get_content().startswith(b"%PDF-1.4")

    inline = [p for m in messages for p in m.walk() if p["Content-ID"]]
    assert len(inline) == 1
    image = inline[0]
    assert image.get_content_type() == "image/png" and image.get_content().startswith(b"\x89PNG")
    cid = str(image["Content-ID"]).strip("<>")
    owner = next(m for m in messages if image in list(m.walk()))
    assert f'src="cid:{cid}"' in owner.get_body(preferencelist=("html",)).get_content()


def test_cc_only_and_mailing_list_messages(messages):
    own = set(DEMO_OWN_ADDRESSES)
    cc_only = [m for m in messages if own & set(_addresses(m, "Cc")) and not own & set(_addresses(m, "To"))]
    assert any(str(m["Subject"]) == "Bluefin renewal: pricing approach" for m in cc_only)
    listed = [m for m in messages if str(m["Precedence"]) == "list" and m["List-Post"]]
    assert len(listed) == 1
    assert _addresses(listed[0], "To") == ["engineering@lists.example.com"]


def test_hostile_html_keeps_every_attack(messages):
    (msg,) = [m for m in messages if str(m["Subject"]) == "Your account statement"]
    assert msg.get_content_type() == "text/html"
    html = msg.get_content()
    for needle in (
        "<script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(2)">',
        "https://tracker.example.net/pixel.gif",
        "position:fixed",
        "@import",
        "background:url(https://",
        "<iframe",
        "<form",
    ):
        assert needle in html, needle


def test_ground_truth_matches_the_text(messages, by_id):
    rendered = {spec.key: by_id[spec.message_id] for spec in MESSAGES}
    for spec in MESSAGES:
        msg = rendered[spec.key]
        assert str(msg["Subject"]) == spec.subject
        if spec.deadline:
            own_text = " ".join(spec.text.split())  # deadline phrases may wrap in the body
            assert spec.deadline in own_text, spec.key
    kinds = [spec.kind for spec in MESSAGES]
    assert kinds.count("newsletter") == 6 and kinds.count("notification") == 7
    phrases = {spec.deadline for spec in MESSAGES if spec.kind == "work-request"}
    assert {"by Friday", "before 3pm tomorrow", "before EOD", "by next Tuesday", "by Nov 24",
            "within two days", "ASAP"} <= phrases


def test_messages_parse_without_mime_defects(messages):
    for m in messages:
        defects = [(part.get_content_type(), d) for part in m.walk() for d in part.defects]
        assert not defects, (m["Message-ID"], defects)
