"""The other worker processes of one `gavel serve --workers N`, so that a reload asked of one
worker (POST /admin/reload) reaches all of them.

uvicorn starts the workers as children of one supervisor, and a request reaches whichever worker
accepts it: reloading only that one would leave the others serving the old policies. Each
sibling gets SIGHUP, which every worker already answers with the same reload from the same
policy directory (`PolicyReloader.install_sighup`), so all of them end on the same set or, for a
bad set, all keep the previous one. Siblings are found through Linux's /proc; elsewhere none are
found and the answer says so.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

log = logging.getLogger("gavel.reload")

# uvicorn's workers are multiprocessing "spawn" children; the supervisor may also have other
# children (multiprocessing's resource tracker) that SIGHUP would kill.
_WORKER_MARK = b"spawn_main"


def sibling_workers(proc: Path = Path("/proc")) -> list[int] | None:
    """Pids of this worker's siblings under the same supervisor; None when they cannot be listed."""
    me, parent = os.getpid(), os.getppid()
    try:
        children = (proc / str(parent) / "task" / str(parent) / "children").read_text().split()
    except OSError:
        return None
    found: list[int] = []
    for raw in children:
        pid = int(raw)
        if pid == me:
            continue
        try:
            cmdline = (proc / raw / "cmdline").read_bytes()
        except OSError:  # it exited meanwhile
            continue
        if _WORKER_MARK in cmdline:
            found.append(pid)
    return found


def signal_siblings() -> list[int] | None:
    """SIGHUP every sibling worker; the pids signalled, or None when they could not be listed."""
    pids = sibling_workers()
    if pids is None:
        log.error("the other workers could not be listed (no /proc): they keep their policies until reloaded")
        return None
    for pid in pids:
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:  # it exited meanwhile; its replacement loads the current files
            continue
    return pids
