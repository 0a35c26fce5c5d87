"""`python -m gavel.training` (also `gavel train`): train the hate-speech model on the shared sets."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gavel train", description="Train Gavel's hate-speech model (see service/gavel/training/README.md)."
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory holding hate_train/ and toxic_spans/ (default: ../shared/data)",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="model directory to write (delta.safetensors, config.json, metrics.json)",
    )
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when present)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads on CPU")
    p.add_argument("--n-frozen", type=int, default=3, help="base layers run once and cached (int8 on CPU)")
    p.add_argument("--n-top", type=int, default=1, help="base layers after those that are fine-tuned and shipped")
    p.add_argument("--max-len", type=int, default=64, help="word pieces per text")
    p.add_argument("--limit", type=int, default=0, help="use at most this many train and dev rows (a smoke run)")
    p.add_argument("--resume", action="store_true", help="continue from the last epoch checkpoint in --out/work")
    p.add_argument(
        "--holdout-fold",
        metavar="K/N",
        default=None,
        help="also leave out fold K of N of the train rows (cross-fitting: bench/precision.py --fold K/N)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    import random

    import torch

    from gavel.training import data
    from gavel.training.model import ModelConfig
    from gavel.training.train import TrainOptions, train

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    from gavel.training.splits import parse_fold

    try:
        holdout = parse_fold(args.holdout_fold) if args.holdout_fold else None
    except ValueError as exc:
        raise SystemExit(f"--holdout-fold {exc}") from exc
    sets = data.load(args.data_dir, seed=args.seed, holdout_fold=holdout)
    train_rows, dev_rows = sets.train, sets.dev
    if args.limit:
        rng = random.Random(args.seed)
        train_rows = rng.sample(train_rows, min(args.limit, len(train_rows)))
        dev_rows = rng.sample(dev_rows, min(args.limit, len(dev_rows)))
    print(f"{len(train_rows)} train rows, {len(dev_rows)} dev rows, device {device}", flush=True)
    cfg = ModelConfig(n_frozen=args.n_frozen, n_top=args.n_top, max_len=args.max_len)
    opts = TrainOptions(
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        device=device,
        threads=args.threads,
        resume=args.resume,
    )
    metrics = train(train_rows, dev_rows, args.out, cfg, opts)
    json.dump(metrics, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
