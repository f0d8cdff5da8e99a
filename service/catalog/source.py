"""YAML documents that remember where each value came from.

Operators need errors that point at a line, so a file is composed into YAML nodes first and
converted by hand: every mapping key and sequence item records its line under its location
path, e.g. ``("sessions", 2, "end")``. Scalars keep YAML's own types (dates, numbers), except
that ``14:00`` stays the text it looks like instead of YAML 1.1's base-60 number 840.

A file is bounded before anything is built from it: a few hundred bytes of aliases can stand
for billions of values, so nesting, values, aliases and what the aliases expand to are counted
first, and a file over a limit is refused at the line where it went over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import CatalogError, Problem
from .text import check_characters, read_text

Loc = tuple[str | int, ...]
# libyaml's parser is ten times faster than the pure-Python one and keeps the same marks.
_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Far above what any events file holds (one event nests 7 deep and holds a few dozen values).
MAX_DEPTH = 20
MAX_VALUES = 50_000
MAX_ALIASES = 100


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
        if isinstance(part, str) and not part.isprintable():
            part = repr(part)  # a key written with YAML escapes: never a control character
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def read_document(path: Path, shown_as: str) -> Document:
    """Read one YAML file, raising a CatalogError that names the line of a syntax error."""
    return parse_document(read_text(path, shown_as), shown_as)


def parse_document(text: str, shown_as: str) -> Document:
    """Parse YAML text into a Document, within the limits on nesting, values and aliases."""
    check_characters(text, shown_as)
    try:
        _count(text, shown_as)
        node = yaml.compose(text, Loader=_Parser)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 0
        reason = err.problem or err.context or "invalid YAML"
        message = f"YAML syntax error: {reason}"
        if reason == "exceeded maximum nesting depth":  # libyaml's own limit, far above ours
            message = f"nested more than {MAX_DEPTH} levels deep"
        raise CatalogError([Problem(shown_as, line, "", message)]) from err
    except yaml.YAMLError as err:
        raise CatalogError([Problem(shown_as, 0, "", f"YAML syntax error: {err}")]) from err
    if node is None:
        return Document(shown_as, None, {(): 1})
    _Expansion(shown_as).measure(node)
    builder = _Builder(shown_as)
    data = builder.convert(node, ())
    if builder.problems:
        raise CatalogError(builder.problems)
    return Document(shown_as, data, builder.lines)


def _count(text: str, shown_as: str) -> None:
    """Refuse, before composing any node, a file nested too deep or with too many values."""
    depth = values = aliases = 0
    for event in yaml.parse(text, Loader=_Parser):
        if isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        line = event.start_mark.line + 1 if event.start_mark else 0
        values += 1
        if values > MAX_VALUES:
            raise _too_many(shown_as, line, f"more than {MAX_VALUES:,} values in one file")
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _too_many(shown_as, line, f"more than {MAX_ALIASES} aliases in one file")
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_many(shown_as, line, f"nested more than {MAX_DEPTH} levels deep")


def _too_many(shown_as: str, line: int, message: str) -> CatalogError:
    return CatalogError([Problem(shown_as, line, "", message)])


class _Expansion:
    """Measure how many values, and how deep, a document is once its aliases are expanded.

    Each node is measured once: an alias always follows its anchor, so what it refers to is
    measured already (or is the node being measured, which the builder reports).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth)

    def measure(self, node: yaml.Node) -> tuple[int, int]:
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        self._sizes[id(node)] = (1, 0)  # an alias inside its own anchor counts once
        values, depth = 1, 0
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        for child in children:
            child_values, child_depth = self.measure(child)
            values += child_values
            depth = max(depth, child_depth)
        if not isinstance(node, yaml.ScalarNode):
            depth += 1
        line = node.start_mark.line + 1
        if values > MAX_VALUES:
            message = f"its aliases expand to more than {MAX_VALUES:,} values"
            raise _too_many(self.path, line, message)
        if depth > MAX_DEPTH:
            raise _too_many(self.path, line, f"its aliases nest more than {MAX_DEPTH} levels deep")
        self._sizes[id(node)] = (values, depth)
        return self._sizes[id(node)]


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
    # The folder is resolved, not the file: a linked file is named as the operator sees it.
    try:
        return str((path.parent.resolve() / path.name).relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # outside here, or a loop of symbolic links
        return str(path)
