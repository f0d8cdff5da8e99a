"""The feeds for readers: Atom (RFC 4287, written by feedgen) and JSON Feed 1.1.

Beside each calendar (``/feeds/<name>.ics``) the same events are offered to feed readers,
newsletters and partner sites (``.atom`` and ``.json``): one item per event, the latest
start first, cancelled ones kept with a title that says so, as in the calendar. An item's
id is derived from the event's calendar UID (so it lasts as long as the UID), it was
published when calfeed first published the event, and updated at its entry's last
revision. Both are pure functions of the edition's events, so an unchanged feed is
byte-identical and keeps its ETag.

Readers that understand nothing of calendars still get the dates, the place and the text;
a JSON Feed item also carries the event's times as data, in the ``_event`` extension (a
key starting with an underscore, which JSON Feed leaves to publishers).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from babel.support import NullTranslations
from feedgen.feed import FeedGenerator
from markupsafe import Markup

from .. import language as words
from .. import urls
from ..calendar.entries import event_description, event_page, event_uid
from ..catalog import Config, Event
from ..store.publications import Publication
from .display import event_dates, text_blocks

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
JSON_FEED_TYPE = "application/feed+json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Channel:
    """What a feed says about itself: its name, description and addresses."""

    title: str
    description: str | None
    slugs: tuple[str, ...]
    home: str  # the page that lists its events
    updated: datetime  # when its calendar last changed: an empty feed's updated


@dataclass(frozen=True, slots=True)
class Item:
    """One event as a feed item."""

    event: Event
    published: datetime
    updated: datetime


def items(
    events: Iterable[Event],
    publications: Mapping[str, Publication],
    updated: Mapping[str, datetime | None],
) -> list[Item]:
    """Return the feed items of ``events``, the latest start first."""
    listed = []
    for event in sorted(events, key=lambda e: (e.start, e.id), reverse=True):
        published = publications[event.id].published_at
        listed.append(Item(event, published, updated.get(event.id) or published))
    return listed


def atom_feed(channel: Channel, entries: list[Item], config: Config, html: Html) -> bytes:
    """Return the Atom feed of ``entries``."""
    feed = FeedGenerator()
    feed.id(_id(config, urls.feed(channel.slugs, "atom")))
    feed.title(channel.title)
    if channel.description:
        feed.subtitle(channel.description)
    feed.author({"name": config.site.title, "uri": urls.absolute(config, urls.HOME)})
    feed.link(href=urls.absolute(config, urls.feed(channel.slugs, "atom")), rel="self")
    feed.link(href=channel.home, rel="alternate", type="text/html")
    feed.link(
        href=urls.absolute(config, urls.feed(channel.slugs)), rel="alternate", type="text/calendar"
    )
    feed.language(config.site.language)
    feed.generator("calfeed")
    feed.updated(_updated(channel, entries))
    for item in entries:
        event = item.event
        entry = feed.add_entry(order="append")
        entry.id(_id(config, event_uid(event, config)))
        entry.title(_title(event, config))
        # One link, the event's page: feedgen 1.0 drops rel and type from an entry's links,
        # and a link without rel is the alternate. The calendar is linked in the content.
        entry.link(href=event_page(event, config))
        entry.published(item.published)
        entry.updated(item.updated)
        if event.organizer:
            entry.author({"name": event.organizer.name})
        if event.subtitle:
            entry.summary(event.subtitle)
        entry.content(str(html(event)), type="html")
        for slug in event.topics:
            entry.category(term=slug, label=config.topics[slug].name)
    data: bytes = feed.atom_str(pretty=True)
    return data


def json_feed(channel: Channel, entries: list[Item], config: Config, html: Html) -> bytes:
    """Return the JSON Feed (version 1.1) of ``entries``."""
    document: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": channel.title,
        "home_page_url": channel.home,
        "feed_url": urls.absolute(config, urls.feed(channel.slugs, "json")),
    }
    if channel.description:
        document["description"] = channel.description
    document["authors"] = [{"name": config.site.title, "url": urls.absolute(config, urls.HOME)}]
    document["language"] = config.site.language
    document["items"] = [_json_item(item, config, html) for item in entries]
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return text.encode("utf-8")


def _json_item(item: Item, config: Config, html: Html) -> dict[str, Any]:
    event = item.event
    found: dict[str, Any] = {
        "id": _id(config, event_uid(event, config)),
        "url": event_page(event, config),
        "title": _title(event, config),
        "content_html": str(html(event)),
        "content_text": event_description(event, config),
    }
    if event.url:
        found["external_url"] = event.url
    if event.subtitle:
        found["summary"] = event.subtitle
    found["date_published"] = _rfc3339(item.published)
    found["date_modified"] = _rfc3339(item.updated)
    if event.organizer:
        found["authors"] = [{"name": event.organizer.name}]
    found["tags"] = [config.topics[slug].name for slug in event.topics]
    found["attachments"] = [
        {
            "url": urls.absolute(config, urls.event_calendar(event.id)),
            "mime_type": "text/calendar",
            "title": _words(config).gettext("Add to calendar"),
        }
    ]
    local = event.timezone
    found["_event"] = {
        "start": event.start.astimezone(local).isoformat(),
        "end": event.end.astimezone(local).isoformat(),
        "all_day": event.all_day,
        "timezone": local.key,
        "status": event.status,
        **({"location": event.location} if event.location else {}),
    }
    return found


# What a feed reader shows of an event: ``content_html``, or the same from a cache.
Html = Callable[[Event], Markup]


def content_html(event: Event, config: Config) -> Markup:
    """Write what a feed reader shows of an event: when, where, the text, the agenda, links."""
    parts = []
    said = _words(config)
    if event.status == "cancelled":
        cancelled = said.gettext("This event is cancelled.")
        parts.append(Markup("<p><strong>{}</strong></p>").format(cancelled))
    if event.subtitle:
        parts.append(Markup("<p><em>{}</em></p>").format(event.subtitle))
    when = event_dates(event, config.site.language)
    parts.append(Markup("<p>{} ({})</p>").format(when, event.timezone.key))
    if event.location:
        parts.append(Markup("<p>{}</p>").format(event.location))
    if event.description:
        parts.append(text_blocks(event.description))
    if event.sessions:
        rows = []
        for session in event.sessions:
            start = session.start.astimezone(event.timezone)
            end = session.end.astimezone(event.timezone)
            speakers = f" ({'; '.join(session.speakers)})" if session.speakers else ""
            rows.append(
                Markup("<li>{:%H:%M} – {:%H:%M} {}{}</li>").format(
                    start, end, session.title, speakers
                )
            )
        agenda = said.gettext("Agenda:")
        parts.append(Markup("<p>{}</p><ul>{}</ul>").format(agenda, Markup("").join(rows)))
    if event.organizer:
        organiser = said.gettext("Organiser: %(name)s") % {"name": event.organizer.name}
        parts.append(Markup("<p>{}</p>").format(organiser))
    if event.registration and event.registration.url:
        register = said.gettext("Register")
        parts.append(Markup('<p><a href="{}">{}</a></p>').format(event.registration.url, register))
    calendar = urls.absolute(config, urls.event_calendar(event.id))
    parts.append(
        Markup('<p><a href="{}">{}</a> · <a href="{}">{}</a></p>').format(
            event_page(event, config),
            said.gettext("Event page"),
            calendar,
            said.gettext("Add to calendar (.ics)"),
        )
    )
    return Markup("\n").join(parts)


def _title(event: Event, config: Config) -> str:
    if event.status == "cancelled":
        return _words(config).gettext("Cancelled: %(title)s") % {"title": event.title}
    return event.title


def _words(config: Config) -> NullTranslations:
    """Return the words of the site's own language, which the feeds are written in."""
    return words.translations(config.site.language)


def _id(config: Config, name: str) -> str:
    """Return a lasting id for ``name`` (a UID, a feed's path) on this site's UID domain."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{config.site.uid_domain}/{name}").urn


def _updated(channel: Channel, entries: list[Item]) -> datetime:
    return max((item.updated for item in entries), default=channel.updated)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
