"""The fast paths of the model stage keep the answers: a cascaded exemplar embeds only the posts
its gate lets through, the models of one batch run side by side, and the hate model's evidence
comes from its scoring pass."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from gavel.engine.compiler import compile_policy
from gavel.engine.evaluator import Evaluator
from gavel.engine.loader import parse_policy
from gavel.engine.registry import PolicyRegistry
from gavel.engine.results import Verdict
from gavel.errors import PolicyValidationError
from gavel.models.hub import DefaultModelHub

_CASCADE = """
id: demo
version: "1"
title: demo
source: {text: demo}
signals:
  second_person: {kind: regex, patterns: ["\\\\byou\\\\b"]}
  harassment_like:
    kind: exemplar
    model: fake
    threshold: 0.5
    margin: 0.0
    only_when: second_person
    examples: ["you are awful"]
clauses:
  - {id: harassment, title: h, when: {all_of: [harassment_like, second_person]}}
"""


class CountingEmbedder:
    """Every text embeds to the same unit vector (similar to every example); counts what it saw."""

    name = "fake"
    version = "fake 1"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed_batch(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.seen.extend(texts)
        return np.tile(np.array([1.0, 0.0], dtype=np.float32), (len(texts), 1))


def _evaluator(policy_yaml: str, hub: DefaultModelHub) -> Evaluator:
    compiled = compile_policy(parse_policy(policy_yaml, "demo.yaml"), hub)
    return Evaluator(PolicyRegistry.from_policies({"demo": compiled}), hub)


def test_cascade_embeds_only_posts_its_gate_lets_through() -> None:
    embedder = CountingEmbedder()
    hub = DefaultModelHub()
    hub.add_embedder(embedder)
    evaluator = _evaluator(_CASCADE, hub)
    embedder.seen.clear()  # the examples, embedded at compile time
    from gavel.engine.post import EvalItem

    results = asyncio.run(evaluator.evaluate_many([EvalItem("you are awful"), EvalItem("what a lovely day")]))
    assert embedder.seen == ["you are awful"]
    verdicts = [r.policies[0].clauses[0].verdict for r in results]
    assert verdicts == [Verdict.VIOLATES, Verdict.NO_VIOLATION]
    assert not results[1].policies[0].clauses[0].evidence


def test_cascade_gate_must_be_a_span_signal_of_the_policy() -> None:
    with pytest.raises(PolicyValidationError, match="unknown signal 'second_persn'"):
        parse_policy(_CASCADE.replace("only_when: second_person", "only_when: second_persn"), "demo.yaml")


class BlockingClassifier:
    """Scores only once the other model has started too: a batch whose models ran one after the
    other would wait out the barrier's timeout."""

    labels = ("x",)
    version = "block 1"

    def __init__(self, name: str, barrier: threading.Barrier) -> None:
        self.name = name
        self._barrier = barrier

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self._barrier.wait(timeout=5)
        return [{"x": 0.0} for _ in texts]


def test_models_of_one_batch_run_side_by_side() -> None:
    barrier = threading.Barrier(2)
    hub = DefaultModelHub()
    hub.add_classifier(BlockingClassifier("a", barrier))
    hub.add_classifier(BlockingClassifier("b", barrier))
    policy = """
id: demo
version: "1"
title: demo
source: {text: demo}
signals:
  sa: {kind: model, model: a, label: x, threshold: 0.5}
  sb: {kind: model, model: b, label: x, threshold: 0.5}
clauses:
  - {id: c, title: c, when: {any_of: [sa, sb]}}
"""
    evaluator = _evaluator(policy, hub)
    result = asyncio.run(evaluator.evaluate("hello"))
    assert result.policies[0].clauses[0].verdict is Verdict.NO_VIOLATION  # no BrokenBarrierError
