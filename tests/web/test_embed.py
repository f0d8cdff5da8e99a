"""Embeds (``service/web/embed.py``): a feed's upcoming events inside another site's iframe.

In a real browser (Debian's Chromium, headless), a partner's page on another origin (a
server of its own, on another port) frames the embed: its events render inside the frame,
no cookie is set, and the same partner page cannot frame any other page of the site. Over
HTTP: the headers that allow it for the embed alone, the names the feeds take, 304, and the
list following time as the other list pages do.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from flask.testing import FlaskClient
from seed import SEED_EVENTS
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from service.web.security import HEADERS

from .conftest import Html, MakeApp, live
from .test_browser import screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def _upcoming(topic: str, now: str) -> list[str]:
    """Return the titles of the seed events of ``topic`` not ended by ``now``, by start.

    ``now`` is a local time, ``2020-12-08T12``; an all-day event ends after its last day.
    """
    ends = {e["id"]: str(e["end"]) + ("" if "T" in str(e["end"]) else "T24") for e in SEED_EVENTS}
    return [
        e["title"]
        for e in SEED_EVENTS
        if topic == "all" or topic in e["topics"]
        if ends[e["id"]] > now
    ]


def test_the_embed_lists_a_feeds_upcoming_events_with_its_subscribe_links(
    client: FlaskClient, app: Any
) -> None:
    live(app).clock = lambda: datetime(2020, 12, 8, 11, tzinfo=UTC)  # 12:00 in Brussels

    response = client.get("/embed/procurement")

    assert response.status_code == 200
    page = Html(response.get_data(as_text=True))
    titles = [text for cls, text in page.texts if cls == "title"]
    assert titles == _upcoming("procurement", "2020-12-08T12")
    assert 0 < len(titles) < len(_upcoming("procurement", "2020-11-01T00"))
    assert page.hrefs("Apple / Outlook") == ["webcal://127.0.0.1:8000/feeds/procurement.ics"]
    assert page.hrefs(".ics") == ["http://127.0.0.1:8000/feeds/procurement.ics"]
    assert page.hrefs("Google")[0].startswith("https://calendar.google.com/calendar/render?cid=")
    # Every link leaves the frame: a click opens a tab, the partner's page stays.
    body = response.get_data(as_text=True)
    assert len(re.findall(r"<a ", body)) == len(re.findall(r'target="_blank" rel="noopener"', body))
    assert "<script" not in body and "<form" not in body


def test_only_the_embed_may_be_framed_and_it_sets_no_cookie(client: FlaskClient) -> None:
    embed = client.get("/embed/all")
    home = client.get("/")

    policy = dict(
        part.strip().split(" ", 1) for part in embed.headers["Content-Security-Policy"].split(";")
    )
    assert policy["frame-ancestors"] == "*"
    assert policy["default-src"] == "'none'" and policy["style-src"] == "'self'"
    assert "script-src" not in policy  # none: default-src 'none' covers it
    assert "X-Frame-Options" not in embed.headers
    assert "Set-Cookie" not in embed.headers
    # It differs by the browser's language alone (the frame's own request says it), never
    # by a cookie.
    assert embed.headers["Vary"] == "Accept-Language"
    assert home.headers["X-Frame-Options"] == "DENY"
    assert home.headers["Content-Security-Policy"] == HEADERS["Content-Security-Policy"]


def test_the_embed_takes_the_feeds_names_and_answers_304(client: FlaskClient) -> None:
    first = client.get("/embed/supply-chains+procurement")

    assert first.data == client.get("/embed/procurement+supply-chains").data
    assert client.get("/embed/no-such-topic").status_code == 404
    again = client.get(
        "/embed/procurement+supply-chains", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304


def test_the_embed_drops_an_event_once_it_ends(
    make_app: MakeApp, make_event: Callable[..., dict[str, Any]]
) -> None:
    app = make_app(
        events={
            "a.yaml": make_event(),
            "b.yaml": make_event(
                id="later", title="Later", start="2020-12-14T14:00", end="2020-12-14T16:00"
            ),
        }
    )
    client = app.test_client()
    live(app).clock = lambda: datetime(2020, 12, 7, 14, 30, tzinfo=UTC)
    before = Html(client.get("/embed/all").get_data(as_text=True)).classed("title")

    live(app).clock = lambda: datetime(2020, 12, 7, 15, 30, tzinfo=UTC)  # 16:30 in Brussels
    after = Html(client.get("/embed/all").get_data(as_text=True)).classed("title")

    assert before == ["Circular Cities Declaration Webinar", "Later"]
    assert after == ["Later"]


def test_each_topic_page_shows_the_code_that_frames_its_embed(client: FlaskClient) -> None:
    page = client.get("/topics/minerals").get_data(as_text=True)

    [code] = re.findall(
        r"<textarea readonly rows=\"3\" data-select-on-focus>(.*?)</textarea>", page
    )
    assert html.unescape(code) == (
        '<iframe src="http://127.0.0.1:8000/embed/minerals" title="Upcoming events: Minerals" '
        'width="100%" height="480" style="border:0" loading="lazy"></iframe>'
    )


@pytest.fixture
def partner(site: str) -> Iterator[str]:
    """Serve a partner's page from another origin that frames the embed, and the home page."""

    def page(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        frame = f"{site}/embed/procurement" if request.path == "/events" else f"{site}/"
        text = (
            "<!doctype html><title>Partner</title><h1>Our partners' events</h1>"
            f'<iframe id="events" src="{frame}" width="600" height="480" style="border:0"></iframe>'
        )
        return Response(text, content_type="text/html; charset=utf-8")(environ, start_response)

    server = make_server("127.0.0.1", 0, page, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="partner-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def test_a_partner_site_on_another_origin_shows_the_embed_in_an_iframe(
    browser: Browser, site: str, partner: str
) -> None:
    assert partner.rsplit(":", 1)[1] != site.rsplit(":", 1)[1]  # another origin
    context = browser.new_context(viewport={"width": 800, "height": 700})
    context.set_default_timeout(5_000)
    try:
        page = context.new_page()
        page.goto(f"{partner}/events")
        frame = page.frame_locator("#events")
        frame.locator("ol.events").wait_for()

        titles = frame.locator("ol.events .title").all_inner_texts()
        assert titles == _upcoming("procurement", "2020-11-01T10")  # the site's clock
        assert frame.get_by_role("link", name="Google").is_visible()
        assert page.locator("h1").inner_text() == "Our partners' events"  # still their page
        assert context.cookies() == []
        screenshot(page, "embed-on-partner-site")
    finally:
        context.close()


def test_a_partner_site_cannot_frame_any_other_page(
    browser: Browser, site: str, partner: str
) -> None:
    context = browser.new_context()
    context.set_default_timeout(5_000)
    try:
        page = context.new_page()
        refused = []
        page.on("console", lambda message: refused.append(message.text))
        page.goto(f"{partner}/home")
        page.wait_for_load_state("load")
        [frame] = [f for f in page.frames if f != page.main_frame]

        assert frame.locator("header.site").count() == 0  # nothing of the site in it
        assert any("frame-ancestors" in text or "X-Frame-Options" in text for text in refused)
    finally:
        context.close()
