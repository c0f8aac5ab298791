"""The replay mailboxes of ``bench/learning.py``: real mail, parsed and analysed by the real
pipeline once, the analyses cached so reruns take seconds.

Mailboxes: the SpamAssassin **training split** only (``easy-ham-2/``, ``spam-1/``, even-numbered
``hard-ham-1/``: the only part of the corpus that may be tuned on), the same with a working
inbox's own mail beside it (``worklife``: ``bench/worklife.py``), and the demo mailbox. The
cache is a JSON-lines file per mailbox and pipeline version under the corpus cache
(``$BEACON_CORPUS_CACHE``), keyed by the raw message's sha256.
"""

from __future__ import annotations

import json
import mailbox
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: testkit
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: worklife

from beacon.analysis import priority as prio
from beacon.analysis.models import Analysis, Priority
from beacon.analysis.version import pipeline_version
from beacon.models import Email
from beacon.settings import Settings

DEMO_MBOX = Path(__file__).resolve().parents[1] / "beacon" / "demo" / "demo.mbox"


@dataclass
class Mail:
    key: str  # where it came from: "easy-ham-2/00123" or "demo/7"
    email: Email
    analysis: Analysis
    priority: Priority  # the explainable, unlearned score (default settings, no store history)


def _spamassassin_raw() -> list[tuple[str, bytes]]:
    from beacon.analysis.train_kind import in_training_split, label_key
    from testkit.corpora import spamassassin_dir

    root = spamassassin_dir()
    out = []
    for folder in ("easy-ham-2", "spam-1", "hard-ham-1"):
        for p in sorted((root / folder).iterdir()):
            if p.is_file() and in_training_split(p):  # never the judging folders or odd hard-ham
                out.append((label_key(p), p.read_bytes()))
    return out


def _demo_raw() -> list[tuple[str, bytes]]:
    box = mailbox.mbox(str(DEMO_MBOX), create=False)
    try:
        return [(f"demo/{n}", msg.as_bytes()) for n, msg in enumerate(box)]
    finally:
        box.close()


def _worklife_raw() -> list[tuple[str, bytes]]:
    """The SpamAssassin training split with a working inbox's own mail beside it (bench/worklife.py)."""
    from worklife import messages

    return _spamassassin_raw() + messages()


SOURCES = {"spamassassin": _spamassassin_raw, "demo": _demo_raw, "worklife": _worklife_raw}


def load(name: str, settings: Settings, *, own: list[str] | None = None, batch: int = 32) -> list[Mail]:
    """The mailbox ``name``, in date order, each mail analysed (from the cache where it can be)."""
    from beacon.parse import parse_message
    from testkit.corpora import cache_root

    raw = SOURCES[name]()
    emails = [(key, parse_message(data).email) for key, data in raw]
    version = pipeline_version(settings).replace("/", "_")
    cache_file = cache_root() / f"learning-{name}-{version}.jsonl"
    cached: dict[str, Analysis] = {}
    wanted = {e.content_hash for _, e in emails}
    # Keyed by the message's hash: a mailbox reads what another one (sharing its mail) cached.
    for other in sorted(cache_root().glob(f"learning-*-{version}.jsonl")):
        for line in other.read_text().splitlines():
            row = json.loads(line)
            if row["hash"] in wanted:
                cached[row["hash"]] = Analysis.model_validate(row["analysis"])
    todo = [e for _, e in emails if e.content_hash not in cached]
    if todo:
        from beacon.analysis.pipeline import Pipeline

        pipeline = Pipeline.load(settings)
        with cache_file.open("a") as fh:
            for start in range(0, len(todo), batch):
                chunk = todo[start : start + batch]
                with pipeline.nlp.memory_zone():
                    for e, a in zip(chunk, pipeline.analyze(chunk), strict=True):
                        cached[e.content_hash] = a
                        fh.write(json.dumps({"hash": e.content_hash, "analysis": a.model_dump(mode="json")}) + "\n")
                print(f"  {name}: analysed {min(start + batch, len(todo))}/{len(todo)}", end="\r",
                      file=sys.stderr, flush=True)
        print(file=sys.stderr)
    scoring = settings.model_copy(update={"own_addresses": own or []})
    mails = []
    for key, e in emails:
        a = cached[e.content_hash]
        mails.append(Mail(key, e, a, prio.score(e, a, prio.PriorityContext(), scoring)))
    mails.sort(key=lambda m: (m.email.date, m.key))
    return mails


if __name__ == "__main__":  # warm the cache: python bench/learning_data.py
    for n in SOURCES:
        print(n, len(load(n, Settings())))
