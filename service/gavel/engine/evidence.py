"""Evidence items: built from hits with their facts (`EvidenceDetails`), the sentence rendered by
the signal's kind from those facts; one item per span and signal."""

from __future__ import annotations

from collections.abc import Iterable

from gavel.engine.kinds import kind
from gavel.engine.kinds.base import SignalBase
from gavel.engine.matchers import Hit
from gavel.engine.post import Post, SignalValue, dedupe
from gavel.engine.results import Evidence, EvidenceDetails, Role


def span_value(post: Post, sid: str, sig: SignalBase, role: Role, hits: list[Hit]) -> SignalValue:
    """A span signal's value: its strongest hit, and one evidence item per hit."""
    if not hits:
        return SignalValue(0.0)
    spec = kind(sig.kind)
    value = SignalValue(max(h.score for h in hits))
    for h in hits:
        details = spec.details_of(h, sig.description)
        why = spec.explain(sid, details, h.category)
        value.evidence.append(post.evidence(h.start, h.end, sid, sig.kind, h.score, role, details, why, h.category))
    value.evidence = dedupe(value.evidence)
    return value


def exception_evidence(
    post: Post, ex_id: str, sigs: dict[str, SignalBase], markers: list[Hit], dropped: list[Hit]
) -> list[Evidence]:
    """A suppress exception's spans (role context): the cues that fired it and the hits it set aside."""
    out = []
    for hits, set_aside in ((markers, False), (dropped, True)):
        for h in hits:
            words = post.item.text[h.start : h.end]
            details = EvidenceDetails.model_construct(matched=words, exception_id=ex_id, set_aside=set_aside)
            why = f"'{words}' set aside by '{ex_id}'" if set_aside else f"'{words}' marks the exception '{ex_id}'"
            out.append(post.evidence(h.start, h.end, h.signal, sigs[h.signal].kind, h.score, "context", details, why))
    return dedupe(out)


def as_context(evidence: Iterable[Evidence], ex_id: str) -> list[Evidence]:
    """The spans behind an exception that fired: context, whatever role their signal has."""
    return dedupe(
        e.model_copy(update={"role": "context", "details": e.details.model_copy(update={"exception_id": ex_id})})
        for e in evidence
    )
