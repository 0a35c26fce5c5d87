"""Every replay suite beside the policies must pass, case by case (tests/cases/ is scored by accuracy)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gavel.engine.cases import Case, CaseFile, check_case, load_case_file
from gavel.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
SUITES = sorted((ROOT / "policies").glob("*.cases.yaml"))
_LOADED: dict[Path, CaseFile] = {p: load_case_file(p) for p in SUITES}
PARAMS = [(path, case) for path, cf in _LOADED.items() for case in cf.cases]


def test_there_are_suites() -> None:
    assert any(p.name == "hateful_conduct.cases.yaml" for p in SUITES)


@pytest.mark.parametrize(("path", "case"), PARAMS, ids=[f"{p.stem.split('.')[0]}:{c.id}" for p, c in PARAMS])
def test_case(path: Path, case: Case, rules_runtime: Runtime) -> None:
    policy = _LOADED[path].policy
    result = asyncio.run(rules_runtime.evaluator.evaluate(case.text, [policy], case.context, case.id))
    mismatches = check_case(case, result, policy)
    assert not mismatches, "\n".join(
        f"{m.clause}: expected {m.expected}, got {m.actual} ({m.detail})" for m in mismatches
    )
    for p in result.policies:
        for clause in p.clauses:
            for e in clause.evidence:
                assert case.text[e.start : e.end] == e.text
