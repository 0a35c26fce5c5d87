"""Training: cache the frozen bottom's states once, fine-tune the top and heads for a few epochs,
measure every head on the dev split, write the model directory and metrics.json.

Deterministic (seeded: data order, subsampling, initialisation, dropout), resumable (a checkpoint
after every epoch; ``--resume`` continues from the last one and reuses the cached states), and it
shows progress (tqdm on a terminal, plain lines in a log).
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gavel.training.data import Example
from gavel.training.metrics import evaluate
from gavel.training.model import Bottom, ModelConfig, Top, save_model

log = logging.getLogger("gavel.training")


@dataclass
class TrainOptions:
    epochs: int = 4
    batch_size: int = 32
    lr_layers: float = 8e-5
    lr_heads: float = 1e-3
    seed: int = 13
    device: str = "cpu"
    threads: int = 2
    resume: bool = False
    progress: bool | None = None  # None: tqdm when stderr is a terminal


@dataclass
class Encoded:
    """One text through the frozen bottom: its states (fp16) and its token-evidence labels."""

    hidden: torch.Tensor  # (tokens, 384) fp16
    token_labels: torch.Tensor | None  # (tokens,) 0/1 on word pieces, -1 on special tokens; None = masked


def token_labels(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> torch.Tensor:
    """A word piece is evidence when its characters overlap an evidence span; specials are -1."""
    out = torch.zeros(len(offsets))
    for i, (a, b) in enumerate(offsets):
        if a == b:
            out[i] = -1.0
        elif any(a < e and s < b for s, e in spans):
            out[i] = 1.0
    return out


def encode_all(bottom: Bottom, examples: Sequence[Example], batch: int, progress: bool, what: str) -> list[Encoded]:
    """Run the bottom once over every text (shortest first, so batches pad little)."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].text))
    out: list[Encoded | None] = [None] * len(examples)
    for chunk in _progress(list(_chunks(order, batch)), progress, f"encode {what}"):
        enc = bottom.tokenize([examples[i].text for i in chunk])
        states = bottom.hidden(enc["input_ids"], enc["attention_mask"]).to("cpu", torch.float16)
        for row, i in enumerate(chunk):
            n = int(enc["attention_mask"][row].sum())
            spans = examples[i].spans
            labels = None
            if spans is not None:
                labels = token_labels([tuple(o) for o in enc["offset_mapping"][row][:n].tolist()], spans)
            out[i] = Encoded(states[row, :n].clone(), labels)
    return [e for e in out if e is not None]


def _chunks(seq: Sequence[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(seq), size):
        yield list(seq[i : i + size])


def _progress(items: list[Any], progress: bool, desc: str) -> Iterator[Any]:
    if progress:
        from tqdm import tqdm

        yield from tqdm(items, desc=desc, file=sys.stderr)
        return
    step = max(1, len(items) // 20)
    began = time.perf_counter()
    for k, item in enumerate(items):
        if k % step == 0:
            print(f"{desc}: {k}/{len(items)} batches, {time.perf_counter() - began:.0f}s", flush=True)
        yield item
    print(f"{desc}: {len(items)}/{len(items)} batches, {time.perf_counter() - began:.0f}s", flush=True)


def collate(
    examples: Sequence[Example], cached: Sequence[Encoded], idx: Sequence[int], cfg: ModelConfig
) -> dict[str, torch.Tensor]:
    """Pad one length-bucketed batch; masks say which heads each row trains."""
    n = max(cached[i].hidden.shape[0] for i in idx)
    b = len(idx)
    hidden = torch.zeros(b, n, cached[idx[0]].hidden.shape[1])
    mask = torch.zeros(b, n)
    hate = torch.zeros(b)
    hate_w = torch.zeros(b)
    off = torch.zeros(b)
    off_w = torch.zeros(b)
    typ = torch.full((b,), -1, dtype=torch.long)
    tgt = torch.zeros(b, len(cfg.targets))
    tgt_w = torch.zeros(b)
    tok = torch.zeros(b, n)
    tok_w = torch.zeros(b, n)
    for r, i in enumerate(idx):
        e, c = examples[i], cached[i]
        k = c.hidden.shape[0]
        hidden[r, :k] = c.hidden.float()
        mask[r, :k] = 1.0
        if e.hate is not None:
            hate[r], hate_w[r] = e.hate, e.hate_weight
        if e.offensive is not None:
            off[r], off_w[r] = e.offensive, 1.0
        typ[r] = e.type
        if e.targets is not None:
            tgt_w[r] = 1.0
            for t in e.targets:
                tgt[r, cfg.targets.index(t)] = 1.0
        if c.token_labels is not None:
            lab = c.token_labels
            tok[r, :k] = lab.clamp(min=0.0)
            tok_w[r, :k] = (lab >= 0).float()
    return {
        "hidden": hidden,
        "mask": mask,
        "hate": hate,
        "hate_w": hate_w,
        "off": off,
        "off_w": off_w,
        "type": typ,
        "target": tgt,
        "target_w": tgt_w,
        "tok": tok,
        "tok_w": tok_w,
    }


# how much each head's loss counts next to the hate head's
HEAD_WEIGHTS = {"offensive": 0.3, "type": 0.5, "target": 0.5, "token": 0.5}
TOKEN_POS_WEIGHT = 3.0  # evidence words are rare among a post's word pieces


def type_weights(examples: Sequence[Example], n_types: int) -> torch.Tensor:
    """Inverse-square-root class frequency for the kind-of-hate head: derogation dominates
    DynaHate, and an unweighted head learns to answer it for every post."""
    counts = torch.ones(n_types)
    for e in examples:
        if e.type >= 0:
            counts[e.type] += 1
    w = (counts.sum() / (n_types * counts)).sqrt()
    return w / w.mean()


def loss_of(
    out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], kind_weights: torch.Tensor | None = None
) -> torch.Tensor:
    bce = nn.functional.binary_cross_entropy_with_logits

    def masked(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return (values * weights).sum() / weights.sum().clamp(min=1.0)

    loss = masked(bce(out["hate"], batch["hate"], reduction="none"), batch["hate_w"])
    loss = loss + HEAD_WEIGHTS["offensive"] * masked(
        bce(out["offensive"], batch["off"], reduction="none"), batch["off_w"]
    )
    if (batch["type"] >= 0).any():
        loss = loss + HEAD_WEIGHTS["type"] * nn.functional.cross_entropy(
            out["type"], batch["type"], weight=kind_weights, ignore_index=-1
        )
    tgt = bce(out["target"], batch["target"], reduction="none").mean(-1)
    loss = loss + HEAD_WEIGHTS["target"] * masked(tgt, batch["target_w"])
    pos_weight = torch.tensor(TOKEN_POS_WEIGHT)
    tok = bce(out["token"], batch["tok"], reduction="none", pos_weight=pos_weight)
    return loss + HEAD_WEIGHTS["token"] * masked(tok, batch["tok_w"])


def buckets(cached: Sequence[Encoded], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches in a seeded random order (similar lengths pad little)."""
    order = list(range(len(cached)))
    rng.shuffle(order)  # ties broken at random, then sorted by length within windows of 50 batches
    window = batch_size * 50
    batches: list[list[int]] = []
    for w in range(0, len(order), window):
        part = sorted(order[w : w + window], key=lambda i: cached[i].hidden.shape[0])
        batches.extend(_chunks(part, batch_size))
    rng.shuffle(batches)
    return batches


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def train(
    train_set: Sequence[Example],
    dev_set: Sequence[Example],
    out_dir: Path,
    cfg: ModelConfig | None = None,
    opts: TrainOptions | None = None,
) -> dict[str, Any]:
    """Train, evaluate on dev, write `out_dir` (delta + config + metrics.json); returns the metrics."""
    cfg = cfg or ModelConfig()
    opts = opts or TrainOptions()
    progress = sys.stderr.isatty() if opts.progress is None else opts.progress
    torch.set_num_threads(opts.threads)
    seed_everything(opts.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "work"  # cache + checkpoints: not part of the shipped model
    work.mkdir(exist_ok=True)
    began = time.perf_counter()

    cache_file = work / "cache.pt"
    bottom = Bottom(cfg, opts.device)
    if opts.resume and cache_file.is_file():
        cached_train, cached_dev = torch.load(cache_file, weights_only=False)
        print(f"resumed the cached states of {len(cached_train)} train / {len(cached_dev)} dev texts", flush=True)
    else:
        cached_train = encode_all(bottom, train_set, 64, progress, "train")
        cached_dev = encode_all(bottom, dev_set, 64, progress, "dev")
        torch.save((cached_train, cached_dev), cache_file)

    top = Top(cfg).to(opts.device)
    head_params = [p for n, p in top.named_parameters() if not n.startswith("layers.")]
    optim = torch.optim.AdamW(
        [{"params": list(top.layers.parameters()), "lr": opts.lr_layers}, {"params": head_params, "lr": opts.lr_heads}],
        weight_decay=0.01,
    )
    kind_weights = type_weights(train_set, len(cfg.types)).to(opts.device)
    rng = random.Random(opts.seed)
    first_epoch = 0
    ckpt = work / "checkpoint.pt"
    state: dict[str, Any] = {}
    if opts.resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        top.load_state_dict(state["top"])
        optim.load_state_dict(state["optim"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        first_epoch = state["epoch"] + 1
        print(f"resumed after epoch {first_epoch}", flush=True)

    total_steps = opts.epochs * len(buckets(cached_train, opts.batch_size, random.Random(0)))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda step: min(1.0, (step + 1) / max(1, total_steps // 20)) * max(0.0, 1 - step / max(1, total_steps))
    )
    if first_epoch and "sched" in state:
        sched.load_state_dict(state["sched"])
    elif first_epoch:  # a checkpoint from before the scheduler was saved: replay its steps
        optim.step()
        for _ in range(first_epoch * (total_steps // max(1, opts.epochs))):
            sched.step()
    for epoch in range(first_epoch, opts.epochs):
        top.train()
        seen, running = 0, 0.0
        for idx in _progress(buckets(cached_train, opts.batch_size, rng), progress, f"epoch {epoch + 1}/{opts.epochs}"):
            batch = {k: v.to(opts.device) for k, v in collate(train_set, cached_train, idx, cfg).items()}
            loss = loss_of(top(batch["hidden"], batch["mask"]), batch, kind_weights)
            optim.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(top.parameters(), 1.0)
            optim.step()
            sched.step()
            seen += 1
            running += float(loss.detach())
        print(
            f"epoch {epoch + 1}: mean loss {running / max(1, seen):.4f}, {time.perf_counter() - began:.0f}s", flush=True
        )
        torch.save(
            {
                "top": top.state_dict(),
                "optim": optim.state_dict(),
                "rng": rng.getstate(),
                "torch_rng": torch.get_rng_state(),
                "epoch": epoch,
                "sched": sched.state_dict(),
            },
            ckpt,
        )

    metrics = evaluate(top, cfg, dev_set, cached_dev, opts.device)
    metrics["train_rows"] = len(train_set)
    metrics["dev_rows"] = len(dev_set)
    metrics["seconds"] = round(time.perf_counter() - began, 1)
    metrics["threshold"] = cfg.threshold
    save_model(top, cfg, out_dir)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def predict_cached(
    top: Top, cfg: ModelConfig, examples: Sequence[Example], cached: Sequence[Encoded], device: str
) -> list[dict[str, torch.Tensor]]:
    """Head outputs (probabilities) per example, from cached bottom states."""
    top.eval()
    out: list[dict[str, torch.Tensor]] = [{} for _ in examples]
    order = sorted(range(len(cached)), key=lambda i: cached[i].hidden.shape[0])
    with torch.inference_mode():
        for idx in _chunks(order, 128):
            batch = collate(examples, cached, idx, cfg)
            res = top(batch["hidden"].to(device), batch["mask"].to(device))
            for r, i in enumerate(idx):
                k = cached[i].hidden.shape[0]
                out[i] = {
                    "hate": torch.sigmoid(res["hate"][r]).cpu(),
                    "type": torch.softmax(res["type"][r], -1).cpu(),
                    "target": torch.sigmoid(res["target"][r]).cpu(),
                    "token": torch.sigmoid(res["token"][r, :k]).cpu(),
                }
    return out
