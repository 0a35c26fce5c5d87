"""Model orchestration: every model the policies use runs once per batch of posts, through the
hub's micro-batchers. A failed model is recorded per post as a reason, never raised, so the
clauses that need it answer needs_review; a full queue (OverloadedError) is raised."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gavel.engine.kinds.base import ModelUse
from gavel.engine.post import ModelOutputs, Post
from gavel.engine.results import ModelInfo
from gavel.errors import ModelUnavailableError, OverloadedError
from gavel.models.base import ModelHub


def unavailable(hub: ModelHub | None, model: str) -> str | None:
    if hub is None:
        return f"model '{model}' is not loaded (no model hub)"
    if not hub.available(model):
        return hub.unavailable_reason(model) or f"model '{model}' is not loaded"
    return None


async def run_models(
    hub: ModelHub | None,
    uses: set[ModelUse],
    posts: Sequence[Post],
    cascade: Sequence[tuple[set[ModelUse], set[tuple[str, str]]]] | None = None,
) -> list[ModelOutputs]:
    """Every model at once: each has its own batcher and worker thread, so on a 2-core box the
    hate model and the embedder run side by side instead of one after the other. `cascade`
    (per post: the uses it needs, the cascaded signals left out) runs a model only on the posts
    that need it."""
    outputs = [ModelOutputs() for _ in posts]
    if cascade is not None:
        for out, (_, closed) in zip(outputs, cascade, strict=True):
            out.closed = closed
    runs = []
    for use in sorted(uses):
        who = [i for i in range(len(posts)) if cascade is None or use in cascade[i][0]]
        if who:
            runs.append(_run_one(hub, *use, [posts[i].item.text for i in who], [outputs[i] for i in who]))
    await asyncio.gather(*runs)
    return outputs


async def _run_one(
    hub: ModelHub | None, model: str, how: str, texts: list[str], outputs: list[ModelOutputs]
) -> None:
    reason = unavailable(hub, model)
    if reason is None:
        assert hub is not None
        try:
            if how == "classify":
                scored = await hub.classify(model, texts)
                for out, s in zip(outputs, scored, strict=True):
                    out.scores[model] = s
            else:
                vectors = await hub.embed(model, texts)
                for i, out in enumerate(outputs):
                    out.embeddings[model] = vectors[i]
            return
        except OverloadedError:
            raise
        except ModelUnavailableError as exc:
            reason = exc.reason
        except Exception as exc:  # a broken model must not take the request down
            reason = f"{type(exc).__name__}: {exc}"
    for out in outputs:
        if how == "classify":
            out.scores[model] = reason
        else:
            out.embeddings[model] = reason


def model_versions(hub: ModelHub | None, models: set[str]) -> list[ModelInfo]:
    if hub is None or not models:
        return []
    return [ModelInfo(name=n, version=v) for n, v in hub.info() if n in models]
