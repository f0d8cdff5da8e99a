"""Structured data of an event's page: schema.org Event as JSON-LD, and Open Graph tags.

Search engines read the JSON-LD (Google's event rich results want a name, a start and a
location, and recommend the end, status, attendance mode, organiser, offers and
performers); link previews in chat and social apps read the Open Graph tags. Both are
pure functions of the event, the site's settings and where the event started when it was
first published (``Edition.previous_start``): an event that moved since is
``EventRescheduled``, with its ``previousStartDate``.

Dates are written as the event's own zone has them, with its offset
(``2020-12-07T14:00:00+01:00``); an all-day event has plain dates, its last day as
``endDate``. Nothing is invented: what an event file does not say (an image, a price) is
left out.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from markupsafe import Markup

from .. import language as words
from ..calendar.entries import no_place
from ..catalog import Config, Event

SCHEMA = "https://schema.org/"
STATUS = {
    "confirmed": "EventScheduled",
    "tentative": "EventScheduled",  # schema.org has no tentative; the page says it is
    "cancelled": "EventCancelled",
}
OFFLINE = SCHEMA + "OfflineEventAttendanceMode"
ONLINE = SCHEMA + "OnlineEventAttendanceMode"
MIXED = SCHEMA + "MixedEventAttendanceMode"


def attendance(event: Event, page: str) -> tuple[str | None, list[dict[str, Any]]]:
    """Return how people attend ``event`` (an eventAttendanceMode) and where (its locations).

    An event with ``online:`` is attended online, and also offline where it has a place
    beside: its VirtualLocation's url is the public join link, or, for a private one (which
    never appears here), where people get in: the registration page where there is one, else
    the event's own page elsewhere (``url:``), else its ``page`` here. A location written as
    "Online" is the same without a join link. Any other location is a Place, its text as the
    address. An event with no location and no join link has neither.
    """
    text = event.location
    places = [] if no_place(text) else [text]
    online = event.online is not None or (text is not None and not places)
    locations: list[dict[str, Any]] = [
        {"@type": "Place", "name": place, "address": place} for place in places
    ]
    if online:
        if event.online is not None and event.online.public:
            url = event.online.join_url
        else:
            registration = event.registration.url if event.registration else None
            url = registration or event.url or page
        locations.append({"@type": "VirtualLocation", "url": url})
    if not locations:
        return None, []
    if online and places:
        return MIXED, locations
    return (ONLINE if online else OFFLINE), locations


def event_data(event: Event, page: str, previous_start: datetime | None) -> dict[str, Any]:
    """Return the schema.org Event of ``event`` shown at ``page``; ``previous_start`` if moved."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": event.title,
        "url": page,
        "startDate": _when(event, event.start),
        "endDate": _when(event, event.end, end=True),
        "eventStatus": SCHEMA + STATUS[event.status],
    }
    texts = (event.subtitle, event.description)
    description = "\n\n".join(text.strip() for text in texts if text and text.strip())
    if description:
        data["description"] = description
    if previous_start is not None and event.status != "cancelled":
        data["eventStatus"] = SCHEMA + "EventRescheduled"
        data["previousStartDate"] = _when(event, previous_start)
    mode, locations = attendance(event, page)
    if mode is not None:
        data["eventAttendanceMode"] = mode
        data["location"] = locations[0] if len(locations) == 1 else locations
    if event.organizer:
        organizer = {"@type": "Organization", "name": event.organizer.name}
        if event.organizer.url:
            organizer["url"] = event.organizer.url
        if event.organizer.email:
            organizer["email"] = event.organizer.email
        data["organizer"] = organizer
    if event.registration and event.registration.url:
        offer = {"@type": "Offer", "url": event.registration.url}
        if event.registration.deadline:
            offer["validThrough"] = _instant(event, event.registration.deadline)
        data["offers"] = offer
    speakers = dict.fromkeys(name for s in event.sessions for name in s.speakers)
    if speakers:
        data["performer"] = [{"@type": "Person", "name": name} for name in speakers]
    if event.url:
        data["sameAs"] = event.url
    return data


def json_ld(data: dict[str, Any]) -> Markup:
    """Return ``data`` as the text of a ``<script type="application/ld+json">`` element.

    ``<``, ``>`` and ``&`` are written as JSON escapes, so no text of an event can close
    the element or be read as markup.
    """
    text = json.dumps(data, ensure_ascii=False, indent=1)
    escaped = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(escaped)  # escaped above, for the content of a script element


def open_graph(event: Event, config: Config, page: str, language: str) -> list[tuple[str, str]]:
    """Return the Open Graph properties of an event's page in ``language``, for link previews."""
    summary = event.subtitle or (event.description or "").strip().split("\n\n")[0]
    tags = [
        ("og:type", "website"),
        ("og:site_name", config.site.title),
        ("og:title", event.title),
        ("og:url", page),
        ("og:locale", words.territory_locale(language)),
    ]
    tags += [
        ("og:locale:alternate", words.territory_locale(other))
        for other in config.site.languages
        if other != language
    ]
    if summary:
        tags.append(("og:description", _shortened(summary, 300)))
    return tags


def _when(event: Event, moment: datetime, end: bool = False) -> str:
    if event.all_day:
        if end:
            return event.last_day.isoformat()
        return moment.astimezone(event.timezone).date().isoformat()
    return _instant(event, moment)


def _instant(event: Event, moment: datetime) -> str:
    return moment.astimezone(event.timezone).isoformat()


def _shortened(text: str, most: int) -> str:
    text = " ".join(text.split())
    if len(text) <= most:
        return text
    return text[: most - 1].rsplit(" ", 1)[0] + "…"
