"""Everything a running Gavel holds, built once from settings and passed down (no module globals)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from gavel.engine.evaluator import Evaluator
from gavel.engine.registry import PolicyRegistry
from gavel.language import LanguageGate
from gavel.models.base import ModelHub
from gavel.settings import Settings

log = logging.getLogger("gavel.runtime")


@dataclass
class Runtime:
    settings: Settings
    hub: ModelHub | None
    registry: PolicyRegistry
    evaluator: Evaluator
    started_at: float = field(default_factory=time.time)
    # Optional stages wired by the stream/store layer (author history, verdict store, ...).
    extras: dict[str, Any] = field(default_factory=dict)

    def models_missing(self) -> dict[str, str]:
        """Models some loaded policy needs but that are not available, with the reason."""
        needed = {m for p in self.registry.current.policies.values() for m in p.models_needed()}
        missing: dict[str, str] = {}
        for model in sorted(needed):
            if self.hub is None or not self.hub.available(model):
                reason = self.hub.unavailable_reason(model) if self.hub is not None else None
                missing[model] = reason or f"model '{model}' is not loaded"
        return missing


def build_hub(settings: Settings) -> ModelHub | None:
    if not settings.model_names():
        return None
    from gavel.models.hub import DefaultModelHub

    hub: ModelHub = DefaultModelHub.from_settings(settings)
    return hub


def build_runtime(settings: Settings, hub: ModelHub | None = None, load_models: bool = True) -> Runtime:
    """Load models, then compile the policies (exemplars need the embedding model)."""
    if hub is None and load_models:
        hub = build_hub(settings)
    registry = PolicyRegistry(settings.policy_dir, hub, settings.max_policy_bytes, settings.max_lexicon_terms)
    registry.load()
    language = LanguageGate.from_settings(settings)
    language.warm()  # the language model loads at start-up, not on the first post
    evaluator = Evaluator(registry, hub, settings.max_text_chars, language)
    return Runtime(settings=settings, hub=hub, registry=registry, evaluator=evaluator)
