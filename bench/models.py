"""Model throughput on this machine: posts/s per backend at batch sizes 1, 8, 32, 128, and the
micro-batched path (many concurrent single-text hub.classify/embed calls) against the raw forward pass measured
in the same run.

    python bench/models.py [--texts 512] [--detoxify-arch]

`--detoxify-arch` builds a randomly initialised BERT-base with Detoxify's head (bert-base-uncased
shape: 12 layers, hidden 768, vocab 30522): the same FLOPs as the trained `original` weights,
which cannot be downloaded here, so the speed is the real one and the scores are meaningless.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


SAMPLES = [
    "I can't believe the referee missed that, what a joke of a match",
    "Thanks for sharing, this recipe turned out great with a bit more garlic",
    "You are a complete idiot and everyone here knows it",
    "The council meeting about the new bike lanes is on Thursday at 7pm",
    "shut the hell up nobody asked for your stupid opinion",
    "Lovely photos from the trip, the mountains look unreal",
    "This policy is a disaster and the minister should resign",
    "what a load of crap, absolute garbage take",
]


def corpus(n: int) -> list[str]:
    return [f"{SAMPLES[i % len(SAMPLES)]} #{i}" for i in range(n)]


def raw_rate(fn: Callable[[Sequence[str]], Any], texts: list[str], batch: int, min_seconds: float = 1.5) -> float:
    fn(texts[:batch])  # warm-up
    done = 0
    start = time.perf_counter()
    while True:
        for i in range(0, len(texts), batch):
            fn(texts[i : i + batch])
            done += len(texts[i : i + batch])
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


async def batched_rate(backend: Any, texts: list[str], max_batch: int) -> tuple[float, float]:
    """Posts/s of many concurrent single-text hub calls (`classify`, or `embed` for an embedder)
    through the model's MicroBatcher, and the mean forward-pass size it formed."""
    from gavel.models.hub import DefaultModelHub

    hub = DefaultModelHub(window_chars=10_000, max_batch=max_batch, max_wait_ms=5, queue_size=100_000)
    if hasattr(backend, "score_batch"):
        hub.add_classifier(backend)
        call = hub.classify
    else:
        hub.add_embedder(backend)
        call = hub.embed
    await hub.start()
    batcher = hub.batchers()[0]
    await asyncio.gather(*(call(backend.name, [t]) for t in texts[:max_batch]))  # warm-up
    b0, i0 = batcher.batches, batcher.items
    start = time.perf_counter()
    await asyncio.gather(*(call(backend.name, [t]) for t in texts))
    elapsed = time.perf_counter() - start
    mean_batch = (batcher.items - i0) / max(batcher.batches - b0, 1)
    await hub.close()
    return len(texts) / elapsed, mean_batch


def detoxify_arch(tmp: Path) -> Any:
    from gavel.models.detoxify_backend import DetoxifyBackend
    from tests.fabricate import random_detoxify_checkpoint

    words = sorted({w.strip(",.#!?'").lower() for s in SAMPLES for w in s.split()} | {str(i) for i in range(10)})
    ckpt, config_dir = random_detoxify_checkpoint(tmp, words, vocab_size=30522, name="detoxify-original-shape.ckpt")
    return DetoxifyBackend("original", ckpt, config_dir)


def http_rate(backend: Any, texts: list[str], concurrency: int = 64) -> float:
    """Posts/s through POST /evaluate (in-process ASGI) for a policy whose only signal is this model:
    the micro-batcher groups the concurrent requests into forward passes."""
    import httpx

    from gavel.api.app import create_app
    from gavel.engine.compiler import compile_policy
    from gavel.engine.evaluator import Evaluator
    from gavel.engine.loader import parse_policy
    from gavel.engine.registry import PolicyRegistry
    from gavel.models.hub import DefaultModelHub
    from gavel.runtime import Runtime
    from gavel.settings import Settings

    label = backend.labels[0]
    yaml = (
        'id: m\nversion: "1"\ntitle: m\nsource: {text: bench}\n'
        f"signals:\n  s: {{kind: model, model: {backend.name}, label: {label}, threshold: 0.99, "
        "explain_words: false}\n"
        "clauses:\n  - {id: c, title: c, when: s}\n"
    )
    hub = DefaultModelHub()
    hub.add_classifier(backend)
    policy = compile_policy(parse_policy(yaml, "m.yaml"), hub)
    registry = PolicyRegistry.from_policies({"m": policy})
    settings = Settings(models="")
    runtime = Runtime(settings, hub, registry, Evaluator(registry, hub))
    app = create_app(runtime=runtime)

    async def go() -> float:
        await hub.start()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            sem = asyncio.Semaphore(concurrency)

            async def one(t: str) -> None:
                async with sem:
                    r = await client.post("/evaluate", json={"text": t})
                    assert r.status_code == 200, r.text

            await asyncio.gather(*(one(t) for t in texts[:concurrency]))  # warm-up
            start = time.perf_counter()
            await asyncio.gather(*(one(t) for t in texts))
            elapsed = time.perf_counter() - start
        await hub.close()
        return len(texts) / elapsed

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--detoxify-arch", action="store_true", help="also time Detoxify's BERT-base shape")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from gavel.models.embedding import MiniLMBackend
    from gavel.models.profanity import ProfanityBackend

    texts = corpus(args.texts)
    backends: list[tuple[str, Callable[[Sequence[str]], list[Any]], Any]] = []
    classifiers: list[tuple[str, Any]] = []
    prof = ProfanityBackend()
    backends.append(("profanity (sklearn)", prof.score_batch, prof))
    classifiers.append(("profanity (sklearn)", prof))
    mini = MiniLMBackend()
    backends.append(("minilm (embeddings)", lambda b: list(mini.embed_batch(b)), mini))
    if args.detoxify_arch:
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="gavel-bench-"))
        detox = detoxify_arch(tmp)
        backends.append(("detoxify original shape", detox.score_batch, detox))
        classifiers.append(("detoxify original shape", detox))

    import torch

    print(
        f"CPU: {os.cpu_count()} cores, torch {torch.__version__} threads={torch.get_num_threads()}, "
        f"{len(texts)} texts of ~{int(statistics.mean(len(t) for t in texts))} chars\n"
    )
    print("| backend | batch 1 | batch 8 | batch 32 | batch 128 | micro-batched (32) | vs raw batch 32 | mean batch |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    raw32: dict[str, float] = {}
    for name, fn, backend in backends:
        sub = texts if "detoxify" not in name else texts[:128]
        rates = [raw_rate(fn, sub, b, 1.0 if "detoxify" in name else 1.5) for b in (1, 8, 32, 128)]
        raw32[name] = rates[2]
        mb, mean_batch = asyncio.run(batched_rate(backend, sub, 32))
        cells = " | ".join(f"{r:,.0f}" for r in rates)
        print(f"| {name} | {cells} | {mb:,.0f} | {mb / rates[2]:.0%} | {mean_batch:.1f} |")

    print("\n| backend | HTTP /evaluate, 64 concurrent single-post requests | raw batch 32 | HTTP vs raw |")
    print("|---|--:|--:|--:|")
    for name, backend in classifiers:
        sub = texts if "detoxify" not in name else texts[:256]
        rate = http_rate(backend, sub)
        print(f"| {name} | {rate:,.0f} | {raw32[name]:,.0f} | {rate / raw32[name]:.0%} |")


if __name__ == "__main__":
    main()
