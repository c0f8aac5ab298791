"""Operations endpoints, open without login (they show counts, never mail):
``/healthz`` (the process answers), ``/readyz`` (database and engine usable), ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from beacon.web.deps import State

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="Liveness: the process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database reachable and engine running",
            responses={503: {"description": "not ready: the checks say why"}})
def readyz(st: State) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        with st.db.session() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["database"] = f"error: {exc.__class__.__name__}"
    if st.engine is not None:
        svc = st.engine.service
        checks["engine"] = svc.health() if svc is not None else "not running"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics (the same answer for BEACON_METRICS_MAX_AGE seconds)",
            response_class=Response)
async def metrics(st: State) -> Response:
    body = await run_in_threadpool(st.exposition.body)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
