"""Embeds: a feed's upcoming events as a small page for a partner site's iframe.

``/embed/<name>`` (``all``, a slug, ``a+b``, as the feeds) lists the next events of a feed
with its subscribe links, in a page styled to sit inside someone else's: no site header,
its own small style sheet, every link opening outside the frame. It is the one page any
site may frame (``frame-ancestors *``, no X-Frame-Options; ``security`` keeps refusing
it everywhere else), and it sets no cookie: it has no form, no session and no script.
Like the lists of the other pages it is rendered once per edition and again when its first
upcoming event ends; the export writes it as ``embed/<name>.html``.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, Response, abort, render_template
from flask_babel import gettext
from markupsafe import Markup

from .. import urls
from ..calendar.edition import ALL
from ..catalog import Config
from .current import live_catalog, page_url
from .feeds import feed_slugs
from .languages import page_language, topics_in
from .links import feed_url, subscribe_links
from .page_cache import cached_page

bp = Blueprint("embed", __name__)

MOST = 10  # events listed; the rest are a link away
POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'none'; "
    "frame-ancestors *; base-uri 'none'"
)
HEIGHT = 480  # pixels of the iframe the snippet writes


@bp.get(urls.EMBED)
def embed(name: str) -> Response:
    """Show the upcoming events of a feed, for another site to frame."""
    live = live_catalog()
    edition = live.edition
    config = edition.catalog.config
    slugs = feed_slugs(name, config.topics)
    if slugs is None:
        abort(404)

    def render() -> tuple[str, datetime | None]:
        now = live.clock()
        language = page_language()
        upcoming = [
            event.in_language(language) for event in edition.topic_events(slugs) if event.end > now
        ]
        label = _label(config, slugs)
        title = label if ALL in slugs else f"{config.site.title}: {label}"  # as the feed's
        single = len(slugs) == 1 and ALL not in slugs
        home = (
            page_url(config, "pages.topic", slug=slugs[0])
            if single
            else page_url(config, "pages.index")
        )
        html = render_template(
            "embed.html",
            catalog=edition.catalog,
            events=upcoming[:MOST],
            more=len(upcoming) - MOST,
            home=home,
            label=label,
            subscribe=subscribe_links(feed_url(config, slugs, language), title),
        )
        return html, min((event.end for event in upcoming), default=None)

    response = cached_page(edition, ("embed", slugs), live.clock(), render)
    response.headers["Content-Security-Policy"] = POLICY
    return response


def snippet(src: str, label: str) -> str:
    """Return the HTML a partner site pastes to show the embed at ``src``."""
    return str(
        Markup(
            '<iframe src="{}" title="{}" width="100%" height="{}" style="border:0" '
            'loading="lazy"></iframe>'
        ).format(src, gettext("Upcoming events: %(feed)s", feed=label), HEIGHT)
    )


def _label(config: Config, slugs: tuple[str, ...]) -> str:
    if ALL in slugs:
        return config.site.title
    topics = topics_in(config, page_language())
    return ", ".join(topics[slug].name for slug in slugs)


def init_app(app: Flask) -> None:
    """Register the embed route."""
    app.register_blueprint(bp)
