"""Live policy reload: on SIGHUP, on a change in the policy directory (watchfiles), or on
POST /admin/reload. The registry compiles the new set beside the old one and swaps atomically;
a bad set keeps the old one serving and the error is logged with file and line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from gavel.engine.registry import PolicyRegistry, ReloadReport

log = logging.getLogger("gavel.reload")

OnReload = Callable[[ReloadReport, str], None]


def is_policy_change(path: Path) -> bool:
    """A policy file, or kubelet swapping a mounted ConfigMap: it renames `..data_tmp` to `..data`
    (and adds a `..<timestamp>` folder), while the `*.yaml` links themselves never change."""
    return path.suffix in (".yaml", ".yml") or path.name.startswith("..")


class PolicyReloader:
    def __init__(self, registry: PolicyRegistry, on_reload: OnReload | None = None) -> None:
        self.registry = registry
        self._on_reload = on_reload
        self._lock = asyncio.Lock()
        self._watch_task: asyncio.Task[None] | None = None

    async def reload(self, trigger: str) -> ReloadReport:
        """Compile off the event loop (a large lexicon takes a moment) and swap; one reload at a time."""
        async with self._lock:
            report = await asyncio.to_thread(self.registry.reload)
        if report.ok:
            log.info(
                "policies reloaded",
                extra={"trigger": trigger, "generation": report.generation, "policies": report.policies},
            )
        else:
            log.error(
                "policy reload failed; the previous policies keep serving",
                extra={"trigger": trigger, "errors": report.errors, "generation": report.generation},
            )
        if self._on_reload is not None:
            self._on_reload(report, trigger)
        return report

    def install_sighup(self) -> bool:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload("sighup")))
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
            return False
        return True

    def start_watching(self, directory: Path) -> None:
        self._watch_task = asyncio.get_running_loop().create_task(self._watch(directory), name="policy-watch")

    async def _watch(self, directory: Path) -> None:
        from watchfiles import awatch

        async for changes in awatch(directory, debounce=300, recursive=False):
            if any(is_policy_change(Path(p)) for _, p in changes):
                try:
                    await self.reload("file_change")
                except Exception:  # the watcher must outlive any one bad reload
                    log.exception("policy reload after a file change failed; still watching")

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
            self._watch_task = None
