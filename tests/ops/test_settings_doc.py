from __future__ import annotations

from pathlib import Path

from gavel.ops.settings_doc import render

ROOT = Path(__file__).resolve().parents[2]


def test_settings_doc_is_current() -> None:
    assert (ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == render(), (
        "run: python -m gavel.ops.settings_doc > docs/settings.md"
    )
