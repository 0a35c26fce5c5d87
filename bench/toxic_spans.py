"""SemEval-2021 Task 5 (toxic spans) with the official metric, for developing Gavel's evidence.

    python bench/toxic_spans.py [--data ../shared/data/toxic_spans] [--tune-posts 4000]

Reads tsd_train.csv and tsd_trial.csv from where they lie (never copied into the repo). Tunes on
train, reports trial. Per post: F1 of predicted against gold character offsets; a post with no
gold span scores 1 only if nothing is predicted; the figure is the mean over posts.

- rules: a lexicon learned on train (words whose occurrences fall inside gold spans at least
  `ratio` of the time), matched by Gavel's own lexicon automaton on its normalized text;
- model: Gavel's occlusion evidence from the offline profanity model (`attribute`): the words
  whose removal drops the score the most, kept when the post scores above a threshold;
- combined: a logistic regression per word over both: the word's learned lexicon statistics
  and its occlusion drop (and its neighbours'), thresholded.

Tuning the model and combined rows uses the first --tune-posts posts of train (a subsample, to
stay within ~1 minute on 2 cores); the lexicon statistics use all of train.
"""

from __future__ import annotations

import argparse
import ast
import csv
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gavel.engine.compiler import compile_policy
from gavel.engine.loader import parse_policy
from gavel.engine.normalize import normalize
from gavel.models.attribution import attributions, variants, words
from gavel.models.profanity import ProfanityBackend

_WORD = re.compile(r"[A-Za-z][A-Za-z'*@$0-9]*")
Post = tuple[set[int], str]
Scored = tuple[float, list[tuple[int, int, float]]]  # post score, (start, end, log-odds drop) per word


def load(path: Path) -> list[Post]:
    csv.field_size_limit(10_000_000)
    with path.open(newline="", encoding="utf-8") as fh:
        return [(set(ast.literal_eval(row["spans"])), row["text"]) for row in csv.DictReader(fh)]


def f1(pred: set[int], gold: set[int]) -> float:
    if not gold:
        return 1.0 if not pred else 0.0
    if not pred:
        return 0.0
    tp = len(pred & gold)
    if tp == 0:
        return 0.0
    p, r = tp / len(pred), tp / len(gold)
    return 2 * p * r / (p + r)


def mean_f1(preds: Iterable[set[int]], posts: list[Post]) -> float:
    scores = [f1(p, g) for p, (g, _) in zip(preds, posts, strict=True)]
    return sum(scores) / len(scores)


def learn_lexicon(posts: list[Post], ratio: float, min_count: int) -> list[str]:
    inside: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for gold, text in posts:
        for m in _WORD.finditer(text):
            word = m.group().lower().strip("'")
            total[word] += 1
            if all(i in gold for i in range(m.start(), m.end())):
                inside[word] += 1
    return sorted(w for w, n in total.items() if n >= min_count and inside[w] / n >= ratio)


class LexiconRules:
    """Gavel's compiled lexicon (Aho-Corasick over the normalized text) of the learned words."""

    def __init__(self, words: list[str]) -> None:
        terms = ", ".join('"' + w.replace('"', "") + '"' for w in words) or '"zzzz"'
        yaml = (
            'id: toxic_spans\nversion: "bench"\ntitle: learned\nsource: {text: learned on train}\n'
            f"signals:\n  toxic: {{kind: lexicon, terms: [{terms}]}}\n"
            "clauses:\n  - {id: toxic, title: toxic, when: toxic}\n"
        )
        self._compiled = compile_policy(parse_policy(yaml, "bench.yaml"), None)

    def spans(self, text: str) -> set[int]:
        hits = self._compiled.lexicon.match(normalize(text)).get("toxic", [])
        return {i for h in hits for i in range(h.start, h.end) if not text[i].isspace()}


def model_spans(model: ProfanityBackend, texts: list[str]) -> list[Scored]:
    """Per post: the profanity score and each word's occlusion drop (one forward pass per post)."""
    out: list[Scored] = []
    for text in texts:
        spans = words(text)
        if not spans:
            out.append((model.score_batch([text])[0]["profanity"], []))
            continue
        scores = model.score_batch(variants(text, spans))
        found = attributions(spans, "profanity", scores)
        out.append((scores[0]["profanity"], [(a.start, a.end, a.log_odds_drop) for a in found]))
    return out


def chars(text: str, start: int, end: int) -> set[int]:
    return {i for i in range(start, end) if not text[i].isspace()}


def pick(scored: Scored, text: str, post_t: float, rel_t: float, top: int) -> set[int]:
    """The model's words: when the post scores >= post_t, its `top` biggest drops that are at
    least rel_t of the biggest."""
    base, found = scored
    if base < post_t or not found:
        return set()
    biggest = found[0][2]
    return {i for s, e, d in found[:top] if d >= rel_t * biggest for i in chars(text, s, e)}


def _key(word: str) -> str:
    return word.lower().strip("'’*-")


class WordTagger:
    """Combined: a logistic regression over each word's features from both sources: how often the
    word lies inside a gold span in train (smoothed; leave-one-post-out while fitting), and its
    occlusion drop under the profanity model, plus the same for its neighbours. Fit on the tuning
    posts of train; a post's words above `threshold` are predicted, else its best word when its
    probability is >= `fallback` (almost every post in this data set has a toxic span)."""

    N_FEATURES = 8

    def __init__(self, posts: list[Post], smoothing: float = 2.0) -> None:
        self.inside: Counter[str] = Counter()
        self.total: Counter[str] = Counter()
        self.per_post = [self._count(text, gold) for gold, text in posts]
        for inside, total in self.per_post:
            self.inside.update(inside)
            self.total.update(total)
        self.smoothing = smoothing
        self.prior = sum(self.inside.values()) / max(sum(self.total.values()), 1)
        self.clf: Any = None

    @staticmethod
    def _count(text: str, gold: set[int]) -> tuple[Counter[str], Counter[str]]:
        inside: Counter[str] = Counter()
        total: Counter[str] = Counter()
        for s, e in words(text):
            k = _key(text[s:e])
            total[k] += 1
            if all(i in gold for i in range(s, e)):
                inside[k] += 1
        return inside, total

    def features(
        self, text: str, scored: Scored, own: tuple[Counter[str], Counter[str]] | None = None
    ) -> tuple[list[tuple[int, int]], np.ndarray[Any, Any]]:
        base, found = scored
        drop = {(s, e): d for s, e, d in found}
        biggest = found[0][2] if found else 0.0
        spans = words(text)
        rows: list[list[float]] = []
        for s, e in spans:
            k = _key(text[s:e])
            inside, total = self.inside[k], self.total[k]
            if own is not None:  # leave this post out of its own word statistics
                inside, total = inside - own[0][k], total - own[1][k]
            ratio = (inside + self.smoothing * self.prior) / (total + self.smoothing)
            d = drop.get((s, e), 0.0)
            rel = d / biggest if biggest > 0 else 0.0
            caps = float(e - s > 1 and text[s:e].isupper())
            rows.append([ratio, math.log1p(total), rel, d, base, caps])
        for j, row in enumerate(rows):
            near = [rows[i] for i in (j - 1, j + 1) if 0 <= i < len(rows)]
            row.append(max((r[0] for r in near), default=0.0))
            row.append(max((r[2] for r in near), default=0.0))
        return spans, np.array(rows, dtype=np.float64).reshape(-1, self.N_FEATURES)

    def fit(self, posts: list[Post], scored: list[Scored]) -> list[tuple[list[tuple[int, int]], Any]]:
        from sklearn.linear_model import LogisticRegression

        feats = [
            self.features(t, sc, own)
            for (_, t), sc, own in zip(posts, scored, self.per_post[: len(posts)], strict=True)
        ]  # `posts` are the first posts of the train set the tagger counted
        x = np.concatenate([f for _, f in feats])
        y = np.array(
            [
                all(i in g for i in range(s, e))
                for (g, _), (spans, _) in zip(posts, feats, strict=True)
                for s, e in spans
            ]
        )
        self.clf = LogisticRegression(max_iter=1000).fit(x, y)
        return feats

    def predict(self, text: str, spans: list[tuple[int, int]], x: Any, threshold: float, fallback: float) -> set[int]:
        if not spans:
            return set()
        p = self.clf.predict_proba(x)[:, 1]
        chosen = [sp for sp, q in zip(spans, p, strict=True) if q >= threshold]
        if not chosen and p.max() >= fallback:
            chosen = [spans[int(p.argmax())]]
        return {i for s, e in chosen for i in chars(text, s, e)}


def main() -> None:
    parser = argparse.ArgumentParser(description="SemEval-2021 toxic spans with Gavel's matchers and models")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/toxic_spans")
    parser.add_argument(
        "--tune-posts", type=int, default=4000, help="train posts (the first N) used to tune the model and combined"
    )
    args = parser.parse_args()
    began = time.perf_counter()
    train = load(args.data / "tsd_train.csv")
    trial = load(args.data / "tsd_trial.csv")
    tune = train[: args.tune_posts]
    print(
        f"train {len(train)} posts, trial {len(trial)} posts; tuned on train (model and combined on its "
        f"first {len(tune)} posts), reported on trial\n"
    )

    # rules: learn on 80% of train, pick ratio/min_count on the other 20%, then relearn on all of train
    cut = int(len(train) * 0.8)
    best = (0.0, 0.5, 2)
    for ratio in (0.3, 0.4, 0.5, 0.6, 0.7):
        for min_count in (1, 2, 3, 5):
            rules = LexiconRules(learn_lexicon(train[:cut], ratio, min_count))
            score = mean_f1((rules.spans(t) for _, t in train[cut:]), train[cut:])
            best = max(best, (score, ratio, min_count))
    _, ratio, min_count = best
    lexicon = learn_lexicon(train, ratio, min_count)
    t0 = time.perf_counter()
    rules = LexiconRules(lexicon)
    rule_preds = [rules.spans(t) for _, t in trial]
    rule_time = time.perf_counter() - t0

    # model: occlusion evidence of the profanity model, thresholds tuned on train
    model = ProfanityBackend()
    tune_scored = model_spans(model, [t for _, t in tune])
    grid = [(p, r, k) for p in (0.0, 0.1, 0.2, 0.3, 0.5) for r in (0.3, 0.5, 0.7, 0.9) for k in (1, 2, 3, 5)]
    _, post_t, rel_t, top = max(
        (mean_f1((pick(s, t, p, r, k) for s, (_, t) in zip(tune_scored, tune, strict=True)), tune), p, r, k)
        for p, r, k in grid
    )
    t0 = time.perf_counter()
    trial_scored = model_spans(model, [t for _, t in trial])
    model_time = time.perf_counter() - t0
    model_preds = [pick(s, t, post_t, rel_t, top) for s, (_, t) in zip(trial_scored, trial, strict=True)]

    # combined: a word tagger over both, fit and tuned on the tuning posts of train
    tagger = WordTagger(train)
    tune_feats = tagger.fit(tune, tune_scored)
    _, threshold, fallback = max(
        (
            mean_f1((tagger.predict(t, sp, x, th, fb) for (sp, x), (_, t) in zip(tune_feats, tune, strict=True)), tune),
            th,
            fb,
        )
        for th in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
        for fb in (0.0, 0.05, 0.1, 0.2, 1.1)
    )
    t0 = time.perf_counter()
    combined = []
    for (_, text), scored in zip(trial, trial_scored, strict=True):
        spans, x = tagger.features(text, scored)
        combined.append(tagger.predict(text, spans, x, threshold, fallback))
    combined_time = time.perf_counter() - t0 + model_time

    n = len(trial)
    print("| method | trial F1 | settings (tuned on train) | ms/post |")
    print("|---|--:|---|--:|")
    print(
        f"| rules: learned lexicon, Gavel's automaton and normalizer | {mean_f1(rule_preds, trial):.3f} | "
        f"ratio ≥ {ratio}, count ≥ {min_count}, {len(lexicon)} words | {1000 * rule_time / n:.2f} |"
    )
    print(
        f"| model: profanity + occlusion | {mean_f1(model_preds, trial):.3f} | post ≥ {post_t}, top {top} words with "
        f"a drop ≥ {rel_t} × the biggest | {1000 * model_time / n:.2f} |"
    )
    print(
        f"| combined: word tagger (lexicon statistics + occlusion) | {mean_f1(combined, trial):.3f} | "
        f"p ≥ {threshold}, else the best word if p ≥ {fallback} | {1000 * combined_time / n:.2f} |"
    )
    print(f"| (nothing predicted) | {mean_f1([set()] * n, trial):.3f} | baseline | - |")
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
