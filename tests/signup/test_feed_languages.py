"""Feeds in each language of the site: the calendar, Atom and JSON Feed under ``/fr/``.

A French visitor's subscribe links give the calendar in French: its name, each entry's
title, the topics and calfeed's own words ("Programme", "Plus"), read back here by
icalendar as a calendar app reads them. The entries are the same events (same UIDs, same
instants) as in the site's own language, and each language's entries have their own
revisions, so SEQUENCE rises with an edit and never because another language was asked for.
A subscriber's own calendar and the calendar attached to their mails are in the language of
their mails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import icalendar
from flask import Flask
from freezegun.api import FrozenDateTimeFactory

from service.reminders.worker import worker_for

from .conftest import (
    BASE_URL,
    SAME_ORIGIN,
    TOPICS,
    Inbox,
    MakeApp,
    Page,
    form_data,
    live,
)
from .test_languages import ALICE, signed_up_in_french
from .test_signup import at

# Two days in Brussels and online, given in English and in French.
FRENCH_SUMMIT: dict[str, Any] = {
    "id": "procurement-summit",
    "title": {"en": "Procurement summit", "fr": "Sommet des marchés publics"},
    "topics": ["procurement"],
    "timezone": "Europe/Brussels",
    "start": "2030-03-10T14:00",
    "end": "2030-03-11T17:00",
    "location": "Brussels",
    "online": {"join_url": "https://meet.example.org/j/4711", "public": True},
    "registration": {"deadline": "2030-03-08T23:59"},
    "sessions": [
        {
            "id": "opening",
            "title": "Opening",
            "start": "2030-03-11T09:00",
            "end": "2030-03-11T10:00",
            "speakers": ["Ada Lovelace"],
        }
    ],
}
TOPICS_FR: dict[str, Any] = {
    **TOPICS,
    "procurement": {"name": {"en": "Public procurement", "fr": "Marchés publics"}},
}


def french_site(make_app: MakeApp) -> Flask:
    return make_app(events=(FRENCH_SUMMIT,), topics=TOPICS_FR)


def entries(body: bytes) -> dict[str, icalendar.cal.Component]:
    """Return a calendar's entries by UID, as icalendar reads them."""
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}


def test_a_calendar_in_french_names_itself_and_its_entries_in_french(make_app: MakeApp) -> None:
    client = french_site(make_app).test_client()

    french = client.get("/fr/feeds/procurement.ics")
    english = client.get("/feeds/procurement.ics", headers={"Accept-Language": "fr"})

    assert french.status_code == english.status_code == 200
    assert french.headers["Content-Language"] == "fr"
    assert english.headers["Content-Language"] == "en"  # a feed follows its address alone
    calendar = icalendar.Calendar.from_ical(french.data)
    assert str(calendar["X-WR-CALNAME"]) == str(calendar["NAME"]) == "Test events: Marchés publics"
    assert str(calendar["SOURCE"]) == f"{BASE_URL}/fr/feeds/procurement.ics"
    in_french, in_english = entries(french.data), entries(english.data)
    assert in_french.keys() == in_english.keys()  # the same events, by the same UIDs
    uid = "procurement-summit@events.example.org"
    entry, same = in_french[uid], in_english[uid]
    assert entry.decoded("DTSTART") == same.decoded("DTSTART")
    assert entry.decoded("DTEND") == same.decoded("DTEND")
    assert str(entry["SUMMARY"]) == "Sommet des marchés publics"
    assert str(same["SUMMARY"]) == "Procurement summit"
    assert entry.decoded("CATEGORIES") == ["Marchés publics"]
    description = str(entry["DESCRIPTION"])
    assert "Programme (heures en Europe/Brussels) :" in description
    assert "lun. 11 mars 09:00–10:00 Opening (Ada Lovelace)" in description
    assert "Clôture des inscriptions le 2030-03-08 23:59 (Europe/Brussels)" in description
    assert f"Plus : {BASE_URL}/fr/events/procurement-summit" in description
    assert str(entry["URL"]) == f"{BASE_URL}/fr/events/procurement-summit"
    assert "Agenda (times in Europe/Brussels):" in str(same["DESCRIPTION"])
    # Online too: the place and the join link's label in French.
    assert str(entry["LOCATION"]) == "Brussels et en ligne : https://meet.example.org/j/4711"
    assert entry["CONFERENCE"].params["LABEL"] == "Rejoindre en ligne"
    # A session's entry, in the event's own calendar: its speakers and the event it is part
    # of, in French.
    own = entries(client.get("/fr/events/procurement-summit.ics").data)
    session = own["procurement-summit.opening@events.example.org"]
    assert "Intervenants : Ada Lovelace" in str(session["DESCRIPTION"])
    assert "Fait partie de : Sommet des marchés publics" in str(session["DESCRIPTION"])
    # Its own validators: a 304 to its ETag, which is not the English one's.
    assert french.headers["ETag"] != english.headers["ETag"]
    again = client.get(
        "/fr/feeds/procurement.ics", headers={"If-None-Match": french.headers["ETag"]}
    )
    assert again.status_code == 304


def test_each_language_keeps_its_own_revisions(
    make_app: MakeApp,
    write_event: Callable[[str, dict[str, Any]], Path],
    clock: FrozenDateTimeFactory,
) -> None:
    app = french_site(make_app)
    client = app.test_client()
    uid = "procurement-summit@events.example.org"

    def sequences() -> list[int]:
        found = []
        for path in ("/fr/feeds/all.ics", "/feeds/all.ics", "/de/feeds/all.ics"):
            found.append(int(str(entries(client.get(path).data)[uid]["SEQUENCE"])))
        return found

    assert sequences() == sequences() == [0, 0, 0]
    clock.tick(60)
    write_event("procurement-summit.yaml", {**FRENCH_SUMMIT, "start": "2030-03-10T13:30"})
    assert live(app).refresh()

    assert sequences() == sequences() == [1, 1, 1]


def test_atom_and_json_feed_in_french_link_to_the_french_pages(make_app: MakeApp) -> None:
    client = french_site(make_app).test_client()

    document = json.loads(client.get("/fr/feeds/all.json").data)
    atom = client.get("/fr/feeds/all.atom").data.decode()

    assert document["language"] == "fr"
    assert document["feed_url"] == f"{BASE_URL}/fr/feeds/all.json"
    [item] = document["items"]
    assert item["title"] == "Sommet des marchés publics"
    assert item["url"] == f"{BASE_URL}/fr/events/procurement-summit"
    assert "<title>Sommet des marchés publics</title>" in atom
    assert 'xml:lang="fr"' in atom or "<language>fr</language>" in atom or 'lang="fr"' in atom


def test_a_french_page_links_to_french_feeds_and_names_its_languages(make_app: MakeApp) -> None:
    client = french_site(make_app).test_client()

    response = client.get("/fr/events/procurement-summit")

    assert response.headers["Content-Language"] == "fr"
    html = response.get_data(as_text=True)
    page = Page(html)
    assert page.link("Ajouter à l’agenda (.ics)") == "/fr/events/procurement-summit.ics"
    alternates = dict(
        re.findall(r'<link rel="alternate" hreflang="([a-zA-Z-]+)" href="([^"]+)">', html)
    )
    assert alternates == {
        "en": f"{BASE_URL}/events/procurement-summit",
        "x-default": f"{BASE_URL}/events/procurement-summit",
        "fr": f"{BASE_URL}/fr/events/procurement-summit",
        "es": f"{BASE_URL}/es/events/procurement-summit",
        "de": f"{BASE_URL}/de/events/procurement-summit",
    }
    assert '<meta property="og:locale" content="fr_FR">' in html
    assert f'<link rel="canonical" href="{BASE_URL}/fr/events/procurement-summit">' in html
    calendar = client.get("/fr/events/procurement-summit.ics")
    assert calendar.headers["Content-Language"] == "fr"
    assert "Sommet des marchés publics" in calendar.get_data(as_text=True)
    topic = Page.of(client.get("/fr/topics/procurement"))
    hrefs = [a.attrs.get("href", "") for a in topic.find_all("a")]
    assert f"webcal://{BASE_URL.split('://')[1]}/fr/feeds/procurement.ics" in hrefs


def test_a_french_subscribers_own_calendar_and_attachments_are_in_french(
    make_app: MakeApp, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    app = french_site(make_app)
    client = app.test_client()
    worker = worker_for(live(app))
    page = signed_up_in_french(client, worker, inbox, "/fr/subscribe")
    manage = page.one("form", method="post").attrs["action"]
    client.post(manage, data=form_data(page, alarms=["600"]), headers=SAME_ORIGIN)
    feed = next(
        a.attrs["href"] for a in page.find_all("a") if "/feeds/personal/" in a.attrs.get("href", "")
    )

    own = client.get(feed.removeprefix(BASE_URL))

    assert own.headers["Content-Language"] == "fr"
    entry = entries(own.data)["procurement-summit@events.example.org"]
    assert str(entry["SUMMARY"]) == "Sommet des marchés publics"
    [alarm] = entry.walk("VALARM")
    assert str(alarm["DESCRIPTION"]) == "Commence dans 10 minutes"

    # A week before, the reminder's calendar is the French entry.
    clock.move_to(at("2030-03-03 13:00"))
    worker.sweep()
    reminder = inbox.latest(ALICE)
    [attached] = [p for p in reminder.iter_attachments() if p.get_content_type() == "text/calendar"]
    body = attached.get_content()
    body = body.encode() if isinstance(body, str) else body
    sent = entries(body)["procurement-summit@events.example.org"]
    assert str(sent["SUMMARY"]) == "Sommet des marchés publics"
    assert "Programme (heures en Europe/Brussels) :" in str(sent["DESCRIPTION"])
