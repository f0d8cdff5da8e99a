"""HTML pages (``service/web/pages.py`` and its templates): what a visitor reads and clicks."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest
from flask import abort
from flask.testing import FlaskClient
from freezegun import freeze_time
from seed import SEED_IDS, SEED_TOPICS

from .conftest import Html, MakeApp

WriteEvent = Callable[[str, str | Mapping[str, Any]], Path]
MakeEvent = Callable[..., dict[str, Any]]

OHS = "Occupational Health and Safety Summit 2020"
NORDIC = "Nordic Strategy Forum Supply Chain and Procurement"
CIRCULAR = "1st European Circular Cities Declaration Webinar"
BIG_BUYERS = "Webinar on Big Buyers' needs assessment"
PROCURA = (
    "Procura + webinar series on socially responsible ICT Procurement"
    " - 5 case studies of good practice"
)
MINERALS = (
    "Public procurement and minerals in electronics: Safeguarding human rights due diligence"
    " in supply chains of minerals used in ICT."
)
NASTY = '<script>alert(1)</script> & "quotes"'


def sections(page: str) -> list[tuple[str, list[str]]]:
    """Return each month heading of a listing page with the event titles under it."""
    found = []
    for chunk in re.split(r'(?=<h2 class="month">)', page)[1:]:
        html = Html(chunk)
        heading = next(text for tag, _, text in html.headings if tag == "h2")
        titles = [text for tag, _, text in html.headings if tag == "h3"]
        found.append((heading, titles))
    return found


def get_page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    return response.get_data(as_text=True)


def query(url: str) -> dict[str, str]:
    """Return the query of a link as a plain mapping, every key once."""
    parsed = parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in parsed.values()), parsed
    return {key: values[0] for key, values in parsed.items()}


def subscribe_box(page: str) -> dict[str, str]:
    """Return the subscribe links of a page by their text."""
    box = re.search(r'<section class="subscribe".*?</section>', page, re.S)
    assert box is not None, "no subscribe box"
    return {text: href for href, text in Html(box.group(0)).links}


# -- the home page ------------------------------------------------------------------------


def test_home_lists_upcoming_events_by_month_in_order(
    seed_project: Path, make_app: MakeApp
) -> None:
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        page = get_page(make_app().test_client(), "/")

    assert sections(page) == [
        ("November 2020", [OHS]),
        ("December 2020", [NORDIC, CIRCULAR, BIG_BUYERS, PROCURA]),
        ("January 2021", [MINERALS]),
    ]
    assert "No upcoming events" not in page


def test_home_puts_past_events_below_the_upcoming_ones_most_recent_first(
    seed_project: Path, make_app: MakeApp
) -> None:
    with freeze_time("2020-12-09 12:00:00", tz_offset=0):
        page = get_page(make_app().test_client(), "/")

    assert sections(page) == [
        ("December 2020", [PROCURA]),
        ("January 2021", [MINERALS]),
        ("Past events", [BIG_BUYERS, CIRCULAR, NORDIC, OHS]),
    ]


def test_an_event_under_way_is_still_upcoming(seed_project: Path, make_app: MakeApp) -> None:
    with freeze_time("2020-12-07 14:00:00", tz_offset=0):  # 15:00 in Brussels
        page = get_page(make_app().test_client(), "/")

    assert sections(page)[0] == ("December 2020", [NORDIC, CIRCULAR, BIG_BUYERS, PROCURA])
    assert sections(page)[-1] == ("Past events", [OHS])


def test_home_after_every_event_says_so_and_lists_them_as_past(
    seed_project: Path, make_app: MakeApp
) -> None:
    with freeze_time("2021-02-01 09:00:00", tz_offset=0):
        page = get_page(make_app().test_client(), "/")

    assert "No upcoming events." in page
    assert sections(page) == [
        ("Past events", [MINERALS, PROCURA, BIG_BUYERS, CIRCULAR, NORDIC, OHS])
    ]


def test_home_shows_each_events_dates_in_its_own_zone(client: FlaskClient) -> None:
    html = Html(get_page(client, "/"))

    assert html.classed("when") == [
        "19 January 2021, 14:00 – 16:00 CET",
        "10 December 2020, 10:00 – 11:30 CET",
        "8 December 2020, 09:30 – 10:30 CET",
        "7 December 2020, 14:00 – 16:00 CET",
        "7 – 8 Dec 2020",
        "30 Nov – 4 Dec 2020",
    ]
    assert "Stockholm, Sweden" in html.classed("where")


def test_the_month_heading_is_the_events_own_month(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    # 00:30 on New Year's Day in Brussels is still 31 December in UTC.
    write_event(
        "new-year.yaml",
        make_event(
            id="new-year", title="New Year", start="2021-01-01T00:30", end="2021-01-01T01:30"
        ),
    )
    with freeze_time("2020-12-01 09:00:00", tz_offset=0):
        page = get_page(make_app().test_client(), "/")

    assert sections(page) == [("January 2021", ["New Year"])]


def test_each_month_heading_appears_once_in_calendar_order_across_zones(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    # Brussels' New Year starts before New York's New Year's Eve party ends.
    write_event(
        "brussels.yaml",
        make_event(
            id="brussels",
            title="Brussels New Year",
            start="2021-01-01T00:30",
            end="2021-01-01T01:30",
        ),
    )
    write_event(
        "new-york.yaml",
        make_event(
            id="new-york",
            title="New York New Year's Eve",
            timezone="America/New_York",
            start="2020-12-31T20:00",
            end="2020-12-31T21:00",
        ),
    )
    write_event(
        "later.yaml",
        make_event(
            id="later", title="Later in January", start="2021-01-05T10:00", end="2021-01-05T11:00"
        ),
    )
    with freeze_time("2020-12-01 09:00:00", tz_offset=0):
        page = get_page(make_app().test_client(), "/")

    headings = [heading for heading, _ in sections(page)]
    assert headings == ["December 2020", "January 2021"]


def test_home_links_every_topic_as_a_filter(client: FlaskClient) -> None:
    html = Html(get_page(client, "/"))

    assert html.hrefs("All events") == ["/"]
    assert html.hrefs("Public procurement") == ["/topics/procurement"]
    assert html.hrefs("Circular economy") == ["/topics/circular-economy"]
    topic_links = [href for href, _ in html.links if href.startswith("/topics/")]
    assert topic_links == [f"/topics/{slug}" for slug in SEED_TOPICS]
    assert '<a href="/" aria-current="page">All events</a>' in get_page(client, "/")


def test_home_links_each_event_to_its_page(client: FlaskClient) -> None:
    html = Html(get_page(client, "/"))

    assert html.hrefs(CIRCULAR) == ["/events/circular-cities-webinar-2020-12"]
    event_links = [href for href, _ in html.links if href.startswith("/events/")]
    assert sorted(event_links) == sorted(f"/events/{event_id}" for event_id in SEED_IDS)
    for href in event_links:
        assert client.get(href).status_code == 200, href


# -- subscribe links ----------------------------------------------------------------------


def test_home_offers_every_way_to_subscribe_to_all_events(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    write_event("a.yaml", make_event())
    page = get_page(make_app().test_client(), "/")

    links = subscribe_box(page)

    https = "https://events.example.org/feeds/all.ics"
    webcal = "webcal://events.example.org/feeds/all.ics"
    assert links["Apple Calendar / Outlook (webcal)"] == webcal
    assert links["Download .ics"] == https
    google = links["Google Calendar"]
    assert google.startswith("https://calendar.google.com/calendar/render?")
    assert query(google) == {"cid": webcal}
    assert "cid=webcal%3A%2F%2Fevents.example.org%2Ffeeds%2Fall.ics" in google  # encoded
    outlook = links["Outlook.com"]
    assert outlook.startswith("https://outlook.live.com/calendar/0/addfromweb?")
    assert query(outlook) == {"url": https, "name": "Test events"}
    assert f'value="{https}"' in page  # the address to copy


@pytest.mark.parametrize("slug", SEED_TOPICS)
def test_every_topic_page_offers_its_own_feed(client: FlaskClient, slug: str) -> None:
    page = get_page(client, f"/topics/{slug}")

    links = subscribe_box(page)

    https = f"http://127.0.0.1:8000/feeds/{slug}.ics"
    webcal = f"webcal://127.0.0.1:8000/feeds/{slug}.ics"
    assert links["Apple Calendar / Outlook (webcal)"] == webcal
    assert links["Download .ics"] == https
    assert query(links["Google Calendar"]) == {"cid": webcal}
    outlook = query(links["Outlook.com"])
    assert outlook["url"] == https
    assert outlook["name"].startswith("Sustainable Procurement Events: ")
    assert client.get(urlsplit(https).path).status_code == 200  # the link works


# -- topic pages --------------------------------------------------------------------------


def test_a_topic_page_lists_only_that_topics_events(seed_project: Path, make_app: MakeApp) -> None:
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        page = get_page(make_app().test_client(), "/topics/ict")

    html = Html(page)
    assert [text for tag, _, text in html.headings if tag == "h1"] == ["ICT"]
    assert "Socially responsible procurement of information and communication technology" in page
    assert sections(page) == [("December 2020", [PROCURA]), ("January 2021", [MINERALS])]
    assert '<a href="/topics/ict" aria-current="page">ICT</a>' in page


def test_a_topic_page_after_its_events_lists_them_as_past(
    seed_project: Path, make_app: MakeApp
) -> None:
    with freeze_time("2021-02-01 09:00:00", tz_offset=0):
        page = get_page(make_app().test_client(), "/topics/climate")

    assert "No upcoming events." in page
    assert sections(page) == [("Past events", [BIG_BUYERS])]


@pytest.mark.parametrize(
    "path",
    [
        "/topics/unknown",
        "/topics/Procurement",
        "/topics/",
        "/topics/..%2Fconfig.yaml",
        "/events/unknown",
        "/events/",
        "/events/..%2Fconfig.yaml",
    ],
)
def test_unknown_topics_and_events_are_404(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/topics/unknown", "/events/unknown", "/no/such/page"])
def test_a_missing_page_says_so_in_the_sites_own_look(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    html = Html(response.get_data(as_text=True))
    assert html.title == "Page not found – Sustainable Procurement Events"
    assert [text for tag, _, text in html.headings if tag == "h1"] == ["Page not found"]
    assert html.hrefs("See all events") == ["/"]
    assert "Public procurement" in [text for _, text in html.links]  # the site's own nav


def test_a_page_that_is_gone_says_so_in_the_sites_own_look(make_app: MakeApp) -> None:
    def gone() -> str:
        abort(410)

    app = make_app()
    app.add_url_rule("/gone", "gone", gone)
    response = app.test_client().get("/gone")

    assert response.status_code == 410
    html = Html(response.get_data(as_text=True))
    assert html.title == "Gone – Test events"
    assert [text for tag, _, text in html.headings if tag == "h1"] == ["Gone"]
    assert html.hrefs("See all events") == ["/"]


# -- event pages --------------------------------------------------------------------------


def test_an_event_page_shows_the_agenda_in_the_events_zone(client: FlaskClient) -> None:
    page = get_page(client, "/events/circular-cities-webinar-2020-12")

    html = Html(page)
    assert [text for tag, _, text in html.headings if tag == "h1"] == [CIRCULAR]
    assert html.title == f"{CIRCULAR} – Sustainable Procurement Events"
    assert html.classed("when") == ["7 December 2020, 14:00 – 16:00 CET (Europe/Brussels)"]
    assert "Time (Europe/Brussels)" in page
    assert html.classed("time") == [
        "14:00 – 14:30",
        "14:30 – 15:10",
        "15:10 – 15:20",
        "15:20 – 15:40",
        "15:40 – 15:45",
    ]
    # As the seed page writes them: the speaker once, in one pair of parentheses in feeds.
    assert "Simon Clement, ICLEI – Local Governments for Sustainability" in page
    assert page.count("Zala Strojin") == 1
    assert 'data-start="2020-12-07T14:00:00+01:00"' in page  # for the viewer's own time


def test_a_multi_day_agenda_names_the_day_of_each_session(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    write_event(
        "forum.yaml",
        make_event(
            id="forum",
            title="Two-day forum",
            start="2021-03-27T09:00",
            end="2021-03-28T17:00",
            sessions=[
                {"start": "2021-03-27T09:00", "end": "2021-03-27T10:00", "title": "Saturday"},
                {"start": "2021-03-28T09:00", "end": "2021-03-28T10:00", "title": "Sunday"},
            ],
        ),
    )
    html = Html(get_page(make_app().test_client(), "/events/forum"))

    # The clocks go forward in the night between: CET on Saturday, CEST on Sunday.
    assert html.classed("time") == ["Sat 27 Mar 09:00 – 10:00", "Sun 28 Mar 09:00 – 10:00"]
    assert html.classed("when") == [
        "27 March 2021, 09:00 CET – 28 March 2021, 17:00 CEST (Europe/Brussels)"
    ]


def test_an_event_page_links_its_calendar_file(client: FlaskClient) -> None:
    html = Html(get_page(client, "/events/circular-cities-webinar-2020-12"))

    [href] = html.hrefs("Add to calendar (.ics)")
    assert href == "/events/circular-cities-webinar-2020-12.ics"
    response = client.get(href)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"


def test_an_event_page_adds_to_google_and_outlook_at_the_right_utc_times(
    client: FlaskClient,
) -> None:
    html = Html(get_page(client, "/events/circular-cities-webinar-2020-12"))

    [google] = html.hrefs("Google Calendar")
    assert google.startswith("https://calendar.google.com/calendar/render?")
    google_query = query(google)
    assert google_query["action"] == "TEMPLATE"
    assert google_query["text"] == CIRCULAR
    assert google_query["dates"] == "20201207T130000Z/20201207T150000Z"  # 14:00-16:00 CET
    assert google_query["location"] == "Online"
    assert "http://127.0.0.1:8000/events/circular-cities-webinar-2020-12" in google_query["details"]
    [outlook] = html.hrefs("Outlook.com")
    assert outlook.startswith("https://outlook.live.com/calendar/0/deeplink/compose?")
    outlook_query = query(outlook)
    assert outlook_query["subject"] == CIRCULAR
    assert outlook_query["startdt"] == "2020-12-07T13:00:00Z"
    assert outlook_query["enddt"] == "2020-12-07T15:00:00Z"
    assert outlook_query["location"] == "Online"


def test_add_links_of_a_summer_event_use_summer_time(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    write_event(
        "june.yaml", make_event(id="june", start="2021-06-07T14:00", end="2021-06-07T16:00")
    )
    html = Html(get_page(make_app().test_client(), "/events/june"))

    assert query(html.hrefs("Google Calendar")[0])["dates"] == "20210607T120000Z/20210607T140000Z"
    assert query(html.hrefs("Outlook.com")[0])["startdt"] == "2021-06-07T12:00:00Z"
    assert html.classed("when") == ["7 June 2021, 14:00 – 16:00 CEST (Europe/Brussels)"]


def test_add_links_of_an_all_day_event_give_dates(client: FlaskClient) -> None:
    html = Html(get_page(client, "/events/nordic-strategy-forum-supply-chain-procurement-2020-12"))

    assert query(html.hrefs("Google Calendar")[0])["dates"] == "20201207/20201209"
    outlook = query(html.hrefs("Outlook.com")[0])
    assert (outlook["startdt"], outlook["enddt"], outlook["allday"]) == (
        "2020-12-07",
        "2020-12-09",
        "true",
    )
    assert html.classed("when") == ["7 – 8 Dec 2020 (Europe/Stockholm)"]


def test_an_event_page_shows_organiser_and_registration_in_the_events_zone(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    write_event(
        "a.yaml",
        make_event(
            organizer={"name": "ICLEI", "email": "info@example.org"},
            registration={"url": "https://example.org/register", "deadline": "2020-12-06T23:59"},
        ),
    )
    page = get_page(make_app().test_client(), "/events/circular-cities-webinar")

    assert "Organiser: ICLEI" in page
    assert 'href="mailto:info@example.org"' in page
    assert "Registration closes 6 December 2020, 23:59 CET" in page
    assert Html(page).hrefs("register") == ["https://example.org/register"]


def test_a_cancelled_event_says_so_on_its_page_and_in_the_listing(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    write_event("a.yaml", make_event(status="cancelled"))
    client = make_app().test_client()

    event_page = Html(get_page(client, "/events/circular-cities-webinar"))
    listing = Html(get_page(client, "/"))

    assert [text for tag, _, text in event_page.headings if tag == "h1"] == [
        "Cancelled: Circular Cities Declaration Webinar"
    ]
    assert listing.classed("cancelled") == ["Cancelled"]


def test_a_tentative_event_says_its_date_may_change(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    write_event("a.yaml", make_event(status="tentative"))

    page = get_page(make_app().test_client(), "/events/circular-cities-webinar")

    assert "the date may still change" in page


# -- escaping -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/topics/circular-economy", "/events/nasty"])
def test_markup_in_an_event_is_shown_as_text(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp, path: str
) -> None:
    nasty = make_event(
        id="nasty",
        title=NASTY,
        subtitle="<b>bold</b> subtitle",
        location='<img src=x onerror="alert(2)">',
    )

    page = get_page(make_app(events={"nasty.yaml": nasty}).test_client(), path)

    assert "<script>alert(1)" not in page
    assert "<b>bold</b>" not in page
    assert "<img src=x" not in page
    html = Html(page)
    visible = [text for _, _, text in html.headings] + [html.title]
    assert any(NASTY in text for text in visible), visible
    assert html.classed("subtitle") == ["<b>bold</b> subtitle"]
    assert html.classed("where") == ['<img src=x onerror="alert(2)">']


def test_a_unicode_title_reads_the_same_on_the_page_and_in_the_feed(
    make_event: MakeEvent, make_app: MakeApp
) -> None:
    title = "Économie circulaire – 循环经济 🎉 «Zürich»"
    client = make_app(events={"u.yaml": make_event(id="unicode", title=title)}).test_client()

    html = Html(get_page(client, "/events/unicode"))
    feed = icalendar.Calendar.from_ical(client.get("/events/unicode.ics").data)

    assert [text for tag, _, text in html.headings if tag == "h1"] == [title]
    assert [str(event["SUMMARY"]) for event in feed.walk("VEVENT")] == [title]


def test_dash_lines_in_session_text_are_a_list_and_paragraphs_stay_apart(
    client: FlaskClient,
) -> None:
    page = get_page(client, "/events/circular-cities-webinar-2020-12")

    assert "- Introduction to the Support Partners" not in page
    assert (
        "<ul><li>Introduction to the Circular Cities Declaration and upcoming activities</li>"
        "<li>Introduction to the Support Partners</li><li>Opportunity for questions</li></ul>"
    ) in page
    summit = get_page(client, "/events/occupational-health-and-safety-summit-2020")
    assert summit.count("<p>", summit.index('class="description"')) >= 5  # its paragraphs


def test_session_text_is_escaped_in_its_list(seed_project: Path, make_app: MakeApp) -> None:
    app = make_app(
        events={
            "x.yaml": {
                "id": "x",
                "title": "X",
                "topics": ["procurement"],
                "start": "2020-12-07T14:00",
                "end": "2020-12-07T15:00",
                "sessions": [
                    {"start": "14:00", "end": "15:00", "title": "S", "description": "- <b>&"},
                ],
            }
        }
    )
    page = app.test_client().get("/events/x").get_data(as_text=True)
    assert "<ul><li>&lt;b&gt;&amp;</li></ul>" in page
