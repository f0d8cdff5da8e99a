"""How pages and feeds write an event in HTML: its dates as the seed page does, its text.

Pure functions of the event, used by the page templates (as the ``dates`` and
``text_blocks`` filters) and by the feeds for readers, so both read alike.
"""

from __future__ import annotations

import re
from itertools import groupby

from markupsafe import Markup

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


def event_dates(event: Event) -> str:
    """Write an event's dates and times in its own zone, as the seed page does."""
    zone = event.timezone
    start, end = event.start.astimezone(zone), event.end.astimezone(zone)
    if event.all_day:
        first, last = event.first_day, event.last_day
        if first == last:
            return f"{first.day} {first:%B %Y}"
        if (first.year, first.month) == (last.year, last.month):
            return f"{first.day} – {last.day} {last:%B %Y}"
        if first.year == last.year:
            return f"{first.day} {first:%B} – {last.day} {last:%B %Y}"
        return f"{first.day} {first:%B %Y} – {last.day} {last:%B %Y}"
    if event.first_day == event.last_day:
        return f"{start.day} {start:%B %Y}, {start:%H:%M} – {end:%H:%M} {end:%Z}"
    opening = f"{start.day} {start:%B %Y} {start:%H:%M} {start:%Z}"
    return f"{opening} – {end.day} {end:%B %Y} {end:%H:%M} {end:%Z}"
