"""Safe YAML loading that remembers where every value came from (file:line:col for error messages).

Anchors and aliases are refused outright: they buy policy authors little and open the door to
billion-laughs style expansion. Nesting is capped (`MAX_YAML_DEPTH`) before any node is built, so a
file nested hundreds of levels deep is a plain error, not a RecursionError; tags the safe loader
does not know (`!!python/name:...`) are errors with their position, like any other bad value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gavel.errors import PolicyValidationError, Problem

try:  # the C loader is several times faster on large lexicons
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml missing
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]

# A real policy nests about 10 levels (clauses[i].when.all_of[j].any_of[k]...); 64 leaves room for
# deep condition trees while staying far below Python's recursion limit in the builders below.
MAX_YAML_DEPTH = 64

# libyaml's wording for what an author most often did: indented a line wrongly
_MISALIGNED = {"did not find expected key", "did not find expected '-' indicator", "could not find expected ':'"}
_STRAY_COLON = {"mapping values are not allowed here", "mapping values are not allowed in this context"}


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class YamlDocument:
    """Plain Python data plus the position of every node, keyed by its path from the root."""

    source: str  # display name of the file
    data: Any
    positions: dict[Path_, Position] = field(default_factory=dict)

    def locate(self, loc: Sequence[str | int]) -> Position:
        """Position of the deepest known node on `loc` (pydantic error locations may go deeper)."""
        path = tuple(loc)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), Position(1, 1))

    def problem(self, loc: Sequence[str | int], message: str) -> Problem:
        pos = self.locate(loc)
        return Problem(self.source, pos.line, pos.column, format_loc(loc), message)


def format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _check_events(text: str, source: str) -> None:
    """One streaming pass over the parser's events (no nodes built yet): refuse anchors, aliases and
    nesting deeper than MAX_YAML_DEPTH."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        mark = event.start_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent) or anchor is not None:
            raise PolicyValidationError(
                [
                    Problem(
                        source,
                        line,
                        col,
                        "",
                        f"YAML anchors and aliases are not allowed in policy files (found '{anchor}')",
                    )
                ]
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise PolicyValidationError(
                    [Problem(source, line, col, "", f"the YAML nests deeper than {MAX_YAML_DEPTH} levels")]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _problem(exc: yaml.MarkedYAMLError) -> str:
    """libyaml's message, in the words of the mistake when it is one of indentation."""
    problem = str(exc.problem or exc)
    if problem in _MISALIGNED:
        start = exc.context_mark
        block = f" that starts at line {start.line + 1}" if start is not None else ""
        return f"bad indentation: this line does not line up with the block{block} (YAML: {problem})"
    if problem in _STRAY_COLON:
        return (
            "bad indentation: this line is indented deeper than the key above it, or a value holds"
            f" an unquoted ': ' (quote the value) (YAML: {problem})"
        )
    return f"invalid YAML: {problem}"


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


def _build(node: yaml.Node, path: Path_, doc: YamlDocument, loader: Any) -> Any:
    doc.positions[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            # Keys are taken as written: YAML 1.1 would turn `on:` or `no:` into booleans.
            if not isinstance(key_node, yaml.ScalarNode):
                raise PolicyValidationError([doc.problem(path, "mapping keys must be plain scalars")])
            skey = str(key_node.value)
            if skey in out:
                doc.positions[(*path, skey)] = _mark(key_node)
                raise PolicyValidationError([doc.problem((*path, skey), f"duplicate key '{skey}'")])
            child = (*path, skey)
            out[skey] = _build(value_node, child, doc, loader)
            # a scalar's errors point at the value; a block's at its key, where a reader looks
            scalar = isinstance(value_node, yaml.ScalarNode)
            doc.positions[child] = _mark(value_node) if scalar else _mark(key_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc, loader) for i, item in enumerate(node.value)]
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        # an unknown tag (`!!python/name:os.system`): the safe loader refuses to build it
        pos = _mark(node)
        message = f"unknown YAML tag '{_tag_name(node.tag)}': policy files hold plain values"
        raise PolicyValidationError([Problem(doc.source, pos.line, pos.column, "", message)]) from exc
    except (ValueError, TypeError, OverflowError) as exc:  # `!!int abc`, `!!timestamp 2020-13-45`
        pos = _mark(node)
        message = f"value does not fit its YAML tag '{_tag_name(node.tag)}': {exc}"
        raise PolicyValidationError([Problem(doc.source, pos.line, pos.column, "", message)]) from exc


def load_yaml(text: str, source: str, max_bytes: int | None = None) -> YamlDocument:
    """Parse one YAML document from `text`; errors name `source`, line and column."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if max_bytes is not None and size > max_bytes:
        raise PolicyValidationError([Problem(source, 1, 1, "", f"file is {size} bytes, over the limit of {max_bytes}")])
    try:
        _check_events(text, source)
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise PolicyValidationError([Problem(source, line, col, "", _problem(exc))]) from exc
    except yaml.YAMLError as exc:
        raise PolicyValidationError([Problem(source, 1, 1, "", f"invalid YAML: {exc}")]) from exc
    doc = YamlDocument(source=source, data=None)
    if root is None:
        raise PolicyValidationError([Problem(source, 1, 1, "", "the file is empty")])
    loader = _Loader("")
    try:
        doc.data = _build(root, (), doc, loader)
    finally:
        loader.dispose()
    return doc


def read_source(path: Path, max_bytes: int | None = None, display: str | None = None) -> str:
    """The file's text, read once: what is parsed is what a digest of it describes."""
    source = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyValidationError([Problem(source, 1, 1, "", f"cannot read file: {exc.strerror}")]) from exc
    if max_bytes is not None and len(raw) > max_bytes:
        raise PolicyValidationError(
            [Problem(source, 1, 1, "", f"file is {len(raw)} bytes, over the limit of {max_bytes}")]
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyValidationError([Problem(source, 1, 1, "", f"file is not valid UTF-8 (byte {exc.start})")]) from exc


def load_yaml_file(path: Path, max_bytes: int | None = None, display: str | None = None) -> YamlDocument:
    return load_yaml(read_source(path, max_bytes, display), display or str(path), max_bytes)
