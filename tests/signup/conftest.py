"""Fixtures for the subscriber's pages: an app on a small project, its worker, its Maildir.

Every HTTP test runs at a frozen instant (``clock``, 2 March 2030, 12:00 UTC) that the test
moves on with ``clock.move_to`` / ``clock.tick``: tokens, the planner, the sender and the rate
limits all read that clock. Mail goes to the project's real Maildir (``var/mail``), which
``Inbox`` reads back the way a mail client would. ``Page`` parses HTML into elements so that
tests look at what a reader sees: headings, messages, form values, links.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory
from werkzeug.test import TestResponse

from service import open_app
from service.live import LiveCatalog
from service.reminders.worker import Worker, worker_for
from service.store.tables import subscribers

BASE_URL = "https://events.example.org"  # site.base_url of tests/conftest.py's config
START = datetime(2030, 3, 2, 12, 0, tzinfo=UTC)
MakeApp = Callable[..., Flask]

# Three events, one topic each (times are Europe/Brussels, CET = UTC+1 in March 2030).
FORUM = {
    "id": "procurement-forum",
    "title": "Procurement forum",
    "topics": ["procurement"],
    "timezone": "Europe/Brussels",
    "start": "2030-03-10T14:00",  # 13:00 UTC
    "end": "2030-03-10T16:00",
    "registration": {"deadline": "2030-03-08T23:59"},  # 22:59 UTC
}
WEBINAR = {
    "id": "circular-webinar",
    "title": "Circular webinar",
    "topics": ["circular-economy"],
    "timezone": "Europe/Brussels",
    "start": "2030-03-12T10:00",
    "end": "2030-03-12T11:00",
}
SUMMIT = {
    "id": "supply-summit",
    "title": "Supply chain summit",
    "topics": ["supply-chains"],
    "timezone": "Europe/Brussels",
    "start": "2030-03-15T09:00",  # 08:00 UTC, 17:00 in Tokyo
    "end": "2030-03-15T11:00",
}
EVENTS = (FORUM, WEBINAR, SUMMIT)
TOPICS: dict[str, Any] = {
    "procurement": {"name": "Public procurement"},
    "circular-economy": {"name": "Circular economy"},
    "supply-chains": {"name": "Supply chains"},
}
SETTINGS: dict[str, Any] = {
    "topics": TOPICS,
    "reminders": {"before_start": ["7d", "1h"], "before_registration_deadline": ["1d"]},
    "mail": {"from": "Events <events@example.org>"},
    "signup": {"limit_per_client": "200/hour", "limit_per_address": "10/hour"},
}


# Reading pages


VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())


class Element:
    """One HTML element: its tag, attributes and children (elements and text)."""

    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element | str] = []

    @property
    def text(self) -> str:
        """Return the text a reader sees in the element, whitespace collapsed."""
        return " ".join("".join(self._texts()).split())

    def _texts(self) -> Iterator[str]:
        for child in self.children:
            if isinstance(child, str):
                yield child
            else:
                yield from child._texts()

    def elements(self) -> Iterator[Element]:
        """Yield every element inside this one, in document order."""
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.elements()

    def find_all(self, tag: str | None = None, **attrs: str | bool) -> list[Element]:
        """Return the elements with ``tag`` and ``attrs`` (``class_="x"``: has class x;
        ``data_x=True``: has attribute data-x)."""

        def matches(element: Element) -> bool:
            if tag is not None and element.tag != tag:
                return False
            for key, wanted in attrs.items():
                name = key.rstrip("_").replace("_", "-")
                have = element.attrs.get(name)
                if wanted is True:
                    if have is None:
                        return False
                elif name == "class":
                    if wanted not in (have or "").split():
                        return False
                elif have != wanted:
                    return False
            return True

        return [element for element in self.elements() if matches(element)]

    def one(self, tag: str | None = None, **attrs: str | bool) -> Element:
        """Return the only element with ``tag`` and ``attrs``."""
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]


class _TreeBuilder(HTMLParser):
    """Build the element tree of a page under ``root``."""

    def __init__(self, root: Element) -> None:
        super().__init__(convert_charrefs=True)
        self.current = root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "option" and self.current.tag == "option":  # <option> needs no end tag
            self.current = self.current.parent or self.current
        element = Element(tag, {name: value or "" for name, value in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs}, self.current)
        self.current.children.append(element)

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


class Page(Element):
    """A parsed HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__("#document", {}, None)
        builder = _TreeBuilder(self)
        builder.feed(html)
        builder.close()

    @classmethod
    def of(cls, response: TestResponse) -> Page:
        """Parse the body of a response."""
        assert response.mimetype == "text/html", response.mimetype
        return cls(response.get_data(as_text=True))

    @property
    def title(self) -> str:
        return self.one("title").text

    @property
    def h1(self) -> str:
        return self.one("h1").text

    @property
    def errors(self) -> list[str]:
        """Return the field error messages shown."""
        return [element.text for element in self.find_all(class_="error")]

    def value(self, name: str) -> str:
        """Return the value of the one input called ``name``."""
        return self.one("input", name=name).attrs.get("value", "")

    def checked(self, name: str) -> list[str]:
        """Return the values of the checked boxes called ``name``."""
        return [box.attrs["value"] for box in self.find_all("input", name=name, checked=True)]

    def link(self, text: str) -> str:
        """Return the target of the one link whose text is ``text``."""
        found = [a.attrs.get("href", "") for a in self.find_all("a") if a.text == text]
        assert len(found) == 1, f"links {text!r}: {found}"
        return found[0]

    def buttons(self) -> list[str]:
        return [button.text for button in self.find_all("button")]


def form_data(page: Page, **changes: str | list[str]) -> dict[str, list[str]]:
    """Return what the page's form posts as shown, with ``changes`` made, as a browser would.

    Checked boxes, the selected option of each list and the value of each text field; a
    change replaces every value of its field (an empty list unticks them all).
    """
    form = page.one("form", method="post")
    fields: dict[str, list[str]] = {}
    for element in form.elements():
        name = element.attrs.get("name")
        if name is None:
            continue
        if element.tag == "input" and element.attrs.get("type") in ("checkbox", "radio"):
            fields.setdefault(name, [])
            if "checked" in element.attrs:
                fields[name].append(element.attrs.get("value", "on"))
        elif element.tag == "input" and element.attrs.get("type") != "submit":
            fields[name] = [element.attrs.get("value", "")]
        elif element.tag == "select":
            options = element.find_all("option")
            chosen = [o for o in options if "selected" in o.attrs] or options[:1]
            fields[name] = [o.attrs.get("value", o.text) for o in chosen]
    for name, value in changes.items():
        fields[name] = [value] if isinstance(value, str) else list(value)
    return {name: values for name, values in fields.items() if values}


def local(url: str) -> str:
    """Return the path of an absolute link to the site, for the test client."""
    assert url.startswith(BASE_URL + "/"), url
    return url.removeprefix(BASE_URL)


# Reading mail


class Inbox:
    """The project's Maildir, read the way a mail client reads it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self) -> list[EmailMessage]:
        """Return every mail delivered, oldest first."""
        if not self.path.exists():
            return []
        box = mailbox.Maildir(self.path, create=False)
        found = []
        for key in box.keys():
            message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
        return sorted(found, key=lambda m: (m["Date"].datetime, str(m["Subject"])))

    def to(self, address: str) -> list[EmailMessage]:
        """Return the mails to ``address``, oldest first."""
        return [m for m in self.all() if m["To"].addresses[0].addr_spec == address]

    def subjects(self, address: str) -> list[str]:
        return [str(m["Subject"]) for m in self.to(address)]

    def latest(self, address: str) -> EmailMessage:
        mails = self.to(address)
        assert mails, f"no mail to {address}"
        return mails[-1]


def text_of(message: EmailMessage) -> str:
    """Return the plain-text part of a mail."""
    part = message.get_body(("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


def links_in(message: EmailMessage, route: str) -> list[str]:
    """Return the site paths of the links to ``/<route>/...`` in a mail's text."""
    found = re.findall(rf"{re.escape(BASE_URL)}/{route}/\S+", text_of(message))
    return [local(url) for url in found]


def link_in(message: EmailMessage, route: str) -> str:
    found = links_in(message, route)
    assert len(found) == 1, f"links to /{route}/ in the mail: {found}"
    return found[0]


# Acting as a visitor


# What a browser says of a form sent from a page of the site itself.
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}


def sign_up(
    client: FlaskClient,
    address: str,
    topics: tuple[str, ...] = ("procurement",),
    zone: str = "Europe/Brussels",
    **options: Any,
) -> TestResponse:
    """Open the sign-up form, fill it in and send it, as a browser on the site does."""
    assert client.get("/subscribe").status_code == 200
    data = {"email": address, "topics": list(topics), "timezone": zone}
    return client.post("/subscribe", data=data, headers=SAME_ORIGIN, **options)


def confirm(client: FlaskClient, path: str) -> TestResponse:
    """Open a confirmation link and press its button."""
    assert client.get(path).status_code == 200, path
    return client.post(path, headers=SAME_ORIGIN)


def confirmed(
    client: FlaskClient,
    worker: Worker,
    inbox: Inbox,
    address: str,
    topics: tuple[str, ...] = ("procurement",),
    zone: str = "Europe/Brussels",
) -> Page:
    """Sign up, get the mail, confirm; return the preferences page that follows."""
    assert sign_up(client, address, topics, zone).status_code == 200
    worker.sweep()
    response = confirm(client, link_in(inbox.latest(address), "confirm"))
    assert response.status_code == 200
    page = Page.of(response)
    assert page.h1 == "Your reminders"
    return page


def manage_path(page: Page) -> str:
    """Return the preferences address of a preferences page (its form's target)."""
    form = page.one("form", method="post")
    return form.attrs["action"]


def status_of(app: Flask, address: str) -> str | None:
    """Return what the database says of ``address``: pending, confirmed, unsubscribed."""
    with live(app).engine.connect() as connection:
        status: str | None = connection.execute(
            sa.select(subscribers.c.status).where(subscribers.c.email == address)
        ).scalar()
    return status


def live(app: Flask) -> LiveCatalog:
    catalog: LiveCatalog = app.extensions["calfeed.live"]
    return catalog


# Fixtures


@pytest.fixture
def clock() -> Iterator[FrozenDateTimeFactory]:
    """Freeze time at START; move it with ``clock.move_to(...)`` or ``clock.tick(...)``."""
    with freeze_time(START) as frozen:
        assert isinstance(frozen, FrozenDateTimeFactory)  # not ticking
        yield frozen


@pytest.fixture
def make_app(
    project: Path,
    write_config: Callable[..., Path],
    write_event: Callable[..., Path],
    clock: FrozenDateTimeFactory,
) -> Iterator[MakeApp]:
    """Return a factory of apps on the project: ``make_app(events=..., signup={...})``
    writes config.yaml (SETTINGS with top-level keys replaced) and the events first."""
    built: list[Flask] = []

    def make(*, events: tuple[dict[str, Any], ...] = EVENTS, **config: Any) -> Flask:
        write_config(**{**SETTINGS, **config})
        for event in events:
            write_event(f"{event['id']}.yaml", event)
        app = open_app(project / "config.yaml", {"TESTING": True})
        built.append(app)
        return app

    yield make
    for app in built:
        live(app).close()


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def worker(app: Flask) -> Worker:
    """Return the app's reminder worker (not started: tests call ``sweep()``)."""
    return worker_for(live(app))


@pytest.fixture
def inbox(project: Path) -> Inbox:
    return Inbox(project / "var" / "mail")
