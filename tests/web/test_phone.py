"""Every page on a phone (390 px wide) and on a desktop, in real headless Chromium.

Nothing scrolls sideways, and the agenda stays readable: each session's title gets a
column wide enough for words, not a character per line. Screenshots are saved to
``tests/artifacts/phone-*.png`` and ``desktop-*.png`` for a person to look at.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from seed import SEED_IDS, SEED_TOPICS

from service.reminders import subscribers as store
from service.reminders.subscribers import Subscriber
from service.tokens import Tokens

from .conftest import live
from .test_browser import ARTIFACTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ViewportSize

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def every_page(app: Flask) -> list[str]:
    """Return the path of every kind of page the site shows, German (long words) too."""
    tokens: Tokens = app.extensions["calfeed.tokens"]
    paths = ["/", "/subscribe", "/builder", "/no-such-page", "/events/no-such-event"]
    paths += [f"/topics/{slug}" for slug in SEED_TOPICS]
    paths += [f"/events/{event_id}" for event_id in SEED_IDS]
    paths += ["/embed/all", f"/embed/{SEED_TOPICS[0]}"]
    person = _confirmed_subscriber(app)
    paths += [
        f"/confirm/{tokens.make('confirm', 1, 1)}",
        f"/unsubscribe/{tokens.make('unsubscribe', 1, 1)}",
        f"/preferences/{tokens.make('manage', person.id, person.generation)}",
    ]
    german = ["/", "/subscribe", "/builder", f"/topics/{SEED_TOPICS[0]}", paths[-1]]
    return paths + [f"/de{path}" for path in german]


def _confirmed_subscriber(app: Flask) -> Subscriber:
    """Return a confirmed subscriber of every topic, for their preferences page."""
    engine = live(app).engine
    now = datetime(2020, 11, 1, 9, tzinfo=UTC)
    with engine.begin() as connection:
        person, _ = store.request(
            connection, "phone@example.org", SEED_TOPICS, ZoneInfo("Europe/Brussels"), now
        )
        store.confirm(connection, person.id, now)
        confirmed = store.get(connection, person.id)
    assert confirmed is not None
    return confirmed


@pytest.mark.parametrize(("screen", "size"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_no_page_scrolls_sideways_and_the_agenda_stays_readable(
    browser: Browser, site: str, site_app: Flask, screen: str, size: ViewportSize
) -> None:
    context = browser.new_context(
        viewport=size, timezone_id="America/New_York", locale="en-US", is_mobile=screen == "phone"
    )
    context.set_default_timeout(5_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    wide: dict[str, int] = {}
    statuses: dict[str, int] = {}
    cramped: dict[str, list[tuple[str, int]]] = {}
    try:
        page = context.new_page()
        for path in every_page(site_app):
            response = page.goto(site + path)
            assert response is not None
            statuses[path] = response.status
            page.wait_for_load_state("load")
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > size["width"]:
                wide[path] = width
            # The session column: each title at least ~12 characters of a line wide.
            titles = page.evaluate(
                """Array.from(document.querySelectorAll("table.agenda td strong"),
                   e => [e.innerText, e.getBoundingClientRect().width])"""
            )
            narrow = [(t, round(w)) for t, w in titles if w < min(150, len(t) * 6)]
            if narrow:
                cramped[path] = narrow
            address, _, query = path.partition("?")
            route = address.strip("/").split("/")
            tokened = route[0] in ("confirm", "unsubscribe", "preferences")
            name = "-".join(route[:1] if tokened else route) or "home"
            name += f"-{query.replace('=', '-')}" if query else ""
            page.screenshot(path=str(ARTIFACTS / f"{screen}-{name}.png"), full_page=True)
    finally:
        context.close()

    missing = {path for path in statuses if "no-such" in path}
    assert {path: code for path, code in statuses.items() if code != 200} == {
        path: 404 for path in missing
    }
    assert wide == {}, f"wider than the {screen} screen"
    assert cramped == {}, "session titles squeezed"
