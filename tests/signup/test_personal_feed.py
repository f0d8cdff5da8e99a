"""What only a subscriber's own feed carries: private join links and the alarms they chose.

Alarms are chosen on the preferences page (a form refused when another site's page sends
it, like the topics), from a fixed list, none at first; the personal feed then rings before
each event, read back here by icalendar and by allenporter's ical in strict mode
(``tests/calendar/test_online.py`` reads the same through ical.js, libical and vobject).
Public feeds and pages never carry either.
"""

from __future__ import annotations

from datetime import timedelta

import icalendar
import pytest
from flask import Flask
from flask.testing import FlaskClient
from ical.calendar_stream import IcsCalendarStream
from werkzeug.test import TestResponse

from service.reminders import subscribers as store
from service.reminders.worker import Worker, worker_for

from .conftest import (
    EVENTS,
    FORUM,
    SAME_ORIGIN,
    SUMMIT,
    Inbox,
    MakeApp,
    Page,
    confirmed,
    form_data,
    local,
    manage_path,
)

ALICE = "alice@example.org"
PRIVATE = "https://meet.example.org/j/members-room?pwd=only-for-subscribers"
PUBLIC = "https://meet.example.org/j/4711"
ONLINE_FORUM = {**FORUM, "location": "Online", "online": {"join_url": PRIVATE}}
HYBRID_SUMMIT = {
    **SUMMIT,
    "location": "Brussels",
    "online": {"join_url": PUBLIC, "public": True},
}


def save(client: FlaskClient, path: str, alarms: list[str], topics: list[str]) -> TestResponse:
    """Tick the alarm boxes (and keep these topics) on a preferences page and press Save."""
    shown = client.get(path)
    assert shown.status_code == 200, path
    data = form_data(Page.of(shown), topics=topics, timezone="Europe/Brussels", alarms=alarms)
    return client.post(path, data=data, headers=SAME_ORIGIN)


def _seconds(trigger: object) -> int:
    assert isinstance(trigger, timedelta), f"TRIGGER {trigger!r} is not relative to the start"
    return int(trigger.total_seconds())


def alarms_read(body: bytes) -> dict[str, list[int]]:
    """Return each entry's alarm triggers (seconds from its start), as two readers read them."""
    by_icalendar = {
        str(event["SUMMARY"]): [
            _seconds(alarm.decoded("TRIGGER"))
            for alarm in event.walk("VALARM")
            if str(alarm["ACTION"]) == "DISPLAY" and str(alarm["DESCRIPTION"])
        ]
        for event in icalendar.Calendar.from_ical(body).walk("VEVENT")
    }
    strict = IcsCalendarStream.calendar_from_ics(body.decode("utf-8"))
    by_ical = {
        str(event.summary): [_seconds(alarm.trigger) for alarm in event.alarm]
        for event in strict.events
    }
    assert by_ical == by_icalendar
    return by_icalendar


def test_alarms_are_none_at_first_and_ring_once_chosen(
    client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    page = confirmed(client, worker, inbox, ALICE, ("procurement", "supply-chains"))
    feed = local(page.link("Download .ics"))
    path = manage_path(page)
    offered = [box.attrs["value"] for box in page.find_all("input", name="alarms")]
    assert offered == ["600", "900", "1800", "3600", "86400"]
    assert page.checked("alarms") == []
    assert alarms_read(client.get(feed).data) == {
        "Procurement forum": [],
        "Supply chain summit": [],
    }

    saved = Page.of(save(client, path, ["86400", "600"], ["procurement", "supply-chains"]))

    assert saved.one(class_="saved").text == "Your preferences are saved."
    assert saved.checked("alarms") == ["600", "86400"]
    assert Page.of(client.get(path)).checked("alarms") == ["600", "86400"]
    labels = [
        label.text
        for label in saved.find_all("label")
        if label.attrs.get("for", "").startswith("alarms")
    ]
    assert labels == [
        "10 minutes before",
        "15 minutes before",
        "30 minutes before",
        "1 hour before",
        "1 day before",
    ]
    assert alarms_read(client.get(feed).data) == {
        "Procurement forum": [-86400, -600],
        "Supply chain summit": [-86400, -600],
    }
    # None again: unticking every box takes them all away.
    save(client, path, [], ["procurement", "supply-chains"])
    assert alarms_read(client.get(feed).data)["Procurement forum"] == []


@pytest.mark.parametrize("alarm", ["7", "-600", "one hour"])
def test_an_alarm_not_offered_is_refused_and_changes_nothing(
    client: FlaskClient, worker: Worker, inbox: Inbox, alarm: str
) -> None:
    page = confirmed(client, worker, inbox, ALICE)
    path = manage_path(page)
    save(client, path, ["3600"], ["procurement"])

    response = save(client, path, [alarm, "600"], ["procurement"])

    assert response.status_code == 400
    refused = Page.of(response)
    assert refused.errors == [f"'{alarm}' is not a valid choice for this field."]
    assert Page.of(client.get(path)).checked("alarms") == ["3600"]


def test_alarms_posted_from_another_sites_page_are_refused(
    client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    path = manage_path(confirmed(client, worker, inbox, ALICE))

    response = client.post(
        path,
        data={"topics": ["procurement"], "timezone": "UTC", "alarms": ["600"]},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"},
    )

    assert response.status_code == 403
    assert Page.of(client.get(path)).checked("alarms") == []


def test_public_feeds_never_ring(client: FlaskClient, worker: Worker, inbox: Inbox) -> None:
    path = manage_path(confirmed(client, worker, inbox, ALICE))
    save(client, path, ["600", "3600", "86400"], ["procurement"])

    for feed in ("/feeds/all.ics", "/feeds/procurement.ics", f"/events/{FORUM['id']}.ics"):
        body = client.get(feed).data
        assert b"VALARM" not in body, feed


# --- private join links ----------------------------------------------------------------


@pytest.fixture
def online_app(make_app: MakeApp) -> Flask:
    others = tuple(e for e in EVENTS if e["id"] not in (FORUM["id"], SUMMIT["id"]))
    return make_app(events=(ONLINE_FORUM, HYBRID_SUMMIT, *others))


def test_only_the_personal_feed_of_a_confirmed_subscriber_has_the_private_link(
    online_app: Flask, inbox: Inbox
) -> None:
    client = online_app.test_client()
    page = confirmed(
        client,
        worker_for(online_app.extensions["calfeed.live"]),
        inbox,
        ALICE,
        ("procurement", "supply-chains"),
    )
    feed = local(page.link("Download .ics"))

    personal = icalendar.Calendar.from_ical(client.get(feed).data)
    by_title = {str(e["SUMMARY"]): e for e in personal.walk("VEVENT")}
    forum = by_title["Procurement forum"]
    assert str(forum["CONFERENCE"]) == PRIVATE
    assert forum["CONFERENCE"].params["FEATURE"] == "VIDEO"
    assert str(forum["LOCATION"]) == f"Online: {PRIVATE}"
    assert f"Join online: {PRIVATE}" in str(forum["DESCRIPTION"])
    summit = by_title["Supply chain summit"]
    assert str(summit["LOCATION"]) == f"Brussels and online: {PUBLIC}"

    for path in (
        "/",
        "/topics/procurement",
        f"/events/{FORUM['id']}",
        "/feeds/all.ics",
        "/feeds/procurement.ics",
        "/feeds/procurement+supply-chains.ics",
        f"/events/{FORUM['id']}.ics",
        "/feeds/all.atom",
        "/feeds/procurement.json",
        "/embed/procurement",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.data.replace(b"\r\n ", b"")
        assert b"members-room" not in body, path
    event_page = Page.of(client.get(f"/events/{FORUM['id']}"))
    assert "the join link is sent to confirmed subscribers" in event_page.one(class_="join").text
    assert event_page.one(class_="join").one("a").attrs["href"] == "/subscribe?topic=procurement"
    hybrid_page = Page.of(client.get(f"/events/{SUMMIT['id']}"))
    assert hybrid_page.one(class_="join").one("a").attrs["href"] == PUBLIC
    assert b"4711" in client.get("/feeds/supply-chains.ics").data


def test_an_ended_subscription_no_longer_gets_the_private_link(
    online_app: Flask, inbox: Inbox
) -> None:
    client = online_app.test_client()
    page = confirmed(client, worker_for(online_app.extensions["calfeed.live"]), inbox, ALICE)
    feed = local(page.link("Download .ics"))
    assert PRIVATE.encode() in client.get(feed).data.replace(b"\r\n ", b"")
    leave = page.link("Unsubscribe from all reminders")

    assert client.post(leave).status_code == 200

    ended = client.get(feed)
    assert ended.status_code == 200
    assert b"members-room" not in ended.data
    assert b"reminders ended" in ended.data


def test_alarm_choices_are_stored_as_lead_times(
    client: FlaskClient, worker: Worker, inbox: Inbox, app: Flask
) -> None:
    path = manage_path(confirmed(client, worker, inbox, ALICE))
    save(client, path, ["1800", "86400"], ["procurement"])

    with app.extensions["calfeed.live"].engine.connect() as connection:
        [person] = store.confirmed(connection)
    assert person.alarms == (timedelta(days=1), timedelta(minutes=30))
