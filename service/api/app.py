"""The app factory: settings in, FastAPI app out. One router per resource."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from service import __version__
from service.api.errors import install_error_handlers
from service.api.limits import BodySizeLimit
from service.api.metrics import Metrics
from service.api.routes import evaluate, health, policies, stream, verdicts
from service.runtime import Runtime, build_runtime
from service.settings import Settings
from service.stream.stateful import build_stages, with_stages


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else Settings())
    runtime = runtime or build_runtime(settings)
    metrics = Metrics()
    # author history and the verdict store wrap the evaluator; the caller's runtime is left alone
    stages = build_stages(settings, metrics.registry)
    runtime = with_stages(runtime, stages, source="http")
    set_observer = getattr(runtime.hub, "set_observer", None)
    if set_observer is not None:
        set_observer(metrics.observe_model_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = runtime.hub
        start = getattr(hub, "start", None)
        if start is not None:
            await start()
        try:
            yield
        finally:
            close = getattr(hub, "close", None)
            if close is not None:
                await close()
            await stages.close()  # drains the verdict recorder

    app = FastAPI(
        title="Gavel",
        version=__version__,
        description="Content-moderation policy evaluator: per-clause verdicts with evidence spans.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.metrics = metrics
    install_error_handlers(app)

    @app.middleware("http")
    async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(path, request.method, str(response.status_code)).inc()
        metrics.latency.labels(path, request.method).observe(time.perf_counter() - started)
        return response

    app.include_router(evaluate.router)
    app.include_router(policies.router)
    app.include_router(health.router)
    app.include_router(stream.router)
    app.include_router(verdicts.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (several worker processes each build their own app)."""
    return create_app(Settings())
