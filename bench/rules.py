"""Rules-only speed, in process: posts/s and per-post latency percentiles on the default
policies, and the cost of a 10,000-term lexicon against a 100-term one measured in the same run.

    python bench/rules.py [--posts 5000]

The corpus is the SemEval toxic-spans trial posts when ../shared/data is present (read in
place), else generated posts of similar length.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gavel.engine.compiler import compile_policy
from gavel.engine.evaluator import EvalItem, Evaluator
from gavel.engine.loader import parse_policy
from gavel.engine.registry import PolicyRegistry
from gavel.runtime import build_runtime
from gavel.settings import Settings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "toxic_spans" / "tsd_trial.csv"
WORDS = [
    "the",
    "people",
    "of",
    "this",
    "city",
    "should",
    "vote",
    "on",
    "the",
    "new",
    "plan",
    "and",
    "the",
    "council",
    "must",
    "listen",
    "to",
    "what",
    "they",
    "say",
    "about",
    "schools",
    "roads",
    "taxes",
    "and",
    "the",
    "future",
    "of",
    "our",
    "kids",
    "idiot",
    "great",
    "love",
    "hate",
    "jews",
    "muslims",
    "israel",
    "virus",
    "kill",
    "eliminate",
    "vermin",
    "government",
    "policy",
    "news",
    "report",
    "said",
    "according",
]


def corpus(n: int) -> list[str]:
    texts: list[str] = []
    if DATA.exists():
        csv.field_size_limit(10_000_000)
        with DATA.open(newline="", encoding="utf-8") as fh:
            texts = [row["text"] for row in csv.DictReader(fh)]
    rng = random.Random(7)
    while len(texts) < n:
        texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 60))))
    return (texts * (n // len(texts) + 1))[:n]


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else values[0]


def run(evaluator: Evaluator, texts: list[str], policies: list[str] | None, batch: int) -> tuple[float, list[float]]:
    async def go() -> tuple[float, list[float]]:
        lat: list[float] = []
        await evaluator.evaluate_many([EvalItem(t) for t in texts[:200]], policies)  # warm-up
        start = time.perf_counter()
        if batch == 1:
            for t in texts:
                t0 = time.perf_counter()
                await evaluator.evaluate(t, policies)
                lat.append((time.perf_counter() - t0) * 1000)
        else:
            for i in range(0, len(texts), batch):
                t0 = time.perf_counter()
                chunk = texts[i : i + batch]
                await evaluator.evaluate_many([EvalItem(t) for t in chunk], policies)
                lat.extend([(time.perf_counter() - t0) * 1000 / len(chunk)] * len(chunk))
        return len(texts) / (time.perf_counter() - start), lat

    return asyncio.run(go())


def lexicon_policy(n_terms: int) -> Evaluator:
    rng = random.Random(n_terms)
    letters = "abcdefghijklmnopqrstuvwxyz"
    terms = {"vermin", "jews", "muslims"}
    while len(terms) < n_terms:
        terms.add("".join(rng.choice(letters) for _ in range(rng.randint(5, 10))))
    listed = ", ".join(sorted(terms))
    yaml = (
        f'id: lex{n_terms}\nversion: "1"\ntitle: lexicon size\nsource: {{text: bench}}\n'
        f"signals:\n  words: {{kind: lexicon, inflect: true, terms: [{listed}]}}\n"
        "  groups: {kind: lexicon, terms: [jews, muslims]}\n"
        "  near: {kind: proximity, anchor: words, target: groups, window: 4}\n"
        "clauses:\n  - {id: c, title: c, when: near}\n"
    )
    compiled = compile_policy(parse_policy(yaml, f"lex{n_terms}.yaml"), None, max_lexicon_terms=1_000_000)
    return Evaluator(PolicyRegistry.from_policies({compiled.id: compiled}), None)


def main() -> None:
    parser = argparse.ArgumentParser(description="rules-only in-process speed")
    parser.add_argument("--posts", type=int, default=5000)
    args = parser.parse_args()
    texts = corpus(args.posts)
    runtime = build_runtime(Settings(models=""), load_models=False)
    ev = runtime.evaluator
    mean_len = statistics.mean(len(t) for t in texts)
    print(f"{len(texts)} posts, mean {mean_len:.0f} chars, one process (one core)\n")
    print("| run | posts/s | p50 ms | p95 ms | p99 ms |")
    print("|---|--:|--:|--:|--:|")
    for label, policies, batch in [
        ("hateful_conduct, one post at a time", ["hateful_conduct"], 1),
        ("hateful_conduct, batches of 64", ["hateful_conduct"], 64),
        ("both default policies (rules only), one at a time", ["hateful_conduct", "abusive_behavior"], 1),
    ]:
        rate, lat = run(ev, texts, policies, batch)
        print(f"| {label} | {rate:,.0f} | {pct(lat, 50):.3f} | {pct(lat, 95):.3f} | {pct(lat, 99):.3f} |")

    print("\n| lexicon size | posts/s | ratio to 100 terms |")
    print("|---|--:|--:|")
    base = None
    for size in (100, 10_000):
        rate, _ = run(lexicon_policy(size), texts, None, 1)
        base = base or rate
        print(f"| {size:,} terms (inflected) | {rate:,.0f} | {base / rate:.2f}x |")


if __name__ == "__main__":
    main()
