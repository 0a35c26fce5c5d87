"""The labelled sets mapped, on purpose, onto the model's heads.

Every source means something different by its labels (see the data README), so each row becomes an
`Example` whose heads are set only where the source actually says something about them; every other
head is masked (``None`` / -1) and contributes no loss:

- ``hate`` (is this hate speech): DynaHate hate/nothate, HateXplain hatespeech vs normal/offensive,
  ToxiGen hate/nothate, Davidson hate vs neither/offensive, OLID ``NOT`` only (``OFF`` is not hate and
  is not evidence of its absence either, so it is masked here). "Offensive" rows are not hate, but
  they sit close to it and are down-weighted, and Davidson (lexicon-sampled, noisy, dialect-biased
  labels) is down-weighted as a whole.
- ``offensive`` (an auxiliary head, so that profanity has somewhere to go other than ``hate``):
  HateXplain, Davidson, OLID and the toxic-spans comments.
- ``type`` (kind of hate): DynaHate's ``type`` for hate rows; masked where ``none``/``notgiven``.
- ``target`` (protected categories, multi-label): DynaHate ``target`` codes, HateXplain val
  ``targets``, ToxiGen ``target_group``; masked where the source does not say.
- ``spans`` (token evidence): HateXplain val rationales and toxic-spans character offsets.
"""

from __future__ import annotations

import ast
import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

from gavel.training import splits

TYPES: tuple[str, ...] = ("animosity", "derogation", "dehumanization", "threatening", "support")
TARGETS: tuple[str, ...] = (
    "race",
    "ethnicity",
    "national_origin",
    "religious_affiliation",
    "sexual_orientation",
    "gender",
    "gender_identity",
    "disability",
    "age",
)

# DynaHate's shorthand target codes (the authors' codebook) -> Gavel's protected categories.
# Codes with no protected category (nazis, hitler, wc = working class, pol = politicians...) map to
# nothing: the row still trains the hate head but says nothing about the category.
_DYNAHATE_TARGET: dict[str, tuple[str, ...]] = {
    "bla": ("race",),
    "bla.wom": ("race", "gender"),
    "bla.man": ("race", "gender"),
    "african": ("race",),
    "non.white": ("race",),
    "mixed.race": ("race",),
    "wom": ("gender",),
    "asi.wom": ("race", "gender"),
    "mus.wom": ("religious_affiliation", "gender"),
    "indig.wom": ("ethnicity", "gender"),
    "asi.man": ("race", "gender"),
    "mus": ("religious_affiliation",),
    "jew": ("religious_affiliation",),
    "other.religion": ("religious_affiliation",),
    "trans": ("gender_identity",),
    "gendermin": ("gender_identity",),
    "gay": ("sexual_orientation",),
    "gay.man": ("sexual_orientation",),
    "gay.wom": ("sexual_orientation",),
    "bis": ("sexual_orientation",),
    "lgbtq": ("sexual_orientation", "gender_identity"),
    "immig": ("national_origin",),
    "ref": ("national_origin",),
    "asylum": ("national_origin",),
    "for": ("national_origin",),
    "other.national": ("national_origin",),
    "eastern.europe": ("national_origin",),
    "russian": ("national_origin",),
    "asi.pak": ("national_origin",),
    "hispanic": ("ethnicity",),
    "arab": ("ethnicity",),
    "trav": ("ethnicity",),
    "indig": ("ethnicity",),
    "ethnic.minority": ("ethnicity",),
    "asi": ("race",),
    "asi.east": ("race",),
    "asi.south": ("race",),
    "asi.chin": ("race",),
    "dis": ("disability",),
    "old.people": ("age",),
}
_HATEXPLAIN_TARGET: dict[str, tuple[str, ...]] = {
    "African": ("race",),
    "Caucasian": ("race",),
    "Asian": ("race",),
    "Islam": ("religious_affiliation",),
    "Jewish": ("religious_affiliation",),
    "Christian": ("religious_affiliation",),
    "Homosexual": ("sexual_orientation",),
    "Women": ("gender",),
    "Men": ("gender",),
    "Refugee": ("national_origin",),
    "Arab": ("ethnicity",),
    "Hispanic": ("ethnicity",),
    "Disability": ("disability",),
}
_TOXIGEN_TARGET: dict[str, tuple[str, ...]] = {
    "lgbtq": ("sexual_orientation",),
    "trans": ("gender_identity",),
    "bisexual": ("sexual_orientation",),
    "middle_east": ("ethnicity",),
    "physical_disability": ("disability",),
    "mental_disability": ("disability",),
    "immigrant": ("national_origin",),
    "women": ("gender",),
    "muslim": ("religious_affiliation",),
    "mexican": ("national_origin",),
    "black": ("race",),
    "chinese": ("race",),
    "asian": ("race",),
    "jewish": ("religious_affiliation",),
    "native_american": ("ethnicity",),
    "latino": ("ethnicity",),
}

TOXIC_SPANS_FILES = ("toxic_spans/tsd_train.csv", "toxic_spans/tsd_trial.csv")

# how much each source's hate label counts (Davidson: lexicon-sampled, noisy, dialect-biased)
HATE_WEIGHT = {"davidson": 0.5}
# DynaHate's and ToxiGen's not-hate rows name the same groups as their hate rows (contrast pairs,
# neutral statements): they teach that a group mentioned is not hate, so they count a bit more
CONTRAST_NOT_HATE_WEIGHT = 1.5
OFFENSIVE_AS_NOT_HATE_WEIGHT = 0.5  # "offensive" rows are not hate, but near it: a softer push


@dataclass
class Example:
    set: str
    text: str
    hate: float | None = None
    hate_weight: float = 1.0
    offensive: float | None = None
    type: int = -1  # index into TYPES, -1 = masked
    targets: tuple[str, ...] | None = None  # None = masked; () = "no protected category"
    spans: list[tuple[int, int]] | None = None  # character offsets of evidence; None = masked


def _codes(raw: str, table: dict[str, tuple[str, ...]], sep: str) -> tuple[str, ...] | None:
    found: list[str] = []
    known = False
    for code in raw.split(sep):
        code = code.strip()
        if code in table:
            known = True
            found.extend(c for c in table[code] if c not in found)
        elif code and code not in ("none", "notgiven", "notargetrecorded", "Other", "Caucasian"):
            known = True  # a named target that is no protected category (nazis, politicians, ...)
    return tuple(found) if known else None


def to_example(row: splits.Row) -> Example | None:
    """One source row -> the heads it says something about (None = row not used at all)."""
    s, label, x = row.set, row.label, row.extra
    if s.startswith("dynahate"):
        ex = Example(s, row.text, hate=1.0 if label == "hate" else 0.0)
        if label != "hate":
            ex.hate_weight = CONTRAST_NOT_HATE_WEIGHT
        kind = x.get("type", "").strip().lower()
        if label == "hate" and kind in TYPES:
            ex.type = TYPES.index(kind)
        if label == "hate":
            ex.targets = _codes(x.get("target", ""), _DYNAHATE_TARGET, ",")
        return ex
    if s.startswith("hatexplain"):
        hate = label == "hatespeech"
        ex = Example(s, row.text, hate=1.0 if hate else 0.0, offensive=0.0 if label == "normal" else 1.0)
        if label == "offensive":
            ex.hate_weight = OFFENSIVE_AS_NOT_HATE_WEIGHT
        if s == "hatexplain_val":
            if hate:
                ex.targets = _codes(x.get("targets", ""), _HATEXPLAIN_TARGET, "|")
            if int(x.get("n_rationale_annotators") or 0) > 0 or label == "normal":
                ex.spans = [(int(a), int(b)) for a, b in json.loads(x.get("rationale_spans") or "[]")]
        return ex
    if s == "toxigen":
        hate = label == "hate"
        ex = Example(s, row.text, hate=1.0 if hate else 0.0, hate_weight=1.0 if hate else CONTRAST_NOT_HATE_WEIGHT)
        if hate:
            ex.targets = _codes(x.get("target_group", ""), _TOXIGEN_TARGET, "|")
        return ex
    if s == "davidson":
        w = HATE_WEIGHT["davidson"]
        if label == "offensive":
            w *= OFFENSIVE_AS_NOT_HATE_WEIGHT
        return Example(
            s,
            row.text,
            hate=1.0 if label == "hate" else 0.0,
            hate_weight=w,
            offensive=0.0 if label == "neither" else 1.0,
        )
    if s == "olid":
        if label == "NOT":
            return Example(s, row.text, hate=0.0, offensive=0.0)
        return Example(s, row.text, offensive=1.0)  # OFF says nothing about hate: masked there
    raise ValueError(f"unknown set {s}")


def read_toxic_spans(data_dir: Path) -> list[splits.Row]:
    """The toxic-spans comments as Rows (set ``toxic_spans``), so the same hashed split applies."""
    rows: list[splits.Row] = []
    for rel in TOXIC_SPANS_FILES:
        path = data_dir / rel
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", newline="") as fh:
            for i, rec in enumerate(csv.DictReader(fh)):
                rows.append(
                    splits.Row("toxic_spans", f"{path.stem}_{i}", rec["text"], "toxic", {"spans": rec["spans"]})
                )
    return rows


def spans_from_offsets(raw: str) -> list[tuple[int, int]]:
    """Toxic-spans' list of character indices -> merged [start, end) runs."""
    chars = sorted(set(ast.literal_eval(raw))) if raw.strip() else []
    runs: list[tuple[int, int]] = []
    for c in chars:
        if runs and runs[-1][1] == c:
            runs[-1] = (runs[-1][0], c + 1)
        else:
            runs.append((c, c + 1))
    return runs


def toxic_span_example(row: splits.Row) -> Example:
    return Example(row.set, row.text, offensive=1.0, spans=spans_from_offsets(row.extra["spans"]))


# Big classes that say little about hate are subsampled to keep training inside the CPU budget;
# the hate data itself is never cut. (set, label) -> rows kept at most (train side only).
SUBSAMPLE: dict[tuple[str, str], int] = {
    ("davidson", "offensive"): 2500,
    ("davidson", "neither"): 3000,
    ("olid", "NOT"): 3500,
    ("olid", "OFF"): 1200,
    ("toxic_spans", "toxic"): 3500,
}


@dataclass
class Splits:
    train: list[Example]
    dev: list[Example]


def load(
    data_dir: Path | None = None,
    seed: int = 13,
    subsample: dict[tuple[str, str], int] | None = None,
    holdout_fold: tuple[int, int] | None = None,
) -> Splits:
    """Train and dev examples. Dev is never subsampled (every figure is on all of it) and never
    trained on. `holdout_fold` (k, n): leave the train rows of fold k of n out as well (a
    cross-fitting model; `splits.fold_of`)."""
    data_dir = data_dir or splits.default_data_dir()
    caps = SUBSAMPLE if subsample is None else subsample
    rows = list(splits.iter_sets(data_dir=data_dir)) + read_toxic_spans(data_dir)
    train_rows, dev_rows = splits.split(rows)
    if holdout_fold is not None:
        k, n = holdout_fold
        train_rows = [r for r in train_rows if splits.fold_of(r, n) != k]
    rng = random.Random(seed)
    by_key: dict[tuple[str, str], list[splits.Row]] = {}
    for r in train_rows:
        by_key.setdefault((r.set, r.label), []).append(r)
    kept: list[splits.Row] = []
    for key in sorted(by_key):
        group = by_key[key]
        cap = caps.get(key)
        kept.extend(rng.sample(group, cap) if cap is not None and len(group) > cap else group)
    return Splits(_examples(kept), _examples(dev_rows))


def _examples(rows: list[splits.Row]) -> list[Example]:
    out: list[Example] = []
    for r in rows:
        ex = toxic_span_example(r) if r.set == "toxic_spans" else to_example(r)
        if ex is not None and ex.text.strip():
            out.append(ex)
    return out
