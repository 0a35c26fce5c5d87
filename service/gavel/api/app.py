"""The app factory: settings in, FastAPI app out. One router per resource."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from gavel import __version__
from gavel.api.docs import install_docs
from gavel.api.errors import install_error_handlers
from gavel.api.limits import BodyLimits
from gavel.api.logging import RequestLog
from gavel.api.metrics import Metrics
from gavel.api.routes import admin, evaluate, health, policies, stream, verdicts
from gavel.ops.reload import PolicyReloader
from gavel.review.web import install_review
from gavel.runtime import Runtime, build_runtime, open_runtime, with_stages
from gavel.settings import Settings


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else Settings())
    admin.check_admin_settings(settings)
    runtime = runtime or build_runtime(settings)
    if runtime.settings is not settings:  # the settings given win: stages, limits, timeouts all follow them
        runtime = dataclasses.replace(runtime, settings=settings)
    metrics = Metrics()

    def on_reload(report: object, trigger: str) -> None:
        metrics.reloads.labels("ok" if getattr(report, "ok", False) else "failed").inc()

    reloader = PolicyReloader(runtime.registry, on_reload)
    # author history and the verdict store wrap the evaluator; the caller's runtime is left alone.
    # Wired here, not in the lifespan: the app answers (tests drive it) before any lifespan runs.
    runtime = with_stages(runtime, source="http", metrics_registry=metrics.registry)
    if runtime.hub is not None:
        runtime.hub.set_observer(metrics.observe_model_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, source="http", runtime=runtime):  # models start; stages drain
            reloader.install_sighup()
            if settings.watch_policies:
                reloader.start_watching(runtime.registry.policy_dir)
            try:
                yield
            finally:
                await reloader.stop()

    app = FastAPI(
        title="Gavel",
        version=__version__,
        description="Content-moderation policy evaluator: per-clause verdicts with evidence spans.",
        lifespan=lifespan,
        docs_url=None,  # served below from the swagger-ui-bundle package: /docs works offline
    )
    install_docs(app)
    app.state.runtime = runtime
    app.state.metrics = metrics
    app.state.reloader = reloader
    install_error_handlers(app)

    @app.exception_handler(admin.AdminDenied)
    async def _admin_denied(request: Request, exc: admin.AdminDenied) -> Response:
        return admin.admin_denied_response(exc)

    app.include_router(evaluate.router)
    app.include_router(policies.router)
    app.include_router(health.router)
    app.include_router(stream.router)
    app.include_router(verdicts.router)
    # absent from the OpenAPI schema (and /docs) when disabled; still answering 404 with a reason
    app.include_router(admin.router, include_in_schema=settings.admin_enabled)
    install_review(app)  # /keys, /review, /console
    app.add_middleware(
        BodyLimits,
        max_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
        idle_timeout_s=settings.stream_idle_timeout_s,
    )
    # outermost, so that 413s from the body cap are counted and carry a request id too
    app.add_middleware(RequestLog, metrics=metrics)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (several worker processes each build their own app)."""
    from gavel.ops.logging import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
