"""Live policy reload: atomic swaps under load, bad policies never replace good ones, admin auth."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.runtime import build_runtime
from gavel.settings import Settings

KEY = "s3cret-key"


def policy(version: str, term: str = "vermin") -> str:
    return f"""
id: demo
version: "{version}"
title: Demo
source: {{text: "No dehumanization."}}
signals:
  bad: {{kind: lexicon, terms: [{term}]}}
  groups: {{kind: lexicon, terms: [jews, muslims]}}
  near: {{kind: proximity, anchor: bad, target: groups, window: 4}}
clauses:
  - {{id: dehumanization, title: Dehumanization, when: near}}
"""


BAD = 'id: demo\nversion: "broken"\ntitle: Demo\nsource: {text: x}\nsignals:\n  bad: {kind: regex, patterns: ["(a+)+\\\\1"]}\nclauses:\n  - {id: c, title: C, when: nope}\n'


def make_app(tmp_path: Path) -> tuple[TestClient, Path]:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "demo.yaml").write_text(policy("v0"), encoding="utf-8")
    settings = Settings(policy_dir=pdir, models="", admin_enabled=True, admin_api_key=KEY)
    app = create_app(runtime=build_runtime(settings, load_models=False))
    return TestClient(app), pdir


def test_admin_needs_the_key(tmp_path: Path) -> None:
    client, _ = make_app(tmp_path)
    with client:
        assert client.post("/admin/reload").status_code == 401
        assert client.post("/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.post("/admin/reload", headers={"Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200 and ok.json()["generation"] == 2
        assert client.get("/admin/status", headers={"X-API-Key": KEY}).json()["reloads_ok"] == 1


def test_admin_disabled_by_default(tmp_path: Path) -> None:
    pdir = tmp_path / "p"
    pdir.mkdir()
    (pdir / "demo.yaml").write_text(policy("v0"), encoding="utf-8")
    app = create_app(runtime=build_runtime(Settings(policy_dir=pdir, models=""), load_models=False))
    with TestClient(app) as client:
        assert client.post("/admin/reload", headers={"X-API-Key": "x"}).status_code == 404


def test_refuses_to_start_with_admin_and_no_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="GAVEL_ADMIN_API_KEY"):
        create_app(Settings(policy_dir=tmp_path, models="", admin_enabled=True, admin_api_key=None))


def test_bad_policy_keeps_the_old_set_and_reports(tmp_path: Path) -> None:
    client, pdir = make_app(tmp_path)
    with client:
        (pdir / "demo.yaml").write_text(BAD, encoding="utf-8")
        r = client.post("/admin/reload", headers={"X-API-Key": KEY})
        assert r.status_code == 422
        errors = r.json()["errors"]
        assert any("policies/demo.yaml:" in e for e in errors), errors
        listing = client.get("/policies").json()
        assert listing["policies"][0]["version"] == "v0"
        assert listing["last_reload_errors"] == errors
        assert client.post("/evaluate", json={"text": "jews are vermin"}).json()["policies"][0]["version"] == "v0"
        metrics = client.get("/metrics").text
        assert 'gavel_policy_reloads_total{outcome="failed"} 1.0' in metrics


def test_twenty_reloads_under_load(tmp_path: Path) -> None:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "demo.yaml").write_text(policy("v0"), encoding="utf-8")
    settings = Settings(policy_dir=pdir, models="", admin_enabled=True, admin_api_key=KEY)
    app = create_app(runtime=build_runtime(settings, load_models=False))
    registry = app.state.runtime.registry
    live: list[tuple[float, str]] = [(0.0, "v0")]  # (swapped in at, version), wall clock

    async def run() -> tuple[list[int], list[tuple[float, float, str]]]:
        statuses: list[int] = []
        answers: list[tuple[float, float, str]] = []
        stop = asyncio.Event()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gavel") as client:

            async def load() -> None:
                i = 0
                while not stop.is_set():
                    t0 = time.time()
                    r = await client.post("/evaluate", json={"text": f"jews are vermin {i}"})
                    t1 = time.time()
                    statuses.append(r.status_code)
                    if r.status_code == 200:
                        answers.append((t0, t1, r.json()["policies"][0]["version"]))
                    i += 1
                    # in-memory ASGI never touches a socket: yield, or the reloads below never get a turn
                    await asyncio.sleep(0)

            workers = [asyncio.create_task(load()) for _ in range(4)]
            for n in range(1, 21):
                good = n % 3 != 0
                (pdir / "demo.yaml").write_text(policy(f"v{n}") if good else BAD, encoding="utf-8")
                r = await client.post("/admin/reload", headers={"X-API-Key": KEY})
                assert r.status_code == (200 if good else 422)
                if good:
                    live.append((registry.current.loaded_at, f"v{n}"))
                # let each version serve a few answers before the next reload (a poll with a deadline)
                target, deadline = len(statuses) + 4, time.monotonic() + 10
                while len(statuses) < target:
                    assert time.monotonic() < deadline, "the load stopped answering"
                    await asyncio.sleep(0)
            stop.set()
            await asyncio.gather(*workers)
        return statuses, answers

    statuses, answers = asyncio.run(run())
    assert len(statuses) > 100
    assert set(statuses) == {200}, "every answer during reloads must be 2xx"
    assert registry.reloads_ok == 14 and registry.reloads_failed == 6
    ends = [since for since, _ in live[1:]] + [float("inf")]
    eps = 0.005  # the swap's timestamp is taken just before the swap itself
    for t0, t1, version in answers:
        # the answer's version was live at some moment while the request ran
        allowed = {v for (since, v), until in zip(live, ends, strict=True) if since - eps <= t1 and until + eps >= t0}
        assert version in allowed, (version, allowed)
    assert len({v for _, _, v in answers}) > 5  # the load really spanned many swaps
