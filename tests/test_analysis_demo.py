"""The whole demo mailbox through the real pipeline and the store: kinds, deadlines, levels.

The expected answers come from the demo's own spec (beacon.demo.messages), written with the mail.
"""

from __future__ import annotations

import pytest

from beacon.analysis.pipeline import Pipeline
from beacon.demo import DEMO_ACCOUNT, DEMO_MBOX, DEMO_OWN_ADDRESSES, DEMO_VIP_SENDERS
from beacon.demo.messages import MESSAGES
from beacon.ingest.importer import import_items
from beacon.ingest.sources import detect
from beacon.settings import Settings
from beacon.store.analyses import load_scored, save_analysis
from beacon.store.context import mail_contexts
from beacon.store.emails import load_email
from beacon.store.schema import EmailRow

PERSON_KINDS = {"work-request", "work-reply", "work-fyi", "personal"}
# Deadline phrases our English rules are meant to find ("ASAP" is urgency, French is out of scope).
NOT_A_DATE = {"ASAP", "avant vendredi"}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from beacon.store.db import Database

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
    db.migrate()
    settings = Settings(own_addresses=DEMO_OWN_ADDRESSES, vip_senders=DEMO_VIP_SENDERS)
    import_items(db, detect(DEMO_MBOX).iter_items(), account=DEMO_ACCOUNT)
    pipeline = Pipeline.load(settings)
    out = {}
    with db.session() as s:
        rows = list(s.query(EmailRow).order_by(EmailRow.date))
        emails = [load_email(r) for r in rows]
        # As the job runner does: the store's facts (who Alex has written to) go with each email.
        contexts = mail_contexts(s, rows, settings)
        analyses = pipeline.analyze(emails, [contexts[r.id] for r in rows])
        for row, email, analysis in zip(rows, emails, analyses, strict=True):
            out[email.message_id] = load_scored(save_analysis(s, row.id, analysis, settings))
    db.dispose()
    return out


def _spec_id(m) -> str:  # type: ignore[no-untyped-def]
    return m.message_id.strip("<>")


def test_every_demo_message_is_analysed(analysed) -> None:  # type: ignore[no-untyped-def]
    assert len(analysed) == len(MESSAGES) == 41


@pytest.mark.parametrize("m", MESSAGES, ids=lambda m: m.key)
def test_kind_and_level_match_the_demo_spec(m, analysed) -> None:  # type: ignore[no-untyped-def]
    scored = analysed[_spec_id(m)]
    kind, level = scored.analysis.kind, scored.priority.level
    if m.kind in PERSON_KINDS:
        assert kind == "personal", scored.analysis.kind_reasons
    elif m.kind == "newsletter":
        assert kind in ("newsletter", "marketing") and level == "LOW", scored.analysis.kind_reasons
        assert scored.analysis.depth == "light" and not scored.needs_reply
    elif m.kind == "mailing-list":
        # A colleague's post to a discussion list is written by a person: personal, filed as Forums.
        assert kind == "personal" and scored.analysis.category == "Forums"
    elif m.kind == "notification":
        assert kind == "notification" and level != "HIGH", scored.analysis.kind_reasons
    elif m.kind == "cold-outreach":
        # A stranger's sales pitch sent with an outreach tool: advertising, not a request to answer.
        assert kind == "marketing" and level == "LOW" and not scored.needs_reply, scored.analysis.kind_reasons
    elif m.kind == "hostile":
        assert kind in ("notification", "spam") and level == "LOW"
    if m.kind == "work-request" and scored.analysis.language != "en":
        # Not read by the English model: no requests, said so, and no points for or against it.
        assert scored.analysis.depth == "text" and not scored.analysis.requests
        assert any("not analysed for requests" in n for n in scored.analysis.notes)
        assert any(f.name == "language" and f.points == 0 for f in scored.priority.factors)
        assert not any(f.points < 0 for f in scored.priority.factors)  # nothing held against it
    elif m.kind == "work-request":
        assert level in ("HIGH", "MEDIUM")
        assert scored.analysis.requests, "a work request must yield at least one request"


@pytest.mark.parametrize(
    "m", [m for m in MESSAGES if m.deadline and m.deadline not in NOT_A_DATE], ids=lambda m: m.key
)
def test_stated_deadlines_are_found_and_resolved(m, analysed) -> None:  # type: ignore[no-untyped-def]
    a = analysed[_spec_id(m)].analysis
    phrase = " ".join(m.deadline.split()).lower()
    hits = [t for t in a.time_refs if t.is_deadline and t.resolved and " ".join(t.text.split()).lower() in phrase]
    assert hits, (m.deadline, [(t.text, t.is_deadline) for t in a.time_refs])
    assert all(t.resolved >= m.date for t in hits)  # deadlines lie after the mail was sent


def test_vip_request_with_deadline_is_the_top_of_the_inbox(analysed) -> None:  # type: ignore[no-untyped-def]
    vip = next(s for s in analysed.values() if any(f.name == "vip" for f in s.priority.factors)
               and s.analysis.action_items)
    assert vip.priority.level == "HIGH"
    names = {f.name for f in vip.priority.factors}
    assert {"request", "deadline", "vip", "recipient"} <= names
    ranked = sorted(analysed.values(), key=lambda s: -s.priority.score)
    assert vip in ranked[:5]
    assert all(s.analysis.kind == "personal" for s in ranked[:10])
