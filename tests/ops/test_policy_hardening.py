"""Hostile or broken policies pushed live: each is refused with file:line, the serving set stays,
and nothing hangs. Plus an oversized body with no Content-Length (the streaming side of the cap)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.engine.registry import PolicyRegistry
from gavel.runtime import Runtime, build_runtime
from gavel.settings import Settings
from tests.api.test_reload import policy

BILLION_LAUGHS = """id: demo
version: "lol"
title: Demo
source: {text: x}
lol: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
lol2: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
lol3: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
lol4: [*c, *c, *c, *c, *c, *c, *c, *c, *c]
signals:
  bad: {kind: lexicon, terms: [vermin]}
clauses:
  - {id: c, title: C, when: bad}
"""

BACKREFERENCE = """id: demo
version: "re2"
title: Demo
source: {text: x}
signals:
  bad: {kind: regex, patterns: ['(a+)\\1']}
clauses:
  - {id: c, title: C, when: bad}
"""

DEEP_YAML = "id: demo\nversion: deep\nnest: " + "[" * 5_000 + "]" * 5_000 + "\n"


def _registry(tmp_path: Path, max_policy_bytes: int = 2_000_000) -> tuple[PolicyRegistry, Path]:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "demo.yaml").write_text(policy("v0"), encoding="utf-8")
    settings = Settings(policy_dir=pdir, models="", max_policy_bytes=max_policy_bytes)
    return build_runtime(settings, load_models=False).registry, pdir


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("anchors and aliases", BILLION_LAUGHS, "anchors and aliases"),
        ("a regex RE2 refuses", BACKREFERENCE, "RE2"),
        ("YAML nested 5,000 deep", DEEP_YAML, "demo.yaml"),
        ("not YAML at all", "id: [unclosed\n  : : :\n", "demo.yaml"),
        ("binary garbage", "\x00\x01\x02 not a policy", "demo.yaml"),
    ],
)
def test_bad_policy_is_refused_and_the_old_set_serves(tmp_path: Path, name: str, text: str, needle: str) -> None:
    registry, pdir = _registry(tmp_path)
    (pdir / "demo.yaml").write_text(text, encoding="utf-8")
    t0 = time.perf_counter()
    report = registry.reload()
    assert time.perf_counter() - t0 < 5, name
    assert not report.ok, name
    assert registry.current.policies["demo"].version == "v0"
    assert registry.last_errors and any(needle in e for e in registry.last_errors), registry.last_errors
    # every error names the file and a line: file:line:col
    assert all("demo.yaml:" in e for e in registry.last_errors), registry.last_errors


def test_oversized_policy_is_refused(tmp_path: Path) -> None:
    registry, pdir = _registry(tmp_path, max_policy_bytes=5_000)
    terms = ", ".join(f"term{i}" for i in range(2_000))
    (pdir / "demo.yaml").write_text(policy("big", terms), encoding="utf-8")
    report = registry.reload()
    assert not report.ok
    assert registry.current.policies["demo"].version == "v0"
    assert any("demo.yaml" in e for e in report.errors), report.errors


def test_oversized_body_without_content_length(rules_runtime: Runtime) -> None:
    """Chunked upload past GAVEL_MAX_BODY_BYTES (4 MB default): refused while streaming, not buffered whole."""
    limit = rules_runtime.settings.max_body_bytes

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        sent = 0
        while sent <= limit:
            yield b"a" * 65_536
            sent += 65_536
        yield b'"}'

    with TestClient(create_app(runtime=rules_runtime)) as client:
        r = client.post("/evaluate", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"] == "too_large"
