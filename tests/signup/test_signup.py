"""The subscriber's pages over HTTP: sign up, confirm, preferences, personal feed, leave.

Each test acts as a visitor does (opens the form, submits it, follows the link in the mail
the worker delivered to the real Maildir) at a frozen instant, and checks what the visitor
sees: the pages, the mails, the calendar.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from freezegun.api import FrozenDateTimeFactory
from werkzeug.test import TestResponse

from service.reminders.worker import Worker, worker_for
from service.store.tables import outbox, subscribers
from service.tokens import Tokens

from .conftest import (
    EVENTS,
    SAME_ORIGIN,
    TOPICS,
    Inbox,
    MakeApp,
    Page,
    confirm,
    confirmed,
    form_data,
    link_in,
    links_in,
    live,
    local,
    manage_path,
    sign_up,
    status_of,
    text_of,
)

ALICE = "alice@example.org"
BOB = "bob@example.org"
CONFIRM_SUBJECT = "Confirm your reminders from Test events"
MANAGE_SUBJECT = "Your reminders from Test events"
TOPIC_NAMES = ["Public procurement", "Circular economy", "Supply chains"]


def at(text: str) -> datetime:
    """Return an instant written in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def token_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


def save_preferences(client: FlaskClient, path: str, topics: list[str], zone: str) -> TestResponse:
    """Change the boxes and the zone on a preferences page and press Save."""
    shown = client.get(path)
    assert shown.status_code == 200, path
    data = form_data(Page.of(shown), topics=topics, timezone=zone)
    return client.post(path, data=data, headers=SAME_ORIGIN)


def refused_link(response: TestResponse, reason: str) -> None:
    """Check a link was refused with a page that says why and offers to sign up again."""
    assert 400 <= response.status_code < 500, response.status_code
    page = Page.of(response)
    assert page.h1 == "This link does not work"
    assert f"Sorry: {reason}." in page.text
    assert page.link("Sign up for reminders") == "/subscribe"


def outbox_statuses(app: Flask, address: str) -> list[tuple[str, str]]:
    """Return (kind, status) of every reminder about an event queued for ``address``."""
    query = (
        sa.select(outbox.c.kind, outbox.c.status)
        .join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
        .where(subscribers.c.email == address, outbox.c.event_id != "")
        .order_by(outbox.c.due_at)
    )
    with live(app).engine.connect() as connection:
        return [(row.kind, row.status) for row in connection.execute(query)]


def subscriber_count(app: Flask) -> int:
    with live(app).engine.connect() as connection:
        count: int = connection.execute(
            sa.select(sa.func.count()).select_from(subscribers)
        ).scalar_one()
    return count


# The form


def test_the_form_offers_the_topics_and_the_time_zones_and_sets_no_cookie(
    client: FlaskClient,
) -> None:
    response = client.get("/subscribe")

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    page = Page.of(response)
    assert page.h1 == "Get reminders by email"
    form = page.one("form", class_="signup")
    assert (form.attrs["method"], form.attrs["action"]) == ("post", "/subscribe")
    labels = {label.attrs.get("for"): label.text for label in form.find_all("label")}
    assert labels[form.one("input", name="email").attrs["id"]] == "Email address"
    boxes = form.find_all("input", name="topics")
    assert [box.attrs["type"] for box in boxes] == ["checkbox"] * 3
    assert [box.attrs["value"] for box in boxes] == list(TOPICS)
    assert [labels[box.attrs["id"]] for box in boxes] == TOPIC_NAMES
    assert page.checked("topics") == []
    zone = form.one("input", name="timezone")
    assert labels[zone.attrs["id"]] == "Your time zone"
    assert zone.attrs["list"] == "zones"
    assert "data-guess-zone" in zone.attrs  # zone.js fills in the browser's zone
    offered = [option.attrs["value"] for option in page.one("datalist", id="zones").elements()]
    assert {"Europe/Brussels", "America/New_York", "Asia/Tokyo", "UTC"} <= set(offered)
    assert len(offered) > 300 and offered == sorted(offered)
    assert "localtime" not in offered and "Factory" not in offered
    assert form.find_all("input", type="hidden") == []
    assert page.buttons() == ["Send me reminders"]


@pytest.mark.parametrize(
    ("path", "chosen"),
    [
        ("/subscribe?topic=supply-chains", ["supply-chains"]),
        ("/topics/circular-economy", ["circular-economy"]),
    ],
)
def test_a_topic_link_or_page_offers_the_form_with_its_topic_checked(
    client: FlaskClient, path: str, chosen: list[str]
) -> None:
    page = Page.of(client.get(path))

    form = page.one("form", class_="signup")
    assert form.attrs["action"] == "/subscribe"
    assert page.checked("topics") == chosen
    assert page.find_all("datalist", id="zones")


# What browsers say of a form that a page of another site sends.
CROSS_SITE = {
    "another site": {"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"},
    "a sibling subdomain": {"Sec-Fetch-Site": "same-site", "Origin": "http://x.localhost"},
    "an older browser": {"Origin": "https://attacker.example"},
    "a sandboxed frame": {"Origin": "null"},
}


@pytest.mark.parametrize("case", CROSS_SITE)
@pytest.mark.parametrize("form", ["sign-up", "confirm", "preferences"])
def test_a_form_sent_from_another_sites_page_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox, case: str, form: str
) -> None:
    data: dict[str, Any] = {"topics": ["supply-chains"], "timezone": "Asia/Tokyo"}
    if form == "sign-up":
        path, data["email"] = "/subscribe", BOB
    elif form == "confirm":
        sign_up(client, BOB)
        worker.sweep()
        path = link_in(inbox.latest(BOB), "confirm")
    else:
        path = manage_path(confirmed(client, worker, inbox, BOB, ("procurement",), "UTC"))
    before = (status_of(app, BOB), subscriber_count(app), len(inbox.all()))

    response = client.post(path, data=data, headers=CROSS_SITE[case])

    assert response.status_code == 403
    page = Page.of(response)
    assert page.h1 == "Not sent"
    assert "sent from another site's page" in page.text
    worker.sweep()
    assert (status_of(app, BOB), subscriber_count(app), len(inbox.all())) == before
    if form == "preferences":
        stored = Page.of(client.get(path))
        assert (stored.checked("topics"), stored.value("timezone")) == (["procurement"], "UTC")


def test_one_click_unsubscribe_posted_from_a_webmails_page_goes_through(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    confirmed(client, worker, inbox, BOB)
    url = inbox.latest(BOB)["List-Unsubscribe"].strip("<>")

    response = app.test_client().post(
        local(url),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        headers=CROSS_SITE["another site"],
    )

    assert response.status_code == 200
    assert Page.of(response).h1 == "Unsubscribed"
    assert status_of(app, BOB) == "unsubscribed"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
        {"Sec-Fetch-Site": "none"},  # typed or bookmarked: no page sent it
        {"Origin": "http://localhost"},  # an older browser, on the site's page
        # Behind a proxy that does not pass the Host on: the origin of site.base_url.
        {"Origin": "https://events.example.org"},
        {},  # a program, no browser
    ],
    ids=["same-origin", "none", "origin", "base-url", "no-browser"],
)
def test_a_sign_up_from_the_sites_own_page_or_from_no_page_goes_through(
    client: FlaskClient, worker: Worker, inbox: Inbox, headers: dict[str, str]
) -> None:
    data = {"email": BOB, "topics": ["procurement"], "timezone": "UTC"}

    response = client.post("/subscribe", data=data, headers=headers)

    assert response.status_code == 200
    assert Page.of(response).h1 == "Check your inbox"
    worker.sweep()
    assert inbox.subjects(BOB) == [CONFIRM_SUBJECT]


def test_an_empty_form_says_what_each_field_needs(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    data = {"email": "", "timezone": ""}

    response = client.post("/subscribe", data=data)

    assert response.status_code == 400
    page = Page.of(response)
    assert page.h1 == "Get reminders by email"
    assert page.one(id="email-error").text == "Enter your email address."
    assert page.one(id="topics-error").text == "Choose at least one topic."
    assert page.one(id="timezone-error").text == "Choose your time zone."
    email = page.one("input", name="email")
    assert email.attrs["aria-invalid"] == "true"
    assert email.attrs["aria-describedby"] == "email-error"
    worker.sweep()
    assert inbox.all() == [] and subscriber_count(app) == 0


def test_wrong_fields_are_explained_and_the_form_keeps_what_was_typed(
    app: Flask, client: FlaskClient
) -> None:
    response = sign_up(
        client, "alice.example.org", ("procurement", "supply-chains"), "Europe/Brusels"
    )

    assert response.status_code == 400
    page = Page.of(response)
    assert page.errors == [
        "Enter a valid email address, like name@example.org.",
        "unknown time zone 'Europe/Brusels'; did you mean 'Europe/Brussels'?",
    ]
    assert page.value("email") == "alice.example.org"
    assert page.checked("topics") == ["procurement", "supply-chains"]
    assert page.value("timezone") == "Europe/Brusels"
    assert page.one("input", name="timezone").attrs["aria-describedby"] == "timezone-error"
    assert subscriber_count(app) == 0


def test_every_time_zone_the_form_offers_is_one_it_accepts(
    client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    offered = Page.of(client.get("/subscribe")).one("datalist", id="zones").elements()
    names = [option.attrs["value"] for option in offered]
    page = confirmed(client, worker, inbox, ALICE)
    preferences = manage_path(page)

    refused = {}
    for name in names:
        if "/" in name:  # Area/City names are the IANA norm; the legacy ones are the risk
            continue
        data = form_data(page, topics=["procurement"], timezone=name)
        response = client.post(preferences, data=data)
        if response.status_code != 200:
            refused[name] = Page.of(response).errors

    assert refused == {}


# One answer for everybody, and the mail that follows


def test_the_answer_is_the_same_for_a_new_a_pending_and_a_confirmed_address(
    app: Flask, worker: Worker, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    def answer(response: TestResponse) -> tuple[int, bytes]:
        return response.status_code, response.get_data()

    new = sign_up(app.test_client(), ALICE)
    worker.sweep()
    clock.tick(timedelta(minutes=10))
    pending = sign_up(app.test_client(), ALICE, ("supply-chains",), "Asia/Tokyo")
    worker.sweep()
    assert confirm(app.test_client(), link_in(inbox.latest(ALICE), "confirm")).status_code == 200
    clock.tick(timedelta(minutes=10))
    known = sign_up(app.test_client(), ALICE, ("circular-economy",), "UTC")
    worker.sweep()

    page = Page.of(new)
    assert page.h1 == "Check your inbox"
    assert f"We sent a mail to {ALICE}." in page.text
    assert answer(new) == answer(pending) == answer(known)
    # Only the owner of the address learns which case it was, from the mail.
    assert inbox.subjects(ALICE) == [CONFIRM_SUBJECT, CONFIRM_SUBJECT, MANAGE_SUBJECT]


def test_a_confirmed_address_gets_a_link_to_its_preferences_instead_of_a_confirmation(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    confirmed(client, worker, inbox, ALICE, ("procurement",), "Europe/Brussels")
    clock.tick(timedelta(minutes=10))

    stranger = sign_up(app.test_client(), ALICE, ("circular-economy",), "UTC")
    worker.sweep()

    assert stranger.status_code == 200
    mail = inbox.latest(ALICE)
    assert str(mail["Subject"]) == MANAGE_SUBJECT
    assert "already receives reminders" in text_of(mail)
    assert "Public procurement" in text_of(mail)
    assert links_in(mail, "confirm") == []
    page = Page.of(client.get(link_in(mail, "preferences")))
    assert page.h1 == "Your reminders"
    # The stranger's choices changed nothing: that takes the owner's link.
    assert page.checked("topics") == ["procurement"]
    assert page.value("timezone") == "Europe/Brussels"
    assert status_of(app, ALICE) == "confirmed"


# Confirming


def test_opening_the_confirmation_link_shows_a_button_and_confirms_nothing(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    sign_up(client, ALICE)
    worker.sweep()
    mail = inbox.latest(ALICE)
    assert str(mail["Subject"]) == CONFIRM_SUBJECT
    path = link_in(mail, "confirm")

    for _ in range(2):  # link scanners in mail systems open links, sometimes twice
        response = client.get(path)
        assert response.status_code == 200
        page = Page.of(response)
        assert page.h1 == "Confirm your reminders"
        form = page.one("form", method="post")
        assert "action" not in form.attrs  # it posts back to the link itself
        assert form.one("button", type="submit").text == "Confirm my reminders"

    assert status_of(app, ALICE) == "pending"


def test_pressing_the_confirm_button_confirms_and_shows_the_preferences(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    sign_up(client, ALICE, ("procurement", "supply-chains"), "America/New_York")
    worker.sweep()

    response = confirm(client, link_in(inbox.latest(ALICE), "confirm"))

    assert response.status_code == 200
    page = Page.of(response)
    assert page.h1 == "Your reminders"
    assert page.one(class_="saved").text == "Your reminders are confirmed."
    assert f"Reminders go to {ALICE}." in page.text
    assert page.checked("topics") == ["procurement", "supply-chains"]
    assert page.value("timezone") == "America/New_York"
    assert status_of(app, ALICE) == "confirmed"
    # The page shows the address: no cache on the way may keep it.
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get(manage_path(page)).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_expired_confirmation_link_says_so_and_offers_to_sign_up_again(
    app: Flask,
    client: FlaskClient,
    worker: Worker,
    inbox: Inbox,
    clock: FrozenDateTimeFactory,
    method: str,
) -> None:
    sign_up(client, ALICE)
    worker.sweep()
    path = link_in(inbox.latest(ALICE), "confirm")
    clock.tick(timedelta(hours=71))
    assert client.get(path).status_code == 200  # still good within 72 hours
    clock.tick(timedelta(hours=2))  # 73 hours after the mail

    if method == "GET":
        response = client.get(path)
    else:
        response = client.post(path)

    refused_link(response, "this link has expired")
    assert status_of(app, ALICE) == "pending"


def forgeries(token: str, other_id: int) -> dict[str, str]:
    """Return ways to forge a link from a genuine token."""
    payload, stamp, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["s"] = other_id
    retargeted = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    return {
        "signature changed": f"{payload}.{stamp}.{flipped}",
        "pointed at someone else": f"{retargeted.rstrip(b'=').decode()}.{stamp}.{signature}",
        "signed with another key": Tokens("not this site's key").make(data["p"], other_id, 1),
        "made up": "hello",
        "cut short": token[:-5],
    }


@pytest.mark.parametrize("route", ["confirm", "preferences", "unsubscribe"])
def test_a_forged_or_tampered_link_is_refused(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox, route: str
) -> None:
    sign_up(client, ALICE)
    worker.sweep()
    pages = {"confirm": link_in(inbox.latest(ALICE), "confirm")}
    preferences = confirm(client, pages["confirm"])
    pages["preferences"] = manage_path(Page.of(preferences))
    pages["unsubscribe"] = Page.of(preferences).link("Unsubscribe from all reminders")
    confirmed(app.test_client(), worker, inbox, BOB)
    with live(app).engine.connect() as connection:
        bob = connection.execute(
            sa.select(subscribers.c.id).where(subscribers.c.email == BOB)
        ).scalar_one()

    for how, forged in forgeries(token_of(pages[route]), bob).items():
        response = client.get(f"/{route}/{forged}")
        assert response.status_code == 400, how
        refused_link(response, "this link is not valid")
        if route == "unsubscribe":
            assert app.test_client().post(f"/unsubscribe/{forged}").status_code == 400, how
        if route == "confirm":
            posted = client.post(f"/confirm/{forged}")
            assert posted.status_code == 400, how

    assert status_of(app, ALICE) == status_of(app, BOB) == "confirmed"


def test_a_link_made_for_another_purpose_is_refused(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    sign_up(client, ALICE)
    worker.sweep()
    mail = inbox.latest(ALICE)
    confirm_token = token_of(link_in(mail, "confirm"))
    # Every mail carries an unsubscribe link, the confirmation mail too.
    unsubscribe_token = token_of(local(mail["List-Unsubscribe"].strip("<>")))

    on_confirm = client.post(f"/confirm/{unsubscribe_token}")

    refused_link(on_confirm, "this link is not valid")
    refused_link(client.get(f"/confirm/{unsubscribe_token}"), "this link is not valid")
    assert status_of(app, ALICE) == "pending"

    page = Page.of(confirm(client, f"/confirm/{confirm_token}"))
    manage_token = token_of(manage_path(page))
    # The personal feed's address is shared with calendar apps: it must open nothing else.
    feed_token = token_of(page.link("Download .ics")).removesuffix(".ics")
    for route, token in [
        ("confirm", manage_token),
        ("confirm", feed_token),
        ("preferences", confirm_token),
        ("preferences", unsubscribe_token),
        ("preferences", feed_token),
        ("unsubscribe", confirm_token),
        ("unsubscribe", manage_token),
        ("unsubscribe", feed_token),
    ]:
        refused_link(client.get(f"/{route}/{token}"), "this link is not valid")
    assert app.test_client().post(f"/unsubscribe/{feed_token}").status_code == 400
    one_click = app.test_client().post(f"/unsubscribe/{confirm_token}")
    refused_link(one_click, "this link is not valid")
    assert client.get(f"/feeds/personal/{unsubscribe_token}.ics").status_code == 404
    assert status_of(app, ALICE) == "confirmed"


def ended(response: TestResponse) -> None:
    """Check a genuine link was refused because its subscription ended."""
    assert response.status_code == 410, response.status_code
    page = Page.of(response)
    assert page.h1 == "This link does not work"
    assert page.link("Sign up for reminders") == "/subscribe"


def test_links_of_an_ended_subscription_stay_dead_after_signing_up_again(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    first = confirmed(client, worker, inbox, ALICE, ("procurement",))
    old = {
        "confirm": link_in(inbox.latest(ALICE), "confirm"),
        "preferences": manage_path(first),
        "unsubscribe": first.link("Unsubscribe from all reminders"),
    }
    client.post(old["unsubscribe"])
    clock.tick(timedelta(minutes=10))
    assert sign_up(client, ALICE, ("supply-chains",), "Asia/Tokyo").status_code == 200
    worker.sweep()
    again = confirm(client, link_in(inbox.latest(ALICE), "confirm"))
    assert Page.of(again).one(class_="saved").text == "Your reminders are confirmed."

    ended(client.get(old["preferences"]))
    changes = {"topics": ["procurement"], "timezone": "UTC"}
    ended(client.post(old["preferences"], data=changes))
    ended(client.get(old["unsubscribe"]))
    ended(app.test_client().post(old["unsubscribe"]))  # one-click from the old mail
    ended(confirm(client, old["confirm"]))
    assert status_of(app, ALICE) == "confirmed"
    # The new subscription's own links work, and it keeps what was chosen for it.
    current = Page.of(client.get(manage_path(Page.of(again))))
    assert current.checked("topics") == ["supply-chains"]
    assert current.value("timezone") == "Asia/Tokyo"
    new_mail = inbox.latest(ALICE)
    assert token_of(local(new_mail["List-Unsubscribe"].strip("<>"))) != token_of(old["unsubscribe"])
    left = app.test_client().post(local(new_mail["List-Unsubscribe"].strip("<>")))
    assert Page.of(left).h1 == "Unsubscribed"
    assert status_of(app, ALICE) == "unsubscribed"


@pytest.mark.parametrize(
    ("route", "works_for"),
    [("preferences", timedelta(days=90)), ("unsubscribe", timedelta(days=365))],
)
def test_a_preferences_or_unsubscribe_link_works_for_its_lifetime_then_says_it_expired(
    app: Flask,
    client: FlaskClient,
    worker: Worker,
    inbox: Inbox,
    clock: FrozenDateTimeFactory,
    route: str,
    works_for: timedelta,
) -> None:
    page = confirmed(client, worker, inbox, ALICE)
    path = (
        manage_path(page) if route == "preferences" else page.link("Unsubscribe from all reminders")
    )
    clock.tick(works_for - timedelta(hours=1))
    assert client.get(path).status_code == 200
    clock.tick(timedelta(hours=2))

    response = client.get(path)

    refused_link(response, "this link has expired")
    assert "Use the link in a newer mail from us" in Page.of(response).text
    if route == "unsubscribe":  # one-click, from the mail client
        refused_link(app.test_client().post(path), "this link has expired")
    assert status_of(app, ALICE) == "confirmed"


# Reminders


def test_only_confirmed_subscribers_get_reminders_and_only_those_due_after_confirming(
    client: FlaskClient, worker: Worker, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    # The forum starts 10 March 13:00 UTC; its registration closes 8 March 22:59 UTC.
    assert sign_up(client, ALICE).status_code == 200
    assert sign_up(client, BOB).status_code == 200  # Bob never confirms
    worker.sweep()
    clock.move_to(at("2030-03-03 13:00"))  # 7 days before the start: nobody confirmed yet
    worker.sweep()
    clock.move_to(at("2030-03-04 09:00"))
    assert confirm(client, link_in(inbox.latest(ALICE), "confirm")).status_code == 200
    worker.sweep()
    clock.move_to(at("2030-03-07 22:59"))  # 1 day before registration closes
    worker.sweep()
    clock.move_to(at("2030-03-10 12:00"))  # 1 hour before the start
    worker.sweep()

    assert inbox.subjects(ALICE) == [
        CONFIRM_SUBJECT,
        "Registration closes in 1 day: Procurement forum",
        "Starts in 1 hour: Procurement forum",
    ]
    assert inbox.subjects(BOB) == [CONFIRM_SUBJECT]


# Preferences and the personal feed


def test_preferences_change_topics_and_time_zone(
    client: FlaskClient, worker: Worker, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    path = manage_path(confirmed(client, worker, inbox, ALICE, ("procurement",), "Europe/Brussels"))

    response = save_preferences(client, path, ["circular-economy", "supply-chains"], "Asia/Tokyo")

    assert response.status_code == 200
    page = Page.of(response)
    assert page.one(class_="saved").text == "Your preferences are saved."
    assert page.checked("topics") == ["circular-economy", "supply-chains"]
    assert page.value("timezone") == "Asia/Tokyo"
    again = Page.of(client.get(path))
    assert again.checked("topics") == ["circular-economy", "supply-chains"]
    assert again.value("timezone") == "Asia/Tokyo"
    assert again.find_all(class_="saved") == []
    # The next reminder follows: the summit (supply chains), in Tokyo time; no forum any more.
    clock.move_to(at("2030-03-08 08:00"))  # 7 days before the summit
    worker.sweep()
    mail = inbox.latest(ALICE)
    assert str(mail["Subject"]) == "Starts in 7 days: Supply chain summit"
    assert "Fri, 15 Mar 2030, 17:00–19:00 JST (Asia/Tokyo)" in text_of(mail)
    assert not any("Procurement forum" in subject for subject in inbox.subjects(ALICE))


@pytest.mark.parametrize(
    ("topics", "zone", "errors"),
    [
        ([], "Asia/Tokyo", ["Choose at least one topic."]),
        (["supply-chains"], "", ["Choose your time zone."]),
        (["supply-chains"], "Mars/Olympus_Mons", ["unknown time zone 'Mars/Olympus_Mons'"]),
        (["supply-chains"], "CEST", ["'CEST' is an abbreviation"]),
        (["nope"], "Asia/Tokyo", ["'nope' is not a valid choice"]),
    ],
)
def test_bad_preferences_are_explained_and_change_nothing(
    client: FlaskClient,
    worker: Worker,
    inbox: Inbox,
    topics: list[str],
    zone: str,
    errors: list[str],
) -> None:
    path = manage_path(confirmed(client, worker, inbox, ALICE, ("procurement",), "Europe/Brussels"))

    response = save_preferences(client, path, topics, zone)

    assert response.status_code == 400
    page = Page.of(response)
    assert page.h1 == "Your reminders"
    assert len(page.errors) == len(errors)
    for shown, expected in zip(page.errors, errors, strict=True):
        assert shown.startswith(expected), shown
    assert page.find_all(class_="saved") == []
    # What was chosen stays, to be corrected (a made-up topic has no box to show).
    assert page.checked("topics") == [topic for topic in topics if topic in TOPICS]
    assert page.value("timezone") == zone
    stored = Page.of(client.get(path))
    assert stored.checked("topics") == ["procurement"]
    assert stored.value("timezone") == "Europe/Brussels"


def summaries(body: bytes) -> set[str]:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(event["SUMMARY"]) for event in calendar.walk("VEVENT")}


def test_the_personal_feed_has_the_subscribers_topics_and_follows_their_changes(
    client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    page = confirmed(client, worker, inbox, ALICE, ("procurement", "supply-chains"))
    feed = local(page.link("Download .ics"))
    assert re.fullmatch(r"/feeds/personal/[^/]+\.ics", feed)
    assert page.link("Apple Calendar / Outlook (webcal)") == f"webcal://events.example.org{feed}"

    response = client.get(feed)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert summaries(response.data) == {"Procurement forum", "Supply chain summit"}
    save_preferences(client, manage_path(page), ["circular-economy"], "UTC")
    assert summaries(client.get(feed).data) == {"Circular webinar"}


def test_the_personal_feed_is_private_to_every_cache_but_the_subscribers_own(
    client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    feed = local(confirmed(client, worker, inbox, ALICE).link("Download .ics"))

    response = client.get(feed)

    assert response.status_code == 200
    assert response.cache_control.private is True
    assert response.cache_control.public is False
    assert "public" not in response.headers["Cache-Control"]
    again = client.get(feed, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert "public" not in again.headers["Cache-Control"]


def read_ended(response: TestResponse, day: str) -> icalendar.Event:
    """Check a personal feed says its reminders ended; return its one entry."""
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.data.startswith(b"BEGIN:VCALENDAR\r\n")
    assert response.cache_control.private is True
    calendar = icalendar.Calendar.from_ical(response.data)
    assert str(calendar["X-WR-CALNAME"]) == "Test events: reminders ended"
    assert str(calendar["NAME"]) == "Test events: reminders ended"
    (entry,) = calendar.walk("VEVENT")
    assert isinstance(entry, icalendar.Event)
    assert str(entry["SUMMARY"]) == "Your reminders from Test events have ended"
    assert entry.decoded("DTSTART") == datetime.fromisoformat(day).date()
    assert str(entry["URL"]) == "https://events.example.org/subscribe"
    assert "sign up at https://events.example.org/subscribe" in str(entry["DESCRIPTION"])
    return entry


def test_after_unsubscribing_the_personal_feed_says_the_reminders_ended(
    client: FlaskClient, worker: Worker, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    page = confirmed(client, worker, inbox, ALICE)
    feed = local(page.link("Download .ics"))
    assert summaries(client.get(feed).data) == {"Procurement forum"}

    client.post(page.link("Unsubscribe from all reminders"))

    today = read_ended(client.get(feed), "2030-03-02")
    # Each day it shows on the day it is read, so the client shows it where one looks.
    clock.tick(timedelta(days=3))
    later = read_ended(client.get(feed), "2030-03-05")
    assert later["UID"] == today["UID"]
    assert client.get(feed.replace(".ics", "x.ics")).status_code == 404  # not a real token


def test_an_old_personal_feed_says_ended_after_signing_up_again(
    client: FlaskClient, worker: Worker, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    first = confirmed(client, worker, inbox, ALICE, ("procurement",))
    old_feed = local(first.link("Download .ics"))
    client.post(first.link("Unsubscribe from all reminders"))
    clock.tick(timedelta(minutes=10))

    second = confirmed(client, worker, inbox, ALICE, ("supply-chains",))

    new_feed = local(second.link("Download .ics"))
    assert new_feed != old_feed
    assert summaries(client.get(new_feed).data) == {"Supply chain summit"}
    read_ended(client.get(old_feed), "2030-03-02")


# Leaving


def test_the_unsubscribe_page_asks_for_a_click_and_opening_it_changes_nothing(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    preferences = confirmed(client, worker, inbox, ALICE)
    path = preferences.link("Unsubscribe from all reminders")

    for _ in range(2):
        response = client.get(path)
        assert response.status_code == 200
        page = Page.of(response)
        assert page.h1 == "Unsubscribe"
        form = page.one("form", method="post")
        assert "action" not in form.attrs
        assert form.one("button").text == "Unsubscribe"
    assert status_of(app, ALICE) == "confirmed"
    assert client.get(manage_path(preferences)).status_code == 200

    pressed = client.post(path)  # the form has no fields: the button posts nothing else

    assert pressed.status_code == 200
    done = Page.of(pressed)
    assert done.h1 == "Unsubscribed"
    assert "You will get no more mail from us." in done.text
    assert done.link("Sign up for reminders") == "/subscribe"
    gone = client.get(manage_path(preferences))
    assert gone.status_code == 410
    assert "These reminders are not active any more." in Page.of(gone).text


def test_one_click_unsubscribe_from_a_mail_providers_server_withdraws_queued_reminders(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    confirmed(client, worker, inbox, ALICE)
    confirmed(app.test_client(), worker, inbox, BOB)
    worker.sweep()  # queues the forum's 7-day reminder (due 3 March, 13:00 UTC) for both
    assert outbox_statuses(app, ALICE) == [("start", "planned")]
    mail = inbox.latest(ALICE)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = mail["List-Unsubscribe"].strip("<>")

    # What Gmail's servers send for "Unsubscribe": a POST from no page of the site.
    response = app.test_client().post(
        local(url),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert Page.of(response).h1 == "Unsubscribed"
    assert outbox_statuses(app, ALICE) == [("start", "withdrawn")]
    clock.move_to(at("2030-03-03 13:00"))
    worker.sweep()
    clock.move_to(at("2030-03-10 12:00"))
    worker.sweep()
    assert inbox.subjects(ALICE) == [CONFIRM_SUBJECT]
    assert inbox.subjects(BOB) == [
        CONFIRM_SUBJECT,
        "Starts in 7 days: Procurement forum",
        "Starts in 1 hour: Procurement forum",
    ]


def test_an_old_confirmation_link_cannot_undo_an_unsubscribe(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    page = confirmed(client, worker, inbox, ALICE)
    confirm_path = link_in(inbox.latest(ALICE), "confirm")
    client.post(page.link("Unsubscribe from all reminders"))

    response = confirm(client, confirm_path)

    assert response.status_code == 410
    assert Page.of(response).h1 == "This link does not work"
    assert status_of(app, ALICE) == "unsubscribed"


def test_signing_up_again_after_leaving_takes_a_new_confirmation(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    page = confirmed(client, worker, inbox, ALICE, ("procurement",))
    client.post(page.link("Unsubscribe from all reminders"))
    clock.tick(timedelta(minutes=10))

    again = sign_up(client, ALICE, ("supply-chains",), "Asia/Tokyo")
    worker.sweep()

    assert Page.of(again).h1 == "Check your inbox"
    assert inbox.subjects(ALICE) == [CONFIRM_SUBJECT, CONFIRM_SUBJECT]
    assert client.get(manage_path(page)).status_code == 410  # not back before confirming
    back = Page.of(confirm(client, link_in(inbox.latest(ALICE), "confirm")))
    assert back.one(class_="saved").text == "Your reminders are confirmed."
    stored = Page.of(client.get(manage_path(back)))
    assert stored.checked("topics") == ["supply-chains"]
    assert stored.value("timezone") == "Asia/Tokyo"


# Escaping

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HOSTILE_TITLE = f"Title {SCRIPT} {IMG}"
HOSTILE_TOPIC = f"Topic {SCRIPT} {IMG}"


def assert_inert(body: str, *shown: str) -> Page:
    """Check a page runs no injected script and shows ``shown`` literally, as text."""
    assert SCRIPT not in body and "<img" not in body
    page = Page(body)
    inline = [s for s in page.find_all("script") if "src" not in s.attrs]
    # The one inline block a page may hold is data for search engines, which runs nothing.
    assert [s.attrs for s in inline] in ([], [{"type": "application/ld+json"}])
    for block in inline:
        assert json.loads(block.text)["@type"] == "Event"  # data, read back whole
    assert page.find_all("img") == []
    assert [e.tag for e in page.elements() if "onerror" in e.attrs] == []
    for text in shown:
        assert text in page.text
    return page


@pytest.fixture
def hostile_app(make_app: MakeApp) -> Flask:
    """An app whose topic name and event title carry markup."""
    topics = {**TOPICS, "hostile": {"name": HOSTILE_TOPIC}}
    event = {**EVENTS[0], "id": "hostile-event", "title": HOSTILE_TITLE, "topics": ["hostile"]}
    event["location"] = IMG
    return make_app(topics=topics, events=(*EVENTS, event))


@pytest.mark.parametrize(
    "path",
    ["/", "/topics/hostile", "/events/hostile-event", "/subscribe", "/subscribe?topic=hostile"],
)
def test_titles_and_topic_names_are_escaped_on_the_pages(hostile_app: Flask, path: str) -> None:
    response = hostile_app.test_client().get(path)

    assert response.status_code == 200
    shown = [HOSTILE_TOPIC] if path.startswith("/subscribe") else [HOSTILE_TITLE, HOSTILE_TOPIC]
    assert_inert(response.get_data(as_text=True), *shown)


def test_topic_names_are_escaped_on_the_preferences_and_the_form_with_errors(
    hostile_app: Flask, inbox: Inbox
) -> None:
    client = hostile_app.test_client()
    worker = worker_for(live(hostile_app))

    page = confirmed(client, worker, inbox, ALICE, ("hostile",))
    with_errors = sign_up(client, "bob.example.org", ("hostile",))

    preferences = client.get(manage_path(page)).get_data(as_text=True)
    assert assert_inert(preferences, HOSTILE_TOPIC).checked("topics") == ["hostile"]
    html = inbox.latest(ALICE).get_body(("html",))
    assert html is not None
    assert_inert(html.get_content(), HOSTILE_TOPIC)  # the confirmation mail names the topic
    assert with_errors.status_code == 400
    assert assert_inert(with_errors.get_data(as_text=True), HOSTILE_TOPIC).errors


@pytest.mark.parametrize(
    ("address", "zone", "topic"),
    [
        (SCRIPT, "UTC", "procurement"),
        (f"x{IMG}@example.org", "UTC", "procurement"),
        (ALICE, IMG, "procurement"),
        (ALICE, "UTC", SCRIPT),
    ],
)
def test_what_a_visitor_typed_is_never_reflected_unescaped(
    client: FlaskClient, address: str, zone: str, topic: str
) -> None:
    response = sign_up(client, address, (topic,), zone)

    assert response.status_code == 400
    page = assert_inert(response.get_data(as_text=True))
    assert page.errors
    assert page.value("email") == address
    assert page.value("timezone") == zone


def test_an_accepted_address_with_odd_characters_is_shown_as_typed(client: FlaskClient) -> None:
    address = "o'neil&{x}@example.org"

    response = sign_up(client, address)

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "o&#39;neil&amp;{x}@example.org" in body
    assert f"We sent a mail to {address}." in assert_inert(body).text
