"""Compile a validated policy once: each registered signal kind compiles the policy's signals of
that kind (lexicons into an automaton, regexes into RE2, exemplars into embeddings...).
Evaluation only ever reads the `CompiledPolicy`, never YAML."""

from __future__ import annotations

from dataclasses import dataclass, field

from gavel.engine.collisions import Collision
from gavel.engine.kinds import kind
from gavel.engine.kinds.base import CompileContext, CompiledKind, ModelUse, SignalBase
from gavel.engine.kinds.lexicon import CompiledLexicons
from gavel.engine.loader import LoadedPolicy
from gavel.engine.matchers import Hit, LexiconMatcher
from gavel.engine.post import Post
from gavel.engine.results import Role
from gavel.engine.schema import Clause, Policy, PolicyException
from gavel.errors import PolicyCompileError, Problem
from gavel.models.base import ModelHub

_NO_LEXICON = LexiconMatcher({}, 0)


@dataclass
class CompiledPolicy:
    policy: Policy
    source: str
    digest: str
    kinds: dict[str, CompiledKind]  # kind name -> the policy's signals of that kind, compiled
    roles: dict[str, Role]  # signal id -> the role of its evidence
    exceptions: dict[str, PolicyException]
    clause_signals: dict[str, frozenset[str]] = field(default_factory=dict)
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

    @property
    def lexicon(self) -> LexiconMatcher:
        """The policy's lexicon automaton (its size is shown by `gavel validate` and /policies)."""
        compiled = self.kinds.get("lexicon")
        return compiled.matcher if isinstance(compiled, CompiledLexicons) else _NO_LEXICON

    def model_uses(self) -> set[ModelUse]:
        return {use for compiled in self.kinds.values() for use in compiled.models()}

    def models_needed(self) -> set[str]:
        return {name for name, _ in self.model_uses()}

    def span_hits(self, post: Post, compiled: CompiledKind) -> dict[str, list[Hit]]:
        """`compiled.hits(post)`, found once per post (a cascade's gate reads them before the board)."""
        found = post.span_hits.get(id(compiled))
        if found is None:
            found = post.span_hits[id(compiled)] = compiled.hits(post)
        return found

    def post_model_uses(self, post: Post) -> tuple[set[ModelUse], set[tuple[str, str]]]:
        """The model uses this post needs under this policy, and the (policy, signal) pairs of
        cascaded signals whose gate has no hit on it (their model is not consulted for them)."""
        needed: set[ModelUse] = set()
        closed: set[tuple[str, str]] = set()
        for compiled in self.kinds.values():
            needed |= compiled.ungated_models()
            for sid, (use, gate) in compiled.gates().items():
                gate_kind = self.kinds[self.policy.signals[gate].kind]
                if self.span_hits(post, gate_kind).get(gate):
                    needed.add(use)
                else:
                    closed.add((self.id, sid))
        return needed, closed


def signal_roles(policy: Policy) -> dict[str, Role]:
    """A signal's declared `role`, else `target` when every category of its terms is a protected
    category of the policy (a lexicon of groups), else `harm`."""
    protected = set(policy.protected_categories)
    roles: dict[str, Role] = {}
    for sid, sig in policy.signals.items():
        if sig.role is not None:
            roles[sid] = sig.role
            continue
        categories = sig.categories()
        roles[sid] = "target" if protected and categories and categories <= protected else "harm"
    return roles


def compile_policy(loaded: LoadedPolicy, hub: ModelHub | None, max_lexicon_terms: int = 100_000) -> CompiledPolicy:
    policy = loaded.policy
    roles = signal_roles(policy)
    ctx = CompileContext(policy, hub, roles, max_lexicon_terms, loaded.document.problem)
    by_kind: dict[str, dict[str, SignalBase]] = {}
    for sid, sig in policy.signals.items():
        by_kind.setdefault(sig.kind, {})[sid] = sig
    compiled: dict[str, CompiledKind] = {}
    problems: list[Problem] = []
    for name, signals in by_kind.items():
        try:
            compiled[name] = kind(name).compile(signals, ctx)
        except PolicyCompileError as exc:
            problems += exc.problems
    if problems:
        raise PolicyCompileError(problems)
    return CompiledPolicy(
        policy=policy,
        source=loaded.source,
        digest=loaded.digest,
        kinds=compiled,
        roles=roles,
        exceptions={e.id: e for e in policy.exceptions},
        clause_signals={c.id: frozenset(c.when.signals()) for c in policy.clauses},
        warnings=[str(loaded.document.problem(list(loc), c.message())) for loc, c in _lexicon_collisions(compiled)],
    )


def _lexicon_collisions(compiled: dict[str, CompiledKind]) -> list[tuple[tuple[str | int, ...], Collision]]:
    lexicons = compiled.get("lexicon")
    return lexicons.matcher.collisions if isinstance(lexicons, CompiledLexicons) else []
