"""The model layer: real offline models, Detoxify on a fabricated checkpoint, batching, windows,
word-level evidence."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import numpy as np
import pytest

from service.errors import OverloadedError
from service.models.batcher import MicroBatcher
from service.models.hub import DefaultModelHub
from service.models.windows import windows
from service.settings import Settings


@pytest.fixture(scope="module")
def hub() -> DefaultModelHub:
    return DefaultModelHub.from_settings(Settings(models="profanity,minilm"))


def test_profanity_is_a_real_model(hub: DefaultModelHub) -> None:
    async def run() -> list[float]:
        scored = await hub.classify("profanity", ["have a lovely afternoon", "you are a fucking idiot", "shit happens"])
        return [s.scores["profanity"] for s in scored]

    clean, profane, mild = asyncio.run(run())
    assert clean < 0.2 < 0.9 < profane
    assert len({round(clean, 6), round(profane, 6), round(mild, 6)}) == 3  # not a constant


def test_minilm_similarity(hub: DefaultModelHub) -> None:
    v = hub.embed_now("minilm", ["You are worthless and everyone hates you", "Nobody likes you, you are useless",
                                 "The train leaves at seven tomorrow morning"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2


def test_hub_reports_what_is_missing() -> None:
    hub = DefaultModelHub.from_settings(Settings(models="profanity,detoxify,nonsense"))
    assert hub.available("profanity") and not hub.available("detoxify")
    assert "GAVEL_DETOXIFY_CHECKPOINT" in (hub.unavailable_reason("detoxify") or "")
    assert "unknown model" in (hub.unavailable_reason("nonsense") or "")
    assert [name for name, _ in hub.info()] == ["profanity"]


def test_detoxify_loads_a_fabricated_checkpoint_through_its_own_code(tiny_detoxify: tuple[Path, Path]) -> None:
    checkpoint, config_dir = tiny_detoxify
    settings = Settings(models="detoxify", detoxify_checkpoint=checkpoint, detoxify_config_dir=config_dir)
    hub = DefaultModelHub.from_settings(settings)
    assert hub.available("detoxify"), hub.failures()
    name, version = hub.info()[0]
    assert name == "detoxify" and "tiny_original.ckpt" in version

    async def run() -> list[dict[str, float]]:
        scored = await hub.classify("detoxify", ["you are a stupid idiot", "nice day", "love people"])
        return [s.scores for s in scored]

    scores = asyncio.run(run())
    # Detoxify renames its classes: toxic -> toxicity, identity_hate -> identity_attack
    assert set(scores[0]) == {"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"}
    assert all(0.0 <= v <= 1.0 for s in scores for v in s.values())
    assert scores[0] != scores[1]  # random weights, but a real forward pass per text


def test_batched_equals_unbatched(hub: DefaultModelHub) -> None:
    texts = [f"post number {i}: you are {'an idiot' if i % 3 == 0 else 'lovely'}" for i in range(40)]
    backend = hub._classifiers["profanity"].backend  # the raw forward pass, one text at a time
    alone = [backend.score_batch([t])[0]["profanity"] for t in texts]

    async def concurrent() -> list[float]:
        batcher = MicroBatcher("p", backend.score_batch, max_batch=16, max_wait_ms=20)
        results = await asyncio.gather(*(batcher.submit(t) for t in texts))
        assert batcher.batches < len(texts)  # they were grouped
        await batcher.close()
        return [r["profanity"] for r in results]

    assert np.allclose(asyncio.run(concurrent()), alone, atol=1e-9)


def test_backpressure() -> None:
    def slow(batch: list[str]) -> list[int]:
        import time

        time.sleep(0.05)
        return [len(t) for t in batch]

    async def run() -> None:
        batcher = MicroBatcher("slow", slow, max_batch=2, max_wait_ms=1, queue_size=4)
        with pytest.raises(OverloadedError):
            await batcher.submit_many(["a"] * 5)
        assert await batcher.submit_many(["ab", "abc"]) == [2, 3]
        await batcher.close()

    asyncio.run(run())


def test_long_post_windows(hub: DefaultModelHub) -> None:
    filler = " ".join(
        f"Sentence {i} talks about the weather, the garden, a recipe for soup and the train timetable."
        for i in range(230)
    )
    insult = " Honestly you are a fucking moron and a piece of shit. "
    text = filler[:12_000] + insult + filler[:8_000]
    assert len(text) > 20_000
    spans = windows(text, 400, 100)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(b[0] < a[1] for a, b in itertools.pairwise(spans))  # they overlap

    async def run() -> tuple[float, tuple[int, int]]:
        scored = (await hub.classify("profanity", [text]))[0]
        return scored.scores["profanity"], scored.windows["profanity"]

    score, (start, end) = asyncio.run(run())
    whole = hub._classifiers["profanity"].backend.score_batch([text])[0]["profanity"]
    assert score > 0.5 > whole  # the whole post dilutes the insult; its window does not
    assert "moron" in text[start:end]


def test_occlusion_points_at_the_words(hub: DefaultModelHub) -> None:
    text = "Thanks for the update, you absolute fucking idiot."

    async def run() -> list[tuple[str, float]]:
        words = await hub.attribute("profanity", text, "profanity")
        return [(text[w.start : w.end], w.contribution) for w in words]

    words = asyncio.run(run())
    assert words[0][0] in {"fucking", "idiot"}
    assert {w for w, _ in words[:2]} <= {"fucking", "idiot", "absolute"}
    assert all(c > 0 for _, c in words)
