"""Every source on hostile input: what is not mail or cannot be read is reported with its
reason, nothing aborts, and the good messages beside it are imported (with their folders).

Fixtures are built here from real messages (CPython's test_email data, notmuch's corpora).
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from beacon.ingest.importer import import_items
from beacon.ingest.mbox import iter_mbox
from beacon.ingest.sniff import sniff
from beacon.ingest.sources import detect
from beacon.parse import parse_message
from beacon.store import emails as store
from beacon.store.schema import EmailRow
from testkit.corpora import cpython_email_dir, notmuch_corpora_dir


def real(name: str) -> bytes:
    return (cpython_email_dir() / name).read_bytes()


def msg(n: int, body: str = "hello", extra: str = "") -> bytes:
    return (f"From: Ann <ann@example.org>\nTo: bob@example.org\nSubject: message {n}\n"
            f"Message-ID: <m{n}@example.org>\nDate: Mon, 1 Jan 2024 10:00:{n % 60:02d} +0000\n{extra}\n"
            f"{body}\n").encode()


def stored(db) -> list[EmailRow]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return list(s.scalars(select(EmailRow).order_by(EmailRow.id)))


# --- sniffing --------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "suffix", "kind", "reason"), [
    (b"", "", "other", "empty file"),
    (b"\n\n  \n", "", "other", "only blank lines"),
    (b"PK\x03\x04\x14\x00rest", ".zip", "other", "zip archive"),
    (gzip.compress(b"From: a@b\n\nx"), ".gz", "other", "gzip file"),
    (bytes(range(256)) * 4, "", "other", "binary data"),
    (b"Beacon\n======\n\nSelf-hosted triage.\nSee: docs\n", "", "other", "text without mail headers"),
    (b"                    GNU GENERAL PUBLIC LICENSE\n                       Version 3\n", "", "other",
     "text without mail headers"),
    # notmuch's expected-output files: a display line, then header-like lines
    (b"Carl Worth <cworth@cworth.org> (2009-11-18) (inbox unread)\nSubject: x\nTo: y\n", "", "other",
     "text without mail headers"),
    (b"Fro : someone@example.org\nTo: b@example.org\nSubject: s\n\nbody\n", "", "message", ""),
    (b"From ann@example.org Mon Jan  1 10:00:00 2024\nFrom: a@b\nSubject: s\n\nx\n", "", "mbox", ""),
    (b"From ann@example.org Mon Jan  1 10:00:00 2024\nFrom: a@b\nSubject: s\n\nx\n", ".eml", "message", ""),
    (b"From the desk of the CEO\nWe grew.\n", "", "other", "text starting with 'From ' but no mail headers"),
])
def test_sniff(data: bytes, suffix: str, kind: str, reason: str) -> None:
    found = sniff(data, suffix)
    assert (found.kind, found.reason) == (kind, reason)


# --- directories ---------------------------------------------------------------------------


def test_directory_of_mixed_files_imports_mail_and_names_the_rest(tmp_path: Path, sqlite_db) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "mixed"
    (d / "sub").mkdir(parents=True)
    (d / "good.eml").write_bytes(real("msg_01.txt"))
    (d / "sub" / "also-good").write_bytes(msg(1))
    (d / "README").write_text("Mail archive\n============\n\nThese are my mails.\n")
    (d / "COPYING").write_text("                    GNU GENERAL PUBLIC LICENSE\n")
    (d / "notmuch-show.expected-output").write_text(
        "Carl Worth <cworth@cworth.org> (2009-11-18) (inbox unread)\nSubject: hi\nTo: x@y\n")
    (d / "random.bin").write_bytes(os.urandom(4096))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.eml", msg(2))
    (d / "mails.zip").write_bytes(buf.getvalue())
    (d / "empty.eml").write_bytes(b"")
    (d / "loop").symlink_to(d / "loop")  # a symlink loop: ELOOP even as root
    (d / "dangling").symlink_to(d / "nowhere")
    (d / "up").symlink_to(d)  # a symlink to a folder is not followed (no cycles)
    src = detect(d)
    assert src.kind == "directory" and src.total == 11  # counting never raises
    summary = import_items(sqlite_db, src.iter_items(), account="a", workers=0)
    assert summary.imported == 2 and summary.failed == 2
    assert dict(summary.failures) == {str(d / "loop"): "symbolic link loop",
                                      str(d / "dangling"): "dangling symbolic link or vanished file"}
    assert dict(summary.skips) == {
        str(d / "COPYING"): "not mail: text without mail headers",
        str(d / "README"): "not mail: text without mail headers",
        str(d / "empty.eml"): "not mail: empty file",
        str(d / "mails.zip"): "not mail: zip archive",
        str(d / "notmuch-show.expected-output"): "not mail: text without mail headers",
        str(d / "random.bin"): "not mail: binary data",
        str(d / "up"): "symbolic link to a folder (not followed)",
    }
    assert {r.folder for r in stored(sqlite_db)} == {None, "sub"}


def _without_dac_override(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user that permission bits apply to: root minus CAP_DAC_OVERRIDE
    and CAP_DAC_READ_SEARCH (dropped from the bounding set by util-linux ``setpriv``)."""
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.getuid() == 0 else []
    return subprocess.run([*prefix, sys.executable, "-m", "beacon.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_unreadable_folder_and_file_through_the_cli(tmp_path: Path) -> None:
    """Permission errors are real only without root's override: see _without_dac_override."""
    home = tmp_path / "home"
    home.mkdir()
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "Work/cur", "Secret/cur"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "1:2,S").write_bytes(msg(1))
    (md / "Work" / "cur" / "2:2,S").write_bytes(msg(2))
    (md / "Secret" / "cur" / "3:2,S").write_bytes(msg(3))
    (md / "new" / "4").write_bytes(msg(4))
    (md / "new" / "4").chmod(0o000)
    (md / "Secret").chmod(0o000)
    env = {**os.environ, "BEACON_DATA_DIR": str(home / "data"), "COLUMNS": "200"}
    env.pop("BEACON_DATABASE_URL", None)
    try:
        r = _without_dac_override(["import", str(md)], env)
        assert "Traceback" not in r.stderr + r.stdout
        assert r.returncode == 1, r.stdout + r.stderr  # some entries failed
        assert "imported                     │ 2" in r.stdout
        assert f"failed {md / 'new' / '4'}: cannot read: Permission denied" in r.stdout
        assert f"failed {md / 'Secret'}: cannot read folder: Permission denied" in r.stdout
        assert "2 message(s) failed:" in r.stdout
        # A single unreadable file: a clear message, no traceback.
        r = _without_dac_override(["import", str(md / "new" / "4")], env)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert "cannot read: Permission denied" in r.stderr + r.stdout
    finally:
        (md / "Secret").chmod(0o755)
        (md / "new" / "4").chmod(0o644)


@pytest.mark.parametrize("layout", ["maildir++", "verbatim", "dovecot-fs"])
def test_nested_maildir_layouts_record_folders(tmp_path: Path, sqlite_db, layout: str) -> None:  # type: ignore[no-untyped-def]
    md = tmp_path / "Mail"
    names = {"maildir++": [".Work", ".Work.Projects", ".Lists.python"],
             "verbatim": ["Work", "Work/Projects", "Lists/python"],
             "dovecot-fs": ["Work", "Work/Projects", "Lists/python"]}[layout]
    folders = ["", *names]
    for n, name in enumerate(folders):
        leaf = "new" if n % 2 else "cur"
        (md / name / leaf).mkdir(parents=True, exist_ok=True)
        if layout != "verbatim":
            (md / name / "tmp").mkdir(exist_ok=True)
        (md / name / leaf / f"{n}.host:2,S").write_bytes(msg(n))
    if layout == "dovecot-fs":
        (md / "dovecot-uidlist").write_text("3 V1 N2\n")
        (md / "Work" / "maildirfolder").write_bytes(b"")
        (md / "tmp" / "999.delivering").write_bytes(msg(99))
    summary = import_items(sqlite_db, detect(md).iter_items(), account="a", workers=0)
    assert summary.imported == 4 and summary.failed == 0
    expected = {"maildir++": {"INBOX", "Work", "Work.Projects", "Lists.python"},
                "verbatim": {"INBOX", "Work", "Work/Projects", "Lists/python"},
                "dovecot-fs": {"INBOX", "Work", "Work/Projects", "Lists/python"}}[layout]
    rows = stored(sqlite_db)
    assert {r.folder for r in rows} == expected
    assert {r.subject: r.folder for r in rows}["message 0"] == "INBOX"
    if layout == "dovecot-fs":
        assert dict(summary.skips) == {
            str(md / "dovecot-uidlist"): "not mail: text without mail headers",
            str(md / "Work" / "maildirfolder"): "not mail: empty file",
            str(md / "tmp" / "999.delivering"): "Maildir tmp/: delivery not finished",
        }


def test_notmuch_default_corpus_every_message(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    """53 message files in Maildir folders, verbatim sub-folders and loose files."""
    root = notmuch_corpora_dir() / "default"
    summary = import_items(sqlite_db, detect(root).iter_items(), account="nm", workers=0)
    # bar/18:2, and cur/51:2, are byte-identical: one email, one recognised duplicate.
    assert (summary.seen, summary.imported, summary.duplicates, summary.failed, summary.skipped) == (53, 52, 1, 0, 0)
    by_folder: dict[str | None, int] = {}
    for row in stored(sqlite_db):
        by_folder[row.folder] = by_folder.get(row.folder, 0) + 1
    assert by_folder == {"INBOX": 28, "foo": 6, "foo/baz": 6, "bar": 5, "bar/baz": 7}


def test_notmuch_corpora_none_abort(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    root = notmuch_corpora_dir()
    files = [p for p in root.rglob("*") if p.is_file()]
    summary = import_items(sqlite_db, detect(root).iter_items(), account="nm", workers=0)
    assert summary.seen == len(files) and summary.failed == 0
    assert summary.skips == [(str(root / "README"), "not mail: text without mail headers")]
    assert summary.imported + summary.duplicates == len(files) - 1
    # indexing/mbox-attachment.eml starts with "From " and carries an mbox as an attachment:
    # one message, the attachment whole.
    with sqlite_db.session() as s:
        row = s.scalar(select(EmailRow).where(EmailRow.message_id == "87k0e9o0pu.fsf@tethera.net"))
        assert row is not None
        email = store.load_email(row)
        assert [a.filename for a in email.attachments] == ["0001-test-fixups.patch"]
        assert email.attachments[0].size > 1000


# --- mbox ----------------------------------------------------------------------------------------


def _mbox(*messages: bytes, envelope: bytes = b"From MAILER-DAEMON Mon Jan  1 10:00:00 2024\n") -> bytes:
    return b"".join(envelope + m + b"\n" for m in messages)


def test_mboxrd_unescapes_and_keeps_unescaped_from_lines_in_the_body() -> None:
    body = "Hello\n>From the mboxrd escape\n>>From a quoted escape\nFrom here on, unescaped.\nbye"
    data = _mbox(msg(1, body), msg(2))
    got = list(iter_mbox(io.BytesIO(data), 10**6))
    assert len(got) == 2
    text = parse_message(got[0].raw).email.text
    assert text == "Hello\nFrom the mboxrd escape\n>From a quoted escape\nFrom here on, unescaped.\nbye"
    assert got[1].raw == msg(2)


def test_mboxcl2_content_length_keeps_from_lines() -> None:
    body = b"From the start\n\nFrom MAILER-DAEMON Mon Jan  1 10:00:00 2024\nFrom: not a header\n"
    first = msg(1, extra=f"Content-Length: {len(body)}\n").rstrip(b"hello\n") + b"\n" + body
    first = (b"From: a@example.org\nSubject: cl2\nMessage-ID: <cl2@x>\nContent-Length: %d\n\n" % len(body)) + body
    got = list(iter_mbox(io.BytesIO(_mbox(first, msg(2))), 10**6))
    assert [parse_message(m.raw).email.subject for m in got] == ["cl2", "message 2"]
    assert got[0].raw.endswith(body)


def test_mbox_with_a_patch_attached_is_not_split() -> None:
    patch = ("From fc88cba7f1f37b9cf3b296eace2422dd0e173502 Mon Sep 17 00:00:00 2001\n"
             "From: Dev <dev@example.org>\nSubject: [PATCH] fix\n\n--- a/x\n+++ b/x\n")
    mime = msg(1, body=f"--B\nContent-Type: text/plain\n\nsee patch\n\n--B\nContent-Type: text/x-diff; "
                       f"name=fix.patch\n\n{patch}\n--B--",
               extra='MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n')
    got = list(iter_mbox(io.BytesIO(_mbox(mime, msg(2))), 10**6))
    assert len(got) == 2
    email = parse_message(got[0].raw).email
    assert [a.filename for a in email.attachments] == ["fix.patch"] and email.attachments[0].size > 80
    # A multipart that never closes does not swallow the next messages.
    broken = mime.replace(b"--B--", b"")
    got = list(iter_mbox(io.BytesIO(_mbox(broken, msg(2), msg(3))), 10**6))
    assert [parse_message(m.raw).email.subject for m in got][-2:] == ["message 2", "message 3"]


def test_mbox_multipart_that_never_closes_is_split_without_holding_the_rest() -> None:
    """The messages after a broken multipart come out as they are read, not all at the end."""
    broken = msg(1, body="--B\nContent-Type: text/plain\n\nnever closed\n",
                 extra='MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n')
    n = 200
    data = _mbox(broken, *(msg(i) for i in range(2, n + 2)))
    fh = io.BytesIO(data)
    read_at_first: list[int] = []
    got = []
    for m in iter_mbox(fh, 10**6):
        if not got:
            read_at_first.append(fh.tell())
        got.append(m)
    assert [parse_message(m.raw).email.subject for m in got] == [f"message {i}" for i in range(1, n + 2)]
    # The first message came out after a few more were read, not after the whole file.
    assert read_at_first[0] < len(data) // 10
    # Each message's offset is that of its envelope line.
    assert all(data[m.offset:].startswith(b"From MAILER-DAEMON ") for m in got)


def test_mbox_without_leading_envelope_keeps_its_first_message(tmp_path: Path, sqlite_db) -> None:  # type: ignore[no-untyped-def]
    box = tmp_path / "inbox.mbox"
    box.write_bytes(msg(1) + b"\n" + _mbox(msg(2), msg(3)))
    src = detect(box)
    assert src.kind == "mbox"
    summary = import_items(sqlite_db, src.iter_items(), account="a", workers=0)
    assert summary.imported == 3
    assert [r.subject for r in stored(sqlite_db)] == ["message 1", "message 2", "message 3"]


def test_eml_starting_with_envelope_is_one_message(tmp_path: Path, sqlite_db) -> None:  # type: ignore[no-untyped-def]
    eml = tmp_path / "patch.eml"
    eml.write_bytes(_mbox(msg(1, body="From 1234 Mon Sep 17 00:00:00 2001\nFrom: x@y\nSubject: inner\n\nz")))
    assert detect(eml).kind == "eml"
    summary = import_items(sqlite_db, detect(eml).iter_items(), account="a", workers=0)
    assert summary.imported == 1
    row = stored(sqlite_db)[0]
    assert row.subject == "message 1" and "Subject: inner" in store.load_email(row).text


# --- single files, stdin, size limit -------------------------------------------------------------


def test_not_mail_and_empty_input_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from beacon.cli.main import app

    monkeypatch.setenv("BEACON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BEACON_DATABASE_URL", raising=False)
    cli = CliRunner()
    z = tmp_path / "x.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("a.eml", msg(1))
    for path, reason in ((z, "zip archive"), (tmp_path / "r.bin", "binary data"), (tmp_path / "e", "empty file")):
        if path.suffix == ".bin":
            path.write_bytes(os.urandom(3000))
        elif not path.exists():
            path.write_bytes(b"")
        r = cli.invoke(app, ["import", str(path)])
        out = " ".join(r.output.split())
        assert r.exit_code == 1, r.output
        assert f"not mail: {reason}" in out and "no mail found" in out
    r = cli.invoke(app, ["import", "-"], input=b"")
    assert r.exit_code == 1 and "not mail: empty input" in " ".join(r.output.split())
    r = cli.invoke(app, ["import", "-"], input=msg(5))
    assert r.exit_code == 0 and "imported                     │ 1" in r.output


def test_oversized_message_is_stored_with_headers_and_a_problem(tmp_path: Path, sqlite_db) -> None:  # type: ignore[no-untyped-def]
    big = msg(1, body="x" * 300_000)
    d = tmp_path / "d"
    d.mkdir()
    (d / "big.eml").write_bytes(big)
    (d / "small.eml").write_bytes(msg(2))
    box = tmp_path / "box.mbox"
    box.write_bytes(_mbox(msg(3, body="y" * 300_000), msg(4)))
    limit = 100_000
    s1 = import_items(sqlite_db, detect(d).iter_items(limit), account="a", workers=0, max_message_bytes=limit)
    s2 = import_items(sqlite_db, detect(box).iter_items(limit), account="a", workers=0, max_message_bytes=limit)
    assert (s1.imported, s2.imported) == (2, 2)
    rows = {r.subject: r for r in stored(sqlite_db)}
    for subject in ("message 1", "message 3"):
        email = store.load_email(rows[subject])
        assert email.size > 300_000 and email.text == ""
        assert any(p.kind == "size" and "stored with its headers only" in p.detail for p in email.problems)
    import hashlib
    assert store.load_email(rows["message 1"]).content_hash == hashlib.sha256(big).hexdigest()
    assert store.load_email(rows["message 2"]).text == "hello"
