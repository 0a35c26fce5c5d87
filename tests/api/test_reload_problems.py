"""A failed reload answers its problems as located objects (file, line, col, path, message),
built where the YAML was read, and /policies keeps them: no string is parsed back into a path."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.runtime import build_runtime
from gavel.settings import Settings

KEY = "another-key"
GOOD = """
id: demo
version: "1"
title: Demo
source: {text: "No attacks."}
signals:
  bad: {kind: lexicon, terms: [vermin]}
clauses:
  - {id: c, title: C, when: bad}
"""
# line 8: a clause names a signal that does not exist
BROKEN = """id: demo
version: "2"
title: Demo
source: {text: "No attacks."}
signals:
  bad: {kind: lexicon, terms: [vermin]}
clauses:
  - {id: c, title: C, when: badd}
"""


def test_reload_problems_are_located_objects(tmp_path: Path) -> None:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "demo.yaml").write_text(GOOD, encoding="utf-8")
    settings = Settings(policy_dir=pdir, models="", admin_enabled=True, admin_api_key=KEY)
    with TestClient(create_app(runtime=build_runtime(settings, load_models=False))) as client:
        (pdir / "demo.yaml").write_text(BROKEN, encoding="utf-8")
        r = client.post("/admin/reload", headers={"X-API-Key": KEY})
        assert r.status_code == 422
        body = r.json()
        unknown = [p for p in body["problems"] if p["path"] == "clauses[0].when"]
        assert unknown == [
            {
                "file": "policies/demo.yaml",
                "line": 8,
                "col": 29,
                "path": "clauses[0].when",
                "message": "unknown signal 'badd' (did you mean 'bad'?)",
            }
        ], body["problems"]
        # the printed form is rendered from the same objects, in the same order
        assert body["errors"] == [f"{p['file']}:{p['line']}:{p['col']}: {p['path']}: {p['message']}" for p in body["problems"]]
        listing = client.get("/policies").json()
        assert listing["last_reload_problems"] == body["problems"]
        assert listing["last_reload_errors"] == body["errors"]


def test_policy_listing_shows_each_signals_role(tmp_path: Path) -> None:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "demo.yaml").write_text(GOOD.replace("terms: [vermin]}", "terms: [vermin], role: context}"), encoding="utf-8")
    settings = Settings(policy_dir=pdir, models="")
    with TestClient(create_app(runtime=build_runtime(settings, load_models=False))) as client:
        signals = client.get("/policies/demo").json()["signals"]
        assert signals == {"bad": {"kind": "lexicon", "description": "", "role": "context"}}
