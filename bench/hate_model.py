"""The hate-speech model's speed on this machine (issue 10, item 6):

1. raw batched forward (`HateBackend.score_batch`, batches of 32) against the same posts sent as
   concurrent single-text `hub.classify` calls through the micro-batcher (target >= 80%);
2. `POST /evaluate/batch` end to end with both default policies and the default models
   (target >= 300 posts/s on the 2-core CPU);
3. single `POST /evaluate` latency at a fixed 20 requests/s, open loop (target p99 < 60 ms).

    python bench/hate_model.py [--posts 512] [--seconds 15] [--device cpu] [--threads 1] [--addressed]
                               [--workers 1 2]

2 and 3 run a real `gavel serve` (default GAVEL_MODELS) on a free loopback port, once per
`--workers` count (default: 1, then 2, one per core), eight batch requests in flight over eight
connections (the workers share the port: connections, not requests, are spread over them).
Posts are fabricated everyday, hostile and hateful lines (mean ~60 characters).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from serving import start_gavel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "service"))

POSTS = [
    "I can't believe the referee missed that, what a joke of a match",
    "Thanks for sharing, this recipe turned out great with a bit more garlic",
    "Muslims around the world are breaking their fast together tonight.",
    "Refugees should be kept in kennels, not houses.",
    "The council meeting about the new bike lanes is on Thursday at 7pm",
    "Honestly I think gay men are a lower form of life.",
    "Lovely photos from the trip, the mountains look unreal",
    "Saying Roma are thieves is plain racism and I won't stand for it.",
    "This policy is a disaster and the minister should resign",
    "kil all the muzlims",
    "As a queer woman I love my queer friends.",
    "What a load of crap, absolute garbage take from the pundits",
]


# Posts that address someone: `abusive_behavior` embeds only these (its exemplar's cascade), so
# `--addressed` (every other post one of these) measures the path with the embedding model too.
ADDRESSED = [
    "You are a complete idiot and everyone here knows it",
    "shut the hell up nobody asked for your stupid opinion",
    "Thank you so much, your advice really helped",
    "@sam you should be ashamed of yourself",
]


def corpus(n: int, addressed: bool = False) -> list[str]:
    if addressed:
        lines = [ADDRESSED[i // 2 % len(ADDRESSED)] if i % 2 else POSTS[i // 2 % len(POSTS)] for i in range(n)]
        return [f"{line} #{i}" for i, line in enumerate(lines)]
    return [f"{POSTS[i % len(POSTS)]} #{i}" for i in range(n)]


def model_rates(n: int, device: str, threads: int) -> dict[str, float]:
    from gavel.models.hub import DefaultModelHub
    from gavel.settings import Settings

    settings = Settings(models="hate", hate_device=device, torch_threads=threads)
    hub = DefaultModelHub.from_settings(settings)
    if not hub.available("hate"):
        raise SystemExit(f"hate model not loaded: {hub.unavailable_reason('hate')}")
    backend = hub._classifiers["hate"].backend  # the raw forward pass, no batcher
    texts = corpus(n)
    backend.score_batch(texts[:32])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, n, 32):
        backend.score_batch(texts[i : i + 32])
    raw = n / (time.perf_counter() - t0)

    async def singles() -> float:
        await hub.start()
        await asyncio.gather(*(hub.classify("hate", [t]) for t in texts[:64]))  # warm-up
        t1 = time.perf_counter()
        await asyncio.gather(*(hub.classify("hate", [t]) for t in texts))
        rate = n / (time.perf_counter() - t1)
        await hub.close()
        return rate

    micro = asyncio.run(singles())
    return {"raw_batch32": raw, "micro_batched": micro, "ratio": micro / raw}


def kernel_rates(n: int, threads: int) -> dict[str, float]:
    """Raw batch-32 posts/s of the hate model with each int8 kernel (`gavel.training.int8`): the
    same integers, so the same answers; which is faster depends on the CPU (VNNI or not)."""
    import torch

    from gavel.models.hate_backend import HateBackend
    from gavel.settings import default_hate_model_dir
    from gavel.training.int8 import Measured

    if threads > 0:
        torch.set_num_threads(threads)
    texts = corpus(n)
    rates: dict[str, float] = {}
    kernels: tuple[Measured, ...] = ("float", "int_mm")
    for kernel in kernels:
        backend = HateBackend(default_hate_model_dir(), int8_kernel=kernel)
        backend.score_batch(texts[:32])  # warm-up
        t0 = time.perf_counter()
        for i in range(0, n, 32):
            backend.score_batch(texts[i : i + 32])
        rates[kernel] = n / (time.perf_counter() - t0)
    return rates


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, device: str, threads: int, workers: int) -> subprocess.Popen[bytes]:
    os.environ.pop("GAVEL_MODELS", None)  # the default models
    env = {"GAVEL_LOG_LEVEL": "WARNING", "GAVEL_HATE_DEVICE": device, "GAVEL_TORCH_THREADS": str(threads)}
    return start_gavel(port, env, ["--workers", str(workers)])


async def batch_rate(port: int, n: int, addressed: bool, batch: int = 64, concurrency: int = 8) -> float:
    texts = corpus(n, addressed)
    chunks = [texts[i : i + batch] for i in range(0, n, batch)]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        for _ in range(concurrency):  # warm-up: every worker answers once
            warm = await client.post("/evaluate/batch", json={"items": [{"text": t} for t in chunks[0]]})
            warm.raise_for_status()
        queue = list(chunks)
        t0 = time.perf_counter()

        async def worker() -> None:
            while queue:
                chunk = queue.pop()
                r = await client.post("/evaluate/batch", json={"items": [{"text": t} for t in chunk]})
                r.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - t0)


async def paced_latency(port: int, seconds: int, addressed: bool, rate: float = 20.0) -> dict[str, float]:
    """Open loop: a request every 1/rate s whatever the answers do (no coordinated omission)."""
    texts = corpus(int(seconds * rate) + 1, addressed)
    lat: list[float] = []
    bad = 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

        async def one(text: str) -> None:
            nonlocal bad
            t0 = time.perf_counter()
            r = await client.post("/evaluate", json={"text": text})
            lat.append((time.perf_counter() - t0) * 1000)
            bad += r.status_code != 200

        tasks = []
        start = time.perf_counter()
        for k, text in enumerate(texts):
            await asyncio.sleep(max(0.0, start + k / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(text)))
        await asyncio.gather(*tasks)
    q = statistics.quantiles(lat, n=100)
    return {"requests": len(lat), "non_2xx": bad, "p50": q[49], "p99": q[98]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--posts", type=int, default=512)
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 beats 2 on a busy 2-core box)")
    p.add_argument("--addressed", action="store_true", help="every other post addresses someone (embedded too)")
    p.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[1, 2],
        help="gavel serve --workers counts to measure, in turn (none: skip)",
    )
    p.add_argument(
        "--kernels", type=int, default=0, metavar="N", help="first time both int8 kernels on N posts (CPU only)"
    )
    args = p.parse_args()
    if args.kernels:
        from gavel.training.int8 import fastest_kernel

        by_kernel = kernel_rates(args.kernels, args.threads)
        print("| int8 kernel | raw forward, batch 32: posts/s | vs float |")
        print("|---|--:|--:|")
        for kernel, rate in by_kernel.items():
            print(f"| {kernel} | {rate:.1f} | {rate / by_kernel['float']:.2f}x |")
        print(f"auto picks on this CPU: {fastest_kernel()}\n")
    rates = model_rates(args.posts, args.device, args.threads)
    print(f"hate model, raw forward (batch 32):        {rates['raw_batch32']:8.1f} posts/s")
    print(
        f"hate model, micro-batched singles:         {rates['micro_batched']:8.1f} posts/s "
        f"({100 * rates['ratio']:.0f}% of raw; target >= 80%)"
    )
    print()
    print("| gavel serve | /evaluate/batch posts/s | /evaluate at 20 req/s: p50 ms | p99 ms | non-2xx |")
    print("|---|--:|--:|--:|--:|")
    for workers in args.workers:
        port = free_port()
        server = start_server(port, args.device, args.threads, workers)
        try:
            rate = asyncio.run(batch_rate(port, args.posts, args.addressed))
            lat = asyncio.run(paced_latency(port, args.seconds, args.addressed))
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(f"| --workers {workers} | {rate:.1f} | {lat['p50']:.1f} | {lat['p99']:.1f} | {lat['non_2xx']} |")
    print("targets: /evaluate/batch >= 300 posts/s on this 2-core CPU; /evaluate p99 < 60 ms")


if __name__ == "__main__":
    main()
