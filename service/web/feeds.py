"""Feeds over HTTP: topic calendars, one event's calendar, and Atom and JSON Feed, cheap to poll.

Calendars answer ``text/calendar; charset=utf-8``; beside each topic calendar the same
events come as Atom (``.atom``) and JSON Feed (``.json``) for feed readers. Every feed
answers with a strong ETag and Last-Modified, and a 304 to a matching conditional request,
so a client polling every few hours costs little. A feed's name is ``all``, a topic's slug,
or slugs joined by ``+``, the same for every format. Each feed is also served in the other
languages of the site, under their paths (``/fr/feeds/all.ics``, see ``languages``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial

from flask import Blueprint, Flask, Response, abort, request
from markupsafe import Markup

from .. import parallel, urls
from ..calendar.edition import ALL, Edition, Feed
from ..catalog import Event, Topic
from ..catalog.values import SLUG
from ..live import LiveCatalog
from .current import live_catalog
from .languages import feed_language
from .page_cache import cached_parts
from .syndication import (
    ATOM_TYPE,
    JSON_FEED_TYPE,
    Channel,
    atom_feed,
    content_html,
    items,
    json_feed,
)

bp = Blueprint("feeds", __name__)


@bp.get(urls.FEED)
def topic_feed(name: str) -> Response:
    """Serve the feed of one topic, several joined by '+', or 'all'."""
    live = live_catalog()
    edition = live.edition.in_language(feed_language())
    slugs = _slugs_or_404(name, edition)
    since = cut_off(live)
    return serve_feed(edition.topic_feed(slugs, since), f"{'+'.join(slugs)}.ics", edition)


@bp.get(urls.FEED_ATOM)
def atom(name: str) -> Response:
    """Serve a feed's events as Atom."""
    return _reader_feed(name, "atom")


@bp.get(urls.FEED_JSON)
def json(name: str) -> Response:
    """Serve a feed's events as JSON Feed 1.1."""
    return _reader_feed(name, "json")


READER_FORMATS = ("atom", "json")


def _reader_feed(name: str, extension: str) -> Response:
    live = live_catalog()
    edition = live.edition.in_language(feed_language())
    slugs = _slugs_or_404(name, edition)
    key, path, written = _reader_document(edition, slugs, cut_off(live), extension)
    feed = edition.document(key, path, written)
    kind = ATOM_TYPE if extension == "atom" else JSON_FEED_TYPE
    return serve_feed(feed, f"{'+'.join(slugs)}.{extension}", edition, kind)


def _reader_document(
    edition: Edition, slugs: tuple[str, ...], since: datetime | None, extension: str
) -> tuple[tuple[str, ...], str, Callable[[], bytes]]:
    """Return the key, the revision's path and the builder of a feed for readers."""
    build = atom_feed if extension == "atom" else json_feed
    config = edition.catalog.config
    html = _content(edition)

    def written() -> bytes:
        channel = feed_channel(edition, slugs, since)
        events = edition.topic_events(slugs, since)
        updated = {event.id: edition.entry(event.id).last_modified for event in events}
        return build(channel, items(events, edition.publications, updated), config, html)

    key = (extension, *slugs, since.isoformat() if since else "")
    return key, urls.feed(slugs, extension).lstrip("/"), written


def _content(edition: Edition) -> Callable[[Event], Markup]:
    """Return what a feed reader shows of each event, from this request's cache of parts."""
    config = edition.catalog.config
    parts = cached_parts(edition)

    def html(event: Event) -> Markup:
        # Written once for every feed that holds the event, and kept while it is unchanged.
        render = partial(content_html, event, config)
        return parts(event, ("feed content", config.site.base_url), render)

    return html


def build_reader_feeds(
    live: LiveCatalog, edition: Edition, feeds: Sequence[tuple[str, ...]]
) -> None:
    """Build now the Atom and JSON Feed of each of ``feeds`` of ``edition`` (the live one, or
    it in a language), as requests for them would.

    In a request's context (the parts cache is the app's). For a large catalog they are
    written on every core, each event's content once, here, before; their revisions are
    recorded here, in one pass.
    """
    since = cut_off(live)
    documents = [
        _reader_document(edition, slugs, since, extension)
        for slugs in feeds
        for extension in READER_FORMATS
    ]
    many = len(edition.catalog.events) >= parallel.AT_LEAST
    if many:
        html = _content(edition)
        for event in edition.catalog.events:
            html(event)
    # Each feed is a large piece of work once the catalog is large, and a small one before.
    bodies = parallel.run_all([written for *_, written in documents], at_least=2 if many else None)
    edition.build_documents(
        [(key, path, body) for (key, path, _), body in zip(documents, bodies, strict=True)]
    )


def feed_channel(edition: Edition, slugs: tuple[str, ...], since: datetime | None) -> Channel:
    """Return what the feed of ``slugs`` says about itself, as its calendar does."""
    config = edition.catalog.config
    title, description = edition.feed_title(slugs)
    home = urls.topic(slugs[0]) if len(slugs) == 1 and ALL not in slugs else urls.HOME
    # When its calendar last changed: what an empty feed says it was updated, so that an
    # edit elsewhere leaves it, and its ETag, alone.
    changed = edition.topic_feed(slugs, since).last_modified
    return Channel(title, description, slugs, urls.absolute(config, home), changed)


def cut_off(live: LiveCatalog) -> datetime | None:
    """Return the moment before which ended events leave the feeds (feed.keep_past_days)."""
    keep = live.edition.catalog.config.feed.keep_past_days
    return None if keep is None else _start_of_day(live.clock() - timedelta(days=keep))


def _slugs_or_404(name: str, edition: Edition) -> tuple[str, ...]:
    slugs = feed_slugs(name, edition.catalog.config.topics)
    if slugs is None:
        abort(404)
    return slugs


@bp.get(urls.EVENT_CALENDAR)
def event_feed(event_id: str) -> Response:
    """Serve one event with an entry per session."""
    edition = live_catalog().edition.in_language(feed_language())
    if event_id not in edition.catalog.by_id:
        abort(404)
    return serve_feed(edition.event_feed(event_id), f"{event_id}.ics", edition)


def feed_slugs(name: str, topics: Mapping[str, Topic]) -> tuple[str, ...] | None:
    """Return the canonical (sorted, unique) topics a feed name asks for, or None."""
    if name == ALL:
        return (ALL,)
    slugs = name.split("+")
    if not all(SLUG.fullmatch(slug) and slug in topics for slug in slugs):
        return None
    return tuple(sorted(set(slugs)))


def serve_feed(
    feed: Feed,
    filename: str,
    edition: Edition,
    content_type: str = "text/calendar; charset=utf-8",
) -> Response:
    """Answer with a feed of ``edition`` (a calendar by default): validators for caching, 304
    when current, and the language it is written in."""
    response = Response(feed.body, content_type=content_type)
    response.headers["Content-Language"] = edition.language
    response.set_etag(feed.etag)
    response.last_modified = feed.last_modified
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "public, max-age=300"  # as cache_control would write it
    response.make_conditional(request)  # turns it into a 304 when the client is current
    return response


def build_topic_feeds(live: LiveCatalog) -> None:
    """Build now the feed of every event and of each topic, in each language the site offers,
    as requests for them would."""
    edition = live.edition
    site = edition.catalog.config.site
    feeds = [(ALL,), *((slug,) for slug in edition.catalog.config.topics)]
    for language in dict.fromkeys((site.language, *site.languages)):
        edition.in_language(language).build_topic_feeds(feeds, cut_off(live))


def _start_of_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def init_app(app: Flask) -> None:
    """Register the feed routes."""
    app.register_blueprint(bp)
