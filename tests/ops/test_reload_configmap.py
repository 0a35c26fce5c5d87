"""The file watcher must see a Kubernetes ConfigMap update: kubelet writes the new files into a
fresh `..<timestamp>` folder and swaps the `..data` symlink, so the `demo.yaml` link never changes."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from gavel.ops.reload import PolicyReloader, is_policy_change
from gavel.runtime import build_runtime
from gavel.settings import Settings
from tests.api.test_reload import policy


def kubelet_write(pdir: Path, stamp: str, version: str) -> None:
    """What kubelet's AtomicWriter does for a ConfigMap volume with one key, demo.yaml."""
    fresh = pdir / f"..{stamp}"
    fresh.mkdir()
    (fresh / "demo.yaml").write_text(policy(version), encoding="utf-8")
    data = pdir / "..data"
    previous = os.readlink(data) if data.is_symlink() else None
    os.symlink(fresh.name, pdir / "..data_tmp")
    os.rename(pdir / "..data_tmp", data)
    if not (pdir / "demo.yaml").is_symlink():
        os.symlink("..data/demo.yaml", pdir / "demo.yaml")
    if previous:
        shutil.rmtree(pdir / previous)


def test_which_changes_count() -> None:
    assert is_policy_change(Path("/p/hateful_conduct.yaml"))
    assert is_policy_change(Path("/p/..data"))
    assert is_policy_change(Path("/p/..2026_11_24_16_30_00.123"))
    assert not is_policy_change(Path("/p/notes.txt"))
    assert not is_policy_change(Path("/p/.demo.yaml.swp"))


def test_configmap_swap_reloads(tmp_path: Path) -> None:
    pdir = tmp_path / "policies"
    pdir.mkdir()
    kubelet_write(pdir, "2026_11_24_a", "v0")
    registry = build_runtime(Settings(policy_dir=pdir, models=""), load_models=False).registry
    assert registry.current.policies["demo"].version == "v0"

    async def run() -> str:
        reloader = PolicyReloader(registry)
        reloader.start_watching(pdir)
        await asyncio.sleep(0.3)  # let the watcher start
        kubelet_write(pdir, "2026_11_24_b", "v1")
        for _ in range(100):
            if registry.current.policies["demo"].version == "v1":
                break
            await asyncio.sleep(0.05)
        await reloader.stop()
        return registry.current.policies["demo"].version

    assert asyncio.run(run()) == "v1"
