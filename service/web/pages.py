"""HTML pages: the events by month, one topic, one event; each with its subscribe links.

Pages are plain server-rendered HTML. Times show in the event's own zone; a few lines of
JavaScript (``static/localtime.js``) add the viewer's own time beside them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from functools import partial
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from .. import language as words
from .. import urls
from ..calendar.edition import ALL, Edition
from ..calendar.entries import event_page, join_text, join_url
from ..catalog import Config, Event
from ..live import LiveCatalog
from .current import live_catalog, page_url
from .display import event_dates, text_blocks
from .embed import snippet
from .feeds import feed_slugs
from .languages import page_language, topics_in
from .links import feed_url, google_event_link, outlook_event_link, subscribe_links
from .page_cache import built_page, cached_page, cached_parts
from .signup import SignupForm, signup_form, zone_options
from .structured import event_data, json_ld, open_graph

bp = Blueprint("pages", __name__)


@bp.get(urls.HOME)
def index() -> Response:
    """List upcoming events by month, past events below."""
    live = live_catalog()
    edition = live.edition
    return cached_page(edition, "index", live.clock(), partial(_home, live, edition))


def build_home(app: Flask) -> datetime | None:
    """Render the home page now, as a request for it would; return when it changes."""
    with app.test_request_context(urls.HOME):
        live = live_catalog()
        edition = live.edition
        return built_page(edition, "index", live.clock(), partial(_home, live, edition)).until


def _home(live: LiveCatalog, edition: Edition) -> tuple[str, datetime | None]:
    catalog = edition.catalog
    listing, until = _listing(edition, catalog.events, live.clock())
    language = page_language()
    links = subscribe_links(feed_url(catalog.config, (ALL,), language), catalog.config.site.title)
    html = render_template("index.html", catalog=catalog, listing=listing, subscribe=links)
    return html, until


@bp.get(urls.TOPIC)
def topic(slug: str) -> Response:
    """List one topic's events with its subscribe links and a sign-up form."""
    live = live_catalog()
    edition = live.edition
    catalog = edition.catalog
    found = catalog.config.topics.get(slug)
    if found is None:
        abort(404)
    found = found.in_language(page_language())

    def render() -> tuple[str, datetime | None]:
        events = catalog.by_topic.get(slug, ())
        listing, until = _listing(edition, events, live.clock())
        name = f"{catalog.config.site.title}: {found.name}"
        html = render_template(
            "topic.html",
            catalog=catalog,
            topic=found,
            form=signup_form(SignupForm, formdata=None, topics=[slug]),
            zones=zone_options(),
            listing=listing,
            subscribe=subscribe_links(feed_url(catalog.config, (slug,), page_language()), name),
            snippet=snippet(page_url(catalog.config, "embed.embed", name=slug), found.name),
        )
        return html, until

    return cached_page(edition, ("topic", slug), live.clock(), render)


@bp.get(urls.BUILDER)
def builder() -> Response:
    """Show the subscribe links and embed snippet of the topics ticked on the home page."""
    live = live_catalog()
    edition = live.edition
    catalog = edition.catalog
    config = catalog.config
    ticked = request.args.getlist("topics")
    slugs = feed_slugs("+".join(ticked), config.topics) if ticked else ()
    if slugs is None:
        abort(404)  # only a hand-made address names a topic the form does not offer

    def render() -> tuple[str, None]:
        chosen = None
        if slugs:
            language = page_language()
            topics = topics_in(config, language)
            names = ", ".join(topics[slug].name for slug in slugs)
            title = f"{config.site.title}: {names}"
            chosen = {
                "names": names,
                "subscribe": subscribe_links(feed_url(config, slugs, language), title),
                "atom": urls.in_language(config, language, urls.feed(slugs, "atom")),
                "json": urls.in_language(config, language, urls.feed(slugs, "json")),
                "snippet": snippet(page_url(config, "embed.embed", name="+".join(slugs)), names),
            }
        html = render_template("builder.html", catalog=catalog, ticked=slugs, chosen=chosen)
        return html, None

    return cached_page(edition, ("builder", slugs), live.clock(), render)


@bp.get(urls.EVENT)
def event(event_id: str) -> Response:
    """Show one event with its agenda and its add-to-calendar links."""
    live = live_catalog()
    edition = live.edition
    catalog = edition.catalog
    stored = catalog.by_id.get(event_id)
    if stored is None:
        abort(404)
    found = stored.in_language(page_language())

    def render() -> tuple[str, None]:
        language = page_language()
        details = _details(found, catalog.config, language)
        page = page_url(catalog.config, "pages.event", event_id=event_id)
        data = event_data(found, page, edition.previous_start(event_id))
        html = render_template(
            "event.html",
            catalog=catalog,
            event=found,
            google=google_event_link(found, details, language),
            outlook=outlook_event_link(found, details, language),
            json_ld=json_ld(data),
            open_graph=open_graph(found, catalog.config, page, language),
            canonical=page,
            join_url=join_url(found),
        )
        return html, None

    return cached_page(edition, ("event", event_id), live.clock(), render)


def _listing(
    edition: object, events: Iterable[Event], now: datetime
) -> tuple[Markup, datetime | None]:
    """Render what a list page shows: upcoming events by month, then past ones, latest first.

    Also return when it changes: when the first upcoming event ends.
    """
    events = list(events)
    past = [e for e in events if e.end <= now]
    upcoming = [e for e in events if e.end > now]
    # A module of its own each time: the export renders the same macros with its own url_for.
    macros: Any = current_app.jinja_env.get_template("_macros.html").make_module({})

    parts = cached_parts(edition)
    language = page_language()

    def entries(events: Iterable[Event]) -> Markup:
        """Join the events' entries, each rendered once while it is unchanged."""
        # Each entry is Markup, escaped when rendered: joined as it is, not escaped again.
        return Markup(
            "".join(
                parts(event, "item", partial(macros.event_item, event.in_language(language)))
                for event in events
            )
        )

    months = [(month, entries(events)) for month, events in _by_month(upcoming, language)]
    html = macros.event_lists(months, entries(past[::-1]))
    return Markup(html), min((e.end for e in upcoming), default=None)


def _by_month(events: list[Event], language: str) -> list[tuple[str, list[Event]]]:
    """Group events under the month they start in, in their own zone, months in order."""
    months: dict[tuple[int, int], list[Event]] = defaultdict(list)
    for event in events:  # already in order of start
        local = event.start.astimezone(event.timezone)
        months[(local.year, local.month)].append(event)
    return [(words.month(date(*month, 1), language), months[month]) for month in sorted(months)]


def _details(event: Event, config: Config, language: str) -> str:
    parts = [event.subtitle or ""]
    if link := join_url(event):  # public links only: these are public pages
        parts.append(join_text(link, language))
    parts.append(event_page(event, config))
    return "\n\n".join(part for part in parts if part)


# What a visitor reads instead of Flask's bare error pages.
ERRORS = {
    404: (
        lazy_gettext("Page not found"),
        lazy_gettext("There is no page at this address. The event may have moved."),
    ),
    405: (
        lazy_gettext("Not allowed"),
        lazy_gettext("This address does not take that kind of request."),
    ),
    410: (lazy_gettext("Gone"), lazy_gettext("What was here is not available any more.")),
}


def error_page(error: HTTPException) -> ResponseReturnValue:
    """Answer an HTTP error with a page in the site's own look."""
    code = error.code or 500
    title, text = ERRORS[code]
    catalog = live_catalog().edition.catalog
    return render_template("error.html", catalog=catalog, title=title, text=text), code


def init_app(app: Flask) -> None:
    """Register the pages, their error pages and the template helpers they use."""
    app.register_blueprint(bp)
    for code in ERRORS:
        app.register_error_handler(code, error_page)
    app.jinja_env.filters["dates"] = lambda event: event_dates(event, page_language())
    app.jinja_env.filters["long_date"] = lambda day: words.long_date(day, page_language())
    app.jinja_env.filters["weekday"] = lambda day: words.weekday(day, page_language())
    app.jinja_env.filters["clock"] = words.clock
    app.jinja_env.filters["zone_name"] = words.zone_name
    app.jinja_env.filters["text_blocks"] = text_blocks
