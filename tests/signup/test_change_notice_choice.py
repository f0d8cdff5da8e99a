"""The preferences page's choice of change notices (``web/signup.py``): on at first, kept.

Whether a subscriber hears when an event they follow moves is a checkbox on the
preferences page, ticked for everyone until they untick it; what they chose is what the
page shows again and what the worker reads (``tests/reminders/test_notices.py`` mails by it).
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from service.reminders import subscribers as store
from service.reminders.worker import Worker

from .conftest import SAME_ORIGIN, Inbox, Page, confirmed, form_data, live, manage_path

ALICE = "alice@example.org"


def stored_choice(app: Flask, address: str) -> bool:
    with live(app).engine.connect() as connection:
        rows = [p for p in store.confirmed(connection) if p.email == address]
    (person,) = rows
    return person.change_notices


def test_change_notices_are_on_at_first_and_off_once_unticked(
    app: Flask, client: FlaskClient, worker: Worker, inbox: Inbox
) -> None:
    page = confirmed(client, worker, inbox, ALICE)
    path = manage_path(page)
    (box,) = page.find_all("input", name="change_notices")
    assert box.attrs["type"] == "checkbox"
    (label,) = [e for e in page.find_all("label") if e.attrs.get("for") == box.attrs["id"]]
    assert label.text == "Mail me when an event I follow moves"
    assert page.checked("change_notices") == ["y"]
    assert stored_choice(app, ALICE) is True

    form = form_data(page, change_notices=[])  # the page as shown, the box unticked
    saved = Page.of(client.post(path, data=form, headers=SAME_ORIGIN))

    assert saved.one(class_="saved").text == "Your preferences are saved."
    assert saved.checked("change_notices") == []
    assert Page.of(client.get(path)).checked("change_notices") == []
    assert stored_choice(app, ALICE) is False

    client.post(path, data={**form, "change_notices": ["y"]}, headers=SAME_ORIGIN)
    assert Page.of(client.get(path)).checked("change_notices") == ["y"]
    assert stored_choice(app, ALICE) is True
