"""Precision of `hateful_conduct` on ordinary posts, next to its recall on hateful ones.

    python bench/precision.py                       # this checkout's policy, dev rows, no models
    python bench/precision.py --baseline main       # adds a "before" column: main's policy file
    python bench/precision.py --models profanity,minilm
    python bench/precision.py --split train --show 40   # train-split mistakes, for tuning
    GAVEL_HATE_MODEL_DIR=/tmp/cf0 python bench/precision.py --models hate --split train --fold 0/2 --show 40
        # cross-fitted: the model of `gavel train --out /tmp/cf0 --holdout-fold 0/2` never saw these rows

Benign rows: OLID `NOT` and Davidson `neither` (ordinary posts: the issue's targets), and
HateXplain `normal`, DynaHate `nothate` and ToxiGen `nothate` (posts about groups that are not
hateful: neutral mentions, counter-speech, contrasts); for them the table gives the share answered
`violates` (some clause) and the share whose decision is `remove`. Hateful rows: Davidson `hate`,
DynaHate `hate`, HateXplain `hatespeech`, ToxiGen `hate`; for them the share `violates` and the
share `remove` or `review` (what a human would at least see). Figures are on the dev split of
`gavel.training.splits` only; `--show` lists mistakes and is refused on dev, so that the rules
are tuned on train rows and the dev figures stay held out.

Dev rows read so far, each once and on purpose after a final held-out measurement (figures on them
are no longer held out): OLID ids 55101, 36552 and 75039, the `NOT` rows that the policy of commit
c42d9f0 answered `violates` (issue 14, fourth round; the README says what they were).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "service"))  # after PYTHONPATH: another checkout's engine can be measured

from gavel.engine.evaluator import EvalItem  # noqa: E402
from gavel.engine.results import EvaluationResult  # noqa: E402
from gavel.runtime import build_runtime  # noqa: E402
from gavel.settings import Settings  # noqa: E402
from gavel.training.splits import Row, fold_of, iter_sets, parse_fold, split  # noqa: E402

POLICY = "hateful_conduct"
# (row label, the sets that carry it) -> one table row
BENIGN: dict[str, tuple[tuple[str, ...], str]] = {
    "OLID NOT": (("olid",), "NOT"),
    "Davidson neither": (("davidson",), "neither"),
    # labelled not hateful by their authors, and written around groups: neutral and positive
    # mentions, counter-speech, quotation, and (DynaHate) contrasts built to fool a model
    "HateXplain normal": (("hatexplain_train", "hatexplain_val"), "normal"),
    "DynaHate nothate": (("dynahate_dev", "dynahate_test"), "nothate"),
    "ToxiGen nothate": (("toxigen",), "nothate"),
}
HATEFUL: dict[str, tuple[tuple[str, ...], str]] = {
    "Davidson hate": (("davidson",), "hate"),
    "DynaHate hate": (("dynahate_dev", "dynahate_test"), "hate"),
    "HateXplain hatespeech": (("hatexplain_train", "hatexplain_val"), "hatespeech"),
    "ToxiGen hate": (("toxigen",), "hate"),
}


@dataclass
class Outcome:
    row: Row
    violates: bool
    action: str  # remove | review | allow
    clauses: list[str]


def rows_by_group(which: str, fold: tuple[int, int] | None = None) -> dict[str, list[Row]]:
    sets = sorted({s for sets, _ in (*BENIGN.values(), *HATEFUL.values()) for s in sets})
    data = ROOT.parent / "shared" / "data"  # beside this checkout, whichever engine is imported
    train, dev = split(iter_sets(sets, data if data.is_dir() else None))
    chosen = dev if which == "dev" else train
    if fold is not None:
        chosen = [r for r in chosen if fold_of(r, fold[1]) == fold[0]]
    out: dict[str, list[Row]] = {}
    for name, (names, label) in (*BENIGN.items(), *HATEFUL.items()):
        out[name] = [r for r in chosen if r.set in names and r.label == label]
    return out


def evaluate(policy_dir: Path, models: str, groups: dict[str, list[Row]]) -> dict[str, list[Outcome]]:
    runtime = build_runtime(Settings(models=models, policy_dir=policy_dir))
    evaluator = runtime.evaluator

    async def run(rows: Sequence[Row]) -> list[EvaluationResult]:
        results: list[EvaluationResult] = []
        for i in range(0, len(rows), 64):
            chunk = rows[i : i + 64]
            results += await evaluator.evaluate_many([EvalItem(r.text[:10_000]) for r in chunk], [POLICY])
        return results

    out: dict[str, list[Outcome]] = {}
    for name, rows in groups.items():
        results = asyncio.run(run(rows))
        out[name] = [
            Outcome(
                row,
                any(c.verdict == "violates" for c in res.policies[0].clauses),
                res.decision.action,
                [f"{c.clause_id}:{c.verdict}" for c in res.policies[0].clauses if c.verdict != "no_violation"],
            )
            for row, res in zip(rows, results, strict=True)
        ]
    return out


def share(outcomes: list[Outcome], hateful: bool) -> tuple[float, float]:
    n = max(len(outcomes), 1)
    violates = sum(o.violates for o in outcomes) / n
    if hateful:
        flagged = sum(o.action in ("remove", "review") for o in outcomes) / n
    else:
        flagged = sum(o.action == "remove" for o in outcomes) / n
    return violates, flagged


def baseline_dir(ref: str, tmp: Path) -> Path:
    """The policies of `ref` (git), this checkout's engine: what the rules alone changed."""
    for name in ("hateful_conduct.yaml",):
        text = subprocess.run(
            ["git", "show", f"{ref}:policies/{name}"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        (tmp / name).write_text(text, encoding="utf-8")
    return tmp


def print_table(
    runs: list[tuple[str, dict[str, list[Outcome]]]],
    groups: dict[str, list[Row]],
    names: Iterable[str],
    hateful: bool,
) -> None:
    """One markdown table: per row group, the two shares of `share` for every run side by side."""
    second, fmt, suffix = ("remove or review", "{:.1%}", "") if hateful else ("remove", "{:.2%}", " (benign)")
    print("| rows | n | " + " | ".join(f"{a} ({label})" for label, _ in runs for a in ("violates", second)) + " |")
    print("|---|--:|" + "--:|" * (2 * len(runs)))
    for name in names:
        cells = [f"{fmt.format(v)} | {fmt.format(f)}" for _, res in runs for v, f in [share(res[name], hateful)]]
        print(f"| {name}{suffix} | {len(groups[name])} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy-dir", type=Path, default=ROOT / "policies")
    parser.add_argument("--baseline", metavar="GIT_REF", help="also run the hateful_conduct.yaml of this ref")
    parser.add_argument("--models", default="", help="GAVEL_MODELS for the run (default: rules only)")
    parser.add_argument("--split", choices=("dev", "train"), default="dev")
    parser.add_argument("--show", type=int, default=0, help="list this many mistakes per group (train only)")
    parser.add_argument(
        "--fold",
        metavar="K/N",
        help="only the train rows of cross-fitting fold K of N; run with GAVEL_HATE_MODEL_DIR set to a model "
        "trained with `gavel train --holdout-fold K/N`, which never saw them",
    )
    args = parser.parse_args()
    if args.show and args.split != "train":
        parser.error("--show lists mistakes for tuning: only on --split train (dev stays held out)")
    fold = None
    if args.fold:
        if args.split != "train":
            parser.error("--fold selects train rows: use it with --split train")
        try:
            fold = parse_fold(args.fold)
        except ValueError as exc:
            parser.error(f"--fold {exc}")

    groups = rows_by_group(args.split, fold)
    runs: list[tuple[str, dict[str, list[Outcome]]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            runs.append((f"{args.baseline}", evaluate(baseline_dir(args.baseline, Path(tmp)), args.models, groups)))
        runs.append(("this checkout", evaluate(args.policy_dir, args.models, groups)))

    models = args.models or "none (rules only)"
    where = f"{args.split} split" + (f", fold {args.fold}" if args.fold else "")
    print(f"{POLICY} on the {where}; models: {models}\n")
    print_table(runs, groups, BENIGN, hateful=False)
    print()
    print_table(runs, groups, HATEFUL, hateful=True)

    if args.show:
        _, last = runs[-1]
        for name in BENIGN:
            print(f"\n## {name}: answered violates")
            for o in [o for o in last[name] if o.violates][: args.show]:
                print(f"- {o.row.id}: {o.row.text[:200]!r} -> {', '.join(o.clauses)}")
        for name in HATEFUL:
            print(f"\n## {name}: missed (allow)")
            for o in [o for o in last[name] if o.action == "allow"][: args.show]:
                print(f"- {o.row.id}: {o.row.text[:200]!r}")


if __name__ == "__main__":
    main()
