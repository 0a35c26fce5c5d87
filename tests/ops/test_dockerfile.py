"""No container engine runs here: check what can be checked without one. The Dockerfile parses,
is multi-stage on a pinned base, runs as non-root with a health check, copies only what exists,
and its entrypoint commands work in this environment."""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from gavel.settings import Settings

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
            [sys.executable, "-m", "gavel.cli", *command], capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


# --- what the build would do, checked without an engine -----------------------------------------

_EXPANSION = re.compile(r"\$\{(\w+)(?::([+-])([^}]*))?\}|\$(\w+)")


def _expand(value: str, env: dict[str, str]) -> str:
    """Docker's ${VAR}, $VAR, ${VAR:-word} and ${VAR:+word} (the forms this Dockerfile uses)."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        current = env.get(name, "")
        if m.group(2) == "+":
            return m.group(3) if current else ""
        if m.group(2) == "-":
            return current or m.group(3)
        return current

    return _EXPANSION.sub(one, value)


def _stage(name: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    current = None
    for i in _parser().structure:
        if i["instruction"] == "FROM":
            current = i["value"].split()[-1]
        elif current == name:
            out.append(i)
    return out


def image_env(build_args: dict[str, str]) -> dict[str, str]:
    """The environment of the runtime stage for these build arguments."""
    scope: dict[str, str] = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    for i in _stage("runtime"):
        if i["instruction"] == "ARG":
            name, _, default = i["value"].partition("=")
            scope[name] = build_args.get(name, shlex.split(default)[0] if default.strip('"') else "")
        elif i["instruction"] == "ENV":
            for pair in shlex.split(i["value"]):
                key, _, raw = pair.partition("=")
                scope[key] = _expand(raw, scope)
    return scope


@pytest.mark.parametrize(
    ("args", "models", "checkpoint"),
    [
        ({}, ["profanity", "minilm", "hate"], None),
        (
            {"DETOXIFY_CHECKPOINT": "weights/original.ckpt", "DETOXIFY_CONFIG_DIR": "weights/bert-base-uncased"},
            ["profanity", "minilm", "hate", "detoxify"],
            Path("/opt/gavel/weights/detoxify.ckpt"),
        ),
        (  # the README's form: names inside weights/, detoxify also listed by hand
            {"DETOXIFY_CHECKPOINT": "x.ckpt", "MODELS": "profanity,minilm,detoxify"},
            ["profanity", "minilm", "detoxify"],
            Path("/opt/gavel/weights/detoxify.ckpt"),
        ),
    ],
)
def test_image_env_reads_as_settings(
    args: dict[str, str], models: list[str], checkpoint: Path | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = image_env(args)
    gavel = {k: v for k, v in env.items() if k.startswith("GAVEL_")}
    fields = {f"GAVEL_{name.upper()}" for name in Settings.model_fields}
    assert set(gavel) <= fields, set(gavel) - fields
    for key in list(os.environ):
        if key.startswith("GAVEL_"):
            monkeypatch.delenv(key)
    for key, value in gavel.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.model_names() == models
    assert settings.detoxify_checkpoint == checkpoint
    assert settings.policy_dir == Path("/opt/gavel/policies")
    assert env["HF_HUB_OFFLINE"] == "1"


def _run_weights_stage(tmp_path: Path, args: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The weights stage's RUN under /bin/sh, with /ctx and /weights moved into tmp_path."""
    stage = _stage("weights")
    (run,) = [i["value"] for i in stage if i["instruction"] == "RUN"]
    script = re.sub(r"(?<![\w/])/weights", str(tmp_path / "out"), run)
    script = re.sub(r"(?<![\w/])/ctx", str(tmp_path / "ctx"), script)
    # like docker: every ARG of the stage is in the environment, its default unless given
    declared = dict(i["value"].partition("=")[::2] for i in stage if i["instruction"] == "ARG")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env |= {name: shlex.split(default)[0] if default.strip('"') else "" for name, default in declared.items()}
    env |= args
    return subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)


@pytest.fixture
def context(tmp_path: Path) -> Path:
    weights = tmp_path / "ctx" / "weights"
    (weights / "bert-base-uncased").mkdir(parents=True)
    (weights / "bert-base-uncased" / "config.json").write_text("{}")
    (weights / "original.ckpt").write_bytes(b"ckpt")
    (weights / "other.ckpt").write_bytes(b"not wanted in the image")
    return tmp_path


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs /bin/sh")
@pytest.mark.parametrize("given", ["weights/original.ckpt", "original.ckpt"])
def test_weights_stage_takes_only_the_named_files(context: Path, given: str) -> None:
    result = _run_weights_stage(
        context, {"DETOXIFY_CHECKPOINT": given, "DETOXIFY_CONFIG_DIR": "weights/bert-base-uncased"}
    )
    assert result.returncode == 0, result.stderr
    out = context / "out"
    assert (out / "detoxify.ckpt").read_bytes() == b"ckpt"
    assert (out / "detoxify-config" / "config.json").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["detoxify-config", "detoxify.ckpt"]


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs /bin/sh")
def test_weights_stage_without_weights_and_with_a_typo(context: Path) -> None:
    assert _run_weights_stage(context, {}).returncode == 0
    assert list((context / "out").iterdir()) == []
    typo = _run_weights_stage(context, {"DETOXIFY_CHECKPOINT": "weights/orignal.ckpt"})
    assert typo.returncode != 0 and "not in weights/" in typo.stderr


def test_healthcheck_probes_serve_and_the_worker_endpoint(tmp_path: Path) -> None:
    (check,) = [i["value"] for i in _parser().structure if i["instruction"] == "HEALTHCHECK"]
    argv = json.loads(check[check.index("CMD") + 3 :])
    assert argv[:2] == ["python", "-c"]

    class Healthz(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Healthz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for cmdline, port, expected in (
            (b"gavel\0serve\0", server.server_port, 0),
            (b"gavel\0serve\0", _closed_port(), 1),
            (b"gavel\0worker\0", server.server_port, 0),
            (b"gavel\0worker\0", _closed_port(), 1),
        ):
            proc1 = tmp_path / "cmdline"
            proc1.write_bytes(cmdline)
            code = argv[2].replace("/proc/1/cmdline", str(proc1)).replace("'8000'", f"'{port}'")
            code = code.replace("'9000'", f"'{port}'")
            rc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode
            assert (rc != 0) == bool(expected), (cmdline, port, rc)
    finally:
        server.shutdown()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
