"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gavel.api.deps import MetricsDep, RuntimeDep
from gavel.api.routes.verdicts import store_readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    pset = runtime.registry.current
    missing = runtime.models_missing()
    loaded = [{"name": n, "version": v} for n, v in runtime.hub.info()] if runtime.hub is not None else []
    store, store_ok = store_readiness(runtime)
    ready = bool(pset.policies) and not missing and store_ok
    degraded = ready and store is not None and store["state"] == "unavailable"
    body: dict[str, Any] = {
        "status": "degraded" if degraded else "ready" if ready else "not_ready",
        "policies": {pid: p.version for pid, p in pset.policies.items()},
        "policy_generation": pset.generation,
        "models": loaded,
        "models_missing": missing,
        "last_reload_errors": runtime.registry.last_errors,
    }
    if store is not None:
        body["store"] = store
    return JSONResponse(status_code=200 if ready else 503, content=body)


@router.get("/metrics")
async def metrics(metrics: MetricsDep, runtime: RuntimeDep) -> Response:
    metrics.policy_generation.set(runtime.registry.current.generation)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
