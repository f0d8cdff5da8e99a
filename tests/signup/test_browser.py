"""Signing up in a real browser: Debian's Chromium, headless, driven by Playwright.

The app is served from a thread on a free port of 127.0.0.1, and config.yaml's
``site.base_url`` is that address, so the links in the mails the worker writes to the real
Maildir lead back to it. A visitor signs up from a topic page, confirms from the mail, changes
their preferences and leaves, as a person would, by clicking. Each page is saved to
``tests/artifacts/signup-<step>.png``. Without Chromium or the ``playwright`` package the tests
skip, saying why; with ``CALFEED_REQUIRE_BROWSER=1`` they fail instead.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from werkzeug.serving import make_server

from service import open_app
from service.reminders.worker import Worker, worker_for

from .conftest import SETTINGS, Inbox, live, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Response

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ALICE = "alice@example.org"
BRUSSELS = ZoneInfo("Europe/Brussels")
# An event a month ahead of the real clock (the server runs on real time), 14:00 in Brussels.
FORUM_START = datetime.combine(
    datetime.now(UTC).date() + timedelta(days=30), time(14, 0), tzinfo=BRUSSELS
)
FORUM = {
    "id": "procurement-forum",
    "title": "Procurement forum",
    "topics": ["procurement"],
    "timezone": "Europe/Brussels",
    "start": FORUM_START.strftime("%Y-%m-%dT%H:%M"),
    "end": (FORUM_START + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
}


class _Later:
    """A WSGI app that passes requests to an app set once the server's port is known."""

    app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


@dataclass
class Site:
    url: str
    app: Flask
    worker: Worker


@pytest.fixture
def site(
    project: Path, write_config: Callable[..., Path], write_event: Callable[..., Path]
) -> Iterator[Site]:
    """Serve the project from a thread on a free port; its base_url is that address."""
    later = _Later()
    server = make_server("127.0.0.1", 0, later, threaded=True)
    url = f"http://127.0.0.1:{server.port}"
    site = {"title": "Test events", "base_url": url, "timezone": "Europe/Brussels"}
    write_config(**SETTINGS, site=site)
    write_event("procurement-forum.yaml", FORUM)
    app = open_app(project / "config.yaml")
    later.app = app
    thread = threading.Thread(target=server.serve_forever, name="signup-site", daemon=True)
    thread.start()
    try:
        yield Site(url, app, worker_for(live(app)))
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        live(app).close()


@pytest.fixture
def inbox(project: Path) -> Inbox:
    return Inbox(project / "var" / "mail")


def open_page(browser: Browser, url: str, timezone: str) -> Page:
    context = browser.new_context(
        timezone_id=timezone, locale="en-GB", viewport={"width": 1000, "height": 800}
    )
    context.set_default_timeout(5_000)  # bounded waits: everything here is local
    page = context.new_page()
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    return page


def screenshot(page: Page, step: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"signup-{step}.png"), full_page=True)


def sign_up_and_confirm(page: Page, site: Site, inbox: Inbox, shots: bool) -> None:
    """From the topic page: sign up, read the mail, open its link, press Confirm."""
    from playwright.sync_api import expect

    form = page.locator("form.signup")
    expect(form.get_by_label("Public procurement")).to_be_checked()
    expect(form.get_by_label("Circular economy")).not_to_be_checked()
    expect(form.get_by_label("Your time zone")).to_have_value("America/New_York")
    if shots:
        screenshot(page, "topic-form")
    form.get_by_label("Email address").fill(ALICE)
    form.get_by_role("button", name="Send me reminders").click()
    expect(page.locator("h1")).to_have_text("Check your inbox")
    expect(page.locator("main")).to_contain_text(f"We sent a mail to {ALICE}.")
    if shots:
        screenshot(page, "check-inbox")

    site.worker.sweep()  # the worker sends the confirmation mail into the Maildir
    mail = inbox.latest(ALICE)
    assert str(mail["Subject"]) == "Confirm your reminders from Test events"
    links = re.findall(rf"{re.escape(site.url)}/confirm/\S+", text_of(mail))
    assert len(links) == 1, text_of(mail)
    page.goto(links[0])
    expect(page.locator("h1")).to_have_text("Confirm your reminders")
    if shots:
        screenshot(page, "confirm")
    page.get_by_role("button", name="Confirm my reminders").click()
    expect(page.locator("h1")).to_have_text("Your reminders")
    expect(page.locator(".saved")).to_have_text("Your reminders are confirmed.")


def test_a_visitor_signs_up_confirms_changes_preferences_and_leaves(
    browser: Browser, site: Site, inbox: Inbox
) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, f"{site.url}/topics/procurement", "America/New_York")
    try:
        sign_up_and_confirm(page, site, inbox, shots=True)
        expect(page.locator("main")).to_contain_text(f"Reminders go to {ALICE}.")
        screenshot(page, "confirmed")

        page.get_by_label("Public procurement").set_checked(False)
        page.get_by_label("Circular economy").set_checked(True)
        page.get_by_label("Supply chains").set_checked(True)
        page.get_by_label("Your time zone").fill("Asia/Tokyo")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".saved")).to_have_text("Your preferences are saved.")
        screenshot(page, "preferences-saved")
        page.goto(page.url)  # open the preferences again: they were stored
        expect(page.get_by_label("Public procurement")).not_to_be_checked()
        expect(page.get_by_label("Circular economy")).to_be_checked()
        expect(page.get_by_label("Supply chains")).to_be_checked()
        expect(page.get_by_label("Your time zone")).to_have_value("Asia/Tokyo")
        preferences = page.url

        page.get_by_role("link", name="Unsubscribe from all reminders").click()
        expect(page.locator("h1")).to_have_text("Unsubscribe")
        screenshot(page, "unsubscribe")
        page.get_by_role("button", name="Unsubscribe").click()
        expect(page.locator("h1")).to_have_text("Unsubscribed")
        expect(page.locator("main")).to_contain_text("You will get no more mail from us.")
        screenshot(page, "unsubscribed")
        again = page.goto(preferences)
        assert again is not None and again.status == 410
        expect(page.locator("main")).to_contain_text("These reminders are not active any more.")
    finally:
        page.context.close()


def test_after_confirming_the_preferences_show_the_topic_and_zone_chosen(
    browser: Browser, site: Site, inbox: Inbox
) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, f"{site.url}/topics/procurement", "America/New_York")
    try:
        sign_up_and_confirm(page, site, inbox, shots=False)
        screenshot(page, "confirmed-choices")
        expect(page.get_by_label("Your time zone")).to_have_value("America/New_York")
        expect(page.get_by_label("Public procurement")).to_be_checked()
    finally:
        page.context.close()


def test_the_event_page_shows_the_time_in_the_visitors_zone(browser: Browser, site: Site) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, f"{site.url}/events/procurement-forum", "Asia/Tokyo")
    try:
        yours = page.locator(".yours").first
        expect(yours).to_contain_text("Your time (Asia/Tokyo): ")
        tokyo = FORUM_START.astimezone(ZoneInfo("Asia/Tokyo"))  # 21:00 or 22:00, by season
        text = yours.inner_text()
        # en-GB: "26 Dec 2026, 22:00 GMT+9 – 27 Dec 2026, 00:00 GMT+9"
        assert re.search(rf"\b{tokyo.day} \w+ {tokyo.year}, {tokyo:%H:%M}\b", text), text
        assert "14:00" not in text  # the Brussels hour is the event's line, not this one
        expect(page.locator("p.when")).to_contain_text("14:00")
        screenshot(page, "event-tokyo")
    finally:
        page.context.close()


def test_every_page_of_the_walk_runs_its_scripts_under_its_content_security_policy(
    browser: Browser, site: Site, inbox: Inbox
) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, f"{site.url}/topics/procurement", "America/New_York")
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text))
    policies: list[tuple[str, str | None]] = []  # of every page the browser loads

    def note_policy(response: Response) -> None:
        if response.request.resource_type == "document":
            policies.append((response.url, response.headers.get("content-security-policy")))

    page.on("response", note_policy)
    try:
        page.reload()
        sign_up_and_confirm(page, site, inbox, shots=False)  # zone.js guessed the zone
        feed = page.get_by_label("Or copy the feed address into any calendar app:")
        feed.focus()
        selected = page.evaluate("() => window.getSelection().toString()")
        assert selected == feed.input_value() and "/feeds/personal/" in selected
        page.get_by_role("link", name="Unsubscribe from all reminders").click()
        expect(page.locator("h1")).to_have_text("Unsubscribe")
        page.goto(f"{site.url}/events/procurement-forum")
        expect(page.locator(".yours").first).to_contain_text("Your time (America/New_York)")
    finally:
        page.context.close()

    assert [text for text in refused if "Content Security Policy" in text] == []
    routes = {url.removeprefix(site.url).split("/")[1] for url, _ in policies}
    assert routes == {"topics", "subscribe", "confirm", "unsubscribe", "events"}, policies
    for url, policy in policies:
        assert policy is not None and "script-src 'self';" in policy, url
        assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy, url


def test_leaving_the_preferences_page_for_another_site_sends_no_referer(
    browser: Browser, site: Site, inbox: Inbox
) -> None:
    page = open_page(browser, f"{site.url}/topics/procurement", "America/New_York")
    sent: list[dict[str, str]] = []

    def google(route: Any) -> None:
        sent.append(route.request.all_headers())
        route.fulfill(status=200, content_type="text/html", body="<title>Google</title>")

    page.context.route("https://calendar.google.com/**", google)
    try:
        sign_up_and_confirm(page, site, inbox, shots=False)
        assert "/preferences/" in page.url or page.locator(".saved").count() == 1
        page.get_by_role("link", name="Google Calendar").click()
        page.wait_for_url("https://calendar.google.com/**")
    finally:
        page.context.close()

    assert len(sent) == 1
    assert "referer" not in sent[0], sent[0]  # not the token, not even this site's address
