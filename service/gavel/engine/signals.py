"""The board of one post under one policy: every signal's value, with and without the hits that
span exceptions (negation...) set aside. It reads the compiled policy and the post only."""

from __future__ import annotations

from gavel.engine.compiler import CompiledPolicy
from gavel.engine.evidence import exception_evidence, span_value
from gavel.engine.matchers import Hit
from gavel.engine.post import ModelOutputs, Post, SignalValue
from gavel.engine.results import Evidence
from gavel.models.base import ModelHub


async def read_signals(cp: CompiledPolicy, post: Post, outputs: ModelOutputs, hub: ModelHub | None) -> SignalBoard:
    hits: dict[str, list[Hit]] = {}
    fixed: dict[str, SignalValue] = {}
    for compiled in cp.kinds.values():
        hits.update(cp.span_hits(post, compiled))
        fixed.update(await compiled.values(post, outputs, hub))
    return SignalBoard(cp, post, hits, fixed)


class SignalBoard:
    """Every signal's value for one post and one policy, with and without span exceptions."""

    def __init__(
        self, cp: CompiledPolicy, post: Post, hits: dict[str, list[Hit]], fixed: dict[str, SignalValue]
    ) -> None:
        self._cp = cp
        self._post = post
        self._hits = hits
        self._fixed = fixed  # model, exemplar, context: no spans to set aside
        self.suppressions: dict[str, tuple[list[Hit], list[Hit]]] = {}  # exception -> (markers, dropped)
        self._cache: dict[frozenset[str], dict[str, SignalValue]] = {}
        self._find_suppressions()

    def _find_suppressions(self) -> None:
        tokens = self._post.tokens
        for ex in self._cp.exceptions.values():
            if ex.effect != "suppress" or ex.suppress is None or ex.when.signal is None:
                continue
            markers = self._hits.get(ex.when.signal, [])
            targets = self._hits.get(ex.suppress, [])
            if not markers or not targets:
                continue
            used: list[Hit] = []
            dropped: list[Hit] = []
            for t in targets:
                t_first, t_last = tokens.token_of(t.start), tokens.token_of(t.end - 1)
                for m in markers:
                    m_first, m_last = tokens.token_of(m.start), tokens.token_of(m.end - 1)
                    before = m_last < t_first and t_first - m_last - 1 <= ex.window
                    after = t_last < m_first and m_first - t_last - 1 <= ex.window
                    around = m_first <= t_first and t_last <= m_last
                    if (
                        (ex.order == "before" and before)
                        or (ex.order == "after" and after)
                        or (ex.order == "any" and (before or after))
                        or (ex.order == "around" and around)
                    ):
                        used.append(m)
                        dropped.append(t)
                        break
            if dropped:
                self.suppressions[ex.id] = (used, dropped)

    def suppression_evidence(self, ex_id: str) -> list[Evidence]:
        markers, dropped = self.suppressions[ex_id]
        return exception_evidence(self._post, ex_id, self._cp.policy.signals, markers, dropped)

    def values(self, suppressed: frozenset[str]) -> dict[str, SignalValue]:
        cached = self._cache.get(suppressed)
        if cached is not None:
            return cached
        hits = self._hits
        if suppressed:
            drop = {id(h) for ex_id in suppressed for h in self.suppressions[ex_id][1]}
            hits = {sid: [h for h in hs if id(h) not in drop] for sid, hs in hits.items()}
        cp, post = self._cp, self._post
        # signals absent from the map score 0: most posts fire few signals, so only those are built
        values: dict[str, SignalValue] = dict(self._fixed)
        for sid, found in hits.items():
            if found:
                values[sid] = span_value(post, sid, cp.policy.signals[sid], cp.roles[sid], found)
        for compiled in cp.kinds.values():
            values.update(compiled.combine(post, hits))
        self._cache[suppressed] = values
        return values
