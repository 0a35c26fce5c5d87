"""Model-backed clauses end to end: the answer names the models, evidence points into the
original text (also for a 20,000-character post), and a missing model is never silent."""

from __future__ import annotations

import asyncio

from gavel.engine.results import Verdict
from gavel.runtime import Runtime, build_runtime
from gavel.settings import Settings
from tests.conftest import POLICY_DIR


def test_model_evidence_and_model_names(model_runtime: Runtime) -> None:
    text = "@sam you are a fucking disgrace, nobody wants you here"
    result = asyncio.run(model_runtime.evaluator.evaluate(text, ["abusive_behavior"]))
    assert {m.name for m in result.models} == {"profanity", "minilm"}
    clauses = {c.clause_id: c for c in result.policies[0].clauses}
    prof = clauses["profanity_at_person"]
    assert prof.verdict is not Verdict.NO_VIOLATION
    model_ev = [e for e in prof.evidence if e.kind == "model"]
    assert model_ev and all(text[e.start : e.end] == e.text for e in model_ev)
    assert "fucking" in {e.text for e in model_ev}


def test_long_post_evidence_points_at_the_right_window() -> None:
    runtime = build_runtime(Settings(policy_dir=POLICY_DIR, models="profanity", max_text_chars=30_000))
    filler = " ".join(f"Note {i}: the garden needs water and the soup needs salt." for i in range(400))
    text = filler[:12_000] + " @sam you are a fucking moron and a piece of shit. " + filler[:8_000]
    assert len(text) > 20_000
    result = asyncio.run(runtime.evaluator.evaluate(text, ["abusive_behavior"]))
    clause = next(c for c in result.policies[0].clauses if c.clause_id == "profanity_at_person")
    assert clause.verdict is not Verdict.NO_VIOLATION
    for e in clause.evidence:
        assert text[e.start : e.end] == e.text
        assert 12_000 <= e.start < 12_100  # inside the insult, not the filler


def test_missing_model_is_loud() -> None:
    runtime = build_runtime(Settings(policy_dir=POLICY_DIR, models="profanity"))  # no minilm
    assert runtime.models_missing() == {
        "minilm": "model 'minilm' is not loaded (GAVEL_MODELS)",
        "hate": "model 'hate' is not loaded (GAVEL_MODELS)",
    }
    result = asyncio.run(runtime.evaluator.evaluate("what a lovely day", ["abusive_behavior"]))
    harassment = next(c for c in result.policies[0].clauses if c.clause_id == "harassment")
    assert harassment.verdict is Verdict.NEEDS_REVIEW
    assert "minilm" in harassment.explanation
