"""The registry of signal kinds: a new kind is one module (schema, compile, explain) plus one
line in `_BUILTIN`. The policy schema, the loader, the compiler and the evaluator ask this
registry; none of them names a kind."""

from __future__ import annotations

import difflib
from typing import Any

from gavel.engine.kinds import context, exemplar, lexicon, model, proximity, regex, url
from gavel.engine.kinds.base import SignalKind

_BUILTIN: tuple[SignalKind[Any], ...] = (
    lexicon.KIND,
    regex.KIND,
    url.KIND,
    proximity.KIND,
    model.KIND,
    exemplar.KIND,
    context.KIND,
)

_KINDS: dict[str, SignalKind[Any]] = {k.name: k for k in _BUILTIN}


def register(kind: SignalKind[Any]) -> None:
    """Add a kind (a plugin, a test); the policy schema is rebuilt to accept it."""
    _KINDS[kind.name] = kind
    _rebuild_schema()


def unregister(name: str) -> None:
    if name in {k.name for k in _BUILTIN}:
        raise ValueError(f"'{name}' is a built-in signal kind")
    _KINDS.pop(name, None)
    _rebuild_schema()


def kind(name: str) -> SignalKind[Any]:
    return _KINDS[name]


def kinds() -> list[SignalKind[Any]]:
    return list(_KINDS.values())


def span_kinds() -> list[str]:
    """Kinds whose hits can be a proximity side or be set aside by a suppress exception."""
    return [k.name for k in _KINDS.values() if k.spans]


def closest_kind(name: str) -> str | None:
    found = difflib.get_close_matches(name, list(_KINDS), n=1, cutoff=0.6)
    return found[0] if found else None


def _rebuild_schema() -> None:
    from gavel.engine.schema import Policy

    Policy.model_rebuild(force=True)
