"""FastAPI dependencies as Annotated aliases: a route's signature reads as what it needs.

All `async def`: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per
dependency per request (a third of the time of a rules-only /evaluate under load)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gavel.api.metrics import Metrics
from gavel.engine.evaluator import Evaluator
from gavel.runtime import Runtime
from gavel.settings import Settings


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_evaluator(request: Request) -> Evaluator:
    runtime: Runtime = request.app.state.runtime
    return runtime.evaluator


async def get_settings(request: Request) -> Settings:
    runtime: Runtime = request.app.state.runtime
    return runtime.settings


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
EvaluatorDep = Annotated[Evaluator, Depends(get_evaluator)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
