"""Golden tests: one bad policy file per kind of error, and the exact message a user sees.

Regenerate after an intended wording change with GAVEL_UPDATE_GOLDEN=1 and read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gavel.engine.compiler import compile_policy
from gavel.engine.loader import load_policy_file
from gavel.errors import PolicyError

HERE = Path(__file__).parent / "policy_errors"
CASES = sorted(HERE.glob("*.yaml"))


def _errors(path: Path) -> str:
    display = f"policies/{path.name}"
    try:
        compile_policy(load_policy_file(path, max_bytes=None, display=display), None)
    except PolicyError as exc:
        return str(exc) + "\n"
    return "(no error)\n"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_policy_error_message(path: Path) -> None:
    got = _errors(path)
    expected_file = path.with_suffix(".expected")
    if os.environ.get("GAVEL_UPDATE_GOLDEN") == "1" or not expected_file.exists():
        expected_file.write_text(got, encoding="utf-8")
    assert got == expected_file.read_text(encoding="utf-8")
    assert got != "(no error)\n"
    # every line names the file, a line and a column
    for line in got.splitlines():
        file_part, line_no, col, *_ = line.split(":")
        assert file_part == f"policies/{path.name}"
        assert int(line_no) >= 1 and int(col) >= 1


def test_oversized_policy_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("id: demo\n" + "# padding\n" * 50_000, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"big.yaml:1:1: file is \d+ bytes, over the limit of 100000"):
        load_policy_file(big, max_bytes=100_000, display="big.yaml")


def test_too_many_lexicon_terms(tmp_path: Path) -> None:
    terms = ", ".join(f"word{i}" for i in range(300))
    path = tmp_path / "many.yaml"
    path.write_text(
        'id: demo\nversion: "1"\ntitle: Demo\nsource: {text: x}\n'
        f"signals:\n  words: {{kind: lexicon, terms: [{terms}]}}\n"
        "clauses:\n  - {id: c, title: C, when: words}\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError, match=r"lexicons hold \d+ terms after inflection, over the limit of 100"):
        compile_policy(load_policy_file(path, display="many.yaml"), None, max_lexicon_terms=100)
