"""Load policy files: YAML -> validated `Policy`, every error a located `Problem` (file:line:col)."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gavel.engine.kinds import closest_kind, kind, kinds, span_kinds
from gavel.engine.schema import Condition, Policy
from gavel.engine.yaml_source import YamlDocument, load_yaml, read_source
from gavel.errors import PolicyValidationError, Problem
from gavel.problems import problem_message

M = TypeVar("M", bound=BaseModel)


def _union_tags() -> set[str]:
    """The branch names pydantic puts in a location inside a union (a signal's kind, str | Model)."""
    return {k.name for k in kinds()} | {"str", "LexiconTerm"}


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
    tags = _union_tags()
    for part in loc:
        if (isinstance(cur, dict) and isinstance(part, str) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        ):
            out.append(part)
            cur = cur[part]  # type: ignore[index]
        elif isinstance(part, str) and (part in tags or "[" in part):
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


def _message(err: Any) -> str:
    if err.get("type") == "union_tag_invalid":
        tag = str(err.get("ctx", {}).get("tag", ""))
        hint = closest_kind(tag)
        known = ", ".join(k.name for k in kinds())
        return f"unknown signal kind '{tag}'" + (f" (did you mean '{hint}'?)" if hint else "") + f"; kinds: {known}"
    return problem_message(err)


def validate_document(doc: YamlDocument, model: type[M]) -> M:
    """Validate YAML data against a pydantic model; raise with one file:line:col line per problem."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        problems: list[Problem] = []
        for err in exc.errors():
            loc = _clean_loc(doc.data, err["loc"])
            if "str" in err["loc"] and isinstance(_at(doc.data, loc), dict):
                continue  # the plain-string branch of `str | Model`: the Model branch says what's wrong
            if err.get("type") == "union_tag_invalid" and isinstance(_at(doc.data, loc), dict):
                loc = [*loc, "kind"]  # point at the misspelt kind itself
            problem = doc.problem(loc, _message(err))
            if problem not in problems:
                problems.append(problem)
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
    problems: list[Problem] = []
    signals = policy.signals
    spans = span_kinds()
    spans_said = ", ".join(spans[:-1]) + f" or {spans[-1]}" if len(spans) > 1 else spans[0]

    def need_signal(name: str, loc: tuple[str | int, ...]) -> None:
        if name not in signals:
            hint = _closest(name, signals)
            problems.append(
                doc.problem(loc, f"unknown signal '{name}'" + (f" (did you mean '{hint}'?)" if hint else ""))
            )

    for sid, sig in signals.items():
        for where, used in kind(sig.kind).uses_spans(sig):
            at: tuple[str | int, ...] = ("signals", sid, *where)
            if used not in signals:
                need_signal(used, at)
            elif signals[used].kind not in spans:
                problems.append(doc.problem(at, f"'{used}' must be a {spans_said} signal"))

    exception_ids: set[str] = set()
    for i, exc in enumerate(policy.exceptions):
        if exc.id in exception_ids:
            problems.append(doc.problem(("exceptions", i, "id"), f"duplicate exception id '{exc.id}'"))
        exception_ids.add(exc.id)
        for name, loc in _walk_conditions(exc.when, ("exceptions", i, "when")):
            need_signal(name, loc)
        if exc.suppress is not None:
            for named, loc in (
                (exc.suppress, ("exceptions", i, "suppress")),
                (exc.when.signal, ("exceptions", i, "when")),
            ):
                if named in signals and signals[named].kind not in spans:
                    problems.append(doc.problem(loc, f"suppress works on {spans_said} signals, '{named}' is not"))
                elif named is not None and named not in signals and loc[-1] == "suppress":
                    need_signal(named, loc)

    for i, clause in enumerate(policy.clauses):
        for name, loc in _walk_conditions(clause.when, ("clauses", i, "when")):
            need_signal(name, loc)
        for j, ex in enumerate(clause.exceptions):
            if ex not in exception_ids:
                problems.append(doc.problem(("clauses", i, "exceptions", j), f"unknown exception '{ex}'"))
    for i, esc in enumerate(policy.decision.escalate):
        for name, loc in _walk_conditions(esc.when, ("decision", "escalate", i, "when")):
            need_signal(name, loc)
    if problems:
        raise PolicyValidationError(problems)


def _closest(name: str, options: Any) -> str | None:
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return match[0] if match else None


def parse_policy(text: str, source: str, max_bytes: int | None = None) -> LoadedPolicy:
    doc = load_yaml(text, source, max_bytes)
    policy = validate_document(doc, Policy)
    check_references(policy, doc)
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedPolicy(policy=policy, source=source, digest=digest, document=doc)


def load_policy_file(path: Path, max_bytes: int | None = None, display: str | None = None) -> LoadedPolicy:
    # read once: the digest describes exactly the bytes that were parsed
    return parse_policy(read_source(path, max_bytes, display), display or str(path), max_bytes)


def policy_files(directory: Path) -> list[Path]:
    """Policy files in a directory: *.yaml / *.yml, not the *.cases.yaml replay suites."""
    files = [p for p in sorted(directory.iterdir()) if p.suffix in (".yaml", ".yml") and p.is_file()]
    return [p for p in files if not p.name.endswith((".cases.yaml", ".cases.yml"))]
