"""YAML documents that remember where each value came from.

Operators need errors that point at a line, so a file is composed into YAML nodes first and
converted by hand: every mapping key and sequence item records its line under its location
path, e.g. ``("sessions", 2, "end")``. Scalars keep YAML's own types (dates, numbers), except
that ``14:00`` stays the text it looks like instead of YAML 1.1's base-60 number 840.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import CatalogError, Problem

Loc = tuple[str | int, ...]
# libyaml's parser is ten times faster than the pure-Python one and keeps the same marks.
_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Document:
    """The data of one YAML file and the line of every location in it."""

    path: str
    data: Any
    lines: Mapping[Loc, int] = field(default_factory=dict)

    def line(self, loc: Loc) -> int:
        """Return the line of ``loc``, or of its closest enclosing location."""
        for end in range(len(loc), -1, -1):
            found = self.lines.get(loc[:end])
            if found is not None:
                return found
        return 1

    def problem(self, loc: Loc, message: str) -> Problem:
        """Return a problem at ``loc`` in this document."""
        return Problem(self.path, self.line(loc), dotted(loc), message)


def dotted(loc: Loc) -> str:
    """Write a location the way an operator reads it: ``sessions[2].end``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def read_document(path: Path, shown_as: str) -> Document:
    """Read one YAML file, raising a CatalogError that names the line of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CatalogError([Problem(shown_as, 0, "", f"cannot read file: {err}")]) from err
    return parse_document(text, shown_as)


def parse_document(text: str, shown_as: str) -> Document:
    """Parse YAML text into a Document."""
    try:
        node = yaml.compose(text, Loader=_Parser)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 0
        reason = err.problem or err.context or "invalid YAML"
        raise CatalogError([Problem(shown_as, line, "", f"YAML syntax error: {reason}")]) from err
    except yaml.YAMLError as err:
        raise CatalogError([Problem(shown_as, 0, "", f"YAML syntax error: {err}")]) from err
    if node is None:
        return Document(shown_as, None, {(): 1})
    builder = _Builder(shown_as)
    data = builder.convert(node, ())
    if builder.problems:
        raise CatalogError(builder.problems)
    return Document(shown_as, data, builder.lines)


class _Builder:
    """Convert composed nodes to plain data, recording lines, duplicate keys and bad values."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: dict[Loc, int] = {}
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")
        self._open: set[int] = set()  # nodes being converted, to catch recursive aliases

    def convert(self, node: yaml.Node, loc: Loc) -> Any:
        line = node.start_mark.line + 1
        self.lines.setdefault(loc, line)
        if id(node) in self._open:
            self._fail(loc, line, "an alias refers to itself")
            return None
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, loc, line)
        if node.tag not in _COLLECTION_TAGS:
            self._fail(loc, line, f"unsupported tag {node.tag!r}")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            return [self.convert(item, (*loc, i)) for i, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any] | None:
        try:
            self._constructor.flatten_mapping(node)  # resolve YAML merge keys (<<)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or node.start_mark
            self._fail(loc, mark.line + 1, f"bad merge key: {_reason(err)}")
            return None
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(
                    Problem(self.path, line, dotted(loc), "a key must be plain text")
                )
                continue
            key = str(key_node.value)
            if key in result:
                first = self.lines[(*loc, key)]
                message = f"duplicate key {key!r} (first at line {first})"
                self.problems.append(Problem(self.path, line, dotted((*loc, key)), message))
                continue
            self.lines[(*loc, key)] = line
            result[key] = self.convert(value_node, (*loc, key))
        return result

    def _scalar(self, node: yaml.ScalarNode, loc: Loc, line: int) -> Any:
        tag = node.tag
        if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in node.value:
            return node.value  # YAML 1.1 base-60 number: keep "14:00" as written
        try:
            return self._constructor.construct_object(node, deep=True)
        except Exception as err:  # noqa: BLE001 - PyYAML raises many kinds on odd input
            # e.g. an impossible date such as 2020-02-30, or a tag this loader does not know
            self._fail(loc, line, f"{node.value!r} cannot be read: {_reason(err)}")
            return None

    def _fail(self, loc: Loc, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, dotted(loc), message))


_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}


def _reason(err: Exception) -> str:
    if isinstance(err, yaml.MarkedYAMLError):
        return str(err.problem or err.context or "invalid value")
    if isinstance(err, ValueError | OverflowError) and str(err):
        return str(err)
    return "not a valid value for its tag"


def shown(path: Path) -> str:
    """Write a path as the operator would type it: relative to here when it is below here."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
