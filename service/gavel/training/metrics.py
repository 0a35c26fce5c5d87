"""Dev-split figures per source set: hate accuracy and macro-F1, kind-of-hate accuracy, target and
token-evidence F1. The threshold is fixed in the config (never tuned on dev)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gavel.training.data import Example

if TYPE_CHECKING:
    from gavel.training.model import ModelConfig, Top
    from gavel.training.train import Encoded


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def binary_figures(gold: Sequence[bool], pred: Sequence[bool]) -> dict[str, float]:
    """Accuracy, macro-F1 over the classes present, and the rates a moderator cares about."""
    tp = sum(g and p for g, p in zip(gold, pred, strict=True))
    tn = sum(not g and not p for g, p in zip(gold, pred, strict=True))
    fp = sum(not g and p for g, p in zip(gold, pred, strict=True))
    fn = sum(g and not p for g, p in zip(gold, pred, strict=True))
    n = len(gold)
    present = [c for c in (True, False) if c in gold]
    per_class = {True: f1(tp, fp, fn), False: f1(tn, fn, fp)}
    out = {
        "n": float(n),
        "accuracy": round((tp + tn) / n, 4) if n else 0.0,
        "macro_f1": round(sum(per_class[c] for c in present) / len(present), 4) if present else 0.0,
    }
    if any(gold):
        out["recall_hate"] = round(tp / (tp + fn), 4)
    if not all(gold):
        out["false_positive_rate"] = round(fp / (fp + tn), 4)
    return out


def evaluate(
    top: Top, cfg: ModelConfig, dev: Sequence[Example], cached: Sequence[Encoded], device: str
) -> dict[str, Any]:
    from gavel.training.train import predict_cached

    preds = predict_cached(top, cfg, dev, cached, device)
    per_set: dict[str, Any] = {}
    by_set: dict[str, list[int]] = {}
    for i, e in enumerate(dev):
        if e.hate is not None:
            by_set.setdefault(e.set, []).append(i)
    every_gold: list[bool] = []
    every_pred: list[bool] = []
    for name in sorted(by_set):
        gold = [bool(dev[i].hate) for i in by_set[name]]
        pred = [float(preds[i]["hate"]) >= cfg.threshold for i in by_set[name]]
        per_set[name] = binary_figures(gold, pred)
        every_gold += gold
        every_pred += pred
    out: dict[str, Any] = {"hate": per_set, "hate_all": binary_figures(every_gold, every_pred)}

    typed = [i for i, e in enumerate(dev) if e.type >= 0]
    if typed:
        right = sum(int(preds[i]["type"].argmax()) == dev[i].type for i in typed)
        out["type_accuracy"] = {"n": len(typed), "accuracy": round(right / len(typed), 4)}

    tp = fp = fn = 0
    targeted = [i for i, e in enumerate(dev) if e.targets is not None]
    for i in targeted:
        got = {cfg.targets[k] for k, p in enumerate(preds[i]["target"].tolist()) if p >= 0.5}
        want = set(dev[i].targets or ())
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    if targeted:
        out["target_micro_f1"] = {"n": len(targeted), "f1": round(f1(tp, fp, fn), 4)}

    tokens: dict[str, list[int]] = {}
    for i, e in enumerate(dev):
        lab = cached[i].token_labels
        if lab is None:
            continue
        counts = tokens.setdefault(e.set, [0, 0, 0])
        p = preds[i]["token"] >= 0.5
        g = lab == 1
        real = lab >= 0
        counts[0] += int((p & g & real).sum())
        counts[1] += int((p & ~g & real).sum())
        counts[2] += int((~p & g & real).sum())
    out["token_f1"] = {name: round(f1(*c), 4) for name, c in sorted(tokens.items())}
    return out
