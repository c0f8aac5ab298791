"""The API keeps the contract its OpenAPI schema states: Schemathesis generates requests for
every operation (valid and invalid ones) and checks every answer - no server error, every
status documented, every body of the documented shape, the documented content type, 405 with
a complete ``Allow`` for methods a path does not take.

The app runs on a throwaway data directory (the demo mailbox, a logged-in user) with an
analysis engine that answers without NLP, so analysis starts are exercised too. ``/api/logout``
is left out of the generated requests: it would end the session the others use; its contract
is checked by hand below.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from beacon.engine.service import EngineService
from beacon.web.app import create_app
from beacon.web.deps import CSRF_HEADER
from tests.helpers import PASSWORD, FakeExecutor, fake_analysis, make_served

MAX_EXAMPLES = 30  # per operation: enough to hit every documented status, quick in CI


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    srv, _ = make_served(tmp_path_factory.mktemp("contract"), engine=False)
    app = create_app(srv.settings, srv.db, engine_factory=lambda s, db: EngineService(
        s, db, executor_factory=lambda s2, r: FakeExecutor(lambda b: [fake_analysis(e, s2) for e in b.emails], r)))
    with TestClient(app) as c:  # the lifespan runs (engine started) for the whole module
        r = c.post("/api/login", json={"username": "alice", "password": PASSWORD})
        assert r.status_code == 200
        yield {"app": app, "headers": {CSRF_HEADER: r.json()["csrf_token"]}, "cookies": dict(c.cookies)}
    srv.db.dispose()


@pytest.fixture(scope="module")
def api_schema(contract: dict[str, Any]) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", contract["app"])


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.exclude(path="/api/logout").parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_documented_contract(case: schemathesis.Case, contract: dict[str, Any]) -> None:
    # Beacon refuses some schema-valid input on grounds no schema states (a path that does
    # not exist, an empty upload, a model that is not installed): a documented 400/422, not a
    # contract breach, so "valid data must be accepted" is the one check left out.
    case.call_and_validate(headers=contract["headers"], cookies=contract["cookies"],
                           excluded_checks=[schemathesis.checks.positive_data_acceptance])


def test_logout_and_the_method_and_id_contract(tmp_path: Path) -> None:
    srv, lifespan = make_served(tmp_path, engine=False)
    with lifespan:
        c, h = srv.login(lifespan)
        # A path's other methods: 405 naming all of them (not a 422 from a shadowing route).
        r = c.get("/api/jobs/analyze")
        assert (r.status_code, r.headers["allow"]) == (405, "POST")
        r = c.delete("/api/settings")
        assert (r.status_code, r.headers["allow"]) == (405, "GET, PATCH")
        # Ids past a 64-bit row id are invalid, not a database overflow.
        for path in ("/api/emails/9223372036854775808", "/api/jobs/99999999999999999999",
                     "/api/jobs/9223372036854775808/events"):
            assert c.get(path).status_code == 422, path
        assert c.get("/api/emails/9223372036854775807").status_code == 404
        assert c.post("/api/logout").status_code == 403  # no CSRF token
        assert c.post("/api/logout", headers=h).status_code == 204
        assert c.get("/api/me").status_code == 401
    srv.db.dispose()
