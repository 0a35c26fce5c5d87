"""FastAPI dependencies as Annotated aliases: a route's signature reads as what it needs.

All `async def`: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per
dependency per request (a third of the time of a rules-only /evaluate under load)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gavel.api.metrics import Metrics
from gavel.intake import Evaluates, Limits
from gavel.runtime import Runtime
from gavel.settings import Settings


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_evaluator(request: Request) -> Evaluates:
    runtime: Runtime = request.app.state.runtime
    return runtime.pipeline


async def get_limits(request: Request) -> Limits:
    runtime: Runtime = request.app.state.runtime
    return runtime.limits


async def get_settings(request: Request) -> Settings:
    runtime: Runtime = request.app.state.runtime
    return runtime.settings


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
EvaluatorDep = Annotated[Evaluates, Depends(get_evaluator)]
LimitsDep = Annotated[Limits, Depends(get_limits)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
