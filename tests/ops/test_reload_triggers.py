"""Reload triggers other than the admin endpoint: SIGHUP and a change in the policy directory."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from gavel.ops.reload import PolicyReloader
from gavel.runtime import build_runtime
from gavel.settings import Settings
from tests.api.test_reload import policy


def _registry(tmp_path: Path):  # type: ignore[no-untyped-def]
    pdir = tmp_path / "policies"
    pdir.mkdir()
    (pdir / "demo.yaml").write_text(policy("v0"), encoding="utf-8")
    return build_runtime(Settings(policy_dir=pdir, models=""), load_models=False).registry, pdir


async def _wait_for(predicate, seconds: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


def test_sighup_reloads(tmp_path: Path) -> None:
    registry, pdir = _registry(tmp_path)

    async def run() -> bool:
        reloader = PolicyReloader(registry)
        assert reloader.install_sighup()
        (pdir / "demo.yaml").write_text(policy("v1"), encoding="utf-8")
        os.kill(os.getpid(), signal.SIGHUP)
        ok = await _wait_for(lambda: registry.current.get("demo").version == "v1")
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        return ok

    assert asyncio.run(run())


def test_file_change_reloads(tmp_path: Path) -> None:
    registry, pdir = _registry(tmp_path)

    async def run() -> bool:
        reloader = PolicyReloader(registry)
        reloader.start_watching(pdir)
        await asyncio.sleep(0.3)  # let the watcher start
        (pdir / "demo.yaml").write_text(policy("v2"), encoding="utf-8")
        ok = await _wait_for(lambda: registry.current.get("demo").version == "v2")
        await reloader.stop()
        return ok

    assert asyncio.run(run())
