"""Start `gavel serve` as a subprocess for a benchmark and wait until it answers (one helper for
every bench script that measures over HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def start_gavel(
    port: int,
    env: Mapping[str, str],
    extra_args: Sequence[str] = (),
    ready_path: str = "/readyz",
    timeout_s: float = 180,
) -> subprocess.Popen[bytes]:
    """`gavel serve` on 127.0.0.1:`port` with `env` over this process's environment (a value of
    "" for GAVEL_MODELS means no models; drop the key for the defaults)."""
    full = {**os.environ, "PYTHONPATH": str(ROOT / "service"), **env}
    cmd = [sys.executable, "-m", "gavel.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *extra_args]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"gavel serve did not answer {ready_path} within {timeout_s:.0f} s")
