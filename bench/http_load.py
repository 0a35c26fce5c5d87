"""HTTP /evaluate under load on loopback: two uvicorn workers, rules-only policies
(GAVEL_MODELS=""), a bounded load generator; prints req/s and latency percentiles.

    python bench/http_load.py [--seconds 15] [--connections 4] [--workers 2]

Uses wrk (Debian package `wrk`) when installed, else an httpx async client. Only 127.0.0.1 is
ever contacted, and both the server and the load stop by themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from serving import start_gavel

ROOT = Path(__file__).resolve().parent.parent
POSTS = [
    "The Zionist regime is a deadly, cancerous growth, which must be uprooted and destroyed.",
    "I visited Israel last summer and the food in Tel Aviv was amazing.",
    "Honestly this referee is an idiot, worst game I've seen all season",
    "Muslims around the world are breaking their fast together tonight.",
]


def start_server(port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {"GAVEL_MODELS": "", "GAVEL_LOG_LEVEL": "WARNING"}
    return start_gavel(port, env, ["--workers", str(workers)], ready_path="/healthz", timeout_s=60)


def run_wrk(port: int, seconds: int, connections: int) -> dict[str, float]:
    script = Path(tempfile.mkdtemp()) / "post.lua"
    bodies = ", ".join(json.dumps(json.dumps({"text": t})) for t in POSTS)
    script.write_text(
        f"local bodies = {{{bodies}}}\nlocal i = 0\n"
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        "request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, '/evaluate', nil, bodies[i])\nend\n"
        "done = function(summary, latency, requests)\n"
        "  io.write(string.format('RESULT %d %d %d %.3f %.3f %.3f\\n', summary.requests, summary.errors.status,\n"
        "    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,\n"
        "    latency:percentile(50)/1000, latency:percentile(99)/1000, summary.duration/1e6))\nend\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout
    m = re.search(r"RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    assert m, out
    n, bad_status, io_errors, p50, p99, dur = m.groups()
    return {
        "requests": int(n),
        "non_2xx": int(bad_status),
        "errors": int(io_errors),
        "rps": int(n) / float(dur),
        "p50": float(p50),
        "p99": float(p99),
    }


async def run_httpx(port: int, seconds: int, connections: int) -> dict[str, float]:
    lat: list[float] = []
    bad = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:

        async def one(k: int) -> None:
            nonlocal bad
            i = k
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = await client.post("/evaluate", json={"text": POSTS[i % len(POSTS)]})
                lat.append((time.perf_counter() - t0) * 1000)
                bad += r.status_code != 200
                i += 1

        start = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(connections)))
        dur = time.perf_counter() - start
    q = statistics.quantiles(lat, n=100)
    return {"requests": len(lat), "non_2xx": bad, "errors": 0, "rps": len(lat) / dur, "p50": q[49], "p99": q[98]}


def main() -> None:
    parser = argparse.ArgumentParser(description="HTTP load on loopback")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=18087)
    args = parser.parse_args()
    proc = start_server(args.port, args.workers)
    try:
        tool = "wrk" if shutil.which("wrk") else "httpx"
        for t in POSTS:  # warm-up
            httpx.post(f"http://127.0.0.1:{args.port}/evaluate", json={"text": t}, timeout=10)
        if tool == "wrk":
            res = run_wrk(args.port, args.seconds, args.connections)
        else:
            res = asyncio.run(run_httpx(args.port, args.seconds, args.connections))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(
        f"POST /evaluate, default policies rules-only, {args.workers} uvicorn workers, {args.connections} "
        f"connections, {args.seconds}s, load by {tool} on the same 2-core machine\n"
    )
    print("| requests | non-2xx | errors | req/s | p50 ms | p99 ms |")
    print("|--:|--:|--:|--:|--:|--:|")
    print(
        f"| {res['requests']:,} | {res['non_2xx']} | {res['errors']} | {res['rps']:,.0f} | {res['p50']:.2f} | "
        f"{res['p99']:.2f} |"
    )


if __name__ == "__main__":
    main()
