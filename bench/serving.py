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
                _wait_until_quiet(proc.pid, deadline)
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"gavel serve did not answer {ready_path} within {timeout_s:.0f} s")


def _cpu_ticks(pid: int) -> int:
    """CPU time (clock ticks) of `pid` and its children, from Linux's /proc; 0 where unreadable."""
    total = 0
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0
    for p in [str(pid), *kids]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def _wait_until_quiet(pid: int, deadline: float) -> None:
    """The first worker answering does not mean all are loaded (with --workers N each loads its
    own models, and one that is still loading accepts nothing): wait until the server's processes
    stop using CPU for a second."""
    last = _cpu_ticks(pid)
    while time.time() < deadline:
        time.sleep(1.0)
        now = _cpu_ticks(pid)
        if now - last <= 5:  # under 5% of a core: loading is over
            return
        last = now
