"""Load policy files: YAML -> validated `Policy`, with every error as `file:line:col: field: problem`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gavel.engine.schema import (
    Condition,
    ExemplarSignal,
    LexiconSignal,
    ModelSignal,
    Policy,
    ProximitySignal,
    RegexSignal,
)
from gavel.engine.yaml_source import YamlDocument, load_yaml, load_yaml_file
from gavel.errors import PolicyValidationError
from gavel.problems import problem_message

M = TypeVar("M", bound=BaseModel)

_UNION_TAGS = {
    "lexicon",
    "regex",
    "proximity",
    "model",
    "exemplar",
    "context",
    "str",
    "LexiconTerm",
}


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    source: str  # display path
    digest: str  # sha256 of the file's bytes
    document: YamlDocument


def _clean_loc(data: Any, loc: Sequence[str | int]) -> list[str | int]:
    """Drop pydantic's union-branch tags from a location so it matches the YAML path."""
    out: list[str | int] = []
    cur: Any = data
    for part in loc:
        if (isinstance(cur, dict) and isinstance(part, str) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        ):
            out.append(part)
            cur = cur[part]  # type: ignore[index]
        elif isinstance(part, str) and (part in _UNION_TAGS or "[" in part):
            continue
        else:
            out.append(part)
            cur = None
    return out


def _at(data: Any, loc: Sequence[str | int]) -> Any:
    cur = data
    for part in loc:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def validate_document(doc: YamlDocument, model: type[M]) -> M:
    """Validate YAML data against a pydantic model; raise with one file:line:col line per problem."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        problems: list[str] = []
        seen: set[str] = set()
        for err in exc.errors():
            loc = _clean_loc(doc.data, err["loc"])
            if "str" in err["loc"] and isinstance(_at(doc.data, loc), dict):
                continue  # the plain-string branch of `str | Model`: the Model branch says what's wrong
            line = doc.error_line(loc, problem_message(err))
            if line not in seen:
                seen.add(line)
                problems.append(line)
        raise PolicyValidationError(problems) from exc


def _walk_conditions(cond: Condition, loc: tuple[str | int, ...]) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    if cond.signal is not None:
        yield cond.signal, loc
        return
    for key in ("all_of", "any_of", "none_of"):
        for i, child in enumerate(getattr(cond, key) or ()):
            yield from _walk_conditions(child, (*loc, key, i))


def check_references(policy: Policy, doc: YamlDocument) -> None:
    """Every name a policy uses must exist: signals, proximity sides, exceptions."""
    problems: list[str] = []
    signals = policy.signals

    def need_signal(name: str, loc: tuple[str | int, ...]) -> None:
        if name not in signals:
            hint = _closest(name, signals)
            problems.append(
                doc.error_line(loc, f"unknown signal '{name}'" + (f" (did you mean '{hint}'?)" if hint else ""))
            )

    span_kinds = (LexiconSignal, RegexSignal, ProximitySignal)
    for sid, sig in signals.items():
        if isinstance(sig, ProximitySignal):
            for side in ("anchor", "target"):
                name = getattr(sig, side)
                loc: tuple[str | int, ...] = ("signals", sid, side)
                if name not in signals:
                    need_signal(name, loc)
                elif not isinstance(signals[name], span_kinds[:2]):
                    problems.append(doc.error_line(loc, f"proximity side '{name}' must be a lexicon or regex signal"))
            for j, name in enumerate(sig.blocked_by):
                bloc: tuple[str | int, ...] = ("signals", sid, "blocked_by", j)
                if name not in signals:
                    need_signal(name, bloc)
                elif not isinstance(signals[name], span_kinds[:2]):
                    problems.append(doc.error_line(bloc, f"'{name}' must be a lexicon or regex signal"))
        if isinstance(sig, ModelSignal | ExemplarSignal) and not sig.model.strip():
            problems.append(doc.error_line(("signals", sid, "model"), "model name is empty"))

    exception_ids: set[str] = set()
    for i, exc in enumerate(policy.exceptions):
        if exc.id in exception_ids:
            problems.append(doc.error_line(("exceptions", i, "id"), f"duplicate exception id '{exc.id}'"))
        exception_ids.add(exc.id)
        for name, loc in _walk_conditions(exc.when, ("exceptions", i, "when")):
            need_signal(name, loc)
        if exc.suppress is not None:
            for name, loc in (
                (exc.suppress, ("exceptions", i, "suppress")),
                (exc.when.signal, ("exceptions", i, "when")),
            ):
                if name in signals and not isinstance(signals[name], span_kinds[:2]):
                    problems.append(doc.error_line(loc, f"suppress works on lexicon or regex signals, '{name}' is not"))
                elif name is not None and name not in signals and loc[-1] == "suppress":
                    need_signal(name, loc)

    for i, clause in enumerate(policy.clauses):
        for name, loc in _walk_conditions(clause.when, ("clauses", i, "when")):
            need_signal(name, loc)
        for j, ex in enumerate(clause.exceptions):
            if ex not in exception_ids:
                problems.append(doc.error_line(("clauses", i, "exceptions", j), f"unknown exception '{ex}'"))
    for i, esc in enumerate(policy.decision.escalate):
        for name, loc in _walk_conditions(esc.when, ("decision", "escalate", i, "when")):
            need_signal(name, loc)
    if problems:
        raise PolicyValidationError(problems)


def _closest(name: str, options: Any) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return match[0] if match else None


def parse_policy(text: str, source: str, max_bytes: int | None = None) -> LoadedPolicy:
    doc = load_yaml(text, source, max_bytes)
    policy = validate_document(doc, Policy)
    check_references(policy, doc)
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedPolicy(policy=policy, source=source, digest=digest, document=doc)


def load_policy_file(path: Path, max_bytes: int | None = None, display: str | None = None) -> LoadedPolicy:
    doc = load_yaml_file(path, max_bytes, display)
    policy = validate_document(doc, Policy)
    check_references(policy, doc)
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return LoadedPolicy(policy=policy, source=doc.source, digest=digest, document=doc)


def policy_files(directory: Path) -> list[Path]:
    """Policy files in a directory: *.yaml / *.yml, not the *.cases.yaml replay suites."""
    files = [p for p in sorted(directory.iterdir()) if p.suffix in (".yaml", ".yml") and p.is_file()]
    return [p for p in files if not p.name.endswith((".cases.yaml", ".cases.yml"))]
