"""The trained hate-speech model: training end to end on a tiny fabricated set, the shipped weights
loaded offline, its heads feeding a clause, token evidence that slices the original text, and
batched == unbatched."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gavel.engine.results import Verdict
from gavel.models.hate_backend import HateBackend
from gavel.models.hub import DefaultModelHub
from gavel.runtime import build_runtime
from gavel.settings import Settings, default_hate_model_dir
from gavel.training.data import TARGETS, TYPES, Example
from gavel.training.model import ModelConfig
from gavel.training.train import TrainOptions, token_labels, train

SHIPPED = default_hate_model_dir()
CASES = Path(__file__).resolve().parents[1] / "cases"
# The int8 bottom quantizes every token on its own (exact int32 products, tests/models/test_int8.py)
# and runs texts of one length together, unpadded; the top masks padding: what is left is float
# rounding in the top's attention over padded keys.
BATCH_TOLERANCE = 1e-4


def _tiny_set() -> list[Example]:
    hateful = ["I hate {g}, they are vermin.", "Kill all the {g} now.", "{g} are disgusting animals."]
    kind = ["I love my {g} neighbours.", "The {g} festival was fun.", "We had lunch with {g} friends."]
    groups = ["jews", "muslims", "women", "refugees"]
    out: list[Example] = []
    for g in groups:
        for k, t in enumerate(hateful):
            text = t.format(g=g)
            word = text.split()[1]
            at = text.index(word)
            out.append(
                Example(
                    "fab",
                    text,
                    hate=1.0,
                    type=k % len(TYPES),
                    targets=(TARGETS[k % len(TARGETS)],),
                    spans=[(at, at + len(word))],
                )
            )
        out.extend(Example("fab", t.format(g=g), hate=0.0, offensive=0.0) for t in kind)
    return out


def test_token_labels_mark_overlapping_pieces_and_skip_specials() -> None:
    offsets = [(0, 0), (0, 4), (5, 9), (9, 12), (0, 0)]
    assert token_labels(offsets, [(6, 10)]).tolist() == [-1.0, 0.0, 1.0, 1.0, -1.0]


def test_training_end_to_end_on_a_tiny_set_and_resume(tmp_path: Path) -> None:
    examples = _tiny_set()
    cfg = ModelConfig(n_frozen=1, n_top=1, max_len=16)
    out = tmp_path / "model"
    opts = TrainOptions(epochs=1, batch_size=8, seed=3, progress=False)
    metrics = train(examples, examples[:8], out, cfg, opts)
    assert {p.name for p in out.iterdir()} >= {"delta.safetensors", "config.json", "metrics.json"}
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["hate"]["fab"]["n"] == 8.0 and "macro_f1" in metrics["hate"]["fab"]
    assert "fab" in metrics["token_f1"]
    backend = HateBackend(out)
    scored = backend.score_batch(["I hate jews, they are vermin."])[0]
    assert set(scored) == set(backend.labels) and all(0.0 <= v <= 1.0 for v in scored.values())
    # resume: one more epoch from the checkpoint; deterministic given the seed
    resumed = train(
        examples, examples[:8], out, cfg, TrainOptions(epochs=2, batch_size=8, seed=3, progress=False, resume=True)
    )
    assert resumed["train_rows"] == len(examples)


needs_weights = pytest.mark.skipif(
    not (SHIPPED / "config.json").is_file(), reason="no trained weights in the repository"
)


@pytest.fixture(scope="module")
def shipped() -> HateBackend:
    os.environ["HF_HUB_OFFLINE"] = "1"
    return HateBackend(SHIPPED)


@needs_weights
def test_shipped_weights_are_small_and_load_offline(shipped: HateBackend) -> None:
    size = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert size <= 25 * 1024 * 1024
    assert (
        "hate" in shipped.labels
        and "type_dehumanization" in shipped.labels
        and "target_religious_affiliation" in shipped.labels
    )
    hateful, kind = shipped.score_batch(
        ["Jews are rats and should be exterminated.", "The council meeting about the new bike lanes is on Thursday."]
    )
    assert hateful["hate"] > 0.75 and kind["hate"] < 0.5


@needs_weights
def test_batched_equals_unbatched(shipped: HateBackend) -> None:
    texts = [
        "kil all the muzlims",
        "She went outside for a fag.",
        "Refugees should be kept in kennels, not houses.",
        "ok",
        "g a s the jews",
        "Go back to Mexico, you dirty Mexican.",
        # a long batch mate pads the others: int8 rounding once turned padding's few-ulp changes
        # into a 0.07 move of "g a s the jews"
        "a b c d e f g h i j k l m n o p q r s t u v w x y z " * 3,
    ]
    together = shipped.score_batch(texts)
    for text, row in zip(texts, together, strict=True):
        alone = shipped.score_batch([text])[0]
        assert max(abs(alone[k] - row[k]) for k in row) < BATCH_TOLERANCE


@needs_weights
def test_batched_equals_unbatched_on_every_case_text(shipped: HateBackend) -> None:
    """Every functional case text, in batches of 32, against itself alone: padding must not move
    a post through the int8 bottom (it did, by up to 0.013, when the bottom ran padded)."""
    import yaml

    texts = [c["text"] for f in sorted(CASES.glob("*.cases.yaml")) for c in yaml.safe_load(f.read_text())["cases"]]
    assert len(texts) > 500
    together = [row for i in range(0, len(texts), 32) for row in shipped.score_batch(texts[i : i + 32])]
    worst = max(
        max(abs(alone[k] - row[k]) for k in row)
        for text, row in zip(texts, together, strict=True)
        for alone in shipped.score_batch([text])
    )
    assert worst < BATCH_TOLERANCE


@needs_weights
def test_the_int8_kernel_changes_no_answer() -> None:
    """The two int8 kernels (`gavel.training.int8`) give the same integers, so the same model on a
    CPU with VNNI and on one without answers alike, to the bit."""
    texts = ["Refugees should be kept in kennels, not houses.", "The bike lanes open on Thursday.", "g a s the jews"]
    by_kernel = [HateBackend(SHIPPED, int8_kernel=k).score_batch(texts) for k in ("float", "int_mm")]
    assert by_kernel[0] == by_kernel[1]


@needs_weights
def test_token_evidence_slices_the_original_text(shipped: HateBackend) -> None:
    text = "Ça suffit 🙄  — honestly, Jews are filthy rats and I'd   exterminate them all. Café?"
    found = shipped.evidence(text, "hate")
    assert found, "the token head marks nothing in an obviously hateful post"
    for a in found:
        assert 0 <= a.start < a.end <= len(text) and a.how == "evidence_head"
        assert text[a.start : a.end].strip() == text[a.start : a.end]
    marked = " ".join(text[a.start : a.end] for a in found).lower()
    assert "rats" in marked or "exterminate" in marked or "filthy" in marked


_POLICY = """
id: model_only
version: "1"
title: Model only
description: one clause on the hate model's probability
source:
  text: a test policy
signals:
  hate_model:
    kind: model
    model: hate
    label: hate_debiased
    threshold: 0.5
clauses:
  - id: hateful
    title: Hateful
    description: the hate model says so
    when: {signal: hate_model}
"""


@needs_weights
def test_heads_feed_a_clause_with_evidence(tmp_path: Path) -> None:
    (tmp_path / "model_only.yaml").write_text(_POLICY, encoding="utf-8")
    runtime = build_runtime(Settings(policy_dir=tmp_path, models="hate"))
    text = "Honestly, Jews are filthy rats and should be exterminated."

    async def run() -> tuple[Verdict, Verdict, list[tuple[int, int, str]], list[str]]:
        await runtime.hub.start() if isinstance(runtime.hub, DefaultModelHub) else None
        bad = await runtime.evaluator.evaluate(text, ["model_only"])
        good = await runtime.evaluator.evaluate("Muslims are my neighbours and friends.", ["model_only"])
        clause = bad.policies[0].clauses[0]
        return (
            clause.verdict,
            good.policies[0].clauses[0].verdict,
            [(e.start, e.end, e.text) for e in clause.evidence],
            [m.name for m in bad.models],
        )

    bad, good, evidence, models = asyncio.run(run())
    assert bad is Verdict.VIOLATES and good is Verdict.NO_VIOLATION
    assert models == ["hate"]
    assert evidence and all(text[s:e] == t for s, e, t in evidence)
    assert any(t != text for _, _, t in evidence), "evidence should be words, not the whole post"


@needs_weights
def test_evidence_of_a_scored_post_needs_no_second_forward_pass() -> None:
    backend = HateBackend(SHIPPED)
    texts = ["Jews are filthy rats and I'd exterminate them all.", "ok", "Refugees should be kept in kennels."]
    alone = [backend.evidence(t, "hate") for t in texts]  # each in a forward pass of its own
    fresh = HateBackend(SHIPPED)
    fresh.score_batch(texts)
    calls = 0
    forward = fresh._forward

    def counting(batch: Sequence[str]) -> Any:
        nonlocal calls
        calls += 1
        return forward(batch)

    fresh._forward = counting  # type: ignore[method-assign]
    from_scoring = [fresh.evidence(t, "hate") for t in texts]
    assert calls == 0
    for got, want in zip(from_scoring, alone, strict=True):
        assert [(a.start, a.end) for a in got] == [(a.start, a.end) for a in want]
        assert all(abs(a.contribution - b.contribution) < BATCH_TOLERANCE for a, b in zip(got, want, strict=True))
