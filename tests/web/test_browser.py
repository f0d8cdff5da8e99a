"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright.

The app is served from a thread on a free port of 127.0.0.1, on a copy of the seed project,
with the pages' clock set to 1 November 2020 so that every seed event is upcoming. Each test
saves a screenshot to ``tests/artifacts/<name>.png``. Without Chromium or the ``playwright``
package the tests skip, saying why; with ``CALFEED_REQUIRE_BROWSER=1`` they fail instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from seed import SEED_BY_ID, SEED_IDS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CIRCULAR = "circular-cities-webinar-2020-12"
CIRCULAR_TITLE = "1st European Circular Cities Declaration Webinar"


def open_page(browser: Browser, url: str, timezone: str = "Europe/Brussels") -> Page:
    context = browser.new_context(
        timezone_id=timezone, locale="en-US", viewport={"width": 1000, "height": 800}
    )
    context.set_default_timeout(5_000)  # fail fast: everything here is local
    page = context.new_page()
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    return page


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_home_shows_the_events_by_month_and_the_subscribe_links(
    browser: Browser, site: str
) -> None:
    page = open_page(browser, f"{site}/")
    try:
        assert page.title() == "Sustainable Procurement Events"
        months = page.locator("h2.month").all_inner_texts()
        assert [month.title() for month in months] == [  # the style sheet capitalises them
            "November 2020",
            "December 2020",
            "January 2021",
        ]
        titles = page.locator("ol.events h3").all_inner_texts()
        assert len(titles) == len(SEED_IDS)
        assert CIRCULAR_TITLE in titles
        assert page.get_by_text(CIRCULAR_TITLE).is_visible()
        box = page.locator("section.subscribe")
        hrefs = {link.inner_text(): link.get_attribute("href") for link in box.locator("a").all()}
        assert hrefs["Apple Calendar / Outlook (webcal)"] == "webcal://127.0.0.1:8000/feeds/all.ics"
        assert (hrefs["Google Calendar"] or "").startswith(
            "https://calendar.google.com/calendar/render?cid=webcal%3A%2F%2F"
        )
        assert (hrefs["Outlook.com"] or "").startswith(
            "https://outlook.live.com/calendar/0/addfromweb?url=http%3A%2F%2F127.0.0.1%3A8000"
        )
        assert box.get_by_role("textbox").input_value() == "http://127.0.0.1:8000/feeds/all.ics"
        screenshot(page, "home")
    finally:
        page.context.close()


def test_a_topic_filter_leads_to_the_topic_page(browser: Browser, site: str) -> None:
    page = open_page(browser, f"{site}/")
    try:
        page.get_by_role("navigation", name="Topics").get_by_role(
            "link", name="Circular economy"
        ).click()
        page.wait_for_url(f"{site}/topics/circular-economy")

        assert page.locator("h1").inner_text() == "Circular economy"
        assert page.locator("ol.events h3").all_inner_texts() == [CIRCULAR_TITLE]
        current = page.locator('nav.topics a[aria-current="page"]')
        assert current.inner_text() == "Circular economy"
        webcal = page.get_by_role("link", name="Apple Calendar / Outlook (webcal)")
        assert webcal.get_attribute("href") == "webcal://127.0.0.1:8000/feeds/circular-economy.ics"
        screenshot(page, "topic-circular-economy")

        page.get_by_role("link", name=CIRCULAR_TITLE).click()
        page.wait_for_url(f"{site}/events/{CIRCULAR}")
        assert page.locator("h1").inner_text() == CIRCULAR_TITLE
    finally:
        page.context.close()


def test_the_event_page_adds_the_viewers_own_time(browser: Browser, site: str) -> None:
    page = open_page(browser, f"{site}/events/{CIRCULAR}", timezone="America/New_York")
    try:
        yours = page.locator(".yours")
        yours.first.wait_for()
        texts = yours.all_inner_texts()
        assert len(texts) == 1 + 5  # the event's times and each session's
        assert all(text.startswith("Your time (America/New_York): ") for text in texts)
        # 14:00-16:00 in Brussels (CET) is 08:00-10:00 in New York (UTC-5), written as the
        # page writes dates, not in the browser's US format.
        assert texts[0] == "Your time (America/New_York): 7 December 2020, 08:00 – 10:00 GMT-5"
        first_session = page.locator("table.agenda tbody tr").first.locator("td.time")
        assert first_session.inner_text().startswith("14:00 – 14:30")
        assert first_session.inner_text().endswith("7 December 2020, 08:00 – 08:30 GMT-5")
        screenshot(page, "event-new-york")
    finally:
        page.context.close()


def test_the_event_page_adds_no_line_when_the_viewer_shares_the_events_zone(
    browser: Browser, site: str
) -> None:
    page = open_page(browser, f"{site}/events/{CIRCULAR}", timezone="Europe/Brussels")
    try:
        page.wait_for_load_state("load")  # the script is deferred: it has run by now
        assert page.locator(".yours").count() == 0
        assert page.locator("p.when").inner_text() == (
            "7 December 2020, 14:00 – 16:00 CET (Europe/Brussels)"
        )
        assert page.locator("table.agenda td.time").all_inner_texts()[:2] == [
            "14:00 – 14:30",
            "14:30 – 15:10",
        ]
        screenshot(page, "event-brussels")
    finally:
        page.context.close()


def test_the_ics_link_downloads_the_events_calendar(browser: Browser, site: str) -> None:
    page = open_page(browser, f"{site}/events/{CIRCULAR}")
    try:
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Add to calendar (.ics)").click()
        download = download_info.value
        body = Path(download.path()).read_bytes()

        assert download.suggested_filename == f"{CIRCULAR}.ics"
        assert body.startswith(b"BEGIN:VCALENDAR\r\n")
        assert f"UID:{CIRCULAR}@127.0.0.1\r\n".encode() in body
        assert body.count(b"BEGIN:VEVENT") == 1 + len(SEED_BY_ID[CIRCULAR]["sessions"])
        assert page.request.get(f"{site}/events/{CIRCULAR}.ics").body() == body
        screenshot(page, "event-download")
    finally:
        page.context.close()


LANGUAGES = [
    # (browser locale, <html lang>, the topic's name, the sign-up heading, the viewer's time)
    ("en-GB", "en", "Circular economy", "Reminders by email", "Your time (America/New_York): "),
    (
        "fr-FR",
        "fr",
        "Économie circulaire",
        "Rappels par e-mail",
        "Votre heure (America/New_York) : ",
    ),
    (
        "es-ES",
        "es",
        "Economía circular",
        "Recordatorios por correo electrónico",
        "Su hora (America/",
    ),
    (
        "de-DE",
        "de",
        "Kreislaufwirtschaft",
        "Erinnerungen per E-Mail",
        "Ihre Zeit (America/New_York): ",
    ),
]


@pytest.mark.parametrize(("locale", "lang", "name", "heading", "yours"), LANGUAGES)
def test_a_page_speaks_the_browsers_language(
    browser: Browser, site: str, locale: str, lang: str, name: str, heading: str, yours: str
) -> None:
    context = browser.new_context(
        timezone_id="America/New_York", locale=locale, viewport={"width": 1000, "height": 800}
    )
    context.set_default_timeout(5_000)
    page = context.new_page()
    try:
        response = page.goto(f"{site}/topics/circular-economy")
        assert response is not None and response.status == 200

        assert page.locator("html").get_attribute("lang") == lang
        assert page.locator("h1").inner_text() == name
        assert page.locator("h2#reminders").inner_text() == heading
        # The viewer's own time, added by the page's script, is in the page's language too.
        assert page.locator(".yours").first.inner_text().startswith(yours)
        current = page.locator("nav.languages a[aria-current]")
        assert current.get_attribute("lang") == lang
        screenshot(page, f"topic-{lang}")
    finally:
        context.close()


def test_the_language_switch_changes_the_language_and_the_links_keep_it(
    browser: Browser, site: str
) -> None:
    page = open_page(browser, f"{site}/")
    try:
        page.locator("nav.languages").get_by_role("link", name="Deutsch").click()
        page.wait_for_url(f"{site}/de/")
        assert page.locator("html").get_attribute("lang") == "de"
        assert page.locator("h1").inner_text() == "Bevorstehende Veranstaltungen"

        page.get_by_role("navigation", name="Themen").get_by_role(
            "link", name="Kreislaufwirtschaft"
        ).click()
        page.wait_for_url(f"{site}/de/topics/circular-economy")
        assert page.locator("h2#reminders").inner_text() == "Erinnerungen per E-Mail"
    finally:
        page.context.close()
