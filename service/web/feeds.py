"""ICS over HTTP: topic feeds and one event's calendar, cheap to poll.

Feeds answer ``text/calendar; charset=utf-8`` with a strong ETag and Last-Modified, and a
304 to a matching conditional request, so a client polling every few hours costs little.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from flask import Blueprint, Flask, Response, abort, request

from .. import urls
from ..calendar.edition import ALL, Edition, Feed
from ..catalog import Topic
from ..catalog.values import SLUG
from ..live import LiveCatalog
from .current import live_catalog

bp = Blueprint("feeds", __name__)


@bp.get(urls.FEED)
def topic_feed(name: str) -> Response:
    """Serve the feed of one topic, several joined by '+', or 'all'."""
    live = live_catalog()
    edition = live.edition
    slugs = feed_slugs(name, edition.catalog.config.topics)
    if slugs is None:
        abort(404)
    since = _since(edition, live.clock())
    return serve_feed(edition.topic_feed(slugs, since), f"{'+'.join(slugs)}.ics")


@bp.get(urls.EVENT_CALENDAR)
def event_feed(event_id: str) -> Response:
    """Serve one event with an entry per session."""
    edition = live_catalog().edition
    if event_id not in edition.catalog.by_id:
        abort(404)
    return serve_feed(edition.event_feed(event_id), f"{event_id}.ics")


def feed_slugs(name: str, topics: Mapping[str, Topic]) -> tuple[str, ...] | None:
    """Return the canonical (sorted, unique) topics a feed name asks for, or None."""
    if name == ALL:
        return (ALL,)
    slugs = name.split("+")
    if not all(SLUG.fullmatch(slug) and slug in topics for slug in slugs):
        return None
    return tuple(sorted(set(slugs)))


def serve_feed(feed: Feed, filename: str) -> Response:
    """Answer with a calendar: its type, validators for caching, 304 when current."""
    response = Response(feed.body, content_type="text/calendar; charset=utf-8")
    response.set_etag(feed.etag)
    response.last_modified = feed.last_modified
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.cache_control.public = True
    response.cache_control.max_age = 300
    response.make_conditional(request)  # turns it into a 304 when the client is current
    return response


def build_topic_feeds(live: LiveCatalog) -> None:
    """Build now the feed of every event and of each topic, as requests for them would."""
    edition = live.edition
    feeds = [(ALL,), *((slug,) for slug in edition.catalog.config.topics)]
    edition.build_topic_feeds(feeds, _since(edition, live.clock()))


def _since(edition: Edition, now: datetime) -> datetime | None:
    """Return the end before which events are left out of feeds (feed.keep_past_days)."""
    keep = edition.catalog.config.feed.keep_past_days
    return None if keep is None else _start_of_day(now - timedelta(days=keep))


def _start_of_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def init_app(app: Flask) -> None:
    """Register the feed routes."""
    app.register_blueprint(bp)
