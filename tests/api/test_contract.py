"""The HTTP contract of ARCHITECTURE.md, checked the way an outside caller sees it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from gavel.runtime import Runtime


def _clauses(body: dict[str, Any], policy: str) -> dict[str, dict[str, Any]]:
    result = next(p for p in body["policies"] if p["policy_id"] == policy)
    return {c["clause_id"]: c for c in result["clauses"]}


def test_virus_that_must_be_eliminated(client: TestClient) -> None:
    text = "Israel is a virus that must be eliminated."
    r = client.post("/evaluate", json={"text": text, "policies": ["hateful_conduct"]})
    assert r.status_code == 200
    body = r.json()
    clauses = _clauses(body, "hateful_conduct")
    for clause_id, word in (("dehumanization", "virus"), ("calls_for_harm", "eliminated")):
        clause = clauses[clause_id]
        assert clause["verdict"] in ("violates", "needs_review")
        spans = [e for e in clause["evidence"] if e["text"] == word]
        assert spans, clause
        for e in spans:
            assert text[e["start"] : e["end"]] == e["text"]
            assert e["explanation"] and e["signal"] and e["kind"]
    assert body["decision"]["action"] in ("review", "remove")
    policy = body["policies"][0]
    assert policy["version"] == "2020-05"
    assert policy["digest"].startswith("sha256:")


def test_news_sentence_is_no_violation_for_every_clause(client: TestClient) -> None:
    text = (
        "Israel on Monday asked Twitter to immediately suspend the account of Iran’s supreme leader from "
        "the social media platform for what it described as “anti-Semitic and genocidal” messages posted "
        "by Ayatolah Ali Khamenei."
    )
    body = client.post("/evaluate", json={"text": text, "policies": ["hateful_conduct"]}).json()
    clauses = _clauses(body, "hateful_conduct")
    assert set(clauses) >= {
        "violent_threats",
        "calls_for_harm",
        "mass_violence_references",
        "incitement",
        "slurs_and_tropes",
        "dehumanization",
        "hateful_imagery",
    }
    assert {c["verdict"] for c in clauses.values()} == {"no_violation"}
    assert body["decision"]["action"] == "allow"


def test_every_clause_of_every_policy_appears(client: TestClient, rules_runtime: Runtime) -> None:
    body = client.post("/evaluate", json={"text": "hello there", "id": "p-1"}).json()
    assert body["id"] == "p-1"
    got = {p["policy_id"]: [c["clause_id"] for c in p["clauses"]] for p in body["policies"]}
    want = {pid: [c.id for c in cp.clauses] for pid, cp in rules_runtime.registry.current.policies.items()}
    assert got == want
    assert isinstance(body["timing_ms"], float)


def test_utf16_offsets_for_astral_text(client: TestClient) -> None:
    text = "😀😀 Jews are vermin"
    body = client.post("/evaluate", json={"text": text, "policies": ["hateful_conduct"]}).json()
    clause = _clauses(body, "hateful_conduct")["dehumanization"]
    assert clause["verdict"] == "violates"
    for e in clause["evidence"]:
        assert text[e["start"] : e["end"]] == e["text"]
        assert e["start_utf16"] == len(text[: e["start"]].encode("utf-16-le")) // 2
        assert e["end_utf16"] == len(text[: e["end"]].encode("utf-16-le")) // 2
        assert e["start_utf16"] == e["start"] + 2  # two astral characters before


def test_batch_answers_in_order(client: TestClient) -> None:
    items = [{"id": str(i), "text": t} for i, t in enumerate(["hello", "Jews are vermin", "nice day"])]
    r = client.post("/evaluate/batch", json={"items": items, "policies": ["hateful_conduct"]})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["id"] for x in results] == ["0", "1", "2"]
    assert [x["decision"]["action"] for x in results] == ["allow", "remove", "allow"]


def test_policies_endpoints(client: TestClient) -> None:
    listing = client.get("/policies").json()
    ids = {p["policy_id"] for p in listing["policies"]}
    assert {"hateful_conduct", "abusive_behavior"} <= ids
    one = client.get("/policies/hateful_conduct").json()
    assert one["version"] == "2020-05"
    assert "religious affiliation" in one["source"]["text"]
    assert any(c["clause_id"] == "dehumanization" for c in one["clauses"])
    assert client.get("/policies/nope").status_code == 422


def test_health_ready_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    # no model hub in this runtime, and abusive_behavior needs models: not ready, and it says why
    assert ready.status_code == 503
    assert ready.json()["models_missing"]
    client.post("/evaluate", json={"text": "Jews are vermin"})
    metrics = client.get("/metrics").text
    assert 'gavel_verdicts_total{clause="dehumanization",policy="hateful_conduct",verdict="violates"}' in metrics
    assert "gavel_http_request_seconds_bucket" in metrics


def test_missing_model_answers_needs_review_with_reason(client: TestClient) -> None:
    body = client.post("/evaluate", json={"text": "have a nice day", "policies": ["abusive_behavior"]}).json()
    clauses = _clauses(body, "abusive_behavior")
    assert clauses["harassment"]["verdict"] == "needs_review"
    assert "unavailable" in clauses["harassment"]["explanation"]
    assert clauses["insults"]["verdict"] == "no_violation"  # rules only: needs no model
