"""TEXT values written the way RFC 5545 (section 3.3.11) spells them, so they read back exactly.

A TEXT value escapes a backslash, a semicolon and a comma with a backslash and writes a line
break as ``\\n``; nothing else is escaped. icalendar's own escaping does more: it first turns
a literal backslash-N into a line break (``\\N`` is the other spelling of the newline escape,
which it accepts in the text it is given) and a lone CR into one too. An operator's title
``C:\\New folder`` must stay that, so every TEXT value of a feed is written by
:func:`escape_text` instead.

Line breaks have no other spelling in a feed than ``\\n``, so CRLF, CR, LF and the Unicode
line and paragraph separators (U+2028, U+2029, which some clients drop whole descriptions
over) all become one; a reader shows each as a newline. Tabs, emoji and combining characters
are written as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import icalendar

_SPECIAL = re.compile(r"[\\;,]")
_LINE_BREAK = re.compile("\r\n|[\r\n\u2028\u2029]")


def escape_text(text: str) -> str:
    """Return ``text`` as an RFC 5545 TEXT value."""
    return _LINE_BREAK.sub(r"\\n", _SPECIAL.sub(r"\\\g<0>", text))


class Text(icalendar.vText):
    """A TEXT property value that icalendar serialises with :func:`escape_text`."""

    __slots__ = ()

    def to_ical(self) -> bytes:
        """Return the escaped value as bytes."""
        return escape_text(self).encode("utf-8")


class TextList(icalendar.vCategory):
    """A list of TEXT values (CATEGORIES), each escaped with :func:`escape_text`."""

    def __init__(self, values: Iterable[str]) -> None:
        texts: list[icalendar.vText | str] = [Text(value) for value in values]
        super().__init__(texts)
        self.cats = texts
