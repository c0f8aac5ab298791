"""Real-mail corpora through ``beacon import``: what is imported, skipped, failed, per corpus.

    python bench/corpora_bench.py

Each corpus (fetched and cached by ``testkit.corpora``) is imported as a directory
into a fresh SQLite store, the way ``beacon import DIR`` does: the SpamAssassin public corpus,
CPython's email test messages, mail-parser's and talon's test mails, and each of notmuch's
test corpora. "files" counts the regular files in the tree; every file must end up imported,
a duplicate, skipped (not mail) or failed, and no import may abort.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: testkit

from beacon.ingest.importer import import_items  # noqa: E402
from beacon.ingest.sources import detect  # noqa: E402
from beacon.store.db import Database  # noqa: E402
from testkit import corpora  # noqa: E402


def sources() -> list[tuple[str, Path]]:
    out = [("SpamAssassin", corpora.spamassassin_dir()), ("CPython test_email", corpora.cpython_email_dir()),
           ("mail-parser tests/mails", corpora.mailparser_dir()),
           ("talon standard_replies", corpora.talon_fixtures_dir() / "standard_replies")]
    notmuch = corpora.notmuch_corpora_dir()
    out += [(f"notmuch {d.name}", d) for d in sorted(notmuch.iterdir()) if d.is_dir()]
    out.append(("notmuch (all corpora)", notmuch))
    return out


def main() -> int:
    console = Console(width=200)
    table = Table(title="Real corpora imported as directories")
    for col in ("corpus", "files", "seen", "imported", "duplicates", "skipped", "failed", "with problems", "aborted"):
        table.add_column(col, justify="left" if col == "corpus" else "right")
    with tempfile.TemporaryDirectory(prefix="beacon-corpora-") as tmp:
        for n, (label, path) in enumerate(sources()):
            files = sum(1 for p in path.rglob("*") if p.is_file())
            db = Database(f"sqlite:///{tmp}/c{n}.db")
            db.migrate()
            try:
                s = import_items(db, detect(path).iter_items(), account="c")
            except Exception as exc:  # noqa: BLE001 - the bench reports an aborted import
                table.add_row(label, str(files), "", "", "", "", "", "", f"{type(exc).__name__}: {exc}"[:60])
                continue
            finally:
                db.dispose()
            table.add_row(label, str(files), str(s.seen), str(s.imported), str(s.duplicates), str(s.skipped),
                          str(s.failed), str(s.with_problems), "no")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
