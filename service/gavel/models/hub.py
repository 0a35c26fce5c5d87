"""The models Gavel has loaded, each behind its own micro-batcher; what the evaluator talks to.

A model that fails to load is recorded with the reason and never crashes start-up: clauses that
need it answer needs_review and /readyz says why (no silent degradation).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gavel.errors import ModelUnavailableError
from gavel.models.attribution import attributions, variants, words
from gavel.models.base import ClassifierBackend, EmbeddingBackend, LabelScores, TokenAttribution
from gavel.models.batcher import MicroBatcher
from gavel.models.windows import windows
from gavel.settings import Settings

log = logging.getLogger("gavel.models")

# The registry of model backends: name -> the module whose `load(settings)` returns the backend
# (a ClassifierBackend or an EmbeddingBackend). Imported only when GAVEL_MODELS asks for it.
BACKENDS: dict[str, str] = {
    "profanity": "gavel.models.profanity",
    "minilm": "gavel.models.embedding",
    "hate": "gavel.models.hate_backend",
    "detoxify": "gavel.models.detoxify_backend",
}
Observer = Callable[[str, int, float], None]


@dataclass
class _Classifier:
    backend: ClassifierBackend
    batcher: MicroBatcher[dict[str, float]]


@dataclass
class _Embedder:
    backend: EmbeddingBackend
    batcher: MicroBatcher[npt.NDArray[np.float32]]


class DefaultModelHub:
    """Loaded classifiers and embedders by name, each with one MicroBatcher (one worker thread).

    Public API: `from_settings`, `start`/`close` (the batchers), `available`, `unavailable_reason`,
    `info` ((name, version) for answers and /readyz), `failures`, `classify` (windowed,
    max per label), `embed`/`embed_now` (L2-normalised float32), `attribute` (occlusion in one
    forward pass), `add_classifier`/`add_embedder` (any backend, e.g. in tests), `set_observer`.
    """

    def __init__(
        self,
        window_chars: int = 400,
        window_overlap: int = 100,
        max_batch: int = 32,
        max_wait_ms: float = 5.0,
        queue_size: int = 4096,
    ) -> None:
        self._classifiers: dict[str, _Classifier] = {}
        self._embedders: dict[str, _Embedder] = {}
        self._failed: dict[str, str] = {}
        self._window_chars = window_chars
        self._window_overlap = window_overlap
        self._observer: Observer | None = None
        self._max_batch = max_batch
        self._max_wait_ms = max_wait_ms
        self._queue_size = queue_size

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings) -> DefaultModelHub:
        """Load every model in GAVEL_MODELS; a failure is recorded with its reason, never raised."""
        hub = cls(
            settings.model_window_chars,
            settings.model_window_overlap_chars,
            settings.model_max_batch,
            settings.model_max_wait_ms,
            settings.model_queue_size,
        )
        names = settings.model_names()
        if settings.torch_threads > 0 and any(n in ("minilm", "hate", "detoxify") for n in names):
            import torch

            # intra-op threads of every forward pass; each model has one worker thread calling it
            torch.set_num_threads(settings.torch_threads)
        for name in names:
            began = time.perf_counter()
            try:
                hub._load(name, settings)
            except Exception as exc:  # recorded, reported by /readyz, never fatal
                reason = exc.reason if isinstance(exc, ModelUnavailableError) else f"{type(exc).__name__}: {exc}"
                hub._failed[name] = reason
                log.error("model %s failed to load: %s", name, reason)
            else:
                log.info("model %s loaded in %.2fs", name, time.perf_counter() - began)
        if settings.torch_threads > 0 and "torch" in sys.modules:
            import torch

            # intra-op threads of every forward pass; each model has one worker thread calling it
            torch.set_num_threads(settings.torch_threads)
        return hub

    def _load(self, name: str, settings: Settings) -> None:
        module = BACKENDS.get(name)
        if module is None:
            raise ModelUnavailableError(name, f"unknown model '{name}' (known: {', '.join(BACKENDS)})")
        backend = importlib.import_module(module).load(settings)
        if isinstance(backend, EmbeddingBackend):
            self.add_embedder(backend)
        else:
            self.add_classifier(backend)

    def add_classifier(self, backend: ClassifierBackend) -> None:
        batcher: MicroBatcher[dict[str, float]] = MicroBatcher(
            backend.name,
            backend.score_batch,
            self._max_batch,
            self._max_wait_ms,
            self._queue_size,
            self._observe_for(backend.name),
        )
        self._classifiers[backend.name] = _Classifier(backend, batcher)
        self._failed.pop(backend.name, None)

    def add_embedder(self, backend: EmbeddingBackend) -> None:
        def embed(texts: Sequence[str]) -> list[npt.NDArray[np.float32]]:
            return list(backend.embed_batch(texts))

        batcher: MicroBatcher[npt.NDArray[np.float32]] = MicroBatcher(
            backend.name, embed, self._max_batch, self._max_wait_ms, self._queue_size, self._observe_for(backend.name)
        )
        self._embedders[backend.name] = _Embedder(backend, batcher)
        self._failed.pop(backend.name, None)

    def set_observer(self, observer: Observer) -> None:
        """Metrics hook: (model, batch size, oldest item's queue wait in seconds)."""
        self._observer = observer

    def _observe_for(self, name: str) -> Callable[[int, float], None]:
        def observe(size: int, wait: float) -> None:
            if self._observer is not None:
                self._observer(name, size, wait)

        return observe

    # --- what is loaded --------------------------------------------------------------------

    def available(self, model: str) -> bool:
        return model in self._classifiers or model in self._embedders

    def unavailable_reason(self, model: str) -> str | None:
        if self.available(model):
            return None
        return self._failed.get(model, f"model '{model}' is not loaded (GAVEL_MODELS)")

    def info(self) -> list[tuple[str, str]]:
        out = [(n, c.backend.version) for n, c in self._classifiers.items()]
        return out + [(n, e.backend.version) for n, e in self._embedders.items()]

    def failures(self) -> dict[str, str]:
        """Models asked for that did not load, with the reason."""
        return dict(self._failed)

    def labels(self, model: str) -> tuple[str, ...]:
        return self._classifier(model).backend.labels

    def batchers(self) -> list[MicroBatcher[dict[str, float]] | MicroBatcher[npt.NDArray[np.float32]]]:
        return [c.batcher for c in self._classifiers.values()] + [e.batcher for e in self._embedders.values()]

    async def start(self) -> None:
        for b in self.batchers():
            await b.start()

    async def close(self) -> None:
        for b in self.batchers():
            await b.close()

    # --- inference -------------------------------------------------------------------------

    def _classifier(self, model: str) -> _Classifier:
        found = self._classifiers.get(model)
        if found is None:
            raise ModelUnavailableError(model, self.unavailable_reason(model) or "not a classifier")
        return found

    def _embedder(self, model: str) -> _Embedder:
        found = self._embedders.get(model)
        if found is None:
            raise ModelUnavailableError(model, self.unavailable_reason(model) or "not an embedding model")
        return found

    async def classify(self, model: str, texts: Sequence[str]) -> list[LabelScores]:
        """Scores per text; a text longer than the window is scored per overlapping window and
        each label keeps its maximum, with the window (offsets into the text) that produced it."""
        clf = self._classifier(model)
        spans = [windows(t, self._window_chars, self._window_overlap) for t in texts]
        flat = [t[s:e] for t, ws in zip(texts, spans, strict=True) for s, e in ws]
        scored = await clf.batcher.submit_many(flat)
        out: list[LabelScores] = []
        k = 0
        for ws in spans:
            best: dict[str, float] = {}
            where: dict[str, tuple[int, int]] = {}
            for span in ws:
                for label, value in scored[k].items():
                    if label not in best or value > best[label]:
                        best[label] = value
                        where[label] = span
                k += 1
            out.append(LabelScores(best, where))
        return out

    async def embed(self, model: str, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        emb = self._embedder(model)
        vectors = await emb.batcher.submit_many(list(texts))
        return np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)

    def embed_now(self, model: str, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Synchronous, unbatched: for compiling a policy's exemplars, outside any event loop."""
        return self._embedder(model).backend.embed_batch(texts)

    async def attribute(self, model: str, text: str, label: str) -> list[TokenAttribution]:
        """The words whose removal lowers `label`'s score, biggest drop first, as offsets into
        `text`. All the occlusion variants go through the model in ONE forward pass; a text
        longer than the window is explained inside its top-scoring window."""
        clf = self._classifier(model)
        if label not in clf.backend.labels:
            raise ValueError(f"model '{model}' has no label '{label}' (labels: {', '.join(clf.backend.labels)})")
        offset = 0
        if len(text) > self._window_chars:
            scored = (await self.classify(model, [text]))[0]
            offset, end = scored.windows[label]
            text = text[offset:end]
        marks = getattr(clf.backend, "evidence", None)
        if callable(marks):
            # a model with its own evidence head marks the words itself, in one forward pass
            found: list[TokenAttribution] = await asyncio.get_running_loop().run_in_executor(
                clf.batcher.executor, marks, text, label
            )
        else:
            spans = words(text)
            if not spans:
                return []
            scores = await clf.batcher.submit_block(variants(text, spans))
            found = attributions(spans, label, scores)
        if offset:
            found = [
                TokenAttribution(a.start + offset, a.end + offset, a.contribution, a.log_odds_drop, a.how)
                for a in found
            ]
        return found
