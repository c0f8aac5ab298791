"""Conversations and time-is-now through the app: ``GET /api/emails?threads=1``, the thread
and the deadline in ``GET /api/emails/{id}``, the inbox page's one row per conversation, the
email page's whole thread, and the server's periodic rescore."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from beacon.store.schema import Account, AnalysisRow, User
from tests.helpers import Served, make_served, store_messages
from tests.test_triage_threads import ME, T0, analyse, thread_mails


@dataclass
class World:
    srv: Served
    c: TestClient
    ids: dict[str, int]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    srv, lifespan = make_served(tmp_path_factory.mktemp("threads-api"), engine=False)
    with srv.db.session() as s:
        alice = s.scalar(select(User.id).where(User.username == "alice"))
    mails = thread_mails()
    ids = dict(zip(mails, store_messages(srv.db, [m for m, _a in mails.values()], account="work", user_id=alice)))
    with srv.db.session() as s:  # the reader's address, as the account's own
        s.scalar(select(Account).where(Account.name == "work")).addresses = [ME]  # type: ignore[union-attr]
    analyse(srv.db, ids, mails, list(mails), T0)
    with lifespan:
        c, _h = srv.login(lifespan)
        yield World(srv, c, ids)
    srv.db.dispose()


def test_the_list_offers_conversations_with_their_counts(world: World) -> None:
    flat = world.c.get("/api/emails", params={"account": "work"}).json()
    # The reader's own reply is not an inbox item; it counts in its conversation.
    assert sorted(i["id"] for i in flat["items"]) == sorted(set(world.ids.values()) - {world.ids["answer"]})
    assert len({i["thread_id"] for i in flat["items"]}) == 2
    assert all(i["thread_count"] is None for i in flat["items"])
    threads = world.c.get("/api/emails", params={"account": "work", "threads": 1}).json()
    got = [(i["id"], i["thread_count"]) for i in threads["items"]]
    assert got == [(world.ids["again"], 3), (world.ids["news"], 1)] and threads["total"] == 2


def test_one_email_carries_its_thread_and_its_deadline_judged_now(world: World) -> None:
    e = world.c.get(f"/api/emails/{world.ids['ask']}").json()
    assert [m["id"] for m in e["thread"]] == [world.ids[k] for k in ("ask", "answer", "again")]
    assert [m["current"] for m in e["thread"]] == [True, False, False]
    assert [m["thread_head"] for m in e["thread"]] == [False, False, True]
    assert e["due"]["status"] == "overdue" and e["due"]["days"] < -20  # a month ago and more
    assert e["needs_reply"] is False  # the reader answered it


def test_the_inbox_page_shows_one_row_per_conversation_and_the_email_page_the_thread(world: World) -> None:
    page = world.c.get("/", headers={"accept": "text/html"}).text
    assert f'data-id="{world.ids["again"]}"' in page and f'data-id="{world.ids["ask"]}"' not in page
    assert 'title="messages in this conversation">3</span>' in page and "2 conversations" in page
    every = world.c.get("/", params={"messages": "1"}, headers={"accept": "text/html"}).text
    assert f'data-id="{world.ids["ask"]}"' in every
    mail = world.c.get(f"/emails/{world.ids['again']}", headers={"accept": "text/html"}).text
    assert 'id="thread"' in mail and "Conversation (3 messages)" in mail
    assert mail.count('<li class="') >= 3 and "Sure, on it." in mail


def test_the_server_rescores_what_time_changed(world: World) -> None:
    st = world.srv.app.state.beacon
    assert st.rescorer is not None  # started with the app (its first pass at once)
    st.rescorer.run_once()
    with world.srv.db.session() as s:
        ask = s.scalar(select(AnalysisRow).where(AnalysisRow.email_id == world.ids["ask"]))
        assert ask is not None and ask.rescore_at is None  # judged today: lapsed, nothing more to change
        assert any("lapsed" in f["detail"] for f in ask.data["priority"]["factors"] if f["name"] == "deadline")
    assert st.rescorer.run_once().threads == 0
