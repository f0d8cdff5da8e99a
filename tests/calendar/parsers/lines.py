"""A feed's raw content lines, read the way RFC 5545 section 3.1 spells them.

Parsers forgive what clients may not (a bare LF, a fold inside a UTF-8 character, an
unescaped comma), so these checks look at the bytes themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPED = {"\\": "\\", ";": ";", ",": ",", "n": "\n", "N": "\n"}


@dataclass(frozen=True)
class Line:
    """One unfolded content line: ``NAME;PARAM=VALUE:value``."""

    name: str
    params: dict[str, str] = field(hash=False)
    value: str
    component: str  # the innermost component it belongs to, e.g. VEVENT or STANDARD


def physical_lines(body: bytes) -> list[bytes]:
    """Return the lines of ``body`` as sent, without their CRLF."""
    assert body.endswith(b"\r\n"), "the last line must end in CRLF"
    return body[:-2].split(b"\r\n")


def unfold(body: bytes) -> list[str]:
    """Return the logical lines of ``body``: each fold (CRLF and one space) removed."""
    return body.decode("utf-8").replace("\r\n ", "").removesuffix("\r\n").split("\r\n")


def content_lines(body: bytes) -> list[Line]:
    """Return every content line of ``body``, with the component it belongs to."""
    stack: list[str] = []
    found = []
    for text in unfold(body):
        name, params, value = split(text)
        if name == "BEGIN":
            stack.append(value)
        found.append(Line(name, params, value, stack[-1] if stack else ""))
        if name == "END":
            assert stack and stack.pop() == value, f"END:{value} closes nothing"
    assert not stack, f"unclosed components: {stack}"
    return found


def split(text: str) -> tuple[str, dict[str, str], str]:
    """Split one logical line into its name, parameters and raw value."""
    quoted, colon = False, -1
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            colon = index
            break
    assert colon > 0, f"no name and value in {text!r}"
    name, *params = text[:colon].split(";")
    pairs = dict(param.split("=", 1) for param in params)
    return name.upper(), {key.upper(): value for key, value in pairs.items()}, text[colon + 1 :]


def blocks(body: bytes, component: str = "VEVENT") -> list[list[Line]]:
    """Return the content lines of each ``component`` (its own lines, not nested ones)."""
    result: list[list[Line]] = []
    depth = 0
    for line in content_lines(body):
        if line.name == "BEGIN" and line.value == component:
            result.append([])
            depth = 1
        elif depth and line.name == "BEGIN":
            depth += 1
        elif depth and line.name == "END":
            depth -= 1
        elif depth == 1:
            result[-1].append(line)
    return result


def unescape(value: str) -> str:
    """Return the text a TEXT value carries; raise if it holds a bare ``;`` or ``,``.

    RFC 5545 section 3.3.11: backslash, semicolon and comma are escaped with a backslash,
    a newline is written ``\\n``; no other escape exists.
    """
    for match in _ESCAPE.finditer(value):
        assert match[1] in _UNESCAPED, f"unknown escape \\{match[1]} in {value!r}"
    bare = _ESCAPE.sub("", value)
    assert ";" not in bare and "," not in bare, f"unescaped ; or , in {value!r}"
    assert not bare.endswith("\\"), f"dangling backslash in {value!r}"
    return _ESCAPE.sub(lambda match: _UNESCAPED[match[1]], value)
