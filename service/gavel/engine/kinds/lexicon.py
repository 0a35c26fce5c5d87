"""`lexicon`: terms on the normalized text, all lexicons of a policy in one Aho-Corasick automaton."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from gavel.engine.kinds.base import (
    CompileContext,
    CompiledKind,
    Score,
    SignalBase,
    SignalKind,
    StrictModel,
    with_description,
)
from gavel.engine.matchers import Hit, LexiconMatcher, LexiconTooLarge
from gavel.engine.post import Post
from gavel.engine.results import EvidenceDetails
from gavel.errors import PolicyCompileError

# true: kill -> kills, killed, killing, killer(s); "verb": the same without the doer nouns
Inflect = bool | Literal["verb"]


class LexiconTerm(StrictModel):
    term: Annotated[str, Field(min_length=1, max_length=200, description="the term as written")]
    variants: list[str] = Field(default_factory=list, description="other spellings, irregular forms")
    category: str | None = Field(default=None, description="e.g. the protected category a group term names")
    score: Score | None = Field(default=None, description="defaults to the signal's score")
    inflect: Inflect | None = Field(default=None, description="the signal's `inflect`, for this term")


class LexiconSignal(SignalBase):
    kind: Literal["lexicon"] = Field(description="lexicon")
    terms: list[str | LexiconTerm] = Field(min_length=1, description="plain terms or terms with their options")
    category: str | None = Field(default=None, description="the category of every term that names none")
    score: Score = Field(default=1.0, description="the score of a hit")
    inflect: Inflect = Field(
        default=False,
        description="true: generate the -s/-ed/-ing/-ion and doer (-er) forms of every term; verb: the same without "
        "the doer nouns, for acts whose doers are not the act ('killers' names people, 'eraser' is a thing)",
    )

    def expanded_terms(self) -> list[LexiconTerm]:
        return [LexiconTerm(term=t) if isinstance(t, str) else t for t in self.terms]

    def categories(self) -> set[str]:
        found = {t.category or self.category for t in self.expanded_terms()}
        return set() if None in found else {c for c in found if c is not None}


class CompiledLexicons(CompiledKind):
    def __init__(self, matcher: LexiconMatcher) -> None:
        self.matcher = matcher

    def hits(self, post: Post) -> dict[str, list[Hit]]:
        return self.matcher.match(post.norm)


def compile_lexicons(signals: Mapping[str, LexiconSignal], ctx: CompileContext) -> CompiledKind:
    try:
        return CompiledLexicons(LexiconMatcher(dict(signals), ctx.max_lexicon_terms))
    except LexiconTooLarge as exc:
        raise PolicyCompileError([ctx.problem((), str(exc))]) from exc


def explain(signal: str, details: EvidenceDetails, category: str | None) -> str:
    # the span may be one of the term's listed forms ("dyke" under "fag"): name the term it matched
    sentence = f"matches the term '{details.matched}' of the lexicon '{signal}'"
    sentence += f" ({category})" if category else ""
    return with_description(sentence, details)


KIND = SignalKind("lexicon", LexiconSignal, compile_lexicons, explain, spans=True)
