"""Replay suites: case files are data, validated like policies, replayed by pytest and `gavel replay`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gavel.engine.evaluator import EvalItem, Evaluator
from gavel.engine.loader import validate_document
from gavel.engine.results import Action, EvaluationResult, Verdict
from gavel.engine.schema import first_duplicate
from gavel.engine.yaml_source import load_yaml_file


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=128)]
    text: Annotated[str, Field(min_length=1)]
    source: str = ""
    note: str = ""
    functionality: list[str] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)
    expect: dict[str, Verdict] = Field(default_factory=dict, description="clause id -> verdict")
    evidence: dict[str, list[str]] = Field(
        default_factory=dict, description="clause id -> substrings that must be evidence"
    )
    others: Literal["no_violation", "any"] = "no_violation"
    action: Action | None = None

    @field_validator("functionality", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: str
    description: str = ""
    cases: list[Case] = Field(min_length=1)

    @field_validator("cases")
    @classmethod
    def _unique(cls, cases: list[Case]) -> list[Case]:
        dup = first_duplicate(c.id for c in cases)
        if dup is not None:
            raise ValueError(f"duplicate case id '{dup}'")
        return cases


@dataclass(frozen=True)
class Mismatch:
    clause: str
    expected: str
    actual: str
    detail: str = ""


@dataclass
class CaseOutcome:
    case: Case
    mismatches: list[Mismatch]
    result: EvaluationResult

    @property
    def passed(self) -> bool:
        return not self.mismatches


@dataclass
class ReplayReport:
    source: str
    policy: str
    outcomes: list[CaseOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[CaseOutcome]:
        return [o for o in self.outcomes if not o.passed]

    def by_functionality(self) -> dict[str, tuple[int, int]]:
        """functionality -> (passed, total)."""
        table: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for o in self.outcomes:
            for f in o.case.functionality or ["(unlabelled)"]:
                table[f][1] += 1
                table[f][0] += int(o.passed)
        return {k: (v[0], v[1]) for k, v in sorted(table.items())}


def functionality_table(reports: list[ReplayReport]) -> dict[str, tuple[int, int]]:
    """functionality -> (passed, total) over several suites."""
    merged: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in reports:
        for name, (passed, total) in r.by_functionality().items():
            merged[name][0] += passed
            merged[name][1] += total
    return {k: (v[0], v[1]) for k, v in sorted(merged.items())}


def load_case_file(path: Path, display: str | None = None) -> CaseFile:
    doc = load_yaml_file(path, None, display)
    return validate_document(doc, CaseFile)


def check_case(case: Case, result: EvaluationResult, policy_id: str) -> list[Mismatch]:
    mismatches: list[Mismatch] = []
    policy = next((p for p in result.policies if p.policy_id == policy_id), None)
    if policy is None:
        return [Mismatch("*", policy_id, "missing", "the policy was not evaluated")]
    clauses = {c.clause_id: c for c in policy.clauses}
    for clause_id in case.expect:
        if clause_id not in clauses:
            mismatches.append(Mismatch(clause_id, case.expect[clause_id].value, "missing", "no such clause"))
    for clause_id, cv in clauses.items():
        expected = case.expect.get(clause_id)
        if expected is None and case.others == "any":
            continue
        expected = expected or Verdict.NO_VIOLATION
        if cv.verdict is not expected:
            why = cv.explanation
            found = ", ".join(f"'{e.text}'({e.signal})" for e in cv.evidence[:4])
            mismatches.append(
                Mismatch(
                    clause_id,
                    expected.value,
                    cv.verdict.value,
                    f"{why}" + (f"; evidence: {found}" if found else ""),
                )
            )
    for clause_id, needles in case.evidence.items():
        found_clause = clauses.get(clause_id)
        texts = [e.text.lower() for e in found_clause.evidence] if found_clause else []
        for needle in needles:
            if not any(needle.lower() in t or (t in needle.lower() and t) for t in texts):
                mismatches.append(
                    Mismatch(
                        clause_id,
                        f"evidence '{needle}'",
                        "not found",
                        "evidence: " + (", ".join(repr(t) for t in texts) or "none"),
                    )
                )
    if case.action is not None and result.decision.action is not case.action:
        mismatches.append(Mismatch("(decision)", case.action.value, result.decision.action.value))
    return mismatches


async def replay(case_file: CaseFile, evaluator: Evaluator, source: str = "") -> ReplayReport:
    report = ReplayReport(source=source, policy=case_file.policy)
    items = [EvalItem(c.text, c.id, dict(c.context)) for c in case_file.cases]
    results = await evaluator.evaluate_many(items, [case_file.policy])
    for case, result in zip(case_file.cases, results, strict=True):
        report.outcomes.append(CaseOutcome(case, check_case(case, result, case_file.policy), result))
    return report


def case_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.cases.yaml"), *directory.glob("*.cases.yml")])
