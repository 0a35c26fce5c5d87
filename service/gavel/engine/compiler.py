"""Compile a validated policy once: lexicons into an automaton, regexes into RE2, exemplars into
embeddings. Evaluation only ever reads the `CompiledPolicy`, never YAML."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gavel.engine.loader import LoadedPolicy
from gavel.engine.matchers import LexiconMatcher, RegexMatcher, RegexPrefilter
from gavel.engine.schema import (
    Clause,
    ContextSignal,
    ExemplarSignal,
    LexiconSignal,
    ModelSignal,
    Policy,
    PolicyException,
    ProximitySignal,
    RegexSignal,
)
from gavel.errors import PolicyCompileError
from gavel.models.base import ModelHub


@dataclass
class CompiledExemplars:
    signal: ExemplarSignal
    examples: npt.NDArray[np.float32] | None  # None: the model was not loaded at compile time
    counter_examples: npt.NDArray[np.float32] | None
    unavailable: str | None = None


@dataclass
class CompiledPolicy:
    policy: Policy
    source: str
    digest: str
    lexicon: LexiconMatcher
    regexes: dict[str, RegexMatcher]
    proximity: dict[str, ProximitySignal]
    model_signals: dict[str, ModelSignal]
    exemplars: dict[str, CompiledExemplars]
    context_signals: dict[str, ContextSignal]
    exceptions: dict[str, PolicyException]
    clause_signals: dict[str, frozenset[str]] = field(default_factory=dict)
    regex_prefilter: RegexPrefilter | None = None
    # file:line:col: messages that do not stop the policy (lexicon folding collisions)
    warnings: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.policy.id

    @property
    def version(self) -> str:
        return self.policy.version

    @property
    def clauses(self) -> list[Clause]:
        return self.policy.clauses

    def models_needed(self) -> set[str]:
        return {s.model for s in self.model_signals.values()} | {e.signal.model for e in self.exemplars.values()}

    def signal_kind(self, signal_id: str) -> str:
        return self.policy.signals[signal_id].kind


def compile_policy(loaded: LoadedPolicy, hub: ModelHub | None, max_lexicon_terms: int = 100_000) -> CompiledPolicy:
    policy = loaded.policy
    lexicons = {k: s for k, s in policy.signals.items() if isinstance(s, LexiconSignal)}
    problems: list[str] = []
    regexes: dict[str, RegexMatcher] = {}
    for sid, sig in policy.signals.items():
        if isinstance(sig, RegexSignal):
            try:
                regexes[sid] = RegexMatcher(sid, sig)
            except PolicyCompileError as exc:
                for problem in exc.problems:
                    loc_text, _, message = problem.partition(": ")
                    loc = _loc_from_text(loc_text)
                    problems.append(loaded.document.error_line(loc, message))
    try:
        lexicon = LexiconMatcher(lexicons, max_lexicon_terms)
    except PolicyCompileError as exc:
        problems.extend(f"{loaded.source}:1:1: {p}" for p in exc.problems)
    if problems:
        raise PolicyCompileError(problems)

    exemplars: dict[str, CompiledExemplars] = {}
    for sid, sig in policy.signals.items():
        if not isinstance(sig, ExemplarSignal):
            continue
        if hub is None or not hub.available(sig.model):
            reason = hub.unavailable_reason(sig.model) if hub is not None else "no model hub"
            exemplars[sid] = CompiledExemplars(sig, None, None, reason or f"model '{sig.model}' is not loaded")
            continue
        pos = hub.embed_now(sig.model, sig.examples)
        neg = hub.embed_now(sig.model, sig.counter_examples) if sig.counter_examples else None
        exemplars[sid] = CompiledExemplars(sig, pos, neg)

    return CompiledPolicy(
        policy=policy,
        source=loaded.source,
        digest=loaded.digest,
        lexicon=lexicon,
        regexes=regexes,
        proximity={k: s for k, s in policy.signals.items() if isinstance(s, ProximitySignal)},
        model_signals={k: s for k, s in policy.signals.items() if isinstance(s, ModelSignal)},
        exemplars=exemplars,
        context_signals={k: s for k, s in policy.signals.items() if isinstance(s, ContextSignal)},
        exceptions={e.id: e for e in policy.exceptions},
        clause_signals={c.id: frozenset(c.when.signals()) for c in policy.clauses},
        regex_prefilter=RegexPrefilter(regexes) if regexes else None,
        warnings=[loaded.document.error_line(list(loc), c.message()) for loc, c in lexicon.collisions],
    )


def _loc_from_text(text: str) -> list[str | int]:
    """'signals.x.patterns[2]' -> ['signals', 'x', 'patterns', 2]."""
    out: list[str | int] = []
    for part in text.split("."):
        name, _, rest = part.partition("[")
        if name:
            out.append(name)
        while rest:
            idx, _, rest = rest.partition("]")
            out.append(int(idx))
            rest = rest.removeprefix("[")
    return out
