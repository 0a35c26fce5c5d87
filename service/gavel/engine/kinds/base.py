"""What a signal kind is: its YAML schema, how a policy's signals of that kind compile, and how
the compiled form scores a post. Kinds register in `gavel.engine.kinds`; nothing else switches
on a kind's name (Presidio's recognizer registry, Osprey's registered UDFs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from gavel.engine.matchers import Hit
from gavel.engine.post import ModelOutputs, Post, SignalValue
from gavel.engine.results import EvidenceDetails, Role
from gavel.errors import Problem
from gavel.models.base import ModelHub

if TYPE_CHECKING:
    from gavel.engine.schema import Policy

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Score = Annotated[float, Field(ge=0.0, le=1.0)]


def _model_name(model: str) -> str:
    if not model.strip():
        raise ValueError("model name is empty")
    return model


# a model of GAVEL_MODELS, as named by model and exemplar signals
ModelName = Annotated[str, AfterValidator(_model_name)]
ModelUse = tuple[str, Literal["classify", "embed"]]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignalBase(StrictModel):
    """Fields every signal has; a kind's schema adds its own and narrows `kind` to its name."""

    kind: str = Field(description="the signal's kind (lexicon, regex, url, proximity, model, exemplar, context)")
    description: str = Field(default="", description="what the signal looks for, said in its evidence")
    role: Role | None = Field(
        default=None,
        description="the role of its evidence: target (who is attacked), harm (what makes it a violation), "
        "context (an exception's cue); default: target for a lexicon of protected-category terms, else harm",
    )

    def categories(self) -> set[str]:
        """The categories its hits carry (a lexicon's terms may each name one)."""
        category = getattr(self, "category", None)
        return {category} if isinstance(category, str) else set()


S = TypeVar("S", bound=SignalBase)


@dataclass
class CompileContext:
    """What a kind may consult while compiling one policy."""

    policy: Policy
    hub: ModelHub | None
    roles: Mapping[str, Role]  # every signal's role, defaults applied
    max_lexicon_terms: int = 100_000
    locate: Callable[[Sequence[str | int], str], Problem] = field(
        default=lambda loc, message: Problem("<policy>", 1, 1, "", message)
    )

    def problem(self, loc: Sequence[str | int], message: str) -> Problem:
        return self.locate(loc, message)


class CompiledKind:
    """A policy's signals of one kind, compiled. Evaluation runs in three steps, each a no-op
    unless the kind overrides it: `hits` (spans on the post, before exceptions), `values`
    (scores that have no spans to set aside: models, context), `combine` (signals built from
    other signals' hits, after span exceptions: proximity)."""

    def models(self) -> set[ModelUse]:
        return set()

    def ungated_models(self) -> set[ModelUse]:
        """The model uses of its signals that have no gate (see `gates`)."""
        return self.models()

    def gates(self) -> dict[str, tuple[ModelUse, str]]:
        """Signal id -> (the model use it needs, the span signal that must have a hit for the model
        to be consulted): a cascade. A signal absent here needs its model on every post."""
        return {}

    def hits(self, post: Post) -> dict[str, list[Hit]]:
        return {}

    async def values(self, post: Post, outputs: ModelOutputs, hub: ModelHub | None) -> dict[str, SignalValue]:
        return {}

    def combine(self, post: Post, hits: Mapping[str, list[Hit]]) -> dict[str, SignalValue]:
        return {}


@dataclass(frozen=True)
class SignalKind(Generic[S]):
    """One kind: `schema` is its YAML shape (with `kind: Literal[name]`); `compile` turns a
    policy's signals of this kind into one CompiledKind; `explain` renders the sentence of an
    evidence item from its details. A `spans` kind's hits can be a proximity side and can be set
    aside by a suppress exception; its hit's `what` fills the details field named `hit_field`."""

    name: str
    schema: type[S]
    compile: Callable[[Mapping[str, S], CompileContext], CompiledKind]
    explain: Callable[[str, EvidenceDetails, str | None], str]  # (signal id, details, category)
    spans: bool = False
    hit_field: Literal["matched", "pattern_id"] = "matched"
    # the span signals a signal of this kind builds on, each with where it is named (checked at load)
    uses_spans: Callable[[S], list[tuple[tuple[str | int, ...], str]]] = lambda sig: []

    def details_of(self, what: str, description: str) -> EvidenceDetails:
        """The details of a hit whose `what` (term, pattern id, domain) matched."""
        facts: dict[str, Any] = {self.hit_field: what, "description": description or None}
        return EvidenceDetails.of(**facts)


def with_description(sentence: str, details: EvidenceDetails) -> str:
    """The sentence, then the signal's own description when the policy gives one."""
    return f"{sentence}: {details.description}" if details.description else sentence
