"""The shared hate-speech sets and the one held-out dev split that training and every bench use.

A row is dev when the hash of its group falls under ``DEV_FRACTION``. Hashing the group (not the
row) keeps DynaHate's original/perturbation pairs on the same side: they often differ by one word
and carry opposite labels, so splitting a pair would leak the answer into training. Because the
hash is independent of the label, every (set, label) stratum contributes about the same fraction
to dev; `split_counts` reports the exact numbers.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

DEV_FRACTION = 0.15
SEED = "gavel-dev-v1"  # changing it moves rows between train and dev: never do it between figures

# set name -> file under the data directory (the README in that directory gives sources and licences)
SETS: dict[str, str] = {
    "dynahate_dev": "hate_train/dynahate/dev.csv",
    "dynahate_test": "hate_train/dynahate/test.csv",
    "hatexplain_train": "hate_train/hatexplain/train.csv",
    "hatexplain_val": "hate_train/hatexplain/val.csv",
    "toxigen": "hate_train/toxigen_prompts/prompt_sentences.csv",
    "olid": "hate_train/olid/train.csv",
    "davidson": "hate_train/davidson/labeled_data.csv",
}


def default_data_dir() -> Path:
    """`../shared/data` beside the checkout (where the team keeps the data), else ./data."""
    here = Path(__file__).resolve().parents[3]
    for candidate in (here.parent / "shared" / "data", Path.cwd() / "data"):
        if candidate.is_dir():
            return candidate
    return here.parent / "shared" / "data"


@dataclass(frozen=True)
class Row:
    set: str
    id: str
    text: str
    label: str  # the set's own label, unmapped
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


_CORE = ("id", "text", "label")


def read_set(name: str, data_dir: Path | None = None) -> list[Row]:
    path = (data_dir or default_data_dir()) / SETS[name]
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            Row(name, rec["id"], rec["text"], rec["label"], {k: v for k, v in rec.items() if k not in _CORE})
            for rec in csv.DictReader(fh)
        ]


def group_key(row: Row) -> str:
    """Rows that must stay on one side of the split share a key (DynaHate pairs)."""
    partner = row.extra.get("matched_id", "")
    if partner and partner != row.id:
        # both members of a pair name each other: the smaller id names the pair
        return f"{row.set}/{min(row.id, partner)}"
    return f"{row.set}/{row.id}"


def _group_hash(seed: str, row: Row) -> int:
    """64 bits from the row's group and a seed: every member of a group lands alike."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{group_key(row)}".encode()).digest()[:8], "big")


def is_dev(row: Row) -> bool:
    return _group_hash(SEED, row) / 2**64 < DEV_FRACTION


FOLD_SEED = "gavel-fold-v1"  # folds of the train side, for cross-fitting (never touches dev)


def fold_of(row: Row, folds: int) -> int:
    """The cross-fitting fold (0 .. folds-1) of a train row, by the hash of its group: a model
    trained without fold k scores fold k's rows as unseen text, so rules that depend on the
    model can be tuned on train rows without the optimism of a model that learned them."""
    return _group_hash(FOLD_SEED, row) % folds


def parse_fold(text: str) -> tuple[int, int]:
    """Fold K of N from "K/N" (0 <= K < N), as given to `gavel train --holdout-fold` and
    `bench/precision.py --fold`; ValueError otherwise."""
    k, sep, n = text.partition("/")
    try:
        fold = (int(k), int(n))
    except ValueError:
        fold = (-1, 0)
    if not sep or not 0 <= fold[0] < fold[1]:
        raise ValueError(f"{text!r}: want K/N with 0 <= K < N")
    return fold


def split(rows: Iterable[Row]) -> tuple[list[Row], list[Row]]:
    """(train, dev)."""
    train: list[Row] = []
    dev: list[Row] = []
    for row in rows:
        (dev if is_dev(row) else train).append(row)
    return train, dev


def iter_sets(names: Iterable[str] | None = None, data_dir: Path | None = None) -> Iterator[Row]:
    for name in names or SETS:
        yield from read_set(name, data_dir)


def split_counts(rows: Iterable[Row]) -> dict[tuple[str, str], tuple[int, int]]:
    """(set, label) -> (train rows, dev rows)."""
    train: Counter[tuple[str, str]] = Counter()
    dev: Counter[tuple[str, str]] = Counter()
    for row in rows:
        (dev if is_dev(row) else train)[(row.set, row.label)] += 1
    return {key: (train[key], dev[key]) for key in sorted(set(train) | set(dev))}
