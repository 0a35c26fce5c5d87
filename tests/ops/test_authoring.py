"""Authoring (issue 12, item 15): `gavel init` writes a starter policy and cases that pass
`gavel validate` and `gavel replay`, the tutorial shows exactly those files, and the README and
docs link only to files inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gavel.authoring import starter_files
from gavel.cli import app

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "policy-tutorial.md"
runner = CliRunner()


def _validate_and_replay(policy: Path, cases: Path) -> None:
    ok = runner.invoke(app, ["validate", str(policy), str(cases)])
    assert ok.exit_code == 0, ok.output
    replayed = runner.invoke(app, ["replay", str(cases), "--models", ""])
    assert replayed.exit_code == 0, replayed.output
    assert "6/6 cases pass" in replayed.output


def test_init_writes_a_starter_that_validates_and_replays(tmp_path: Path) -> None:
    pdir = tmp_path / "policies"
    result = runner.invoke(app, ["init", "personal_threats", "--policy-dir", str(pdir)])
    assert result.exit_code == 0, result.output
    policy, cases = pdir / "personal_threats.yaml", pdir / "personal_threats.cases.yaml"
    assert policy.is_file() and cases.is_file()
    _validate_and_replay(policy, cases)


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "mine.cases.yaml").write_text("# my own work\n", encoding="utf-8")
    result = runner.invoke(app, ["init", "mine", "--policy-dir", str(pdir)])
    assert result.exit_code == 1
    assert "refusing to overwrite" in result.output and "mine.cases.yaml" in result.output
    assert (pdir / "mine.cases.yaml").read_text(encoding="utf-8") == "# my own work\n"
    assert not (pdir / "mine.yaml").exists()


@pytest.mark.parametrize("bad", ["Threats", "1st", "with-dash", "../escape"])
def test_init_refuses_a_bad_policy_id(tmp_path: Path, bad: str) -> None:
    result = runner.invoke(app, ["init", bad, "--policy-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "lowercase letters" in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_tutorial_shows_the_starter_files_and_they_pass(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", TUTORIAL.read_text(encoding="utf-8"), flags=re.S)
    policy_text, cases_text = starter_files("personal_threats")
    assert blocks == [policy_text, cases_text]
    policy, cases = tmp_path / "personal_threats.yaml", tmp_path / "personal_threats.cases.yaml"
    policy.write_text(blocks[0], encoding="utf-8")
    cases.write_text(blocks[1], encoding="utf-8")
    _validate_and_replay(policy, cases)


DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_docs_link_only_inside_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert "../shared" not in text and "ARCHITECTURE.md" not in text
    for target in re.findall(r"\]\(([^)#\s]+)", text):
        if re.match(r"^[a-z]+://", target):
            continue
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert resolved.exists(), f"{doc.name} links to a missing file: {target}"
