"""The registries (signal kinds, model backends), the url kind, evidence roles and details,
dedupe, regex spans trimmed to the word, and the loader's single read."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import Field

from gavel.engine import kinds
from gavel.engine.compiler import compile_policy
from gavel.engine.evaluator import Evaluator
from gavel.engine.kinds.base import CompileContext, CompiledKind, SignalBase, SignalKind
from gavel.engine.loader import load_policy_file, parse_policy
from gavel.engine.matchers import Hit
from gavel.engine.normalize import Utf16Index, normalize
from gavel.engine.post import EvalItem, ModelOutputs, Post
from gavel.engine.registry import PolicyRegistry
from gavel.engine.results import ClauseVerdict, EvaluationResult, EvidenceDetails, Verdict
from gavel.engine.signals import read_signals
from gavel.errors import PolicyValidationError
from gavel.models.base import LabelScores, TokenAttribution
from gavel.models.hub import BACKENDS, DefaultModelHub
from gavel.settings import Settings

HEAD = 'id: demo\nversion: "1"\ntitle: Demo\nsource: {text: "No scams."}\n'


def run(policy_yaml: str, text: str, context: dict[str, object] | None = None, hub: object = None) -> EvaluationResult:
    compiled = compile_policy(parse_policy(HEAD + policy_yaml, "demo.yaml"), None)
    evaluator = Evaluator(PolicyRegistry.from_policies({"demo": compiled}), hub)  # type: ignore[arg-type]
    return asyncio.run(evaluator.evaluate(text, context=context))


def clause(result: EvaluationResult, clause_id: str) -> ClauseVerdict:
    return next(c for c in result.policies[0].clauses if c.clause_id == clause_id)


# --- a kind registered by a test: one module's worth of code and one register() call -----------


class ShoutSignal(SignalBase):
    kind: Literal["shout"]
    min_letters: int = Field(default=4, description="shortest word in capitals that counts")


class CompiledShouts(CompiledKind):
    def __init__(self, signals: Mapping[str, ShoutSignal]) -> None:
        self.signals = dict(signals)

    def hits(self, post: Post) -> dict[str, list[Hit]]:
        out: dict[str, list[Hit]] = {}
        text = post.item.text
        for sid, sig in self.signals.items():
            start = 0
            for word in text.split(" "):
                if len(word) >= sig.min_letters and word.isupper():
                    out.setdefault(sid, []).append(Hit(sid, start, start + len(word), 1.0, word))
                start += len(word) + 1
        return out


def _compile_shouts(signals: Mapping[str, ShoutSignal], ctx: CompileContext) -> CompiledKind:
    return CompiledShouts(signals)


SHOUT = SignalKind("shout", ShoutSignal, _compile_shouts, lambda sid, d, c: f"'{d.matched}' is shouted", spans=True)

SHOUT_POLICY = """signals:
  loud: {kind: shout, min_letters: 3}
  you: {kind: lexicon, terms: [you], role: target}
  loud_at_you: {kind: proximity, anchor: loud, target: you, window: 2}
clauses:
  - {id: shouting, title: Shouting, when: loud_at_you}
"""


@pytest.fixture
def shout_kind() -> Iterator[None]:
    kinds.register(SHOUT)
    yield
    kinds.unregister("shout")


def test_a_registered_kind_validates_compiles_and_scores(shout_kind: None) -> None:
    result = run(SHOUT_POLICY, "hey you IDIOT stop")
    c = clause(result, "shouting")
    assert c.verdict is Verdict.VIOLATES
    by_text = {e.text: e for e in c.evidence}
    assert set(by_text) == {"you", "IDIOT"}
    assert by_text["you"].role == "target" and by_text["IDIOT"].role == "harm"
    assert "shout" in [k.name for k in kinds.kinds()] and "shout" in kinds.span_kinds()


def test_an_unregistered_kind_is_refused_with_its_location() -> None:
    with pytest.raises(PolicyValidationError) as err:
        parse_policy(HEAD + SHOUT_POLICY, "demo.yaml")
    problem = err.value.problems[0]
    assert (problem.line, problem.path) == (6, "signals.loud.kind")
    assert "unknown signal kind 'shout'" in problem.message


def test_a_misspelt_kind_gets_a_hint() -> None:
    with pytest.raises(PolicyValidationError) as err:
        parse_policy(HEAD + "signals:\n  a: {kind: regx, patterns: [x]}\nclauses:\n  - {id: c, title: C, when: a}\n", "d.yaml")
    assert "(did you mean 'regex'?)" in err.value.problems[0].message
    assert kinds.closest_kind("proximty") == "proximity"


# --- url --------------------------------------------------------------------------------------

URLS = """signals:
  scam_links: {kind: url, domains: [bit.ly, "*.paypal-verify.com"], category: phishing, description: known scam hosts}
  any_link: {kind: url, any_link: true, except_domains: [example.org]}
clauses:
  - {id: scam, title: Scam links, when: scam_links}
  - {id: links, title: Links, when: any_link}
"""


def test_url_matches_listed_domains_and_subdomains_with_spans_into_the_original() -> None:
    text = "Claim it at https://X.Bit.ly/abc?q=1. or login.paypal-verify.com/now! not notbit.ly or bit.lyx.com"
    c = clause(run(URLS, text), "scam")
    assert c.verdict is Verdict.VIOLATES
    assert [e.text for e in c.evidence] == ["https://X.Bit.ly/abc?q=1", "login.paypal-verify.com/now"]
    for e in c.evidence:
        assert text[e.start : e.end] == e.text
        assert e.kind == "url" and e.category == "phishing" and e.role == "harm"
    assert [e.details.matched for e in c.evidence] == ["bit.ly", "paypal-verify.com"]
    assert c.evidence[0].explanation == "links to 'bit.ly', matched by 'scam_links' (phishing): known scam hosts"


def test_url_any_link_skips_excepted_domains_and_bare_names() -> None:
    c = clause(run(URLS, "see www.example.org/a, https://docs.example.org and http://evil.test/x; file.txt"), "links")
    assert [e.text for e in c.evidence] == ["http://evil.test/x"]
    assert c.evidence[0].details.matched == "evil.test"
    assert clause(run(URLS, "no links here, just words."), "links").verdict is Verdict.NO_VIOLATION


def test_url_signal_is_checked_when_loaded() -> None:
    for bad, needle in (
        ("{kind: url}", "needs `domains` or `any_link: true`"),
        ("{kind: url, domains: [localhost]}", "'localhost' is not a domain"),
    ):
        with pytest.raises(PolicyValidationError, match=needle):
            parse_policy(HEAD + f"signals:\n  u: {bad}\nclauses:\n  - {{id: c, title: C, when: u}}\n", "d.yaml")


def test_url_can_be_a_proximity_side() -> None:
    policy = """signals:
  link: {kind: url, domains: [bit.ly]}
  urgency: {kind: lexicon, terms: [urgent, verify]}
  urgent_link: {kind: proximity, anchor: urgency, target: link, window: 3}
clauses:
  - {id: phishing, title: Phishing, when: urgent_link}
"""
    c = clause(run(policy, "URGENT: verify your account at bit.ly/x9"), "phishing")
    assert c.verdict is Verdict.VIOLATES
    assert "bit.ly/x9" in [e.text for e in c.evidence]


# --- roles, details, dedupe, trimmed spans ------------------------------------------------------

ROLES = """protected_categories: [religion]
signals:
  groups: {kind: lexicon, terms: [{term: jews, category: religion}, {term: muslims, category: religion}]}
  pests: {kind: lexicon, terms: [vermin, rats]}
  near: {kind: proximity, anchor: pests, target: groups, window: 6}
  condemn: {kind: regex, patterns: ["\\\\bcondemn\\\\w*\\\\s"]}
  said: {kind: regex, patterns: ["\\\\bsaid\\\\b"], role: context}
exceptions:
  - {id: counter, effect: downgrade, when: condemn, explanation: counter-speech}
clauses:
  - {id: dehumanization, title: D, when: near, exceptions: [counter]}
  - {id: mentions, title: M, when: said}
"""


def test_roles_default_from_protected_categories_and_exceptions_are_context() -> None:
    result = run(ROLES, "I condemn those who call jews and muslims rats. He said so.")
    c = clause(result, "dehumanization")
    roles = {e.text: e.role for e in c.evidence}
    assert roles == {"jews": "target", "muslims": "target", "rats": "harm"}
    (ex,) = c.exceptions
    assert [(e.text, e.role, e.details.exception_id) for e in ex.evidence] == [("condemn", "context", "counter")]
    assert [e.role for e in clause(result, "mentions").evidence] == ["context"]  # declared in the YAML


def test_one_evidence_item_per_span_and_signal() -> None:
    # one anchor paired with two targets: the anchor is one item, not one per pair, already in the
    # signal's value (a long post of many pairs must not build pairs x 2 items)
    text = "rats: jews and muslims"
    result = run(ROLES, text)
    evidence = clause(result, "dehumanization").evidence
    assert [e.text for e in evidence] == ["rats", "jews", "muslims"]
    compiled = compile_policy(parse_policy(HEAD + ROLES, "demo.yaml"), None)
    post = Post(EvalItem(text), normalize(text), Utf16Index(text))
    board = asyncio.run(read_signals(compiled, post, ModelOutputs(), None))
    assert [e.text for e in board.values(frozenset())["near"].evidence] == ["rats", "jews", "muslims"]


def test_regex_span_is_trimmed_to_the_word_and_its_source_stays_out_of_the_sentence() -> None:
    text = "I condemn  this: rats and jews"
    (e,) = clause(run(ROLES, text), "dehumanization").exceptions[0].evidence
    assert (e.text, text[e.start : e.end]) == ("condemn", "condemn")
    policy = """signals:
  said: {kind: regex, patterns: ["x", "\\\\bsaid\\\\b"], description: reported speech}
clauses:
  - {id: c, title: C, when: said}
"""
    (ev,) = clause(run(policy, "she said it"), "c").evidence
    assert ev.details.pattern_id == "patterns[1]"
    assert ev.explanation == "matches patterns[1] of 'said': reported speech"
    assert "\\b" not in ev.explanation
    dumped = ev.model_dump()
    # the description is said once, in the explanation, not repeated as a field (issue 12 item 7)
    assert dumped["details"] == {"pattern_id": "patterns[1]"}
    assert "description" not in ev.model_dump_json()


class _OneModelHub:
    """A hub with one classifier whose word attributions include drops that round to zero."""

    def available(self, model: str) -> bool:
        return model == "tox"

    def unavailable_reason(self, model: str) -> str | None:
        return None

    def info(self) -> list[tuple[str, str]]:
        return [("tox", "1")]

    async def classify(self, model: str, texts: Sequence[str]) -> list[LabelScores]:
        return [LabelScores({"toxic": 0.9}, {"toxic": (0, len(t))}) for t in texts]

    async def embed(self, model: str, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        raise AssertionError("not used")

    async def attribute(self, model: str, text: str, label: str) -> list[TokenAttribution]:
        return [TokenAttribution(0, 3, 0.4), TokenAttribution(4, 8, 0.00001)]

    def embed_now(self, model: str, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        raise AssertionError("not used")


def test_model_evidence_carries_its_facts_and_drops_words_that_score_zero() -> None:
    policy = """signals:
  tox: {kind: model, model: tox, label: toxic, threshold: 0.5}
clauses:
  - {id: c, title: C, when: tox}
"""
    (e,) = clause(run(policy, "you suck badly", hub=_OneModelHub()), "c").evidence
    assert e.text == "you" and e.score > 0
    assert e.details == EvidenceDetails(model="tox", label="toxic", probability=0.9, threshold=0.5, contribution=0.4, attributed_by="occlusion")
    assert e.explanation == "tox scored toxic=0.90 (threshold 0.50); without this word toxic drops by 0.40"


@pytest.mark.parametrize(("scores_as", "score"), [("probability", 0.9), ("fired", 1.0)])
def test_a_model_signal_scores_its_probability_or_one_when_fired(scores_as: str, score: float) -> None:
    # a supporting condition with a low threshold must not cap an all_of at that probability
    policy = f"""signals:
  tox: {{kind: model, model: tox, label: toxic, threshold: 0.3, scores_as: {scores_as}}}
clauses:
  - {{id: c, title: C, when: tox}}
"""
    answer = clause(run(policy, "you suck badly", hub=_OneModelHub()), "c")
    assert answer.score == pytest.approx(score)
    assert answer.evidence[0].details.probability == 0.9


# --- loader and model backends ------------------------------------------------------------------


def test_policy_file_is_read_once_and_the_digest_is_of_those_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(HEAD + "signals:\n  a: {kind: lexicon, terms: [x]}\nclauses:\n  - {id: c, title: C, when: a}\n")
    reads: list[Path] = []
    real = Path.read_bytes

    def counting(self: Path) -> bytes:
        reads.append(self)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    loaded = load_policy_file(path)
    assert reads == [path]
    assert loaded.digest == "sha256:" + hashlib.sha256(real(path)).hexdigest()


class EchoBackend:
    name = "echo"
    version = "echo 1"
    labels = ("echo",)

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [{"echo": 1.0} for _ in texts]


def load(settings: Settings) -> EchoBackend:
    """The loader the backend registry calls (this module stands in for a backend module)."""
    return EchoBackend()


def test_a_model_backend_is_one_registry_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BACKENDS, "echo", __name__)
    hub = DefaultModelHub.from_settings(Settings(models="echo,nosuch"))
    assert hub.info() == [("echo", "echo 1")]
    assert hub.labels("echo") == ("echo",)
    assert "unknown model 'nosuch'" in (hub.unavailable_reason("nosuch") or "")


def test_every_field_of_the_policy_schema_is_described() -> None:
    from gavel.engine.schema import Policy

    schema = Policy.model_json_schema()
    undescribed = [
        f"{name}.{field}"
        for name, model in [("Policy", schema), *schema["$defs"].items()]
        for field, prop in model.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert len(schema["$defs"]) > 10 and not undescribed, undescribed


@pytest.mark.parametrize("signal", ["{kind: model, model: ' ', label: x}", "{kind: exemplar, model: '', examples: [a]}"])
def test_an_empty_model_name_is_refused_at_its_line(signal: str) -> None:
    with pytest.raises(PolicyValidationError) as err:
        parse_policy(HEAD + f"signals:\n  m: {signal}\nclauses:\n  - {{id: c, title: C, when: m}}\n", "d.yaml")
    (problem,) = err.value.problems
    assert (problem.line, problem.path, problem.message) == (6, "signals.m.model", "model name is empty")
