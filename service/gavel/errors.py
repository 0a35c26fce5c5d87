"""One exception tree for Gavel; the API maps each branch to one status code in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass


class GavelError(Exception):
    """Root of every error Gavel raises on purpose."""


class PolicyError(GavelError):
    """A policy or case file could not be loaded."""


@dataclass(frozen=True)
class Problem:
    """One problem of a policy file, located from the YAML source to the HTTP error body."""

    file: str
    line: int  # 1-based
    col: int  # 1-based
    path: str  # the field, e.g. clauses[0].when.all_of[1]; "" for the whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)


class PolicyValidationError(PolicyError):
    """A policy file broke the schema; `problems` holds one located Problem per error."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.lines))

    @property
    def lines(self) -> list[str]:
        """`file:line:col: path: message`, as `gavel validate` prints them."""
        return [str(p) for p in self.problems]


class PolicyCompileError(PolicyValidationError):
    """A valid policy could not be compiled (a regex RE2 refuses, a lexicon too large...)."""


class EvaluationError(GavelError):
    """A post could not be evaluated as asked."""


class UnknownPolicyError(EvaluationError):
    def __init__(self, policy_ids: list[str]) -> None:
        self.policy_ids = policy_ids
        super().__init__(f"unknown policy id(s): {', '.join(policy_ids)}")


class InvalidInputError(EvaluationError):
    """A field passed the schema but breaks a limit or rule (a context too large or too deep)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class InputTooLargeError(EvaluationError):
    """Over a limit or a work budget (HTTP 413); `unit` says what `size` counts (characters, bytes...)."""

    def __init__(self, field: str, size: int, limit: int, unit: str = "") -> None:
        self.field = field
        self.size = size
        self.limit = limit
        self.unit = unit
        super().__init__(f"{field}: {self.problem}")

    @property
    def problem(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.size}{unit} is over the limit of {self.limit}"


class ModelUnavailableError(GavelError):
    """A model backend is not loaded or failed; clauses that need it answer needs_review."""

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(f"model '{model}' unavailable: {reason}")


class OverloadedError(GavelError):
    """A bounded queue is full: the caller should retry later (HTTP 503 with Retry-After)."""
