"""parse_message on hand-checked real messages (SpamAssassin, mail-parser, CPython corpora).

Every expected value below was read off the raw message by eye. The "trap" tests derive
their input from a real message by changing exactly one header or cutting the bytes.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from beacon.models import Address
from beacon.parse import parse_message
from testkit import corpora

IMPORT_TIME = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
GREG = "easy-ham-1/01637.cd9dec755fc9e6d819137b8e0111e031.txt"  # reply, quote, -- signature
THEO = "easy-ham-1/01397.53c38cd7bcd8f13b0d6b784c9265cec1.txt"  # multipart/signed reply
PATCH = "easy-ham-1/01137.862bf0c202b134ec11c965d1a46a43a0.txt"  # attachment + pgp signature


def tz(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


@pytest.fixture(scope="module")
def sa() -> Path:
    return corpora.spamassassin_dir()


def read(base: Path, name: str) -> bytes:
    return (base / name).read_bytes()


def problem_kinds(email) -> set[str]:
    return {p.kind for p in email.problems}


def test_reply_headers_thread_and_quote_split(sa: Path) -> None:
    raw = read(sa, GREG)
    email = parse_message(raw).email
    assert email.message_id == "20020906135718.GC16820@cthulhu.gerg.ca"
    assert not email.message_id_synthetic
    assert email.from_ == [Address(name="Greg Ward", address="gward@python.net")]
    assert email.subject == "[Spambayes] Re: [Python-Dev] Getting started with GBayes testing"
    assert email.date == datetime(2002, 9, 6, 9, 57, 18, tzinfo=tz(-4))
    assert email.date_source == "header"
    assert email.in_reply_to == "200209060806.g8686ve03964@localhost.localdomain"
    assert email.references == [
        "BIEJKCLHCIOIHAGOKOLHGEEMDKAA.tim.one@comcast.net",
        "200209060806.g8686ve03964@localhost.localdomain",
    ]
    assert email.thread_id == "BIEJKCLHCIOIHAGOKOLHGEEMDKAA.tim.one@comcast.net"
    # The attribution line and the quote are history; "Greg" stays, the "-- " block is signature.
    assert email.new_text == (
        "As an aside: one of the best ways to dodge SpamAssassin is by having an\n"
        "In-Reply-To header.  Most list traffic should meet this criterion.\n\n"
        "Alternately, I can whitelist mail to spambayes@python.org -- that'll\n"
        "work until spammers get ahold of the list address, which usually seems\n"
        "to take a few months.\n\nGreg"
    )
    assert email.signature.startswith("--\nGreg Ward <gward@python.net>")
    assert email.signature.endswith("satellite dish PAYMENTS!")
    assert email.text.startswith("On 06 September 2002, Anthony Baxter said:\n> A snippet")
    assert email.problems == []
    assert email.content_hash == hashlib.sha256(raw).hexdigest()
    assert email.size == len(raw) == 1039


def test_multipart_signed_reply(sa: Path) -> None:
    parsed = parse_message(read(sa, THEO))
    email = parsed.email
    assert email.from_ == [Address(name="Theo Van Dinter", address="felicity@kluge.net")]
    assert email.to == [Address(name="Justin Mason", address="yyyy@spamassassin.taint.org")]
    assert email.cc == [Address(name="Spamassassin Devel List",
                                address="spamassassin-devel@example.sourceforge.net")]
    assert email.subject == "Re: [SAdev] SpamAssassin v2.40 released (finally)!"
    assert email.date == datetime(2002, 9, 2, 15, 46, 18, tzinfo=tz(-4))
    assert email.thread_id == email.in_reply_to == "20020902175329.E20EC43F99@phobos.labs.netnoteinc.com"
    assert email.new_text == (
        "<grrr>  Who changed my code?    Dns.pm and Reporter.pm WRT Razor\n"
        "have pointers to $Mail::SpamAssassin::DEBUG, whereas it should be\n"
        "$Mail::SpamAssassin::DEBUG->{enabled}...\n\n"
        "I'll be submitting a bug/patch for this shortly."
    )
    # quoted-printable "--=20" decoded to the "-- " signature delimiter
    assert email.signature == (
        "--\nRandomly Generated Tagline:\nMA Driving #2: Everything is under construction."
    )
    assert [(a.filename, a.content_type, a.inline) for a in email.attachments] == [
        ("", "application/pgp-signature", True)
    ]
    info, data = parsed.attachments[0]
    assert data.startswith(b"-----BEGIN PGP SIGNATURE-----")
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
    assert email.list_headers.user_agent == "Mutt/1.4i"
    assert email.list_headers.return_path == "felicity@kluge.net"


def test_attachment_names_and_bytes(sa: Path) -> None:
    parsed = parse_message(read(sa, PATCH))
    names = [(a.filename, a.content_type, a.inline) for a in parsed.email.attachments]
    assert names == [("exmh-patch", "text/plain", False),
                     ("signature.ng", "application/pgp-signature", True)]
    patch_info, patch_bytes = parsed.attachments[0]
    assert patch_info.size == 2376
    assert patch_bytes.startswith(b"--- /usr/lib/exmh/extrasInit.tcl\tSat Mar  2 17:26:38 2002\n")
    # the attached patch is not mixed into the body text
    assert "extrasInit.tcl\tSat" not in parsed.email.text
    assert parsed.email.new_text.startswith("i'm a very happy user of exmh, but i'm paranoid also :-)")


def test_attached_message_is_one_attachment(sa: Path) -> None:
    parsed = parse_message(read(sa, "easy-ham-2/00721.39d6783c5838169bfa901056e6c8a5b2.txt"))
    email = parsed.email
    assert [(a.filename, a.content_type) for a in email.attachments] == [("5637", "message/rfc822")]
    assert b"Subject:" in parsed.attachments[0][1]
    assert email.new_text == (
        "Chris,\n\nI think you are referring to a problem I noticed last October (see\n"
        "attached email). If I remember correctly, the binding for SeditBeautify\n"
        "is being applied outside of the sedit window and that results in the\n"
        "behavior observed.\n\nKevin"
    )


def test_rfc2047_subject_and_iso_2022_jp_body(sa: Path) -> None:
    email = parse_message(read(sa, "spam-1/00325.58d1a52f435030dc38568bc12a3d76a2.txt")).email
    assert email.subject == "未承諾広告※灼熱！出会いの広場"
    assert email.from_ == [Address(name="Vip-mail", address="vip@99-81.com")]
    assert email.date == datetime(2002, 9, 11, 3, 52, 37, tzinfo=tz(9))
    assert email.text.startswith("<事業者>\n氏名:Vip-mail\n突然のメール失礼いたします。")


def test_iso_8859_15_body(sa: Path) -> None:
    email = parse_message(read(sa, "easy-ham-2/00416.77c8eaf76f48ec6757aa82c847ecd7ef.txt")).email
    assert email.from_ == [Address(name="Padraig Brady", address="padraig.brady@corvil.com")]
    assert email.new_text == (
        "Partitioning is an ambiguous term\nbut I think I know what you mean.\n"
        "Have you looked at: http://freevsd.org/\n\nPádraig."
    )
    assert email.list_headers.list_id == "Irish Linux Users' Group <ilug.linux.ie>"
    assert email.list_headers.precedence == "bulk"
    assert email.problems == []


def test_windows_1251_body_and_sign_off(sa: Path) -> None:
    email = parse_message(read(sa, "easy-ham-1/00236.0d42e8e99de86aae42a4f3e3cdc2465b.txt")).email
    assert email.from_ == [Address(name="HAMILTON,DAVID (HP-Ireland,ex2)", address="david_hamilton3@hp.com")]
    assert email.new_text == (
        "Does anyone know if this is supported under 2.4.18 kernels or higher?\n\n"
        "I need to buy an ISDN TA quick, and PC World have these in stock for €65."
    )
    assert email.signature.startswith("Thanks,\nDavid.\n\nDavid Hamilton\nSenior Technical Consultant")


def test_cpython_quoted_printable_latin1_html() -> None:
    email = parse_message((corpora.cpython_email_dir() / "msg_10.txt").read_bytes()).email
    assert email.from_ == [Address(name="Barry Warsaw", address="barry@python.org")]
    assert email.html == "¡This is a Quoted Printable encoded message!\n"
    assert email.text.split("\n\n") == [
        "This is a 7bit encoded message.",
        "This is a Base64 encoded message.",
        "This is a Base64 encoded message.",
        "This has no Content-Transfer-Encoding: header.",
    ]


def test_html_only_with_links(sa: Path) -> None:
    email = parse_message(read(sa, "hard-ham-1/00201.04e4c8ef93080eea4b11213262ece700.txt")).email
    assert email.text_from_html
    assert email.html is not None and email.html.startswith("<html><head><title>Ashfield Online email")
    assert email.text.startswith(
        "Ashfield Online © 2002 Aric McKeown Comic for Sunday, September 1, 2002\n\n"
        "Powered by FLASH (http://www.shockwave.com)\n\n"
        "(A Keenspot (http://www.keenspot.com/) Comic)"
    )
    assert "<" not in email.text and "&copy;" not in email.text


def test_html_only_unclosed_link_and_koi8r_meta_charset(sa: Path) -> None:
    email = parse_message(read(sa, "easy-ham-2/00947.5983cb8fa9a4c2a27cb6eca03e0be56d.txt")).email
    assert email.text == (
        "It took me a week to get down to this; The towering pine and the hemlock.\n\n"
        "http://www.informationweek.com/story/IWK20020723S0005 http://xent.com/mailman/listinfo/fork"
    )
    # koi8-r declared only in the HTML <meta>, not in the MIME header
    email = parse_message(read(sa, "spam-2/00789.ffe4e3c5dc50f5a9ac33a653b5f8b566.txt")).email
    assert email.text.startswith("ЗДЕСЬ РЕАЛЬНЫЕ ДЕНЬГИ!!!\nhttp://dengi.150m.com/Golden%20Stream.htm")


def test_rfc2047_names_filename_and_received_date() -> None:
    raw = (corpora.mailparser_dir() / "mail_test_11").read_bytes()
    email = parse_message(raw).email
    assert email.from_ == [Address(name="служба ФНС Даниил Суворов", address="suvorov.s@nalg.ru")]
    assert email.subject == "письмо уведом-е"
    assert [a.filename for a in email.attachments] == [
        "Prokuratura Rejonowa Warszawa-Śródmieście północ sygn. 2Ds. 137414 - RSK pracowników "
        "Skarbowych NSZZ Solidarność - Zarządzenie o odmowie dopuszczenia SOWP do udziału w "
        "postepowaniu.pdf"
    ]
    # no Date header: newest Received "22 Aug 2016 14:23:01 -0000"
    assert email.date == datetime(2016, 8, 22, 14, 23, 1, tzinfo=timezone.utc)
    assert email.date_source == "received"
    assert email.message_id_synthetic
    assert "date" in problem_kinds(email)


def test_rfc2231_filenames() -> None:
    email = parse_message((corpora.mailparser_dir() / "mail_test_5").read_bytes()).email
    assert email.subject == "Je prépare mon été zéro complexe !"
    first = email.attachments[0]
    assert first.filename == "mailingassets_d68799cd6301c7f5731a3c42946e528bcb78eb84.jpg"
    assert (first.content_type, first.content_id, first.inline) == (
        "image/jpeg", "FWMAIL0d11ff4c87dfeab6cd1051bab808f635", True)


def test_filenames_from_either_header_and_bad_rfc2231_parameters() -> None:
    def part(headers: str) -> str:
        return f"--b\n{headers}\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n"

    raw = ('From: a@example.com\nMessage-ID: <f@t>\nContent-Type: multipart/mixed; boundary="b"\n\n'
           "--b\nContent-Type: text/plain\n\nFiles.\n"
           + part("Content-Type: application/pdf; NAME=plan.pdf")
           + part("Content-Type: application/pdf\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf")
           # Continuations with and without a number: the stdlib's RFC 2231 decoding raises.
           + part("Content-Type: application/pdf\nContent-Disposition: attachment; x*=a; x*0=b")
           + part("Content-Type: application/pdf\nContent-Disposition: attachment")
           + "--b--\n").encode()
    email = parse_message(raw).email
    assert [a.filename for a in email.attachments] == ["plan.pdf", "résumé.pdf", "", ""]
    assert [p.part for p in email.problems if p.detail.startswith("bad filename")] == ["4"]


# --- traps -------------------------------------------------------------------------


def test_empty_message_id_gets_stable_synthetic_id(sa: Path) -> None:
    raw = read(sa, GREG).replace(
        b"Message-ID: <20020906135718.GC16820@cthulhu.gerg.ca>", b"Message-Id: <>")
    email = parse_message(raw).email
    digest = hashlib.sha256(raw).hexdigest()
    assert email.message_id == f"synthetic-{digest[:32]}@beacon.invalid"
    assert email.message_id_synthetic
    assert parse_message(raw).email.message_id == email.message_id  # stable
    assert email.thread_id == "BIEJKCLHCIOIHAGOKOLHGEEMDKAA.tim.one@comcast.net"
    assert any(p.kind == "header" and "Message-Id" in p.detail for p in email.problems)


def test_charset_default_still_decoded(sa: Path) -> None:
    raw = read(sa, "spam-1/00388.53eae0055e66fcb7194f9cca080fdefe.txt")
    assert b'charset="DEFAULT"' in raw
    email = parse_message(raw).email
    assert email.text.startswith("PROFESSIONAL, EFFECTIVE DEBT COLLECTION SERVICES AVAILABLE\n\n")
    assert any(p.kind == "charset" and "unknown charset 'default'" in p.detail for p in email.problems)
    # "... 01:30:33" has no zone: assumed UTC and flagged
    assert email.date == datetime(2002, 9, 20, 1, 30, 33, tzinfo=timezone.utc)
    assert any(p.kind == "date" and "without timezone" in p.detail for p in email.problems)


def test_charset_default_with_8bit_text() -> None:
    raw = (corpora.cpython_email_dir() / "msg_10.txt").read_bytes()
    raw = raw.replace(b'charset="iso-8859-1"\nContent-Transfer-Encoding: Quoted-Printable',
                      b'charset="default"\nContent-Transfer-Encoding: Quoted-Printable')
    email = parse_message(raw).email
    assert email.html == "¡This is a Quoted Printable encoded message!\n"
    assert any(p.kind == "charset" and "'default'" in p.detail and p.part == "2"
               for p in email.problems)


def test_garbage_date_falls_back_to_newest_received(sa: Path) -> None:
    raw = read(sa, THEO).replace(b"Date: Mon, 2 Sep 2002 15:46:18 -0400", b"Date: sometime soon")
    email = parse_message(raw, fallback_date=IMPORT_TIME).email
    assert email.date == datetime(2002, 9, 2, 23, 13, 36, tzinfo=tz(1))
    assert email.date_source == "received"
    assert any(p.kind == "date" and "sometime soon" in p.detail for p in email.problems)


def test_missing_date_and_received_uses_import_time(sa: Path) -> None:
    raw = read(sa, GREG).replace(b"Date: Fri, 6 Sep 2002 09:57:18 -0400\n", b"")
    email = parse_message(raw, fallback_date=IMPORT_TIME).email
    assert email.date == IMPORT_TIME
    assert email.date_source == "import"
    assert "date" in problem_kinds(email)


@pytest.mark.parametrize("raw", [b"", b"\r\n\r\n", random.Random(7).randbytes(20_000),
                                 b"\x00" * 1000, b"Subject: " + b"x" * 200_000 + b"\n\nbody"])
def test_hostile_bytes_never_raise(raw: bytes) -> None:
    parsed = parse_message(raw, fallback_date=IMPORT_TIME)
    email = parsed.email
    assert email.message_id_synthetic
    assert email.content_hash == hashlib.sha256(raw).hexdigest()
    assert email.problems
    dumped = email.model_dump_json()
    assert "\\u0000" not in dumped
    json.loads(dumped)


def test_empty_bytes() -> None:
    email = parse_message(b"", fallback_date=IMPORT_TIME).email
    assert (email.subject, email.text, email.date, email.date_source) == ("", "", IMPORT_TIME, "import")
    assert any(p.kind == "structure" and p.detail == "empty message" for p in email.problems)


def test_truncated_multipart_keeps_text(sa: Path) -> None:
    raw = read(sa, PATCH)
    cut = raw[: raw.index(b"--- /usr/lib/exmh/extrasInit.tcl") + 200]  # stops inside the attachment
    parsed = parse_message(cut)
    assert parsed.email.new_text.startswith("i'm a very happy user of exmh")
    assert [a.filename for a in parsed.email.attachments] == ["exmh-patch"]
    assert "CloseBoundaryNotFoundDefect" in {p.detail for p in parsed.email.problems}


def test_missing_boundary_reads_body_as_text(sa: Path) -> None:
    raw = read(sa, "easy-ham-1/00993.041d0d8e108657fd1ba5c605a10e2bfa.txt")
    broken = raw.replace(b'; boundary="Multipart_Tue_Sep_10_08:56:11_2002-1"', b"")
    assert broken != raw
    email = parse_message(broken).email
    assert email.text  # whatever text is there survives
    assert "swasort" in email.text
    assert any(p.kind == "mime-defect" and "NoBoundaryInMultipart" in p.detail for p in email.problems)
    assert any(p.kind == "structure" for p in email.problems)


def test_undeclared_8bit_header_is_decoded(sa: Path) -> None:
    raw = read(sa, GREG).replace(b"Subject: [Spambayes] Re:", "Subject: Grüße [Spambayes] Re:".encode("latin-1"))
    email = parse_message(raw).email
    assert email.subject == "Grüße [Spambayes] Re: [Python-Dev] Getting started with GBayes testing"
    assert any("8-bit header" in p.detail for p in email.problems)


def test_absurd_nesting_keeps_headers_and_text() -> None:
    raw = b"Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n"
    for level in range(1, 3000):
        raw += b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (level - 1, level)
    raw += b"--b2999\nContent-Type: text/plain\n\nhello from the bottom\n"
    email = parse_message(raw).email
    assert email.subject == "deep"
    assert "hello from the bottom" in email.text
    assert any(p.kind == "structure" for p in email.problems)


def test_server_spam_verdicts_list_post_and_relay_fingerprints_are_kept() -> None:
    raw = (
        b"Received: from mx.example.net by mail.example.org; Mon, 1 Jan 2024 10:00:00 +0000\n"
        b"Received: from o1.sendgrid.net (o1.sendgrid.net [1.2.3.4]) by mx.example.net; Mon, 1 Jan 2024 09:59:00 +0000\n"
        b"X-Spam-Flag: YES\nX-Spam-Status: Yes, score=7.9 required=5.0 tests=HTML_MESSAGE,\n URIBL_BLACK\n"
        b"X-Spam-Level: *******\nX-Spamd-Result: default: True [12.30 / 15.00]\nX-Rspamd-Score: 12.30\n"
        b"X-SG-EID: abc\nList-Post: NO\n"
        b"From: a@example.com\nTo: b@example.org\nSubject: hi\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nbody\n"
    )
    email = parse_message(raw).email
    sh = email.spam_headers
    assert sh.x_spam_flag == "YES"
    assert sh.x_spam_status == "Yes, score=7.9 required=5.0 tests=HTML_MESSAGE, URIBL_BLACK"
    assert sh.x_spam_level == "*******" and sh.x_rspamd_score == "12.30"
    assert sh.x_spamd_result == "default: True [12.30 / 15.00]"
    assert email.list_headers.list_post == "NO"
    assert "x-sg-eid" in email.header_names and "from" in email.header_names
    assert email.received[1].startswith("from o1.sendgrid.net")


def test_indexed_header_lookups_answer_as_the_stdlib_does_after_changes() -> None:
    from email.message import Message
    from email.parser import BytesParser

    from beacon.parse.headers import RAW_POLICY

    raw = (b"From: a@example.com\nX-Tag: one\nx-tag: two\nContent-Type: multipart/mixed; boundary=b\n\n"
           b"--b\nContent-Type: text/plain\n\nhi\n--b--\n")
    names = ["from", "X-TAG", "x-tag", "content-type", "Content-Transfer-Encoding", "x-new", "nope"]

    def answers(msg: Message) -> list[object]:
        return [(msg.get(n), n in msg, msg.get(n, "failobj")) for n in names] + [msg.get_boundary()]

    fast = BytesParser(policy=RAW_POLICY).parsebytes(raw)
    plain = BytesParser(policy=RAW_POLICY.clone(message_factory=Message)).parsebytes(raw)
    assert type(fast) is not Message and type(plain) is Message
    steps = [lambda m: m.get("x-tag"), lambda m: m.__delitem__("x-tag"), lambda m: m.__setitem__("X-New", "3"),
             lambda m: m.replace_header("x-new", "4"), lambda m: m.set_boundary("c"),
             lambda m: m.set_param("charset", "utf-8"), lambda m: m.add_header("X-Tag", "five"),
             lambda m: m.del_param("charset"), lambda m: m.__delitem__("content-type")]
    assert answers(fast) == answers(plain)
    for step in steps:
        step(fast)
        step(plain)
        assert answers(fast) == answers(plain)
