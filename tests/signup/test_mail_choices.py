"""What mail a subscriber chooses on the preferences page: reminders, a digest, new events.

Through the Flask test client and the form the page shows (``form_data``), at the frozen
2 March 2030 (a Saturday); the worker then mails the project's Maildir.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from freezegun.api import FrozenDateTimeFactory

from service.catalog.models import Choices, Digest
from service.reminders import subscribers as store
from service.reminders.worker import Worker, worker_for

from .conftest import (
    BASE_URL,
    SAME_ORIGIN,
    SETTINGS,
    Inbox,
    MakeApp,
    Page,
    confirmed,
    form_data,
    live,
    manage_path,
    text_of,
)

ALICE = "alice@example.org"


def shown(page: Page) -> dict[str, list[str]]:
    """Return the mail choices the page shows: ticked boxes and chosen day and hour."""
    fields = form_data(page)
    return {
        name: fields.get(name, [])
        for name in ("per_event", "digest", "digest_weekday", "digest_hour", "new_events")
    }


def stored(app: Flask, address: str) -> Choices:
    with live(app).engine.connect() as connection:
        people = {p.email: p for p in store.confirmed(connection)}
    return people[address].choices


def test_the_page_shows_the_defaults_and_saves_the_mail_chosen(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    page = confirmed(client, worker, inbox, ALICE)
    assert shown(page) == {
        "per_event": ["y"],
        "digest": [],
        "digest_weekday": ["monday"],
        "digest_hour": ["8"],
        "new_events": [],
    }
    labels = [label.text for label in page.find_all("label")]
    assert "Reminders before each event" in labels
    assert "A weekly digest of what is coming" in labels
    assert "A mail when a new event appears in my topics" in labels
    days = [o.attrs["value"] for o in page.one("select", name="digest_weekday").elements()]
    assert days == ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    path = manage_path(page)
    data = form_data(
        page,
        per_event=[],
        digest="y",
        digest_weekday="wednesday",
        digest_hour="18",
        new_events="y",
    )
    saved = Page.of(client.post(path, data=data, headers=SAME_ORIGIN))

    assert saved.one(class_="saved").text == "Your preferences are saved."
    expected = {
        "per_event": [],
        "digest": ["y"],
        "digest_weekday": ["wednesday"],
        "digest_hour": ["18"],
        "new_events": ["y"],
    }
    assert shown(saved) == expected
    assert shown(Page.of(client.get(path))) == expected
    assert stored(app, ALICE) == Choices(False, Digest(2, 18), True)


def test_no_reminder_and_no_digest_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    page = confirmed(client, worker, inbox, ALICE)
    path = manage_path(page)

    response = client.post(path, data=form_data(page, per_event=[]), headers=SAME_ORIGIN)

    assert response.status_code == 400
    assert Page.of(response).errors == [
        "Choose reminders before each event, a weekly digest, or both."
    ]
    odd = form_data(page, digest="y", digest_weekday="someday", digest_hour="25")
    refused = client.post(path, data=odd, headers=SAME_ORIGIN)
    assert refused.status_code == 400
    assert Page.of(refused).errors == ["Not a valid choice.", "Not a valid choice."]
    assert stored(app, ALICE) == Choices()
    assert shown(Page.of(client.get(path)))["per_event"] == ["y"]


def test_config_yaml_sets_what_a_new_subscriber_gets(make_app: MakeApp, inbox: Inbox) -> None:
    reminders = {
        **SETTINGS["reminders"],
        "digest": {"weekday": "friday", "hour": 17},
        "defaults": {"per_event": False, "digest": True, "new_events": True},
    }
    app = make_app(reminders=reminders)
    page = confirmed(app.test_client(), worker_for(live(app)), inbox, ALICE)

    assert shown(page) == {
        "per_event": [],
        "digest": ["y"],
        "digest_weekday": ["friday"],
        "digest_hour": ["17"],
        "new_events": ["y"],
    }
    assert stored(app, ALICE) == Choices(False, Digest(4, 17), True)


def test_the_digest_chosen_arrives_on_that_day_and_hour_in_the_subscribers_zone(
    client: FlaskClient, worker: Worker, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    page = confirmed(client, worker, inbox, ALICE, ("procurement",), "Asia/Tokyo")
    data = form_data(page, per_event=[], digest="y", digest_weekday="wednesday", digest_hour="9")
    assert client.post(manage_path(page), data=data, headers=SAME_ORIGIN).status_code == 200
    worker.sweep()
    before = len(inbox.to(ALICE))

    # Wednesday 6 March 2030, 09:00 in Tokyo is 00:00 UTC.
    clock.move_to("2030-03-05 23:59:00")
    worker.sweep()
    assert len(inbox.to(ALICE)) == before
    clock.move_to("2030-03-06 00:00:00")
    worker.sweep()
    clock.tick(timedelta(hours=2))
    worker.sweep()

    [digest] = inbox.to(ALICE)[before:]
    assert str(digest["Subject"]) == "Coming up until Wed 13 Mar: 1 event"
    text = text_of(digest)
    assert text.index("Registration closes") < text.index("Starting")
    assert "- Procurement forum: Sat, 9 Mar 2030, 07:59 JST (Asia/Tokyo)" in text
    assert f"Details: {BASE_URL}/events/procurement-forum" in text
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
