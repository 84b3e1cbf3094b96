"""``/healthz`` (the process is alive), ``/readyz`` (database and Redis answer, and the realtime server in the same
process is not saturated), ``/metrics`` (Prometheus: the
API's metrics, plus the realtime server's when both run in one process)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mpgenie.api.db import ping
from mpgenie.api.deps import Ctx
from mpgenie.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(ctx: Ctx) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await ping(ctx.engine)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready", reported, never raised
        checks["database"] = f"error: {type(exc).__name__}"
    if ctx.redis is not None:
        try:
            await ctx.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    if ctx.extra_checks is not None:
        checks.update(ctx.extra_checks())
    ready = all(v == "ok" for v in checks.values())
    body = Health(status="ready" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics(ctx: Ctx) -> Response:
    body = generate_latest(ctx.metrics.registry)
    if ctx.extra_metrics is not None:
        body += ctx.extra_metrics()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
