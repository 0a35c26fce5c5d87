"""`regex`: RE2 patterns (linear time) on the normalized text or the original; one RE2 set per
policy says which patterns can match, so the per-pattern scans run only for those."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from gavel.engine.kinds.base import CompileContext, CompiledKind, Score, SignalBase, SignalKind, with_description
from gavel.engine.matchers import Hit, PatternsRefused, RegexMatcher, RegexPrefilter
from gavel.engine.post import Post
from gavel.engine.results import EvidenceDetails
from gavel.errors import PolicyCompileError, Problem


class RegexSignal(SignalBase):
    kind: Literal["regex"] = Field(description="regex")
    patterns: list[Annotated[str, Field(min_length=1, max_length=2000)]] = Field(
        min_length=1, description="RE2 patterns; a group named `hit` narrows the evidence span"
    )
    category: str | None = Field(default=None, description="the category of its hits")
    score: Score = Field(default=1.0, description="the score of a hit")
    on: Literal["normalized", "original"] = Field(
        default="normalized",
        description="normalized: lowercase, accents/leet/homoglyphs folded; original: the post as sent",
    )


class CompiledRegexes(CompiledKind):
    def __init__(self, matchers: dict[str, RegexMatcher]) -> None:
        self.matchers = matchers
        self.prefilter = RegexPrefilter(matchers) if matchers else None

    def hits(self, post: Post) -> dict[str, list[Hit]]:
        out: dict[str, list[Hit]] = {}
        if self.prefilter is None:
            return out
        for sid, only in self.prefilter.candidates(post.norm).items():
            found = self.matchers[sid].match(post.norm, only)
            if found:
                out[sid] = found
        return out


def compile_regexes(signals: Mapping[str, RegexSignal], ctx: CompileContext) -> CompiledKind:
    matchers: dict[str, RegexMatcher] = {}
    problems: list[Problem] = []
    for sid, sig in signals.items():
        try:
            matchers[sid] = RegexMatcher(sid, sig)
        except PatternsRefused as exc:
            problems += [ctx.problem(("signals", sid, "patterns", i), reason) for i, reason in exc.refused]
    if problems:
        raise PolicyCompileError(problems)
    return CompiledRegexes(matchers)


def explain(signal: str, details: EvidenceDetails, category: str | None) -> str:
    # the pattern's id, never its source: a reviewer reads words, not RE2
    sentence = f"matches {details.pattern_id} of '{signal}'" + (f" ({category})" if category else "")
    return with_description(sentence, details)


KIND = SignalKind("regex", RegexSignal, compile_regexes, explain, spans=True, hit_field="pattern_id")
