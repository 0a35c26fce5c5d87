"""The gavel CLI as a user runs it: replay, validate, evaluate, schema."""

from __future__ import annotations

import json
import shutil
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
    lines = [json.loads(x) for x in result.output.strip().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b"]
    assert [x["decision"]["action"] for x in lines] == ["allow", "remove"]
    csv_file = tmp_path / "posts.csv"
    csv_file.write_text("id,text\n1,hello\n2,Muslims are rats\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "-f", str(csv_file), "--models", "hate", "--policies", "hateful_conduct"])
    assert [json.loads(x)["decision"]["action"] for x in result.output.strip().splitlines()] == ["allow", "remove"]


def test_evaluate_stdin() -> None:
    result = runner.invoke(app, ["evaluate", "--models", "hate", "--policies", "hateful_conduct"], input="one\ntwo\n")
    assert result.exit_code == 0
    assert len(result.output.strip().splitlines()) == 2


def test_schema() -> None:
    schema = json.loads(runner.invoke(app, ["schema"]).output)
    assert "clauses" in schema["properties"]
    cases = json.loads(runner.invoke(app, ["schema", "--cases"]).output)
    assert "cases" in cases["properties"]
