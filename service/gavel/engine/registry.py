"""The live set of compiled policies, replaced atomically on reload.

A reload validates and compiles the new set beside the old one; only a fully good set replaces
it, so a bad edit never takes down a serving policy (Osprey's rule).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gavel.engine.compiler import CompiledPolicy, compile_policy
from gavel.engine.loader import load_policy_file, policy_files
from gavel.errors import PolicyError, PolicyValidationError, Problem
from gavel.models.base import ModelHub

log = logging.getLogger("gavel.registry")


@dataclass(frozen=True)
class PolicySet:
    policies: dict[str, CompiledPolicy]
    generation: int
    loaded_at: float

    def get(self, policy_id: str) -> CompiledPolicy | None:
        return self.policies.get(policy_id)


@dataclass
class ReloadReport:
    """What a reload did; `errors` are the problems as `file:line:col: path: message` lines."""

    ok: bool
    generation: int
    problems: list[Problem] = field(default_factory=list)
    policies: dict[str, str] = field(default_factory=dict)  # id -> version

    @property
    def errors(self) -> list[str]:
        return [str(p) for p in self.problems]


def compile_files(
    paths: Sequence[Path],
    hub: ModelHub | None,
    max_bytes: int | None,
    max_terms: int,
    base: Path | None = None,
) -> dict[str, CompiledPolicy]:
    """Load and compile every file; collect every problem of every file before raising."""
    compiled: dict[str, CompiledPolicy] = {}
    problems: list[Problem] = []
    for path in paths:
        display = _display(path, base)
        try:
            loaded = load_policy_file(path, max_bytes, display)
            policy = compile_policy(loaded, hub, max_terms)
        except PolicyValidationError as exc:  # compile errors included
            problems.extend(exc.problems)
            continue
        if policy.id in compiled:
            problems.append(
                loaded.document.problem(
                    ("id",), f"policy id '{policy.id}' is also defined in {compiled[policy.id].source}"
                )
            )
            continue
        compiled[policy.id] = policy
    if problems:
        raise PolicyValidationError(problems)
    return compiled


def _display(path: Path, base: Path | None) -> str:
    try:
        return str(path.relative_to(base)) if base else str(path)
    except ValueError:
        return str(path)


class PolicyRegistry:
    def __init__(
        self,
        policy_dir: Path,
        hub: ModelHub | None,
        max_policy_bytes: int | None = None,
        max_lexicon_terms: int = 100_000,
    ) -> None:
        self.policy_dir = policy_dir
        self._hub = hub
        self._max_bytes = max_policy_bytes
        self._max_terms = max_lexicon_terms
        self._lock = threading.Lock()
        self._current = PolicySet({}, 0, 0.0)
        self.last_problems: list[Problem] = []
        self.last_reload_at: float | None = None
        self.reloads_ok = 0
        self.reloads_failed = 0

    @property
    def current(self) -> PolicySet:
        return self._current

    def _build(self) -> dict[str, CompiledPolicy]:
        if not self.policy_dir.is_dir():
            raise PolicyValidationError([Problem(str(self.policy_dir), 1, 1, "", "policy directory does not exist")])
        files = policy_files(self.policy_dir)
        if not files:
            raise PolicyValidationError([Problem(str(self.policy_dir), 1, 1, "", "no policy files (*.yaml) found")])
        return compile_files(files, self._hub, self._max_bytes, self._max_terms, self.policy_dir.parent)

    def load(self) -> PolicySet:
        """First load: any error is fatal (raise), since there is no good set to keep serving."""
        with self._lock:
            policies = self._build()
            self._current = PolicySet(policies, 1, time.time())
            self.last_problems = []
            return self._current

    def reload(self) -> ReloadReport:
        with self._lock:
            self.last_reload_at = time.time()
            try:
                policies = self._build()
            except PolicyValidationError as exc:
                return self._failed(exc.problems)
            except PolicyError as exc:
                return self._failed([Problem(str(self.policy_dir), 1, 1, "", str(exc))])
            except Exception as exc:  # any other failure keeps the old set and is reported, never raised
                log.exception("policy reload failed unexpectedly")
                message = f"reload failed: {type(exc).__name__}: {exc}"
                return self._failed([Problem(str(self.policy_dir), 1, 1, "", message)])
            generation = self._current.generation + 1
            self._current = PolicySet(policies, generation, time.time())
            self.last_problems = []
            self.reloads_ok += 1
            return ReloadReport(True, generation, [], self._versions())

    @property
    def last_errors(self) -> list[str]:
        """The last failed reload's problems as `file:line:col: path: message` lines."""
        return [str(p) for p in self.last_problems]

    def _failed(self, problems: list[Problem]) -> ReloadReport:
        self.last_problems = list(problems)
        self.reloads_failed += 1
        return ReloadReport(False, self._current.generation, list(problems), self._versions())

    def _versions(self) -> dict[str, str]:
        return {pid: p.version for pid, p in self._current.policies.items()}

    @classmethod
    def from_policies(cls, policies: dict[str, CompiledPolicy]) -> PolicyRegistry:
        """A fixed registry (CLI runs on explicit files, tests)."""
        reg = cls(Path("."), None)
        reg._current = PolicySet(policies, 1, time.time())
        return reg
