"""Policy YAML that used to escape the error handling (issue 12, item 4): a file nested 600 levels
deep, an unknown tag, a value that does not fit its tag. Each is refused with file:line on every
path a policy takes: the admin reload (422, recorded, counted), the directory watcher (which
stays alive and picks up the next good edit), and the CLI (exit 1, the message, no traceback)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gavel.api.app import create_app
from gavel.cli import app as cli_app
from gavel.engine import registry as registry_module
from gavel.engine.yaml_source import MAX_YAML_DEPTH
from gavel.ops.reload import PolicyReloader
from gavel.runtime import build_runtime
from gavel.settings import Settings
from tests.api.test_reload import KEY, policy

ROOT = Path(__file__).resolve().parents[2]
HEADERS = {"Authorization": f"Bearer {KEY}"}

FLOW_600 = 'id: demo\nversion: "deep"\nnest: ' + "[" * 600 + "]" * 600 + "\n"
BLOCK_600 = 'id: demo\nversion: "deep"\n' + "".join("  " * i + f"k{i}:\n" for i in range(600)) + "  " * 600 + "v: 1\n"
UNKNOWN_TAG = policy("v9").replace("title: Demo", "title: !!python/name:os.system")
BAD_INT = policy("v9").replace('version: "v9"', "version: !!int nine")

# (name, text, the line the error must name, words it must say)
ESCAPES = [
    ("flow nesting 600 deep", FLOW_600, 3, f"nests deeper than {MAX_YAML_DEPTH} levels"),
    ("block nesting 600 deep", BLOCK_600, MAX_YAML_DEPTH + 3, f"nests deeper than {MAX_YAML_DEPTH} levels"),
    ("unknown tag", UNKNOWN_TAG, 4, "unknown YAML tag '!!python/name:os.system'"),
    ("value that does not fit its tag", BAD_INT, 3, "does not fit its YAML tag '!!int'"),
]


def _app(tmp_path: Path) -> tuple[TestClient, Path]:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "demo.yaml").write_text(policy("v0"), encoding="utf-8")
    settings = Settings(policy_dir=pdir, models="", admin_enabled=True, admin_api_key=KEY)
    return TestClient(create_app(runtime=build_runtime(settings, load_models=False))), pdir


@pytest.mark.parametrize(("name", "text", "line", "words"), ESCAPES, ids=[e[0] for e in ESCAPES])
def test_admin_reload_answers_422_records_and_counts(
    tmp_path: Path, name: str, text: str, line: int, words: str
) -> None:
    client, pdir = _app(tmp_path)
    with client:
        (pdir / "demo.yaml").write_text(text, encoding="utf-8")
        r = client.post("/admin/reload", headers=HEADERS)
        assert r.status_code == 422, (name, r.text)
        errors = r.json()["errors"]
        assert len(errors) == 1 and errors[0].startswith(f"policies/demo.yaml:{line}:"), errors
        assert words in errors[0]
        assert client.get("/policies").json()["last_reload_errors"] == errors
        assert client.get("/admin/status", headers=HEADERS).json()["reloads_failed"] == 1
        assert 'gavel_policy_reloads_total{outcome="failed"} 1.0' in client.get("/metrics").text
        # the old set keeps serving
        assert client.post("/evaluate", json={"text": "jews are vermin"}).json()["decision"]["action"] != "allow"


def test_an_unexpected_failure_while_loading_is_a_failed_reload_not_a_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: whatever a loader bug raises, the reload reports it and the old set serves."""
    client, _ = _app(tmp_path)

    def explode(*_: object, **__: object) -> object:
        raise RecursionError("maximum recursion depth exceeded")

    with client:
        monkeypatch.setattr(registry_module, "load_policy_file", explode)
        r = client.post("/admin/reload", headers=HEADERS)
        assert r.status_code == 422
        assert "RecursionError" in r.json()["errors"][0]
        assert client.get("/admin/status", headers=HEADERS).json()["reloads_failed"] == 1


def test_the_watcher_survives_a_hostile_file_and_picks_up_the_next_good_edit(tmp_path: Path) -> None:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "demo.yaml").write_text(policy("v0"), encoding="utf-8")
    registry = build_runtime(Settings(policy_dir=pdir, models=""), load_models=False).registry

    async def until(predicate, write: str) -> bool:  # type: ignore[no-untyped-def]
        """Readiness poll: (re)write the file until the watcher has reacted, or a deadline passes.
        Rewriting covers the moment before the watcher is up; no fixed sleep is needed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        next_write = 0.0
        while loop.time() < deadline:
            if predicate():
                return True
            if loop.time() >= next_write:
                (pdir / "demo.yaml").write_text(write, encoding="utf-8")
                next_write = loop.time() + 1.0
            await asyncio.sleep(0.05)
        return False

    async def run() -> None:
        reloader = PolicyReloader(registry)
        reloader.start_watching(pdir)
        try:
            assert await until(lambda: any("python/name" in e for e in registry.last_errors), UNKNOWN_TAG)
            assert registry.current.get("demo").version == "v0"  # type: ignore[union-attr]
            assert await until(lambda: registry.last_errors and "nests deeper" in registry.last_errors[0], FLOW_600)
            assert reloader._watch_task is not None and not reloader._watch_task.done()
            assert await until(lambda: registry.current.get("demo").version == "v3", policy("v3"))  # type: ignore[union-attr]
            assert registry.last_errors == []
        finally:
            await reloader.stop()

    asyncio.run(run())


@pytest.mark.parametrize(("name", "text", "line", "words"), ESCAPES, ids=[e[0] for e in ESCAPES])
def test_validate_exits_1_with_the_message(tmp_path: Path, name: str, text: str, line: int, words: str) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli_app, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert f"demo.yaml:{line}:" in result.output and words in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def test_serve_exits_1_with_the_message_and_no_traceback(tmp_path: Path) -> None:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "demo.yaml").write_text(UNKNOWN_TAG, encoding="utf-8")
    env = {**os.environ, "GAVEL_POLICY_DIR": str(pdir), "GAVEL_MODELS": "", "PYTHONPATH": str(ROOT / "service")}
    proc = subprocess.run(
        [sys.executable, "-c", "from gavel.cli import app; app()", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "unknown YAML tag '!!python/name:os.system'" in proc.stderr
    assert "Traceback" not in proc.stderr
