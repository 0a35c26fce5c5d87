"""Evidence items: built from hits with their facts (`EvidenceDetails`), the sentence rendered by
the signal's kind from those facts; one item per span and signal."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from gavel.engine.kinds import kind
from gavel.engine.kinds.base import SignalBase
from gavel.engine.matchers import Hit
from gavel.engine.post import Post, SignalValue, dedupe
from gavel.engine.results import Evidence, EvidenceDetails, Role


def span_value(post: Post, sid: str, sig: SignalBase, role: Role, hits: list[Hit]) -> SignalValue:
    """A span signal's value: its strongest hit, and one evidence item per hit."""
    if not hits:
        return SignalValue(0.0)
    value = SignalValue(max(h.score for h in hits))
    for h in hits:
        details, why = _facts(sig.kind, sid, h.what, h.category, sig.description)
        value.evidence.append(post.evidence(h.start, h.end, sid, sig.kind, h.score, role, details, why, h.category))
    value.evidence = dedupe(value.evidence)
    return value


@lru_cache(maxsize=65_536)
def _facts(kind_name: str, sid: str, what: str, category: str | None, description: str) -> tuple[EvidenceDetails, str]:
    """A span hit's details and sentence: the same term of the same signal says the same thing, so
    they are built once (shared, never mutated: `as_context` copies)."""
    spec = kind(kind_name)
    details = spec.details_of(what, description)
    return details, spec.explain(sid, details, category)


def exception_evidence(
    post: Post, ex_id: str, sigs: dict[str, SignalBase], markers: list[Hit], dropped: list[Hit]
) -> list[Evidence]:
    """A suppress exception's spans (role context): the cues that fired it and the hits it set aside."""
    text = post.item.text
    out = []
    for m in markers:
        words = text[m.start : m.end]
        details = EvidenceDetails.of(matched=words, exception_id=ex_id, set_aside=False)
        why = f"'{words}' ({m.signal}) marks the exception '{ex_id}'"
        out.append(post.evidence(m.start, m.end, m.signal, sigs[m.signal].kind, m.score, "context", details, why))
    # `markers[i]` is the cue that set `dropped[i]` aside: name both words, so a reviewer reads
    # "'killing' (harm_verbs) set aside: governed by 'Stop' (opposition_markers), exception 'opposed_harm'"
    for m, h in zip(markers, dropped, strict=True):
        words = text[h.start : h.end]
        details = EvidenceDetails.of(matched=words, exception_id=ex_id, set_aside=True)
        why = (f"'{words}' ({h.signal}) set aside: governed by '{text[m.start : m.end]}' ({m.signal}), "
               f"exception '{ex_id}'")
        out.append(post.evidence(h.start, h.end, h.signal, sigs[h.signal].kind, h.score, "context", details, why))
    return dedupe(out)


def as_context(evidence: Iterable[Evidence], ex_id: str) -> list[Evidence]:
    """The spans behind an exception that fired: context, whatever role their signal has."""
    return dedupe(
        e.model_copy(update={"role": "context", "details": e.details.model_copy(update={"exception_id": ex_id})})
        for e in evidence
    )
