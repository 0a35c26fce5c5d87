"""The import package is `gavel`; nothing installs a top-level `service` into site-packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_gavel_imports_and_service_does_not(tmp_path: Path) -> None:
    # from outside the checkout, as a user's program would: only the installed packages are seen
    ok = _run("import gavel, gavel.cli; print(gavel.__name__)", tmp_path)
    assert ok.returncode == 0 and ok.stdout.strip() == "gavel", ok.stderr
    gone = _run("import service", tmp_path)
    assert gone.returncode != 0 and "No module named 'service'" in gone.stderr
