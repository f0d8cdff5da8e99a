"""TEXT values (``service/calendar/text.py``) as RFC 5545 section 3.3.11 spells them.

Through the feeds, every reader's view of these texts is tests/calendar/test_entries.py's;
here the escaping itself, against the grammar and a reader that knows nothing else.
"""

from __future__ import annotations

import icalendar
import pytest
from parsers import lines

from service.calendar.text import Text, TextList, escape_text

CASES = [
    ("plain", "plain"),
    ("a;b,c\\d", "a\\;b\\,c\\\\d"),
    ("a literal \\N and \\n", "a literal \\\\N and \\\\n"),
    ("CR\rCRLF\r\nLF\n", "CR\\nCRLF\\nLF\\n"),
    ("line\u2028paragraph\u2029end", "line\\nparagraph\\nend"),
    ("\r\r\n\n", "\\n\\n\\n"),
    ("tab\tstays", "tab\tstays"),
    ("e\u0301 👩\u200d👩\u200d👧 🇧🇪 中文", "e\u0301 👩\u200d👩\u200d👧 🇧🇪 中文"),
]


@pytest.mark.parametrize(("text", "written"), CASES)
def test_escape_text_writes_what_rfc_5545_spells(text: str, written: str) -> None:
    assert escape_text(text) == written


@pytest.mark.parametrize(("text", "written"), CASES)
def test_an_escaped_text_reads_back_with_each_line_break_as_lf(text: str, written: str) -> None:
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    expected = expected.replace("\u2028", "\n").replace("\u2029", "\n")

    assert lines.unescape(escape_text(text)) == expected


def test_icalendar_serialises_text_and_text_lists_with_escape_text() -> None:
    event = icalendar.Event()
    event.add("summary", Text("C:\\New; a,b\rc"))
    event.add("categories", TextList(["Text, not \\N", "two"]))

    assert event.to_ical() == (
        b"BEGIN:VEVENT\r\nSUMMARY:C:\\\\New\\; a\\,b\\nc\r\n"
        b"CATEGORIES:Text\\, not \\\\N,two\r\nEND:VEVENT\r\n"
    )
