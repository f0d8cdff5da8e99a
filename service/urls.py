"""Every public address of the site, in one place: routes, pages, feeds, mails and the export.

Each address has a route rule (what Flask matches) and a function that writes its path;
``absolute`` puts ``site.base_url`` in front, for the links that leave the site (feeds,
mails, subscribe links). Nothing else writes a path of the site by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from .catalog import Config

# Route rules.
HOME = "/"
TOPIC = "/topics/<string:slug>"
EVENT = "/events/<string:event_id>"
EVENT_CALENDAR = "/events/<string:event_id>.ics"
FEED = "/feeds/<string:name>.ics"
FEED_ATOM = "/feeds/<string:name>.atom"
FEED_JSON = "/feeds/<string:name>.json"
EMBED = "/embed/<string:name>"
BUILDER = "/builder"
PERSONAL_FEED = "/feeds/personal/<token>.ics"
SUBSCRIBE = "/subscribe"
CONFIRM = "/confirm/<token>"
PREFERENCES = "/preferences/<token>"
UNSUBSCRIBE = "/unsubscribe/<token>"
HEALTH = "/healthz"


def topic(slug: str) -> str:
    """Return the path of a topic's page."""
    return f"/topics/{quote(slug)}"


def event(event_id: str) -> str:
    """Return the path of an event's page."""
    return f"/events/{quote(event_id)}"


def event_calendar(event_id: str) -> str:
    """Return the path of an event's own calendar (its entry and its sessions')."""
    return event(event_id) + ".ics"


def feed(slugs: Iterable[str], extension: str = "ics") -> str:
    """Return the path of the feed of ``slugs`` (``("all",)`` for every topic).

    ``extension`` is its format: ``ics`` (a calendar), ``atom`` or ``json`` (JSON Feed).
    """
    return f"/feeds/{'+'.join(slugs)}.{extension}"


def embed(slugs: Iterable[str]) -> str:
    """Return the path of the page of a feed's upcoming events, for another site's iframe."""
    return f"/embed/{'+'.join(slugs)}"


def personal_feed(token: str) -> str:
    """Return the path of one subscriber's own feed."""
    return f"/feeds/personal/{token}.ics"


def confirm(token: str) -> str:
    """Return the path that confirms a sign-up."""
    return f"/confirm/{token}"


def preferences(token: str) -> str:
    """Return the path of a subscriber's preferences page."""
    return f"/preferences/{token}"


def unsubscribe(token: str) -> str:
    """Return the path that unsubscribes in one click."""
    return f"/unsubscribe/{token}"


def absolute(config: Config, path: str) -> str:
    """Return ``path`` as a link from outside: ``site.base_url`` in front of it."""
    return config.site.base_url + path


def in_language(config: Config, language: str, path: str) -> str:
    """Return ``path`` of the site in ``language`` as a link from outside.

    The site's own language is at the path itself; each other one under its code:
    ``/fr/feeds/all.ics``.
    """
    if language != config.site.language:
        path = f"/{language}{path}"
    return absolute(config, path)
