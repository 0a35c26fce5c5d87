"""Language coverage (issue 12, item 11): Spanish or French hate must not come back `allow` with
nothing said. The post's language is in the answer (`lang`), each policy says whether it covers
it (`coverage`), an uncovered `review` policy answers at least review, and /metrics counts it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.engine.results import Action
from gavel.errors import InvalidInputError, PolicyError
from gavel.language import LanguageGate
from gavel.runtime import Runtime, build_runtime
from gavel.settings import Settings

SPANISH_HATE = "Los judíos son parásitos que hay que eliminar de nuestro país"
FRENCH_HATE = "Les musulmans sont des rats, il faut les chasser de France"
SPANISH_BENIGN = "Mañana vamos a la playa con mis primos y después comemos paella"
ENGLISH = "Honestly the weather in Lisbon was lovely all week long"


def demo_policy(extra: str = "") -> str:
    return f"""
id: demo
version: "1"
title: Demo
source: {{text: "No dehumanization."}}
signals:
  bad: {{kind: lexicon, terms: [vermin]}}
clauses:
  - {{id: dehumanization, title: Dehumanization, when: bad}}
{extra}
"""


def runtime_for(tmp_path: Path, policy_text: str, **settings: object) -> Runtime:
    pdir = tmp_path / "policies"
    pdir.mkdir(exist_ok=True)
    (pdir / "demo.yaml").write_text(policy_text, encoding="utf-8")
    return build_runtime(Settings(policy_dir=pdir, models="", **settings), load_models=False)  # type: ignore[arg-type]


def evaluate(rt: Runtime, text: str, context: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    return asyncio.run(rt.evaluator.evaluate(text, context=context))


@pytest.mark.parametrize(("text", "lang"), [(SPANISH_HATE, "es"), (FRENCH_HATE, "fr")])
def test_uncovered_hate_is_reviewed_said_and_counted(rules_runtime: Runtime, text: str, lang: str) -> None:
    with TestClient(create_app(runtime=rules_runtime)) as client:
        r = client.post("/evaluate", json={"text": text, "policies": ["hateful_conduct"]})
        assert r.status_code == 200
        body = r.json()
        assert body["lang"]["code"] == lang and body["lang"]["source"] == "detected"
        assert body["lang"]["confidence"] >= 0.5
        assert body["decision"]["action"] == "review"
        [policy] = body["policies"]
        assert policy["action"] == "review"
        assert policy["coverage"]["covered"] is False
        assert policy["coverage"]["lang"] == lang and policy["coverage"]["languages"] == ["en"]
        assert "uncovered: review" in policy["coverage"]["reason"]
        assert f"hateful_conduct: language '{lang}' not covered (review)" in body["decision"]["reasons"]
        # the contract is unchanged: every clause is still answered
        assert {c["clause_id"] for c in policy["clauses"]} >= {"dehumanization", "calls_for_harm"}
        metrics = client.get("/metrics").text
        assert f'gavel_uncovered_language_total{{lang="{lang}",policy="hateful_conduct"}} 1.0' in metrics


def test_english_is_covered_and_not_counted(rules_runtime: Runtime) -> None:
    with TestClient(create_app(runtime=rules_runtime)) as client:
        body = client.post("/evaluate", json={"text": ENGLISH, "policies": ["hateful_conduct"]}).json()
        assert body["lang"]["code"] == "en"
        assert body["decision"]["action"] == "allow"
        assert body["policies"][0]["coverage"] == {
            "covered": True,
            "lang": "en",
            "languages": ["en"],
            "reason": "the policy covers 'en'",
        }
        assert "gavel_uncovered_language_total{" not in client.get("/metrics").text


def test_homoglyph_english_reads_as_english(rules_runtime: Runtime) -> None:
    """Detection runs on the normalized text: Cyrillic look-alikes would otherwise read as Serbian."""
    result = evaluate(rules_runtime, "dеаth tо thе јеws, every single one of them")
    assert result.lang is not None and result.lang.code == "en"
    assert all(p.coverage is not None and p.coverage.covered for p in result.policies)


def test_short_text_is_undetermined_and_counts_as_covered(rules_runtime: Runtime) -> None:
    result = evaluate(rules_runtime, "Jews are vermin")
    assert result.lang is not None and result.lang.code is None and result.lang.source == "undetermined"
    assert "too short" in result.lang.note
    assert result.decision.action is Action.REMOVE
    assert all(p.coverage is not None and p.coverage.covered for p in result.policies)


def test_links_and_handles_are_not_words(tmp_path: Path) -> None:
    rt = runtime_for(tmp_path, demo_policy())
    result = evaluate(rt, "@juanito_perez https://ejemplo.es/una/pagina/larga #hola")
    assert result.lang is not None and result.lang.source == "undetermined"


def test_context_lang_overrides_detection(tmp_path: Path) -> None:
    rt = runtime_for(tmp_path, demo_policy("languages: [en, es]"))
    english_said_french = evaluate(rt, ENGLISH, {"lang": "fr-CA"})
    assert english_said_french.lang is not None and english_said_french.lang.code == "fr"
    assert english_said_french.lang.source == "context"
    assert english_said_french.policies[0].coverage is not None
    assert english_said_french.policies[0].coverage.covered is False
    assert english_said_french.decision.action is Action.REVIEW
    spanish = evaluate(rt, SPANISH_HATE, {"lang": "es"})
    assert spanish.policies[0].coverage is not None and spanish.policies[0].coverage.covered


@pytest.mark.parametrize("bad", [123, "", "not a language", ["en"]])
def test_malformed_context_lang_is_a_422(rules_runtime: Runtime, bad: object) -> None:
    with pytest.raises(InvalidInputError):
        evaluate(rules_runtime, ENGLISH, {"lang": bad})
    with TestClient(create_app(runtime=rules_runtime)) as client:
        r = client.post("/evaluate", json={"text": ENGLISH, "context": {"lang": bad}})
        assert r.status_code == 422
        assert r.json()["problems"][0]["field"] == "context.lang"


def test_uncovered_evaluate_keeps_the_rules_answer_but_says_so(tmp_path: Path) -> None:
    rt = runtime_for(tmp_path, demo_policy("uncovered: evaluate"))
    result = evaluate(rt, SPANISH_BENIGN)
    assert result.decision.action is Action.ALLOW
    coverage = result.policies[0].coverage
    assert coverage is not None and not coverage.covered and "uncovered: evaluate" in coverage.reason
    assert "demo: language 'es' not covered (evaluate)" in result.decision.reasons


def test_a_policy_for_every_language(tmp_path: Path) -> None:
    rt = runtime_for(tmp_path, demo_policy('languages: ["*"]'))
    result = evaluate(rt, SPANISH_BENIGN)
    assert result.decision.action is Action.ALLOW
    assert result.policies[0].coverage is not None and result.policies[0].coverage.covered


def test_detection_off(tmp_path: Path) -> None:
    rt = runtime_for(tmp_path, demo_policy(), lang_detect=False)
    result = evaluate(rt, SPANISH_BENIGN)
    assert result.lang is None and result.decision.action is Action.ALLOW
    assert evaluate(rt, ENGLISH, {"lang": "es"}).decision.action is Action.REVIEW  # the caller still can say


def test_bad_language_code_in_a_policy_is_a_file_line_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"demo.yaml:10:\d+: languages\[0\]"):
        runtime_for(tmp_path, demo_policy("languages: [English]"))


def test_unknown_candidate_languages_refuse_to_start() -> None:
    with pytest.raises(ValueError, match="does not know xx"):
        LanguageGate(candidates="en,xx").warm()
