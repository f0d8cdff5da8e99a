"""Whatever ``check`` accepts, the service serves as calendars and sends as mail that parse.

Hypothesis writes catalogs at the edges of what check accepts: titles, names and senders of
any Unicode with the characters that mean something to iCalendar and to mail headers
(``; , \\ : " < > =?``), folded YAML blocks, ids as long as a UID allows beside hosts up to
100 characters, all-day and timed events from 1900 to 2999 in zones with odd offsets and DST,
the longest reminder offsets, keep_past_days up to a hundred years. Each catalog check
accepts is loaded into the running service as an edit is (``LiveCatalog.refresh``), stored
in the database (PostgreSQL, which enforces column widths, when there is one; CI requires
it), and then:

* every feed, every event's calendar and every page answers 200, and icalendar reads each
  calendar back with the titles exactly as written;
* every reminder and account mail composes into bytes (``as_bytes`` with the SMTP policy,
  or SMTPUTF8 for an address beyond ASCII, as the sender sends them) with CRLF line ends
  only, lines within 998 octets, exactly the headers calfeed sets, each once, and a From,
  To, Subject and Message-ID that read back as they were meant.
"""

from __future__ import annotations

import email
import email.policy
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.errors import NonASCIILocalPartDefect
from email.utils import formataddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import yaml
from flask import Flask
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

from service import open_app
from service.catalog import Catalog, load_catalog
from service.catalog.uids import UID_LENGTH
from service.errors import CatalogError
from service.live import LiveCatalog
from service.reminders.mail import (
    Links,
    Reminder,
    account_message_id,
    compose,
    compose_account,
    message_id,
    one_line,
    remaining,
    subject,
)

SECONDS = 60  # the most this test runs; later examples are drawn but not checked
HEADERS = [
    "subject",
    "from",
    "to",
    "date",
    "message-id",
    "list-id",
    "auto-submitted",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "content-type",
    "mime-version",
]
HOSTS = [
    "events.example.org",
    "127.0.0.1:8000",
    "xn--vnements-bya.example",
    f"{'a' * 63}.{'b' * 32}.org",  # 100 characters, the most a host may have
    "x.y",
]
ZONES = [
    "Europe/Brussels",
    "America/New_York",
    "Pacific/Apia",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Kiritimati",
    "Asia/Kathmandu",
    "UTC",
    "CET",
]
# Characters that mean something to iCalendar, to mail headers or to HTML.
SPECIAL = st.sampled_from(
    [";", ",", "\\", ":", '"', "'", "<", ">", "&", "=?", "?=", "Bcc: x@example.org", " ", "\t"]
)
PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
ODD = st.sampled_from(["é", "🎉", "–", "\u200b"])
WORDS = st.lists(st.one_of(PRINTABLE, SPECIAL, ODD), min_size=1, max_size=40)


@st.composite
def single_line(draw: st.DrawFn) -> str:
    """Text for a single-line field, sometimes with whitespace around it as YAML blocks leave."""
    text = "".join(draw(WORDS)).replace("\t", " ")
    return draw(st.sampled_from(["", " ", "\n"])) + text + draw(st.sampled_from(["", "\n", "  "]))


PROSE = st.lists(st.one_of(PRINTABLE, SPECIAL, st.just("\n")), max_size=200).map("".join)
DURATIONS = st.sampled_from(["1s", "30m", "1h", "7d", "2w", "P1D", "PT90M", "3660d"])
EMAILS = st.sampled_from(
    ["ann@example.org", "Bob.Smith@Example.ORG", "jöran@example.org", "x@xn--exmple-cua.org"]
)


def slug(length: int) -> str:
    """Return a slug of exactly ``length`` characters."""
    return ("ab-" * length)[: length - 1] + "z"


@st.composite
def events(draw: st.DrawFn, topics: list[str], room: int) -> list[dict[str, Any]]:
    """Return events in the catalog's YAML shape, some at the limits of their fields."""
    found = []
    room = min(room, UID_LENGTH - len("events/.ics")) - 2  # leaves room for sessions' ids
    for index in range(draw(st.integers(1, 3))):
        length = draw(st.sampled_from([1, 12, room - 3, room]))
        event_id = slug(length)[:-2] + f"{index}z" if length > 3 else f"e{index}"
        item: dict[str, Any] = {
            "id": event_id,
            "title": draw(single_line()),
            "topics": draw(st.lists(st.sampled_from(topics), min_size=1, max_size=3, unique=True)),
            "timezone": draw(st.sampled_from(ZONES)),
            "status": draw(st.sampled_from(["confirmed", "tentative", "cancelled"])),
        }
        if draw(st.booleans()):
            first = draw(st.dates(date(1900, 1, 2), date(2999, 12, 25)))
            item["start"] = first.isoformat()
            item["end"] = (first + timedelta(days=draw(st.integers(0, 5)))).isoformat()
        else:
            start = draw(st.datetimes(datetime(1900, 1, 2), datetime(2999, 12, 29)))
            start = start.replace(second=0, microsecond=0)
            end = start + timedelta(minutes=draw(st.integers(1, 3 * 1440)))
            item["start"], item["end"] = start.isoformat("T"), end.isoformat("T")
            left = room - len(event_id) - 1
            item["sessions"] = [
                {
                    **({"id": slug(draw(st.sampled_from([1, left])))} if n % 2 else {}),
                    "title": draw(single_line()),
                    "start": start.isoformat("T"),
                    "end": end.isoformat("T"),
                    "speakers": draw(st.lists(single_line(), max_size=2)),
                }
                for n in range(draw(st.integers(0, 2)))
            ]
            if draw(st.booleans()):
                deadline = start - timedelta(hours=draw(st.integers(0, 24 * 30)))
                item["registration"] = {
                    "deadline": deadline.isoformat("T"),
                    "url": "https://example.org/register?a=1&b=<2>",
                }
        for key in ("subtitle", "location"):
            if draw(st.booleans()):
                item[key] = draw(single_line())
        if draw(st.booleans()):
            item["description"] = draw(PROSE)
        if draw(st.booleans()):
            item["organizer"] = {"name": draw(single_line()), "email": "info@example.org"}
            item["contacts"] = [{"name": draw(single_line()), "phone": draw(single_line())}]
        found.append(item)
    return found


@st.composite
def catalogs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return a config.yaml and an event file, as data to write as YAML."""
    host = draw(st.sampled_from(HOSTS))
    room = UID_LENGTH - len("@" + host.rsplit(":", 1)[0].strip("[]"))
    topics = {
        slug(n * 4): {"name": draw(single_line()), "description": draw(PROSE)}
        for n in range(1, draw(st.integers(1, 3)) + 1)
    }
    name, address = draw(single_line()), draw(EMAILS)
    sender = draw(
        st.sampled_from(
            [
                f"{name.strip()} <{address}>",
                formataddr((name.strip(), address)) if address.isascii() else address,
                address,
            ]
        )
    )
    base = f"http://{host}" + draw(st.sampled_from(["", "/", "/events/"]))
    config = {
        "site": {
            "title": draw(single_line()),
            "base_url": base + "/p" * ((400 - len(base)) // 2) if draw(st.booleans()) else base,
            "timezone": draw(st.sampled_from(ZONES[:-1])),
        },
        "feed": {
            "refresh": draw(DURATIONS),
            "keep_past_days": draw(st.one_of(st.none(), st.sampled_from([0, 365, 36500]))),
        },
        "topics": topics,
        "reminders": {
            "before_start": draw(st.lists(DURATIONS, max_size=3, unique=True)),
            "before_registration_deadline": draw(st.lists(DURATIONS, max_size=2, unique=True)),
        },
        "mail": {"from": sender},
        "subscribers": [
            {"email": address, "topics": list(topics), "timezone": draw(st.sampled_from(ZONES))}
            for address in draw(st.lists(EMAILS, max_size=2, unique_by=str.lower))
        ],
    }
    return config, {"events": draw(events(list(topics), room))}


@pytest.fixture
def served(database: str) -> Iterator[tuple[Path, Flask]]:
    """Return a project folder and the app serving it, on one database for every example."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "feeds").mkdir()
        write(root, {**MINIMAL, "database": database}, {"id": "first", **FIRST})
        app = open_app(root / "config.yaml", {"TESTING": True})
        try:
            yield root, app
        finally:
            app.extensions["calfeed.live"].close()


MINIMAL: dict[str, Any] = {
    "site": {"title": "T", "base_url": "https://events.example.org", "timezone": "UTC"},
    "topics": {"t": {"name": "T"}},
}
FIRST = {"title": "T", "topics": ["t"], "start": "2020-12-07"}
STAMPS = [1_000_000_000 * 10**9]


def write(root: Path, config: dict[str, Any], events: dict[str, Any]) -> None:
    """Write the project; every file gets a stamp of its own, however fast the writes come."""
    for path, data in ((root / "config.yaml", config), (root / "feeds" / "x.yaml", events)):
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
        STAMPS[0] += 10**9
        os.utime(path, ns=(STAMPS[0], STAMPS[0]))


STARTED: list[float] = []


@settings(
    max_examples=300,
    deadline=timedelta(seconds=20),
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(catalog=catalogs())
def test_what_check_accepts_is_served_and_mailed(
    served: tuple[Path, Flask], database: str, catalog: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    STARTED[:] = STARTED or [time.monotonic()]
    if time.monotonic() - STARTED[0] > SECONDS:
        return  # the time this test may take is spent; the examples so far stand
    root, app = served
    config, event_file = catalog
    write(root, {**config, "database": database}, event_file)
    note(yaml.safe_dump([config, event_file], allow_unicode=True))
    try:
        accepted = load_catalog(root / "config.yaml")
    except CatalogError as err:
        event("refused")
        note(str(err))
        return
    event("accepted")
    live: LiveCatalog = app.extensions["calfeed.live"]
    live.refresh()
    assert live.problems == ()
    assert live.edition.catalog.events == accepted.events
    assert_served(app, live.edition.catalog)
    assert_mailed(live, live.edition.catalog)


def assert_served(app: Flask, catalog: Catalog) -> None:
    """Every calendar and page answers, and every calendar reads back with its titles."""
    client = app.test_client()
    slugs = list(catalog.config.topics)
    for name in ["all", *slugs, "+".join(slugs)]:
        calendar = calendar_at(client.get(f"/feeds/{name}.ics"))
        keep = catalog.config.feed.keep_past_days
        if keep is None:
            wanted = {
                title(e)
                for e in catalog.events
                if name == "all" or set(name.split("+")) & set(e.topics)
            }
            assert {str(entry["SUMMARY"]) for entry in calendar.walk("VEVENT")} == wanted
    for item in catalog.events:
        calendar = calendar_at(client.get(f"/events/{item.id}.ics"))
        summaries = [str(entry["SUMMARY"]) for entry in calendar.walk("VEVENT")]
        sessions = [f"{s.title} – {item.title}" for s in item.sessions]
        assert summaries == [title(item), *(title(item, s) for s in sessions)]
        for page in (f"/events/{item.id}", "/", f"/topics/{item.topics[0]}"):
            response = client.get(page)
            assert response.status_code == 200, page


def title(item: Any, text: str | None = None) -> str:
    text = item.title if text is None else text
    return f"Cancelled: {text}" if item.status == "cancelled" else text


def calendar_at(response: Any) -> icalendar.Calendar:
    assert response.status_code == 200, response.request.path
    assert b"\n" not in response.data.replace(b"\r\n", b""), "a bare line feed"
    calendar: icalendar.Calendar = icalendar.Calendar.from_ical(response.data)
    return calendar


def assert_mailed(live: LiveCatalog, catalog: Catalog) -> None:
    """Every reminder and account mail composes into bytes that read back as meant."""
    config = catalog.config
    people: list[tuple[str, ZoneInfo | None]] = [
        (s.email, s.timezone) for s in config.subscribers
    ] or [("ann@example.org", None)]
    for number, (address, zone) in enumerate(people, start=1):
        links = Links(
            f"{config.site.base_url}/unsubscribe/token-{number}",
            f"{config.site.base_url}/preferences/token-{number}",
        )
        for item in catalog.events:
            kinds = [("start", item.start, config.reminders.before_start[:1] or [timedelta(0)])]
            if item.registration and item.registration.deadline:
                kinds.append(("deadline", item.registration.deadline, [timedelta(hours=1)]))
            kinds.append(("cancelled", item.start, [timedelta(0)]))
            for kind, target, offsets in kinds:
                reminder = Reminder(
                    address,
                    zone or item.timezone,
                    item,
                    kind,
                    int(offsets[0].total_seconds()),
                    target,
                )
                now = (target - offsets[0]).astimezone(UTC)  # what the worker's clock says
                identity = message_id(number, reminder, config)
                mail = compose(
                    reminder,
                    config,
                    ics=live.edition.event_feed(item.id).body,
                    links=links,
                    message_id=identity,
                    now=now,
                )
                # The composer writes any run of white space in a header as one space.
                expected = one_line(subject(reminder, remaining(target - now)))
                assert_mail(mail, address, config.mail.sender, expected, identity)
        for kind in ("confirm", "manage"):
            now = datetime(2026, 1, 1, tzinfo=UTC)
            identity = account_message_id(number, kind, now, config)
            mail = compose_account(
                kind,
                address,
                [topic.name for topic in config.topics.values()],
                config,
                link=f"{config.site.base_url}/confirm/token",
                links=links,
                message_id=identity,
                now=now,
            )
            assert_mail(mail, address, config.mail.sender, str(mail["Subject"]), identity)


def assert_mail(mail: Any, to: str, sender: str, subject_text: str, identity: str) -> None:
    policy = email.policy.SMTP if to.isascii() else email.policy.SMTPUTF8
    data: bytes = mail.as_bytes(policy=policy)
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    longest = max(data.split(b"\r\n"), key=len)
    assert len(longest) <= 998, longest[:200]
    # Read as RFC 6532 allows: UTF-8 in headers, where the recipient needs it.
    parsed = email.message_from_string(data.decode("utf-8"), policy=email.policy.default)
    assert sorted(key.lower() for key in parsed.keys()) == sorted(HEADERS)
    for name in HEADERS:
        defects = [d for d in parsed[name].defects if not isinstance(d, NonASCIILocalPartDefect)]
        assert not defects, (name, parsed[name], defects)
    [sent_from] = parsed["From"].addresses
    [wanted] = email.policy.default.header_factory("From", sender).addresses
    assert sent_from.addr_spec == wanted.addr_spec
    if "=?" not in sender:  # text that looks like an encoded word is read as one
        assert sent_from.display_name == wanted.display_name
    assert [a.addr_spec for a in parsed["To"].addresses] == [to]
    # Spaces aside: the email package may fold right after the colon, and loses a space after
    # a backslash where it folds between two encoded words (CPython's folder, not calfeed).
    assert "".join(parsed["Subject"].split()) == "".join(subject_text.split())
    assert parsed["Message-ID"].strip() == identity  # folded when long, as RFC 5322 allows
    for part in parsed.walk():
        if part.get_content_type() == "text/calendar":
            icalendar.Calendar.from_ical(part.get_content())
