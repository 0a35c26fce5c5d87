"""The hate model's dev macro-F1 per set, on the runtime path (`HateBackend.score_batch`), so that
a change to the served forward (int8 top layer, threads, ...) can be checked against the figures
before it (issue 10, item 6):

    PYTHONPATH=$PWD/service python bench/hate_dev.py [--save before.json] [--compare before.json]

Dev rows come from `gavel.training.splits.split` (never trained on); labels are mapped as for
training (`gavel.training.data.to_example`); rows whose hate label is masked (OLID's OFF) are
left out. A post is predicted hateful when its probability is >= 0.5. `--save` keeps each row's
probabilities, `--compare` reports how far the served ones moved from a saved run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "service"))

LABELS = ("hate", "hate_debiased")


def macro_f1(gold: list[bool], pred: list[bool]) -> float:
    """Mean of the F1 of the hateful class and of the not-hateful class."""
    f1s = []
    for cls in (True, False):
        tp = sum(g == cls and p == cls for g, p in zip(gold, pred, strict=True))
        fp = sum(g != cls and p == cls for g, p in zip(gold, pred, strict=True))
        fn = sum(g == cls and p != cls for g, p in zip(gold, pred, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / 2


def main() -> None:
    from gavel.models.hate_backend import HateBackend
    from gavel.settings import Settings
    from gavel.training import data, splits

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--save", type=Path, help="write each dev row's probabilities here (JSON)")
    p.add_argument("--compare", type=Path, help="a file written by --save: report how far probabilities moved")
    args = p.parse_args()

    _, dev_rows = splits.split(splits.iter_sets())
    mapped = map(data.to_example, dev_rows)
    examples = [ex for ex in mapped if ex is not None and ex.hate is not None and ex.text.strip()]
    settings = Settings()
    backend = HateBackend(settings.hate_model_dir, settings.hate_device)
    texts = [ex.text for ex in examples]
    t0 = time.perf_counter()
    probs: dict[str, list[float]] = {label: [] for label in LABELS}
    for i in range(0, len(texts), args.batch):
        for row in backend.score_batch(texts[i : i + args.batch]):
            for label in LABELS:
                probs[label].append(row[label])
    took = time.perf_counter() - t0
    print(f"{len(texts)} dev rows scored in {took:.1f} s ({len(texts) / took:.0f} posts/s, batch {args.batch})")

    sets = sorted({ex.set for ex in examples})
    print(f"{'set':18} {'rows':>6} " + " ".join(f"{'F1 ' + label:>17}" for label in LABELS))
    for name in [*sets, "overall"]:
        idx = [k for k, ex in enumerate(examples) if name in ("overall", ex.set)]
        gold = [examples[k].hate == 1.0 for k in idx]
        cells = [macro_f1(gold, [probs[label][k] >= 0.5 for k in idx]) for label in LABELS]
        print(f"{name:18} {len(idx):6d} " + " ".join(f"{c:17.4f}" for c in cells))

    if args.save:
        args.save.write_text(json.dumps(probs), encoding="utf-8")
    if args.compare:
        before = json.loads(args.compare.read_text(encoding="utf-8"))
        for label in LABELS:
            diffs = [abs(a - b) for a, b in zip(before[label], probs[label], strict=True)]
            flips = sum((a >= 0.5) != (b >= 0.5) for a, b in zip(before[label], probs[label], strict=True))
            print(
                f"{label}: |dp| mean {sum(diffs) / len(diffs):.4f}, max {max(diffs):.4f}; "
                f"{flips} of {len(diffs)} rows changed side of 0.5"
            )


if __name__ == "__main__":
    main()
