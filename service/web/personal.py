"""Personal feeds: one subscriber's topics in one calendar, at an address only they know.

The address carries a feed token (see ``tokens``) and works as long as the subscription it
was made for. Calendar clients poll such an address for years and show nothing of an HTTP
error: after a 404 they keep the old events, silently stale. So once the subscription has
ended (unsubscribed, removed from config.yaml, or replaced by a new sign-up) the address
answers a calendar whose name says the reminders ended and whose one entry, on the day it
is read, says where to sign up again. Every answer is ``Cache-Control: private``: a shared
cache must never hand one person's calendar to another, and this one carries what public
feeds never do: private join links of online events.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta

import icalendar
from flask import Blueprint, Flask, Response, abort

from .. import urls
from ..calendar.assembly import Block, Header, assemble, stamp_block
from ..calendar.edition import Feed
from ..calendar.entries import uid_domain
from ..calendar.text import Text
from ..catalog import Config
from ..reminders import subscribers as store
from ..reminders.subscribers import Subscriber
from ..tokens import TokenError
from .current import live_catalog, signing_tokens
from .feeds import serve_feed

bp = Blueprint("personal", __name__)


@bp.get(urls.PERSONAL_FEED)
def personal_feed(token: str) -> Response:
    """Serve the calendar of one subscriber's topics, or say that their reminders ended."""
    try:
        ticket = signing_tokens().check("feed", token)
    except TokenError:
        abort(404)
    live = live_catalog()
    with live.engine.connect() as connection:
        person = store.get(connection, ticket.subscriber_id)
    edition = live.edition
    config = edition.catalog.config
    if person is None or person.status != "confirmed" or person.generation != ticket.generation:
        feed = ended_feed(config, live.clock())
    else:
        slugs = tuple(sorted(t for t in person.topics if t in config.topics))
        if not slugs:
            abort(404)
        # In the language of their mails, as they chose it.
        edition = edition.in_language(config.site.language_for(person.language))
        feed = edition.personal_feed(slugs, person.alarms)
    response = serve_feed(feed, "personal.ics", edition)
    response.cache_control.public = False
    response.cache_control.private = True
    return response


def feed_address(person: Subscriber) -> str:
    """Return the absolute address of ``person``'s personal feed."""
    token = signing_tokens().make("feed", person.id, person.generation)
    return urls.absolute(live_catalog().edition.catalog.config, urls.personal_feed(token))


def ended_feed(config: Config, now: datetime) -> Feed:
    """Return the calendar an ended subscription's feed answers: one entry, on today."""
    site = config.site
    signup = urls.absolute(config, urls.SUBSCRIBE)
    today = now.astimezone(site.timezone).date()
    entry = icalendar.Event()
    entry.add("uid", f"reminders-ended@{uid_domain(config)}")
    entry.add("summary", Text(f"Your reminders from {site.title} have ended"))
    entry.add("dtstart", today)
    entry.add("dtend", today + timedelta(days=1))
    entry.add(
        "description",
        Text(
            f"This calendar showed the events of your reminders from {site.title}. Those "
            f"reminders have ended, so it shows no more events; you can remove it. To follow the "
            f"events again, sign up at {signup}: after you confirm, your preferences page gives "
            "the address of your new calendar."
        ),
    )
    entry.add("url", signup)
    entry.add("transp", "TRANSPARENT")
    # Stamped with the day, not the instant: every poll of one day gets the same bytes.
    day = datetime.combine(today, time(), tzinfo=site.timezone).astimezone(UTC)
    data = stamp_block(entry.to_ical(), 0, day)
    block = Block(str(entry["UID"]), data, None)  # all day: no VTIMEZONE
    header = Header(f"{site.title}: reminders ended", None, None, config.feed.refresh)
    body = assemble(header, [block], {})
    return Feed(body, hashlib.sha256(body).hexdigest()[:32], day)


def init_app(app: Flask) -> None:
    """Register the personal feed."""
    app.register_blueprint(bp)
