"""Rules-only evaluation speed in-process: posts/s and per-post latency percentiles over a mixed
corpus with the default policies (no models), and the cost of a 10,000-term lexicon against a
100-term one measured in the same run.

    python bench/rules.py [--posts 5000] [--seconds 3]

The corpus mixes SemEval toxic-spans trial posts (read in place from ../shared/data when present,
never copied), generated posts that hit the default policies, news-like sentences and long posts.
Targets (ISSUE): 5,000 posts/s per core; 10k-term lexicon at most 1.3x the 100-term one.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.engine.evaluator import EvalItem, Evaluator  # noqa: E402
from service.runtime import build_runtime  # noqa: E402
from service.settings import Settings  # noqa: E402

TRIAL_CSV = ROOT.parent / "shared" / "data" / "toxic_spans" / "tsd_trial.csv"

HITS = [
    "Jews are vermin and should be eliminated",
    "Muslims are a cancer on this country",
    "the final solution is the only answer for them",
    "k.i.l.l all the immigrants, every one of them",
    "Israel is a virus that must be eliminated.",
    "you are a worthless idiot, shut up",
    "gays should all be rounded up and shot",
]
BENIGN = [
    "Lovely weather in Lisbon today, off to the beach with the kids",
    "The council meeting about the new bike lanes is on Thursday at 7pm",
    "Reuters reported that the letter asked Twitter to remove the account.",
    "I disagree with the new policy but respect the outcome of the vote",
    "Thanks for sharing, this recipe turned out great with a bit more garlic",
    "Nobody should be killed for their faith; that is the whole point.",
]


def trial_posts() -> list[str]:
    if not TRIAL_CSV.is_file():
        return []
    with TRIAL_CSV.open(newline="", encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh) if row.get("text")]


def mixed_corpus(n: int, seed: int = 7) -> tuple[list[str], str]:
    rng = random.Random(seed)
    trial = trial_posts()
    out: list[str] = []
    for i in range(n):
        pick = rng.random()
        if trial and pick < 0.5:
            out.append(trial[rng.randrange(len(trial))])
        elif pick < 0.7:
            out.append(f"{rng.choice(HITS)} #{i}")
        elif pick < 0.97:
            out.append(f"{rng.choice(BENIGN)} #{i}")
        else:  # a long post: a few paragraphs of mixed sentences (~2 KB)
            out.append(" ".join(rng.choice(BENIGN + HITS) for _ in range(30)))
    source = f"{len(trial)} SemEval trial posts (50%) + generated" if trial else "generated only"
    return out, source


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _per_post(evaluator: Evaluator, texts: Sequence[str]) -> list[float]:
    lat: list[float] = []
    for t in texts:
        t0 = time.perf_counter()
        await evaluator.evaluate(t)
        lat.append((time.perf_counter() - t0) * 1000)
    return lat


async def _batched(evaluator: Evaluator, texts: Sequence[str], batch: int, seconds: float) -> float:
    items = [EvalItem(t, str(i)) for i, t in enumerate(texts)]
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for i in range(0, len(items), batch):
            await evaluator.evaluate_many(items[i : i + batch])
            done += len(items[i : i + batch])
    return done / (time.perf_counter() - start)


def _words(n: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    seen: set[str] = set()
    while len(seen) < n:
        seen.add("".join(rng.choice(letters) for _ in range(rng.randint(5, 11))))
    return sorted(seen)


def lexicon_policy(terms: int) -> str:
    """A policy with one large lexicon (plus the terms the corpus hits) and a proximity clause."""
    words = _words(terms, random.Random(terms)) + ["vermin", "cancer", "virus", "idiot"]
    listed = ", ".join(words)
    return f"""id: lex{terms}
version: "1"
title: Lexicon {terms}
source: {{text: "bench"}}
signals:
  big: {{kind: lexicon, terms: [{listed}]}}
  groups: {{kind: lexicon, terms: [jews, muslims, immigrants, gays]}}
  near: {{kind: proximity, anchor: big, target: groups, window: 6}}
clauses:
  - {{id: any_term, title: Any term, when: big}}
  - {{id: near_group, title: Near a group, when: near}}
"""


def lexicon_runtime(terms: int, tmp: Path) -> Evaluator:
    pdir = tmp / f"lex{terms}"
    pdir.mkdir()
    (pdir / "lex.yaml").write_text(lexicon_policy(terms), encoding="utf-8")
    return build_runtime(Settings(policy_dir=pdir, models=""), load_models=False).evaluator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=3.0, help="time per throughput measurement")
    ap.add_argument("--batch", type=int, default=64, help="posts per evaluate_many call")
    args = ap.parse_args()

    texts, source = mixed_corpus(args.posts)
    chars = statistics.mean(len(t) for t in texts)
    default = build_runtime(Settings(policy_dir=ROOT / "policies", models=""), load_models=False).evaluator
    policies = ", ".join(sorted(default.registry.current.policies))
    print(f"corpus: {len(texts)} posts, mean {chars:.0f} chars ({source}); policies: {policies}")
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; one process, one core\n")

    async def run() -> None:
        await _per_post(default, texts[:200])  # warm-up
        lat = await _per_post(default, texts)
        single = len(lat) / (sum(lat) / 1000)
        batched = await _batched(default, texts, args.batch, args.seconds)
        print("| run | posts/s | p50 ms | p95 ms | p99 ms | max ms |")
        print("|---|--:|--:|--:|--:|--:|")
        print(
            f"| default policies, one post per call | {single:,.0f} | {pct(lat, 0.5):.3f} | "
            f"{pct(lat, 0.95):.3f} | {pct(lat, 0.99):.3f} | {max(lat):.3f} |"
        )
        print(f"| default policies, evaluate_many({args.batch}) | {batched:,.0f} | - | - | - | - |")

        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            small = lexicon_runtime(100, Path(tmp))
            t1 = time.perf_counter()
            big = lexicon_runtime(10_000, Path(tmp))
            t2 = time.perf_counter()
            rates: dict[str, float] = {}
            # interleave the two so drift on a shared machine hits both alike
            for _ in range(2):
                for name, ev in (("100", small), ("10000", big)):
                    rate = await _batched(ev, texts, args.batch, args.seconds / 2)
                    rates[name] = max(rates.get(name, 0.0), rate)
        ratio = rates["100"] / rates["10000"]
        print()
        print("| lexicon | compile s | posts/s | cost vs 100 terms |")
        print("|---|--:|--:|--:|")
        print(f"| 100 terms | {t1 - t0:.3f} | {rates['100']:,.0f} | 1.00x |")
        print(f"| 10,000 terms | {t2 - t1:.3f} | {rates['10000']:,.0f} | {ratio:.2f}x |")
        verdict = "meets" if ratio <= 1.3 else "misses"
        print(f"\n10k-term lexicon costs {ratio:.2f}x the 100-term one: {verdict} the 1.3x target")

    asyncio.run(run())


if __name__ == "__main__":
    main()
