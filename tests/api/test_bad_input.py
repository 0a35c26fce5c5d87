"""Bad input answers 4xx with a JSON body naming the field and the problem; never 5xx."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.runtime import Runtime


def _problem_fields(body: dict[str, object]) -> list[str]:
    return [p["field"] for p in body["problems"]]  # type: ignore[index,union-attr]


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({}, 422, "text"),
        ({"text": ""}, 422, "text"),
        ({"text": 42}, 422, "text"),
        ({"text": "hi", "policies": "hateful_conduct"}, 422, "policies"),
        ({"text": "hi", "policies": ["no_such_policy"]}, 422, "policies"),
        ({"text": "hi", "context": []}, 422, "context"),
        ({"text": "hi", "surprise": 1}, 422, "surprise"),
        ({"text": "x" * 10_001}, 413, "text"),
        ({"text": "hi", "id": "i" * 300}, 422, "id"),
    ],
)
def test_evaluate_rejects(client: TestClient, payload: dict[str, object], status: int, field: str) -> None:
    r = client.post("/evaluate", json=payload)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] and body["message"]
    assert field in _problem_fields(body)


def test_malformed_json(client: TestClient) -> None:
    r = client.post("/evaluate", content=b'{"text": "unterminated', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_json"


def test_invalid_utf8(client: TestClient) -> None:
    r = client.post("/evaluate", content=b'{"text": "caf\xe9"}', headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500
    assert r.json()["problems"]


def test_wrong_content_type(client: TestClient) -> None:
    r = client.post(
        "/evaluate",
        content=b"text=hello",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= r.status_code < 500


def test_batch_limits(client: TestClient) -> None:
    r = client.post("/evaluate/batch", json={"items": []})
    assert r.status_code == 422 and "items" in _problem_fields(r.json())
    r = client.post("/evaluate/batch", json={"items": [{"text": "a"}] * 257})
    assert r.status_code == 413 and "items" in _problem_fields(r.json())
    r = client.post("/evaluate/batch", json={"items": [{"text": "a"}, {"text": "b" * 10_001}]})
    assert r.status_code == 413 and "items[1].text" in _problem_fields(r.json())
    r = client.post("/evaluate/batch", json={"items": [{"text": "a"}, {"txt": "b"}]})
    assert r.status_code == 422 and "items[1].text" in _problem_fields(r.json())


def test_body_size_cap(rules_runtime: Runtime) -> None:
    settings = rules_runtime.settings.model_copy(update={"max_body_bytes": 1_000})
    runtime = Runtime(settings, rules_runtime.hub, rules_runtime.registry, rules_runtime.evaluator)
    with TestClient(create_app(runtime=runtime)) as c:
        r = c.post("/evaluate", json={"text": "y" * 2_000})
        assert r.status_code == 413
        assert r.json()["problems"][0]["field"] == "body"


def test_unknown_route_and_method(client: TestClient) -> None:
    assert client.get("/nope").status_code == 404
    assert client.get("/evaluate").status_code == 405


def test_an_overlong_author_id_is_refused_at_the_edge(client: TestClient) -> None:
    too_long = {"text": "hello", "context": {"author_id": "é" * 129}}  # 258 bytes in UTF-8
    r = client.post("/evaluate", json=too_long)
    assert r.status_code == 422
    assert r.json()["problems"] == [{"field": "context.author_id", "problem": "longer than 256 bytes"}]
    assert client.post("/evaluate", json={"text": "hello", "context": {"author_id": "a" * 256}}).status_code == 200
    r = client.post("/evaluate/batch", json={"items": [{"id": "1", "text": "hi"}, {"id": "2", **too_long}]})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "items[1].context.author_id"
