"""Subscribe and add-event links (``service/web/links.py``), read back as the apps read them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from service.catalog import Catalog
from service.web.links import feed_url, google_event_link, outlook_event_link, subscribe_links

WriteEvent = Callable[[str, str | Mapping[str, Any]], Path]
MakeEvent = Callable[..., dict[str, Any]]
Load = Callable[[], Catalog]


def query(url: str) -> dict[str, str]:
    parsed = parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in parsed.values()), parsed
    return {key: values[0] for key, values in parsed.items()}


@pytest.mark.parametrize(
    ("url", "webcal"),
    [
        (
            "https://events.example.org/feeds/procurement.ics",
            "webcal://events.example.org/feeds/procurement.ics",
        ),
        ("http://127.0.0.1:8000/feeds/all.ics", "webcal://127.0.0.1:8000/feeds/all.ics"),
        (
            "https://example.org/calendar/feeds/ict+procurement.ics",
            "webcal://example.org/calendar/feeds/ict+procurement.ics",
        ),
    ],
)
def test_subscribe_links_point_every_app_at_the_feed(url: str, webcal: str) -> None:
    links = subscribe_links(url, "Events: Public procurement & more")

    assert links.https == url
    assert links.webcal == webcal
    assert links.google.startswith("https://calendar.google.com/calendar/render?")
    assert query(links.google) == {"cid": webcal}
    assert links.outlook.startswith("https://outlook.live.com/calendar/0/addfromweb?")
    assert query(links.outlook) == {"url": url, "name": "Events: Public procurement & more"}


def test_the_google_link_encodes_the_webcal_url_whole() -> None:
    links = subscribe_links("https://events.example.org/feeds/a+b.ics", "x")

    # A literal '+' would reach Google as a space; ':' and '/' encoded keep cid one value.
    assert links.google.endswith("?cid=webcal%3A%2F%2Fevents.example.org%2Ffeeds%2Fa%2Bb.ics")


def test_feed_url_joins_topics_with_plus(
    write_event: WriteEvent, make_event: MakeEvent, load: Load
) -> None:
    config = load().config

    assert feed_url(config, ("all",), "en") == "https://events.example.org/feeds/all.ics"
    assert feed_url(config, ("circular-economy", "procurement"), "en") == (
        "https://events.example.org/feeds/circular-economy+procurement.ics"
    )


def test_event_links_give_a_timed_event_in_utc(
    write_event: WriteEvent, make_event: MakeEvent, load: Load
) -> None:
    write_event(
        "a.yaml",
        make_event(title="Webinar: A & B", location="Room 1, Brussels", timezone="Europe/Brussels"),
    )
    event = load().events[0]

    google = query(google_event_link(event, "Details\n\nhttps://x.example/e", "en"))
    outlook = query(outlook_event_link(event, "Details", "en"))

    assert google == {
        "action": "TEMPLATE",
        "text": "Webinar: A & B",
        "dates": "20201207T130000Z/20201207T150000Z",
        "details": "Details\n\nhttps://x.example/e",
        "ctz": "Europe/Brussels",
        "location": "Room 1, Brussels",
    }
    assert outlook == {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": "Webinar: A & B",
        "body": "Details",
        "startdt": "2020-12-07T13:00:00Z",
        "enddt": "2020-12-07T15:00:00Z",
        "location": "Room 1, Brussels",
    }


@pytest.mark.parametrize(
    ("zone", "start", "end", "utc"),
    [
        (
            "America/New_York",
            "2021-03-14T09:00",
            "2021-03-14T10:00",
            "20210314T130000Z/20210314T140000Z",
        ),
        (
            "America/New_York",
            "2021-03-13T09:00",
            "2021-03-13T10:00",
            "20210313T140000Z/20210313T150000Z",
        ),
        (
            "Australia/Sydney",
            "2021-01-10T09:00",
            "2021-01-10T10:00",
            "20210109T220000Z/20210109T230000Z",
        ),
        (
            "Asia/Kolkata",
            "2021-01-10T09:00",
            "2021-01-10T10:00",
            "20210110T033000Z/20210110T043000Z",
        ),
        (
            "Europe/Brussels",
            "2021-10-31T01:30",
            "2021-10-31T04:00",
            "20211030T233000Z/20211031T030000Z",
        ),
    ],
)
def test_google_dates_follow_each_zones_offset_on_that_day(
    write_event: WriteEvent,
    make_event: MakeEvent,
    load: Load,
    zone: str,
    start: str,
    end: str,
    utc: str,
) -> None:
    write_event("a.yaml", make_event(timezone=zone, start=start, end=end))
    event = load().events[0]

    assert query(google_event_link(event, "", "en"))["dates"] == utc
    outlook = query(outlook_event_link(event, "", "en"))
    first, last = utc.split("/")
    assert outlook["startdt"].replace("-", "").replace(":", "") == first
    assert outlook["enddt"].replace("-", "").replace(":", "") == last


def test_event_links_give_an_all_day_event_as_dates_with_an_exclusive_end(
    write_event: WriteEvent, make_event: MakeEvent, load: Load
) -> None:
    write_event("a.yaml", make_event(start="2020-11-30", end="2020-12-04", without=["location"]))
    event = load().events[0]

    google = query(google_event_link(event, "", "en"))
    outlook = query(outlook_event_link(event, "", "en"))

    assert google["dates"] == "20201130/20201205"  # the day after the last day
    assert "location" not in google
    assert (outlook["startdt"], outlook["enddt"], outlook["allday"]) == (
        "2020-11-30",
        "2020-12-05",
        "true",
    )
