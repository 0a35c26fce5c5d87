"""The backends: real offline models (never a constant), Detoxify through its own loading code on
a fabricated checkpoint, and a hub that says why a model is missing instead of crashing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import torch

from gavel.models.hub import DefaultModelHub
from gavel.settings import Settings
from tests.models.conftest import fabricate_detoxify_checkpoint


def test_profanity_is_a_real_model(hub: DefaultModelHub) -> None:
    async def run() -> list[float]:
        scored = await hub.classify("profanity", ["have a lovely afternoon", "you are a fucking idiot", "shit happens"])
        return [s.scores["profanity"] for s in scored]

    clean, profane, mild = asyncio.run(run())
    assert clean < 0.2 < 0.9 < profane
    assert len({round(clean, 6), round(profane, 6), round(mild, 6)}) == 3  # not a constant


def test_profanity_fast_path_is_the_packages_own_arithmetic() -> None:
    """The stacked-matrix scoring gives what scikit-learn's predict_proba gives, post by post."""
    from gavel.models.profanity import ProfanityBackend

    backend = ProfanityBackend()
    assert backend._linear is not None, "the package's model no longer has the shape the fast path reads"
    texts = ["have a lovely afternoon", "you are a fucking idiot", "shit happens", "", "ok " * 300, "Ça suffit 🙄"]
    features = backend._vectorizer.transform(texts)
    expected = backend._model.predict_proba(features)[:, 1]
    got = [row["profanity"] for row in backend.score_batch(texts)]
    assert np.allclose(got, expected, rtol=0, atol=1e-12)
    assert got[0] != got[1]


def test_minilm_similarity(hub: DefaultModelHub) -> None:
    v = hub.embed_now(
        "minilm",
        [
            "You are worthless and everyone hates you",
            "Nobody likes you, you are useless",
            "The train leaves at seven tomorrow morning",
        ],
    )
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2


def test_embed_through_the_batcher_equals_embed_now(hub: DefaultModelHub) -> None:
    texts = ["you are a disgrace", "see you at the game", "what a lovely garden you have there, really lovely"]
    batched = asyncio.run(hub.embed("minilm", texts))
    assert batched.dtype == np.float32
    assert np.allclose(batched, hub.embed_now("minilm", texts), atol=1e-6)


def test_loaded_models_carry_name_and_version(hub: DefaultModelHub) -> None:
    loaded = dict(hub.info())
    assert set(loaded) == {"profanity", "minilm"}
    assert loaded["profanity"].startswith("alt-profanity-check ")
    assert "all-MiniLM-L6-v2" in loaded["minilm"]
    assert hub.labels("profanity") == ("profanity",)


def test_hub_reports_what_is_missing() -> None:
    hub = DefaultModelHub.from_settings(Settings(models="profanity,detoxify,nonsense"))
    assert hub.available("profanity") and not hub.available("detoxify")
    assert "GAVEL_DETOXIFY_CHECKPOINT" in (hub.unavailable_reason("detoxify") or "")
    assert "unknown model 'nonsense'" in (hub.unavailable_reason("nonsense") or "")
    assert "not loaded" in (hub.unavailable_reason("minilm") or "")  # never asked for
    assert [name for name, _ in hub.info()] == ["profanity"]


def test_a_missing_checkpoint_file_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    settings = Settings(models="detoxify", detoxify_checkpoint=tmp_path / "nope.ckpt")
    hub = DefaultModelHub.from_settings(settings)
    assert not hub.available("detoxify")
    assert "nope.ckpt" in (hub.unavailable_reason("detoxify") or "")


def test_detoxify_loads_a_fabricated_checkpoint_through_its_own_code(detoxify_hub: DefaultModelHub) -> None:
    name, version = detoxify_hub.info()[0]
    assert name == "detoxify" and "tiny_original.ckpt" in version

    async def run() -> list[dict[str, float]]:
        scored = await detoxify_hub.classify("detoxify", ["you are a stupid idiot", "nice day", "love people"])
        return [s.scores for s in scored]

    scores = asyncio.run(run())
    # Detoxify renames the checkpoint's classes: toxic -> toxicity, identity_hate -> identity_attack
    assert set(scores[0]) == {"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"}
    assert detoxify_hub.labels("detoxify") == (
        "toxicity",
        "severe_toxicity",
        "obscene",
        "threat",
        "insult",
        "identity_attack",
    )
    assert all(0.0 <= v <= 1.0 for s in scores for v in s.values())
    assert scores[0] != scores[1]  # random weights, but a real forward pass per text


def test_detoxify_without_a_local_base_config_says_what_to_do(tmp_path: Path) -> None:
    # the real checkpoints name their base model ("bert-base-uncased"); offline it must be local
    checkpoint, config_dir = fabricate_detoxify_checkpoint(tmp_path, model_type="gavel-test/not-in-any-cache")
    settings = Settings(models="detoxify", detoxify_checkpoint=checkpoint, detoxify_config_dir=config_dir)
    hub = DefaultModelHub.from_settings(settings)
    assert not hub.available("detoxify")
    reason = hub.unavailable_reason("detoxify") or ""
    assert "gavel-test/not-in-any-cache" in reason and "HF_HOME" in reason


def test_inference_leaves_no_autograd_state(detoxify_hub: DefaultModelHub) -> None:
    backend = detoxify_hub._classifiers["detoxify"].backend
    backend.score_batch(["you are a stupid idiot"])
    model = backend._model.model  # type: ignore[attr-defined]
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert torch.is_grad_enabled()  # inference_mode was scoped to the forward pass


@pytest.mark.parametrize("label", ["toxicity", "insult"])
def test_detoxify_attribution_runs_on_the_fabricated_model(detoxify_hub: DefaultModelHub, label: str) -> None:
    text = "you are a stupid idiot"
    found = asyncio.run(detoxify_hub.attribute("detoxify", text, label))
    for a in found:
        assert a.contribution > 0 and text[a.start : a.end] in text.split()
