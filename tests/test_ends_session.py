"""``ends_session``: a route's request session is committed (or, when it raises, rolled back)
and closed in the route's own thread, with no trip to the thread pool after it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from beacon.store.db import Database
from beacon.store.schema import Account
from beacon.web.deps import DB, ends_session


def _app(db: Database) -> FastAPI:
    app = FastAPI()
    app.state.beacon = SimpleNamespace(db=db)

    @app.post("/ended")
    @ends_session
    def ended(s: DB, name: str) -> dict[str, Any]:
        s.add(Account(name=name))
        s.flush()
        return {"ok": True}

    @app.post("/plain")
    def plain(s: DB, name: str) -> dict[str, Any]:
        s.add(Account(name=name))
        s.flush()
        return {"ok": True}

    @app.post("/fails")
    @ends_session
    def fails(s: DB, name: str) -> dict[str, Any]:
        s.add(Account(name=name))
        s.flush()
        raise RuntimeError("the route failed")

    return app


def _accounts(db: Database) -> list[str]:
    with db.session() as s:
        return sorted(s.scalars(select(Account.name)))


def test_commits_in_the_routes_thread_and_rolls_back_when_it_raises(
        sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    trips = []
    real = anyio.to_thread.run_sync

    async def counted(*args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(args[0], "__name__", repr(args[0])))
        return await real(*args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    with TestClient(_app(sqlite_db), raise_server_exceptions=False) as c:
        trips.clear()
        assert c.post("/plain?name=a").status_code == 200
        plain_trips = len(trips)
        trips.clear()
        assert c.post("/ended?name=b").status_code == 200
        assert len(trips) == plain_trips - 1, trips  # the session's end rode with the route
        assert _accounts(sqlite_db) == ["a", "b"]
        assert c.post("/fails?name=c").status_code == 500
    assert _accounts(sqlite_db) == ["a", "b"]  # rolled back by db_session
    assert sqlite_db.sql_engine.pool.checkedout() == 0  # nothing left checked out


def test_a_route_without_a_session_named_s_is_refused_when_decorated() -> None:
    def route(session: DB) -> None:
        return None

    with pytest.raises(TypeError, match="named 's'"):
        ends_session(route)
