"""No container engine runs here: check what can be checked without one. The Dockerfile parses,
is multi-stage on a pinned base, runs as non-root with a health check, copies only what exists,
and its entrypoint commands work in this environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]


def _parser() -> DockerfileParser:
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return parser


def test_multi_stage_pinned_base() -> None:
    parser = _parser()
    froms = [i for i in parser.structure if i["instruction"] == "FROM"]
    assert len(froms) >= 2
    args = {
        i["value"].split("=", 1)[0]: i["value"].split("=", 1)[1]
        for i in parser.structure
        if i["instruction"] == "ARG" and "=" in i["value"]
    }
    base = args["PYTHON_IMAGE"]
    assert base.startswith("python:3.11") and "latest" not in base and base.count(".") >= 2


def test_runtime_is_non_root_with_healthcheck() -> None:
    parser = _parser()
    instructions = [(i["instruction"], i["value"]) for i in parser.structure]
    users = [v for k, v in instructions if k == "USER"]
    assert users and not users[-1].startswith(("root", "0"))
    health = [v for k, v in instructions if k == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]
    assert any(k == "ENTRYPOINT" and "gavel" in v for k, v in instructions)
    assert "torch==2.13.0" in parser.content and "whl/cpu" in parser.content
    assert "DETOXIFY_CHECKPOINT" in parser.content


def test_copy_sources_exist() -> None:
    for i in _parser().structure:
        if i["instruction"] != "COPY" or "--from=" in i["value"]:
            continue
        parts = [p for p in i["value"].split() if not p.startswith("--")]
        for src in parts[:-1]:
            assert (ROOT / src).exists(), src


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)


def test_entrypoint_commands_exist() -> None:
    for command in (["serve", "--help"], ["worker", "--help"]):
        result = subprocess.run(
            [sys.executable, "-m", "service.cli", *command], capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout
