"""Links that add calendars and events to people's calendar apps.

A feed is offered as ``webcal://`` (Apple Calendar, Outlook desktop), through Google's
``cid=`` (which takes the webcal URL) and Outlook.com's ``addfromweb`` (which takes the https
URL). One event can be added once to Google or Outlook.com from its times in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from .. import urls
from ..calendar.entries import public_location
from ..catalog import Config, Event


@dataclass(frozen=True, slots=True)
class SubscribeLinks:
    """The ways to subscribe to one feed."""

    https: str
    webcal: str
    google: str
    outlook: str


def subscribe_links(feed_url: str, name: str) -> SubscribeLinks:
    """Return the subscribe links of the feed at ``feed_url`` (absolute http or https)."""
    parts = urlsplit(feed_url)
    webcal = urlunsplit(("webcal", *parts[1:]))
    google = "https://calendar.google.com/calendar/render?" + urlencode({"cid": webcal})
    outlook = "https://outlook.live.com/calendar/0/addfromweb?" + urlencode(
        {"url": feed_url, "name": name}
    )
    return SubscribeLinks(feed_url, webcal, google, outlook)


def feed_url(config: Config, slugs: tuple[str, ...], language: str) -> str:
    """Return the absolute URL of the feed of ``slugs``, written in ``language``."""
    return urls.in_language(config, language, urls.feed(slugs))


def google_event_link(event: Event, details: str, language: str) -> str:
    """Return a link that opens Google Calendar's form prefilled with ``event``, in ``language``."""
    if event.all_day:
        dates = f"{event.first_day:%Y%m%d}/{event.last_day + timedelta(days=1):%Y%m%d}"
    else:
        dates = f"{_utc(event.start)}/{_utc(event.end)}"
    query = {"action": "TEMPLATE", "text": event.title, "dates": dates, "details": details}
    query["ctz"] = event.timezone.key
    if where := public_location(event, language):
        query["location"] = where
    return "https://calendar.google.com/calendar/render?" + urlencode(query)


def outlook_event_link(event: Event, details: str, language: str) -> str:
    """Return a link that opens Outlook.com's new-event form prefilled with ``event``, in
    ``language``."""
    query = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": event.title,
        "body": details,
    }
    if event.all_day:
        query["startdt"] = event.first_day.isoformat()
        query["enddt"] = (event.last_day + timedelta(days=1)).isoformat()
        query["allday"] = "true"
    else:
        query["startdt"] = event.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        query["enddt"] = event.end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if where := public_location(event, language):
        query["location"] = where
    return "https://outlook.live.com/calendar/0/deeplink/compose?" + urlencode(query)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
