"""Gavel's own functional test suite (tests/cases/*.cases.yaml), scored by accuracy.

Unlike the replay suites beside the policies (every case must pass), the functional suite keeps
genuinely hard cases that rules alone still get wrong; it must stay above the bar per
functionality and overall, every case file alike (the generalization cases of the hate-speech
issue included). The runtime is the rules plus the shipped hate model (`rules_runtime`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gavel.engine.cases import CaseOutcome, ReplayReport, case_files, functionality_table, load_case_file, replay
from gavel.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "tests" / "cases"

MIN_FUNCTIONALITIES = 25
MIN_CASES = 400
MIN_PER_FUNCTIONALITY = 0.80
MIN_OVERALL = 0.90


@pytest.fixture(scope="module")
def reports(rules_runtime: Runtime) -> list[ReplayReport]:
    paths = case_files(CASES_DIR)
    assert paths, f"no *.cases.yaml under {CASES_DIR}"

    async def run() -> list[ReplayReport]:
        return [await replay(load_case_file(p), rules_runtime.evaluator, str(p.relative_to(ROOT))) for p in paths]

    return asyncio.run(run())


def _outcomes(reports: list[ReplayReport]) -> list[CaseOutcome]:
    return [o for r in reports for o in r.outcomes]


def _table(reports: list[ReplayReport]) -> dict[str, tuple[int, int]]:
    return functionality_table(reports)


def _failures(reports: list[ReplayReport]) -> str:
    lines = []
    for r in reports:
        for o in r.failed:
            for m in o.mismatches:
                lines.append(
                    f"  {Path(r.source).name}:{o.case.id} [{', '.join(o.case.functionality)}] "
                    f"{m.clause}: expected {m.expected}, got {m.actual} -- {o.case.text!r} ({m.detail[:160]})"
                )
    return "\n".join(lines) or "  (none)"


def test_suite_size(reports: list[ReplayReport]) -> None:
    table = _table(reports)
    cases = len(_outcomes(reports))
    assert cases >= MIN_CASES, f"{cases} cases, want at least {MIN_CASES}"
    assert len(table) >= MIN_FUNCTIONALITIES, f"{len(table)} functionalities, want at least {MIN_FUNCTIONALITIES}"
    assert "(unlabelled)" not in table, "every case needs a functionality"


def test_accuracy_per_functionality(reports: list[ReplayReport]) -> None:
    table = _table(reports)
    low = {k: (p, t) for k, (p, t) in table.items() if p / t < MIN_PER_FUNCTIONALITY}
    outcomes = _outcomes(reports)
    passed = sum(o.passed for o in outcomes)
    overall = passed / len(outcomes)
    summary = "\n".join(f"  {k}: {p}/{t} = {p / t:.1%}" for k, (p, t) in table.items())
    assert not low and overall >= MIN_OVERALL, (
        f"overall {passed}/{len(outcomes)} = {overall:.1%} (want >= {MIN_OVERALL:.0%}); "
        f"functionalities below {MIN_PER_FUNCTIONALITY:.0%}: {sorted(low) or 'none'}\n"
        f"per functionality:\n{summary}\nfailing cases:\n{_failures(reports)}"
    )


def test_evidence_spans_slice_the_original(reports: list[ReplayReport]) -> None:
    bad = []
    for o in _outcomes(reports):
        text = o.case.text
        for p in o.result.policies:
            for clause in p.clauses:
                items = list(clause.evidence) + [e for x in clause.exceptions for e in x.evidence]
                for e in items:
                    if not (0 <= e.start < e.end <= len(text)) or text[e.start : e.end] != e.text:
                        bad.append(f"  {o.case.id} {clause.clause_id}: [{e.start}:{e.end}] {e.text!r}")
    assert not bad, "evidence spans that do not slice the original text:\n" + "\n".join(bad)
