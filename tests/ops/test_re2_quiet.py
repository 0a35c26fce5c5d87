"""A pattern RE2 refuses is one policy error with file:line, and RE2 itself prints nothing: its
C++ logger used to write `re2.cc:242] Error parsing '(a+)\\1': ...` straight to fd 2, past the JSON logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gavel.engine.compiler import compile_policy
from gavel.engine.loader import parse_policy
from gavel.errors import PolicyCompileError

REFUSED = """id: demo
version: "1"
title: Demo
source: {text: x}
signals:
  back: {kind: regex, patterns: ['(a+)\\1', '(?<=a)b']}
clauses:
  - {id: c, title: C, when: back}
"""


def test_refused_pattern_leaves_stderr_clean(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    capfd.readouterr()
    with pytest.raises(PolicyCompileError) as exc:
        compile_policy(parse_policy(REFUSED, "demo.yaml"), None)
    out, err = capfd.readouterr()
    assert "RE2 refuses the pattern" in str(exc.value)
    assert len(exc.value.problems) == 2
    assert err == "" and out == "", err
