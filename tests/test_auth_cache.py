"""The session's user and the settings in force are kept between requests under the number the
database's triggers move (``beacon.store.changes``): a request reads one row instead of four, and
every change of users or settings, by any process or session, is seen by the next request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, event, select, text, update

from beacon.store.changes import auth_generation
from beacon.store.db import Database
from beacon.store.schema import AppSetting, EmailRow, User, UserSetting
from beacon.web.auth import create_user, set_password
from tests.helpers import PASSWORD, Served, assert_table_migrates, store_messages


def _generation(db: Database) -> int:
    with db.session() as s:
        return auth_generation(s)


def test_every_write_to_users_and_settings_moves_the_number(any_db: Database) -> None:
    seen = [_generation(any_db)]

    def moved() -> bool:
        seen.append(_generation(any_db))
        return seen[-1] != seen[-2]

    with any_db.session() as s:
        create_user(s, "alice", PASSWORD)
    assert moved()
    with any_db.session() as s:
        set_password(s, "alice", "another password")
    assert moved()
    with any_db.session() as s:
        uid = s.scalar(select(User.id).where(User.username == "alice"))
        s.add(AppSetting(key="batch_size", value=7))
    assert moved()
    with any_db.session() as s:
        s.execute(update(AppSetting).values(value=8))
    assert moved()
    with any_db.session() as s:
        s.add(UserSetting(user_id=uid, key="priority_high", value=80))
    assert moved()
    with any_db.session() as s:
        s.execute(delete(UserSetting))
    assert moved()
    with any_db.session() as s:
        s.execute(delete(AppSetting))
    assert moved()
    store_messages(any_db, [b"From: a@example.org\nSubject: x\nMessage-ID: <x@y>\n\nhi\n"], user_id=uid)
    with any_db.session() as s:  # other tables leave it alone
        s.execute(update(EmailRow).values(seen=True))
    assert not moved()
    with any_db.session() as s:
        s.execute(update(User).values(disabled=True))
    assert moved()
    with any_db.session() as s:
        s.execute(text("DELETE FROM accounts"))
        s.execute(delete(User))
    assert moved()
    with any_db.session() as s:  # rolled back: not moved
        s.execute(update(AppSetting).values(value=9))
        s.add(AppSetting(key="workers", value=1))
        s.flush()
        s.rollback()
    assert not moved()


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_a) -> None:  # noqa: ANN001
        seen.append(" ".join(statement.split()))

    event.listen(db.sql_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.sql_engine, "before_cursor_execute", record)


def test_a_request_reads_one_row_for_its_login_and_settings(bare: Served) -> None:
    c, _h = bare.login()
    assert c.get("/api/settings").status_code == 200  # derived once
    with _statements(bare.db) as seen:
        assert c.get("/api/settings").status_code == 200
        assert c.get("/api/me").status_code == 200
    assert len(seen) == 2 and all("change_counters" in q for q in seen), seen


def test_the_next_request_sees_each_change(bare: Served) -> None:
    c, h = bare.login()
    other, oh = bare.login()
    assert c.get("/api/settings").json()["priority_high"] != 77
    # A settings save through the API, and one written by another process (here: another session).
    assert c.patch("/api/settings", json={"priority_high": 77}, headers=h).status_code == 200
    assert c.get("/api/settings").json()["priority_high"] == 77
    with bare.db.session() as s:
        s.execute(update(UserSetting).where(UserSetting.key == "priority_high").values(value=66))
    assert c.get("/api/settings").json()["priority_high"] == 66
    with bare.db.session() as s:
        s.add(AppSetting(key="batch_size", value=9))
    assert c.get("/api/settings").json()["batch_size"] == 9
    # Logout ends that session only.
    assert other.post("/api/logout", headers=oh).status_code == 204
    assert c.get("/api/me").status_code == 200
    # A user disabled, then deleted, elsewhere: the next request is refused.
    with bare.db.session() as s:
        s.execute(update(User).where(User.username == "alice").values(disabled=True))
    assert c.get("/api/me").status_code == 401
    with bare.db.session() as s:
        s.execute(update(User).where(User.username == "alice").values(disabled=False))
    assert c.get("/api/me").status_code == 200
    with bare.db.session() as s:
        create_user(s, "bob", PASSWORD)
    bob, _ = bare.login(username="bob")
    assert bob.get("/api/me").json()["username"] == "bob"
    with bare.db.session() as s:
        s.execute(delete(User).where(User.username == "bob"))
    assert bob.get("/api/me").status_code == 401
    assert c.get("/api/me").json()["username"] == "alice"


def test_kept_entries_expire(bare: Served) -> None:
    """Stored settings are also checked against what is installed, which no table records:
    what is kept is derived again after its time."""
    cache = bare.app.state.beacon.auth
    c, _h = bare.login()
    cache.ttl = 0.0  # kept for no time
    c.get("/api/me")
    with _statements(bare.db) as seen:
        c.get("/api/me")
    assert len(seen) > 1
    cache.ttl = 60.0
    c.get("/api/me")
    with _statements(bare.db) as seen:
        c.get("/api/me")
    assert len(seen) == 1


def test_migration_0016_matches_the_schema_and_downgrades(any_db: Database) -> None:
    assert_table_migrates(any_db, "change_counters", "0015")
    with any_db.session() as s:  # no trigger is left to write to a missing table
        create_user(s, "alice", PASSWORD)
    any_db.migrate()
    before = _generation(any_db)
    with any_db.session() as s:
        set_password(s, "alice", "another password")
    assert _generation(any_db) == before + 1
