"""How pages and feeds write an event in HTML: its dates in the page's language, its text.

Pure functions of the event, used by the page templates (as the ``dates`` and
``text_blocks`` filters) and by the feeds for readers, so both read alike.
"""

from __future__ import annotations

import re
from itertools import groupby

from markupsafe import Markup

from .. import language as words
from ..catalog import Event

_ITEM = re.compile(r"[-•]\s+(.*)")


def text_blocks(text: str) -> Markup:
    """Write free text as HTML: paragraphs at blank lines, ``- item`` lines as a list."""
    html = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        for listed, run in groupby(lines, key=lambda line: bool(_ITEM.fullmatch(line))):
            if listed:
                items = [_ITEM.sub(r"\1", line) for line in run]
                html.append(
                    Markup("<ul>{}</ul>").format(
                        Markup("").join(Markup("<li>{}</li>").format(item) for item in items)
                    )
                )
            else:
                html.append(Markup("<p>{}</p>").format(Markup("<br>").join(run)))
    return Markup("").join(html)


def event_dates(event: Event, language: str) -> str:
    """Write an event's dates and times in its own zone, as ``language`` writes dates."""
    zone = event.timezone
    start, end = event.start.astimezone(zone), event.end.astimezone(zone)
    if event.all_day:
        return words.days(event.first_day, event.last_day, language)
    if event.first_day == event.last_day:
        day = words.long_date(start.date(), language)
        return f"{day}, {words.clock(start)} – {words.clock(end)} {words.zone_name(end)}"
    opening = f"{words.long_date(start.date(), language)}, {words.clock(start)}"
    closing = f"{words.long_date(end.date(), language)}, {words.clock(end)}"
    return f"{opening} {words.zone_name(start)} – {closing} {words.zone_name(end)}"
