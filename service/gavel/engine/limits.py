"""Input limits shared by every entry point (HTTP, NDJSON stream, Redis worker)."""

from __future__ import annotations

from typing import Any


def context_problem(context: Any, max_keys: int, max_depth: int) -> str | None:
    """What is wrong with a request context, or None: free-form JSON, so its size is bounded."""
    if not context:
        return None
    keys = 0
    stack: list[tuple[Any, int]] = [(context, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        if isinstance(value, dict):
            keys += len(value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        if keys > max_keys:
            return f"more than {max_keys} keys"
    return None
