"""SemEval-2021 Task 5 (toxic spans) with the official metric, for developing Gavel's evidence.

    python bench/toxic_spans.py [--data ../shared/data/toxic_spans] [--tune-posts 3000]

Reads tsd_train.csv and tsd_trial.csv from where they lie (never copied into the repo). Tunes on
train, reports trial. Per post: F1 of predicted against gold character offsets; a post with no
gold span scores 1 only if nothing is predicted; the figure is the mean over posts.

- rules: a lexicon learned on train (words whose occurrences fall inside gold spans at least
  `ratio` of the time), matched by Gavel's own lexicon automaton on its normalized text;
- model: Gavel's occlusion evidence from the offline profanity model: words whose removal
  drops the score, kept when the post scores above a threshold;
- combined: the lexicon's hits plus the model's words where the post is flagged.
"""

from __future__ import annotations

import argparse
import ast
import csv
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.engine.compiler import compile_policy
from service.engine.loader import parse_policy
from service.engine.normalize import normalize
from service.models.attribution import occlusion
from service.models.profanity import ProfanityBackend

_WORD = re.compile(r"[A-Za-z][A-Za-z'*@$0-9]*")
Post = tuple[set[int], str]


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


def model_spans(model: ProfanityBackend, texts: list[str]) -> list[tuple[float, list[tuple[int, int, float]]]]:
    """Per post: the profanity score and the occlusion contribution of each word."""
    out = []
    for text in texts:
        base = model.score_batch([text])[0]["profanity"]
        words = occlusion(text, "profanity", model.score_batch)
        out.append((base, [(w.start, w.end, w.contribution) for w in words]))
    return out


def pick(scored: tuple[float, list[tuple[int, int, float]]], text: str, post_t: float, word_t: float) -> set[int]:
    base, words = scored
    if base < post_t:
        return set()
    return {i for s, e, c in words if c >= word_t for i in range(s, e) if not text[i].isspace()}


def main() -> None:
    parser = argparse.ArgumentParser(description="SemEval-2021 toxic spans with Gavel's matchers and models")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/toxic_spans")
    parser.add_argument("--tune-posts", type=int, default=3000, help="train posts used to tune the model thresholds")
    args = parser.parse_args()
    train = load(args.data / "tsd_train.csv")
    trial = load(args.data / "tsd_trial.csv")
    print(f"train {len(train)} posts, trial {len(trial)} posts (tuning on train, reporting trial)\n")

    # rules: learn on 80% of train, pick ratio/min_count on the other 20%, then relearn on all of train
    cut = int(len(train) * 0.8)
    best = (0.0, 0.5, 2)
    for ratio in (0.3, 0.4, 0.5, 0.6, 0.7):
        for min_count in (1, 2, 3, 5):
            rules = LexiconRules(learn_lexicon(train[:cut], ratio, min_count))
            score = mean_f1((rules.spans(t) for _, t in train[cut:]), train[cut:])
            best = max(best, (score, ratio, min_count))
    _, ratio, min_count = best
    t0 = time.perf_counter()
    rules = LexiconRules(learn_lexicon(train, ratio, min_count))
    rule_preds = [rules.spans(t) for _, t in trial]
    rule_time = time.perf_counter() - t0

    model = ProfanityBackend()
    tune = train[: args.tune_posts]
    tune_scored = model_spans(model, [t for _, t in tune])
    grid = [(p, w) for p in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7) for w in (0.05, 0.1, 0.15, 0.2, 0.3, 0.4)]
    _, post_t, word_t = max(
        (mean_f1((pick(s, t, p, w) for s, (_, t) in zip(tune_scored, tune, strict=True)), tune), p, w) for p, w in grid
    )
    tune_rules = [rules.spans(t) for _, t in tune]
    _, c_post, c_word = max(
        (
            mean_f1((pick(s, t, p, w) | r for s, r, (_, t) in zip(tune_scored, tune_rules, tune, strict=True)), tune),
            p,
            w,
        )
        for p, w in grid
    )
    t0 = time.perf_counter()
    trial_scored = model_spans(model, [t for _, t in trial])
    model_time = time.perf_counter() - t0
    model_preds = [pick(s, t, post_t, word_t) for s, (_, t) in zip(trial_scored, trial, strict=True)]
    combined = [pick(s, t, c_post, c_word) | r for s, r, (_, t) in zip(trial_scored, rule_preds, trial, strict=True)]

    n = len(trial)
    print("| method | trial F1 | settings (tuned on train) | ms/post |")
    print("|---|--:|---|--:|")
    print(
        f"| rules: learned lexicon | {mean_f1(rule_preds, trial):.3f} | ratio ≥ {ratio}, count ≥ {min_count}, "
        f"{len(learn_lexicon(train, ratio, min_count))} words | {1000 * rule_time / n:.2f} |"
    )
    print(
        f"| model: profanity + occlusion | {mean_f1(model_preds, trial):.3f} | post ≥ {post_t}, word ≥ {word_t} | "
        f"{1000 * model_time / n:.2f} |"
    )
    print(
        f"| combined | {mean_f1(combined, trial):.3f} | post ≥ {c_post}, word ≥ {c_word}, plus lexicon | "
        f"{1000 * (rule_time + model_time) / n:.2f} |"
    )
    print(f"| (nothing predicted) | {mean_f1([set()] * n, trial):.3f} | baseline | - |")


if __name__ == "__main__":
    main()
