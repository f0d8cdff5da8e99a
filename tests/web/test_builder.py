"""The feed builder (``pages.builder``): tick topics on the home page, get one calendar.

A plain GET form, so it works with JavaScript off: a real browser with scripts disabled
ticks two topics and gets the combined feed's subscribe links and embed code; over HTTP,
the links are those of the combined feed, whatever order the topics come in.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from flask.testing import FlaskClient
from seed import SEED_TOPICS

from service.web.links import subscribe_links

from .conftest import Html
from .test_browser import screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser

COMBINED = "http://127.0.0.1:8000/feeds/minerals+procurement.ics"
NAME = "Sustainable Procurement Events: Minerals, Public procurement"


def test_the_home_page_offers_a_form_of_every_topic(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)

    [form] = re.findall(r'<form class="builder" method="get" action="([^"]+)">', page)
    boxes = re.findall(r'<input type="checkbox" name="topics" value="([^"]+)">', page)

    assert form == "/builder#links"
    assert boxes == list(SEED_TOPICS)


def test_ticked_topics_give_the_combined_feeds_links_and_embed(client: FlaskClient) -> None:
    response = client.get("/builder?topics=procurement&topics=minerals")
    page = Html(response.get_data(as_text=True))
    links = subscribe_links(COMBINED, NAME)

    assert response.status_code == 200
    assert page.hrefs("Apple Calendar / Outlook (webcal)") == [links.webcal]
    assert page.hrefs("Google Calendar") == [links.google]
    assert page.hrefs("Outlook.com") == [links.outlook]
    assert page.hrefs("Download .ics") == [links.https]
    assert page.hrefs("Atom") == [COMBINED.replace(".ics", ".atom")]
    assert page.hrefs("JSON Feed") == [COMBINED.replace(".ics", ".json")]
    text = response.get_data(as_text=True)
    assert 'src="http://127.0.0.1:8000/embed/minerals+procurement"' in html.unescape(text)
    # The ticks stay, so the next change starts from them.
    assert re.findall(r'value="([^"]+)" checked', text) == ["procurement", "minerals"]
    same = client.get("/builder?topics=minerals&topics=procurement&topics=minerals")
    assert same.data == response.data


def test_no_topic_asks_for_one_and_an_unknown_one_is_not_found(client: FlaskClient) -> None:
    none = client.get("/builder")

    assert none.status_code == 200
    assert "Tick at least one topic." in none.get_data(as_text=True)
    assert "webcal://" not in none.get_data(as_text=True)
    assert client.get("/builder?topics=procurement&topics=nope").status_code == 404


def test_the_builder_works_with_javascript_off(browser: Browser, site: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(5_000)
    try:
        page = context.new_page()
        page.goto(f"{site}/")
        form = page.locator("form.builder")
        form.get_by_label("Minerals").check()
        form.get_by_label("Public procurement").check()
        form.get_by_role("button", name="Get the links").click()
        page.wait_for_url(re.compile(r".*/builder\?topics=.*"))

        box = page.locator("#links section.subscribe")
        webcal = box.get_by_role("link", name="Apple Calendar / Outlook (webcal)")
        assert (
            webcal.get_attribute("href") == "webcal://127.0.0.1:8000/feeds/minerals+procurement.ics"
        )
        code = page.locator("#links textarea").input_value()
        assert code.startswith('<iframe src="http://127.0.0.1:8000/embed/minerals+procurement"')
        screenshot(page, "builder")
    finally:
        context.close()
