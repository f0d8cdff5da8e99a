"""Calendar entries: one VEVENT per event and per session, as pure functions of the catalog.

An entry is built without its revision (SEQUENCE, DTSTAMP, LAST-MODIFIED); the publisher
hashes it and stamps it afterwards, so the hash says whether anything a client sees changed. UIDs
derive from ids alone: ``<event-id>@<host>`` and ``<event-id>.<session-id>@<host>`` (ids
are slugs, which never contain a dot), so they survive retimed sessions and reordered agendas.

Entries are written in the site's own language (``site.language``): the event's texts as
given in it, and calfeed's own words ("Agenda", "Join online") from its message catalogs.
An edition in another language gives these functions a configuration whose site language is
that one.

Nothing here writes ORGANIZER or ATTENDEE: they turn a published entry into a meeting
request in Outlook. Organisers and contacts go into the description instead.

An online event's join link goes into CONFERENCE (RFC 7986), which Apple Calendar and
Thunderbird read (with ``,`` and ``;`` percent-encoded, see ``conference_uri``), and into
LOCATION and DESCRIPTION, the texts Outlook and Google Calendar
show. A private link is written only into the entry built ``private=True``, which goes to
one confirmed subscriber's personal feed and nowhere else; public entries say where the link
goes instead.
"""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
from babel.dates import format_date
from babel.support import NullTranslations

from .. import language as words
from .. import urls
from ..catalog import Config, Event, Session
from .text import Text, TextList
from .zones import Zones

STATUS = {"confirmed": "CONFIRMED", "tentative": "TENTATIVE", "cancelled": "CANCELLED"}


def uid_domain(config: Config) -> str:
    """Return site.uid_domain (by default the host of site.base_url), the domain of every UID."""
    return config.site.uid_domain


def event_uid(event: Event, config: Config) -> str:
    """Return the UID of an event's entry."""
    return f"{event.id}@{uid_domain(config)}"


def session_uid(event: Event, session: Session, config: Config) -> str:
    """Return the UID of a session's entry."""
    return f"{event.id}.{session.id}@{uid_domain(config)}"


def event_page(event: Event, config: Config) -> str:
    """Return the URL of an event's page."""
    return urls.absolute(config, urls.event(event.id))


def join_url(event: Event, *, private: bool = False) -> str | None:
    """Return the event's join link if whoever reads this may see it: everyone, or (with
    ``private``) a confirmed subscriber."""
    online = event.online
    if online is None or not (online.public or private):
        return None
    return online.join_url


def has_private_link(event: Event) -> bool:
    """Return True if the event's join link is for confirmed subscribers only."""
    return event.online is not None and not event.online.public


def event_entry(
    event: Event, config: Config, zones: Zones, *, private: bool = False
) -> icalendar.Event:
    """Build the entry of one event, its agenda in the description, without a revision.

    ``zones`` are the catalog's (``catalog_zones``): they decide which instants keep the TZID.
    ``private`` writes a private join link in: for a confirmed subscriber's own feed only.
    """
    link = join_url(event, private=private)
    entry = icalendar.Event()
    entry.add("uid", event_uid(event, config))
    entry.add("summary", Text(_summary(event.title, event, config)))
    _add_times(entry, event.start, event.end, None if event.all_day else zones)
    entry.add("status", STATUS[event.status])
    _add_place(entry, event, link, config)
    entry.add("url", event.url or event_page(event, config))
    entry.add("categories", TextList(config.topics[slug].name for slug in event.topics))
    entry.add("description", Text(event_description(event, config, private=private)))
    # All-day and multi-day events are context, not busy time.
    entry.add("transp", "TRANSPARENT" if event.all_day else "OPAQUE")
    return entry


def session_entry(event: Event, session: Session, config: Config, zones: Zones) -> icalendar.Event:
    """Build the entry of one session, related to its event, without a revision."""
    entry = icalendar.Event()
    entry.add("uid", session_uid(event, session, config))
    said = _words(config)
    entry.add("summary", Text(_summary(f"{session.title} – {event.title}", event, config)))
    _add_times(entry, session.start, session.end, zones)
    entry.add("status", STATUS[event.status])
    _add_place(entry, event, join_url(event), config)  # sessions are only ever public
    entry.add("url", event_page(event, config))
    entry.add("related-to", event_uid(event, config))
    lines = []
    if session.speakers:
        lines.append(said.gettext("Speakers: %(names)s") % {"names": "; ".join(session.speakers)})
    if session.description:
        lines.append(session.description.strip())
    part_of = said.gettext("Part of: %(title)s") % {"title": event.title}
    lines.append(f"{part_of}\n{event_page(event, config)}")
    entry.add("description", Text("\n\n".join(lines)))
    return entry


def no_place(place: str | None) -> bool:
    """Return True if ``place`` names no place: none is written, or only "Online"."""
    return place is None or place.casefold() == "online"


def location_text(place: str | None, link: str, language: str) -> str:
    """Write where an online event is, in ``language``: the place as written, then the link."""
    said = words.translations(language)
    if no_place(place):
        return said.gettext("Online: %(link)s") % {"link": link}
    return said.gettext("%(place)s and online: %(link)s") % {"place": place, "link": link}


def public_location(event: Event, language: str) -> str | None:
    """Return where the event is as everyone may read it: with a public join link, if any."""
    link = join_url(event)
    return event.location if link is None else location_text(event.location, link, language)


def _add_place(entry: icalendar.Event, event: Event, link: str | None, config: Config) -> None:
    """Add LOCATION and, for a join link the reader may see, CONFERENCE."""
    if link is None:
        if event.location:
            entry.add("location", Text(event.location))
        return
    language = config.site.language
    entry.add("location", Text(location_text(event.location, link, language)))
    label = join_label(language)
    entry.add(
        "conference",
        conference_uri(link),
        parameters={"VALUE": "URI", "FEATURE": "VIDEO", "LABEL": label},
    )


def join_label(language: str) -> str:
    """Return what a join link is called in ``language``: ``Join online``."""
    return words.translations(language).gettext("Join online")


def join_text(link: str, language: str) -> str:
    """Write the join link in a text, in ``language``: ``Join online: <link>``."""
    return words.translations(language).gettext("Join online: %(link)s") % {"link": link}


def conference_uri(link: str) -> str:
    """Return ``link`` as CONFERENCE carries it: ``,`` and ``;`` percent-encoded.

    A URI value needs no escapes, but vobject (in Radicale and other CalDAV servers) reads
    CONFERENCE as text: it cuts the value at a comma and escapes a semicolon, and serves the
    link broken. Percent-encoded, the link reads back whole everywhere and means the same to
    the meeting's web server, which decodes its query.
    """
    return link.replace(",", "%2C").replace(";", "%3B")


def event_description(event: Event, config: Config, *, private: bool = False) -> str:
    """Write the plain-text description: subtitle, text, agenda, organiser, contacts, links.

    ``private`` writes a private join link in; without it, the text says who gets the link.
    """
    said = _words(config)
    parts: list[str] = []
    if event.status == "cancelled":
        parts.append(said.gettext("This event is cancelled."))
    if event.subtitle:
        parts.append(event.subtitle)
    if event.description:
        parts.append(event.description.strip())
    if event.sessions:
        parts.append(_agenda(event, config.site.language))
    if event.organizer:
        organizer = event.organizer
        details = ", ".join(x for x in (organizer.email, organizer.url) if x)
        text = said.gettext("Organiser: %(name)s") % {"name": organizer.name}
        parts.append(text + (f" ({details})" if details else ""))
    for contact in event.contacts:
        details = ", ".join(x for x in (contact.role, contact.email, contact.phone) if x)
        text = said.gettext("Contact: %(name)s") % {"name": contact.name}
        parts.append(text + (f", {details}" if details else ""))
    registration = event.registration
    if registration and registration.deadline:
        local = registration.deadline.astimezone(event.timezone)
        values = {
            "when": f"{local:%Y-%m-%d %H:%M}",
            "zone": event.timezone.key,
            "url": registration.url,
        }
        if registration.url:
            text = said.gettext("Registration closes %(when)s (%(zone)s): %(url)s")
        else:
            text = said.gettext("Registration closes %(when)s (%(zone)s)")
        parts.append(text % values)
    elif registration and registration.url:
        parts.append(said.gettext("Registration: %(url)s") % {"url": registration.url})
    if event.online is not None:
        link = join_url(event, private=private)
        if link is not None:
            parts.append(join_text(link, config.site.language))
        else:
            signup = urls.absolute(config, urls.SUBSCRIBE)
            note = said.gettext(
                "Join online: the join link is sent to confirmed subscribers of its "
                "reminders; sign up at %(url)s"
            )
            parts.append(note % {"url": signup})
    parts.append(said.gettext("More: %(url)s") % {"url": event_page(event, config)})
    return "\n\n".join(parts)


def _agenda(event: Event, language: str) -> str:
    said = words.translations(language)
    lines = [said.gettext("Agenda (times in %(zone)s):") % {"zone": event.timezone.key}]
    multi_day = event.first_day != event.last_day
    for session in event.sessions:
        start, end = (
            session.start.astimezone(event.timezone),
            session.end.astimezone(event.timezone),
        )
        # "Mon 07 Dec": the weekday and month as ``language`` abbreviates them.
        day = ""
        if multi_day:
            day = format_date(start, "EEE dd MMM", locale=words.locale(language)) + " "
        line = f"{day}{start:%H:%M}–{end:%H:%M} {session.title}"
        if session.speakers:
            line += f" ({'; '.join(session.speakers)})"
        lines.append(line)
    return "\n".join(lines)


def _summary(title: str, event: Event, config: Config) -> str:
    # Outlook shows cancelled entries like any other, so the title has to say it.
    if event.status != "cancelled":
        return title
    return _words(config).gettext("Cancelled: %(title)s") % {"title": title}


def _words(config: Config) -> NullTranslations:
    """Return calfeed's own words in the site's language, which entries are written in."""
    return words.translations(config.site.language)


def _add_times(entry: icalendar.Event, start: datetime, end: datetime, zones: Zones | None) -> None:
    """Add DTSTART and DTEND: dates without ``zones`` (all day), else instants as written."""
    if zones is None:
        entry.add("dtstart", start.date())
        entry.add("dtend", end.date())  # exclusive: the day after the last day
    else:
        entry.add("dtstart", _written(start, zones))
        entry.add("dtend", _written(end, zones))


def _written(moment: datetime, zones: Zones) -> datetime:
    """Return ``moment`` as wall time in its zone, or in UTC where a reader would misread that.

    A wall time that happens twice means its first occurrence to RFC 5545 (3.3.5) but the
    second to ical.js (Thunderbird) and libical (Evolution); classic Outlook reads a zone by
    one rule for every year, so Moscow in 2026 gets the daylight saving time of 2010. Only
    UTC names one instant to all of them (see ``zones``).
    """
    tzid = getattr(moment.tzinfo, "key", None)
    if tzid is not None and zones[tzid].carries(moment):
        return moment
    return moment.astimezone(UTC)
