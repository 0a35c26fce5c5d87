"""`gavel serve --workers N`: a reload asked of one worker reaches every worker, and a bad policy
set stops the start-up in the supervisor with file:line (not a traceback per worker)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gavel.ops.siblings import sibling_workers
from tests.api.test_reload import BAD, KEY, policy

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(pdir: Path, port: int, log: Path, workers: int = 2) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "service"),
        "GAVEL_MODELS": "",
        "GAVEL_ADMIN_ENABLED": "true",
        "GAVEL_ADMIN_API_KEY": KEY,
        "GAVEL_LOG_LEVEL": "INFO",
    }
    cmd = [sys.executable, "-m", "gavel.cli", "serve", "--port", str(port), "--workers", str(workers)]
    cmd += ["--policy-dir", str(pdir)]
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _workers(proc: subprocess.Popen[bytes]) -> list[int]:
    try:
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    except OSError:
        return []
    return [int(k) for k in kids if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]


def _reload_lines(log: Path) -> list[dict[str, object]]:
    lines = []
    for raw in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if rec.get("msg") == "policies reloaded" or rec.get("message") == "policies reloaded":
            lines.append(rec)
    return lines


def _versions_seen(port: int, tries: int) -> set[str]:
    """The demo policy's version as answered over `tries` fresh connections (any worker may accept)."""
    seen = set()
    for _ in range(tries):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            seen.add(client.get("/admin/status", headers={"X-API-Key": KEY}).json()["policies"]["demo"]["version"])
    return seen


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="sibling workers are found through Linux's /proc")
def test_admin_reload_reaches_every_worker(tmp_path: Path) -> None:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "demo.yaml").write_text(policy("v0"), encoding="utf-8")
    port, log = _free_port(), tmp_path / "serve.log"
    proc = _serve(pdir, port, log)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if len(_workers(proc)) == 2 and httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail(f"gavel serve --workers 2 did not start:\n{log.read_text()}")
        time.sleep(2)  # the second worker may still be starting; one that is not accepting gets nothing
        (pdir / "demo.yaml").write_text(policy("v1"), encoding="utf-8")
        r = httpx.post(f"http://127.0.0.1:{port}/admin/reload", headers={"X-API-Key": KEY}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["workers_signalled"] == 1
        # the worker that answered reloaded for "admin", its sibling for the SIGHUP it sent
        deadline = time.time() + 15
        while time.time() < deadline and len(_reload_lines(log)) < 2:
            time.sleep(0.2)
        triggers = sorted(str(rec.get("trigger")) for rec in _reload_lines(log))
        assert triggers == ["admin", "sighup"], log.read_text()
        assert _versions_seen(port, 30) == {"v1"}
        # a bad set: the answering worker says 422 and every worker keeps v1
        (pdir / "demo.yaml").write_text(BAD, encoding="utf-8")
        r = httpx.post(f"http://127.0.0.1:{port}/admin/reload", headers={"X-API-Key": KEY}, timeout=30)
        assert r.status_code == 422 and r.json()["workers_signalled"] == 1
        time.sleep(1)
        assert _versions_seen(port, 30) == {"v1"}
        assert proc.poll() is None and len(_workers(proc)) == 2  # SIGHUP reloads; it never kills a worker
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_bad_policies_stop_a_multi_worker_start(tmp_path: Path) -> None:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "demo.yaml").write_text(BAD, encoding="utf-8")
    log = tmp_path / "serve.log"
    proc = _serve(pdir, _free_port(), log)
    assert proc.wait(timeout=60) == 1
    out = log.read_text()
    assert "cannot start, the policies have errors" in out and "demo.yaml:" in out
    assert "Traceback" not in out


def test_siblings_are_the_supervisors_spawned_workers_only(tmp_path: Path) -> None:
    me, parent = os.getpid(), os.getppid()
    proc = tmp_path / "proc"
    (proc / str(parent) / "task" / str(parent)).mkdir(parents=True)
    (proc / str(parent) / "task" / str(parent) / "children").write_text(f"{me} 4001 4002 4003\n")
    spawn = b"python\0-c\0from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5)\0--multiprocessing-fork\0"
    tracker = b"python\0-c\0from multiprocessing.resource_tracker import main;main(8)\0"
    for pid, cmdline in ((me, spawn), (4001, spawn), (4002, tracker)):  # 4003 exited meanwhile
        (proc / str(pid)).mkdir(exist_ok=True)
        (proc / str(pid) / "cmdline").write_bytes(cmdline)
    assert sibling_workers(proc) == [4001]
    assert sibling_workers(tmp_path / "no-proc") is None
