"""The post's language, and whether each policy covers it.

A policy's rules are written for some languages (`languages: [en]`, the default). A Spanish post
scored by English lexicons comes back clean because nothing matched, not because it is clean; so
every answer says what language the post is in (`lang`), each policy says whether it covers it
(`coverage`), and a policy that does not answers what its `uncovered` setting says: `review` (the
default: at least review, since nobody has judged the post) or `evaluate` (the rules' answer
stands, said as uncovered). Uncovered posts are counted per policy and language in the metrics.

Detection is py3langid (langid.py's model, shipped inside the PyPI wheel: no download), run on the
normalized text so homoglyph and fullwidth evasions ("dеаth tо thе јеws" in Cyrillic letters) read
as the language they imitate. Short texts are unreliable, so a text with fewer than
`GAVEL_LANG_MIN_LETTERS` letters, or a guess under `GAVEL_LANG_MIN_CONFIDENCE`, is *undetermined*
and counts as covered by every policy. The caller's `context.lang` overrides detection.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gavel.engine.results import Action, Coverage, EvaluationResult, LanguageInfo
from gavel.errors import InvalidInputError

if TYPE_CHECKING:
    from gavel.engine.compiler import CompiledPolicy
    from gavel.settings import Settings

ANY_LANGUAGE = "*"
# Languages the detector chooses among: the ones a platform commonly sees. Fewer candidates keep
# rare look-alikes (Walloon for French, Galician for Portuguese) from winning on short posts.
DEFAULT_CANDIDATES = (
    "en,es,fr,de,it,pt,nl,ru,uk,pl,tr,ar,fa,he,hi,ur,bn,zh,ja,ko,id,ms,vi,th,tl,sw,ro,cs,sv,da,no,fi,el,hu,bg,sr,hr,ca"
)
_CONTEXT_LANG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")  # BCP 47-ish: es, es-MX, zh_Hant
# links and handles say nothing about the language of the words around them
_NOT_WORDS = re.compile(r"https?://\S+|www\.\S+|[@#]\w+")
# the language shows in the first sentences; a 10,000-character post costs no more than this
_DETECT_CHARS = 1_000


@functools.cache
def _identifier(candidates: tuple[str, ...]) -> Any:
    """Load langid's model once per process per candidate set (~3 s: it is xz-compressed)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    unknown = sorted(set(candidates) - set(ident.labels))
    if unknown:
        raise ValueError(f"GAVEL_LANG_CANDIDATES: the detector does not know {', '.join(unknown)}")
    if candidates:
        ident.set_languages(list(candidates))
    return ident


def parse_candidates(spec: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.strip().lower() for c in spec.split(",") if c.strip()))


class LanguageGate:
    def __init__(
        self,
        detect: bool = True,
        min_letters: int = 15,
        min_confidence: float = 0.5,
        candidates: str = DEFAULT_CANDIDATES,
    ) -> None:
        self.detect = detect
        self.min_letters = min_letters
        self.min_confidence = min_confidence
        self.candidates = parse_candidates(candidates)  # empty: every language the model knows
        self._load_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LanguageGate:
        return cls(
            settings.lang_detect, settings.lang_min_letters, settings.lang_min_confidence, settings.lang_candidates
        )

    def warm(self) -> None:
        """Load the model now (at start-up) rather than on the first post."""
        if self.detect:
            with self._load_lock:
                _identifier(self.candidates)

    # --- the post's language -----------------------------------------------------------

    @staticmethod
    def context_lang(context: Mapping[str, Any]) -> str | None:
        """`context.lang` as a primary language subtag ('es-MX' -> 'es'); a malformed one is a 422."""
        value = context.get("lang")
        if value is None:
            return None
        match = _CONTEXT_LANG.match(value) if isinstance(value, str) else None
        if match is None:
            raise InvalidInputError("context.lang", "must be a language code such as 'en' or 'es-MX'")
        return match.group(1).lower()

    def identify(self, normalized: str, context: Mapping[str, Any]) -> LanguageInfo | None:
        given = self.context_lang(context)
        if given is not None:
            return LanguageInfo(code=given, confidence=1.0, source="context")
        if not self.detect:
            return None
        words = _NOT_WORDS.sub(" ", normalized[:_DETECT_CHARS])
        letters = sum(ch.isalpha() for ch in words)
        if letters < self.min_letters:
            return LanguageInfo(
                code=None,
                confidence=0.0,
                source="undetermined",
                note=f"too short to tell ({letters} letters, under {self.min_letters})",
            )
        with self._load_lock:
            ident = _identifier(self.candidates)
        code, confidence = ident.classify(words)
        confidence = round(float(confidence), 3)
        if confidence < self.min_confidence:
            return LanguageInfo(
                code=None,
                confidence=confidence,
                source="undetermined",
                note=f"unsure: best guess '{code}' at {confidence}, under {self.min_confidence}",
            )
        return LanguageInfo(code=str(code), confidence=confidence, source="detected")

    # --- coverage --------------------------------------------------------------------------

    def apply(self, result: EvaluationResult, policies: Sequence[CompiledPolicy], lang: LanguageInfo | None) -> None:
        """Say, per policy, whether it covers the post's language; raise uncovered `review` policies
        to at least review, and the decision with them."""
        result.lang = lang
        by_id = {cp.id: cp for cp in policies}
        for pr in result.policies:
            cp = by_id.get(pr.policy_id)
            if cp is None:
                continue
            languages = list(cp.policy.languages)
            covers_any = ANY_LANGUAGE in languages
            if lang is None or lang.code is None or covers_any or lang.code in languages:
                why = (
                    "the policy covers every language"
                    if covers_any
                    else "language undetermined: taken as the policy's own"
                    if lang is None or lang.code is None
                    else f"the policy covers '{lang.code}'"
                )
                pr.coverage = Coverage(covered=True, lang=lang.code if lang else None, languages=languages, reason=why)
                continue
            setting = cp.policy.uncovered
            how = f"{lang.source} at {lang.confidence}" if lang.source == "detected" else "from context.lang"
            reason = f"the post is '{lang.code}' ({how}); the policy covers {', '.join(languages)}"
            if setting == "review":
                reason += ": its rules cannot judge it, so at least review (uncovered: review)"
                if pr.action.severity < Action.REVIEW.severity:
                    pr.action = Action.REVIEW
            else:
                reason += ": the rules' answer stands (uncovered: evaluate)"
            pr.coverage = Coverage(covered=False, lang=lang.code, languages=languages, reason=reason)
            result.decision.reasons.append(f"{pr.policy_id}: language '{lang.code}' not covered ({setting})")
            if pr.action.severity > result.decision.action.severity:
                result.decision.action = pr.action
