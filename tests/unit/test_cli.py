"""The gavel CLI as a user runs it: replay, validate, evaluate, schema."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

from typer.testing import CliRunner

from gavel.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_replay_cited_statements_pass() -> None:
    result = runner.invoke(app, ["replay", str(ROOT / "policies" / "hateful_conduct.cases.yaml"), "--models", "hate"])
    assert result.exit_code == 0, result.output
    assert "cases pass" in result.output


def test_breaking_a_lexicon_term_fails_with_a_readable_diff(tmp_path: Path) -> None:
    shutil.copy(ROOT / "policies" / "hateful_conduct.cases.yaml", tmp_path)
    policy = (ROOT / "policies" / "hateful_conduct.yaml").read_text(encoding="utf-8")
    broken = policy.replace("variants: [viruses, a virus,", "variants: [viruses,").replace(
        "{term: virus, category: disease,", "{term: viruz, category: disease,"
    )
    assert broken != policy
    (tmp_path / "hateful_conduct.yaml").write_text(broken, encoding="utf-8")
    result = runner.invoke(app, ["replay", str(tmp_path / "hateful_conduct.cases.yaml"), "--models", "hate"])
    assert result.exit_code == 1
    out = result.output
    assert "khamenei_virus_must_be_eliminated" in out
    assert "dehumanization" in out and "needs_review" in out and "no_violation" in out
    assert "evidence 'virus'" in out


def test_replay_report_table() -> None:
    result = runner.invoke(
        app, ["replay", str(ROOT / "policies" / "hateful_conduct.cases.yaml"), "--models", "hate", "--report"]
    )
    assert result.exit_code == 0, result.output
    assert "| functionality" in result.output and "news_reporting" in result.output


def test_validate_good_and_bad(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["validate", str(ROOT / "policies")])
    assert ok.exit_code == 0, ok.output
    assert "hateful_conduct" in ok.output and "cases for policy" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "tests/golden/policy_errors/unknown_signal.yaml").read_text(), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "unknown signal 'harm_verbs'" in result.output


def test_evaluate_json_lines_and_human(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "Jews are vermin", "--models", "hate", "--policies", "hateful_conduct"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output.strip().splitlines()[-1])
    clauses = {c["clause_id"]: c for c in answer["policies"][0]["clauses"]}
    assert clauses["dehumanization"]["verdict"] == "violates"
    human = runner.invoke(app, ["evaluate", "Jews are vermin", "--models", "hate", "--human"])
    assert human.exit_code == 0
    assert "decision: remove" in human.output and "dehumanization" in human.output
    posts = tmp_path / "posts.ndjson"
    posts.write_text('{"id": "a", "text": "hello"}\n{"id": "b", "text": "Muslims are rats"}\n', encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "-f", str(posts), "--models", "hate", "--policies", "hateful_conduct"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.strip().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b"]
    assert [x["decision"]["action"] for x in lines] == ["allow", "remove"]
    csv_file = tmp_path / "posts.csv"
    csv_file.write_text("id,text\n1,hello\n2,Muslims are rats\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "-f", str(csv_file), "--models", "hate", "--policies", "hateful_conduct"])
    assert [json.loads(x)["decision"]["action"] for x in result.stdout.strip().splitlines()] == ["allow", "remove"]


def test_evaluate_stdin() -> None:
    result = runner.invoke(app, ["evaluate", "--models", "hate", "--policies", "hateful_conduct"], input="one\ntwo\n")
    assert result.exit_code == 0
    assert [json.loads(x)["id"] for x in result.stdout.strip().splitlines()] == ["1", "2"]


def test_evaluate_file_bad_lines_are_reported_and_the_rest_goes_on(tmp_path: Path) -> None:
    posts = tmp_path / "posts.ndjson"
    posts.write_text('{"id": "a", "text": "hello"}\n{broken\n\n{"id": "c"}\n{"text": "Muslims are rats"}\n'
                     '{"id": "e", "text": "' + "x" * 20_000 + '"}\n', encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "-f", str(posts), "--models", "hate", "--policies", "hateful_conduct"])
    assert result.exit_code == 1
    answers = [json.loads(x) for x in result.stdout.strip().splitlines()]
    assert [(a["id"], a["decision"]["action"]) for a in answers] == [("a", "allow"), ("5", "remove")]
    errors = result.stderr.strip().splitlines()
    assert errors[0].startswith("line 2: invalid_json")
    assert errors[1].startswith("line 4: invalid_request") and "text: required field is missing" in errors[1]
    assert errors[2].startswith("line 6: too_large") and "20000 characters" in errors[2]
    assert errors[-1] == "gavel: 2 evaluated, 3 failed"
    assert "Traceback" not in result.output
    csv_file = tmp_path / "posts.csv"
    csv_file.write_text("id,text\n1,hello\n2,\n", encoding="utf-8")
    bad_csv = runner.invoke(app, ["evaluate", "-f", str(csv_file), "--models", "", "--policies", "hateful_conduct"])
    assert bad_csv.exit_code == 1 and "line 3: invalid_request" in bad_csv.stderr


def _run_with_stderr(args: list[str], tty: bool) -> tuple[int, bytes, bytes]:
    """Run the CLI as a user would, stderr on a terminal (a pty) or on a pipe."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "service")}
    cmd = [sys.executable, "-m", "gavel.cli", *args]
    if not tty:
        out = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
        return out.returncode, out.stdout, out.stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    stdout, _ = proc.communicate(timeout=120)
    err = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(leader)
    return proc.returncode, stdout, err


def test_progress_bar_on_a_terminal_and_none_when_piped(tmp_path: Path) -> None:
    posts = tmp_path / "posts.ndjson"
    posts.write_text("".join(json.dumps({"text": f"post {i}"}) + "\n" for i in range(300)), encoding="utf-8")
    args = ["evaluate", "-f", str(posts), "--models", "", "--policies", "hateful_conduct"]
    code, out, err = _run_with_stderr(args, tty=True)
    assert code == 0 and len(out.splitlines()) == 300
    assert b"300/300" in err and b"post/s" in err
    code, out, err = _run_with_stderr(args, tty=False)
    assert code == 0 and len(out.splitlines()) == 300
    assert err.decode().strip() == "gavel: 300 evaluated, 0 failed"  # no bar, no escape codes


def test_only_the_models_the_policies_need_are_loaded(tmp_path: Path) -> None:
    from gavel.authoring import write_starter
    from gavel.runtime import build_runtime
    from gavel.settings import Settings

    write_starter(tmp_path, "personal_threats")  # a rules-only policy
    runtime = build_runtime(Settings(policy_dir=tmp_path, models="profanity,minilm,hate"))
    assert runtime.hub is None and runtime.models_missing() == {}  # the policy needs none: none loaded
    result = runner.invoke(app, ["evaluate", "hello there", "--models", "", "--policy-dir", str(tmp_path)])
    assert result.exit_code == 0 and json.loads(result.stdout)["decision"]["action"] == "allow"


def test_schema() -> None:
    schema = json.loads(runner.invoke(app, ["schema"]).output)
    assert "clauses" in schema["properties"]
    cases = json.loads(runner.invoke(app, ["schema", "--cases"]).output)
    assert "cases" in cases["properties"]
