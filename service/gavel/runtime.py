"""Everything a running Gavel holds, built once from settings and passed down (no module globals).

    async with open_runtime(settings, source="worker") as runtime:
        await runtime.pipeline.evaluate_many(items)

is how the HTTP API (in its lifespan), the Redis worker and `gavel evaluate` start: the policies
are compiled, only the models they need are loaded and started, the stateful stages (author
history, verdict store) are wired around the evaluator, and all of it is released on the way out.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property

from prometheus_client import CollectorRegistry

from gavel.engine.evaluator import Evaluator
from gavel.engine.registry import PolicyRegistry
from gavel.intake import Evaluates, Limits
from gavel.language import LanguageGate
from gavel.models.base import ModelHub
from gavel.settings import Settings
from gavel.stream.stateful import StatefulEvaluator, StreamStages, build_stages

log = logging.getLogger("gavel.runtime")


@dataclass
class Runtime:
    settings: Settings
    hub: ModelHub | None
    registry: PolicyRegistry
    evaluator: Evaluator  # the engine's, stateless
    # author history and the verdict store around `evaluator`; None until `with_stages`
    stages: StreamStages | None = None
    stateful: StatefulEvaluator | None = None

    @cached_property
    def limits(self) -> Limits:
        return Limits.from_settings(self.settings)

    @property
    def pipeline(self) -> Evaluates:
        """What entry points call: the evaluator inside the stateful stages when they are wired."""
        return self.stateful if self.stateful is not None else self.evaluator

    def models_missing(self) -> dict[str, str]:
        """Models some loaded policy needs but that are not available, with the reason."""
        missing: dict[str, str] = {}
        for model in sorted(self.models_needed()):
            if self.hub is None or not self.hub.available(model):
                reason = self.hub.unavailable_reason(model) if self.hub is not None else None
                missing[model] = reason or f"model '{model}' is not loaded"
        return missing

    def models_needed(self) -> set[str]:
        return needed_models(self.registry)


def needed_models(registry: PolicyRegistry) -> set[str]:
    return {m for p in registry.current.policies.values() for m in p.models_needed()}


def build_hub(settings: Settings, needed: set[str] | None = None) -> ModelHub | None:
    """The models of GAVEL_MODELS that the policies need (all of them when `needed` is None):
    a model no policy uses costs start-up time and memory for nothing."""
    names = [n for n in settings.model_names() if needed is None or n in needed]
    if not names:
        return None
    from gavel.models.hub import DefaultModelHub

    skipped = [n for n in settings.model_names() if n not in names]
    if skipped:
        log.info("not loading %s: no loaded policy needs it", ", ".join(skipped))
    hub: ModelHub = DefaultModelHub.from_settings(settings.model_copy(update={"models": ",".join(names)}))
    return hub


def build_runtime(settings: Settings, hub: ModelHub | None = None, load_models: bool = True) -> Runtime:
    """Compile the policies, load the models they need, compile again with them when one needs
    an embedding at compile time (exemplars)."""
    registry = PolicyRegistry(settings.policy_dir, hub, settings.max_policy_bytes, settings.max_lexicon_terms)
    registry.load()
    if hub is None and load_models:
        hub = build_hub(settings, needed_models(registry))
        if hub is not None:
            registry = PolicyRegistry(settings.policy_dir, hub, settings.max_policy_bytes, settings.max_lexicon_terms)
            registry.load()
    language = LanguageGate.from_settings(settings)
    language.warm()  # the language model loads at start-up, not on the first post
    evaluator = Evaluator(registry, hub, settings.max_text_chars, language)
    return Runtime(settings, hub, registry, evaluator)


def with_stages(
    runtime: Runtime,
    source: str,
    metrics_registry: CollectorRegistry | None = None,
    paced: bool = False,
) -> Runtime:
    """A copy of `runtime` with the stateful stages built from its settings (the caller's runtime
    is left alone: tests share one across apps)."""
    stages = build_stages(runtime.settings, metrics_registry)
    return dataclasses.replace(
        runtime, stages=stages, stateful=StatefulEvaluator(runtime.evaluator, stages, source, paced)
    )


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    source: str,
    runtime: Runtime | None = None,
    metrics_registry: CollectorRegistry | None = None,
    paced: bool = False,
) -> AsyncIterator[Runtime]:
    """Build (or take) a runtime, wire its stages (unless already wired), start its models;
    on the way out close the models and drain the stages."""
    runtime = runtime or build_runtime(settings)
    if runtime.stages is None:
        runtime = with_stages(runtime, source, metrics_registry, paced)
    hub = runtime.hub
    if hub is not None:
        await hub.start()
    try:
        yield runtime
    finally:
        if hub is not None:
            await hub.close()
        if runtime.stages is not None:
            await runtime.stages.close()
