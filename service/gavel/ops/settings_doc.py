"""Write docs/settings.md from the Settings class, so the list of GAVEL_* settings never drifts.

python -m gavel.ops.settings_doc > docs/settings.md
"""

from __future__ import annotations

from gavel.settings import Settings


def render() -> str:
    lines = [
        "# Settings",
        "",
        "Every setting is an environment variable `GAVEL_<NAME>` (generated from `service/gavel/settings.py`",
        "by `python -m gavel.ops.settings_doc`).",
        "",
        "| variable | default | type |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default_factory.__name__ + "()" if field.default_factory else repr(field.default)
        annotation = str(field.annotation).replace("typing.", "").replace("pathlib.", "").replace("<class '", "")
        annotation = annotation.replace("'>", "").replace("|", "\\|")
        lines.append(f"| `GAVEL_{name.upper()}` | `{default}` | {annotation} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
