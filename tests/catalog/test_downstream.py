"""What ``check`` refuses because the service could not store, serve or mail it.

Every value goes somewhere after the catalog: into a database column of fixed width, a mail
header that must stay one line, a calendar property, date arithmetic. Each rule here has its
exact message; the boundary cases are stored, served and mailed for real (PostgreSQL, which
enforces column widths, when it is there; CI requires it).
"""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from service import open_app
from service.calendar.entries import event_uid, session_uid
from service.catalog import Catalog
from service.catalog.uids import UID_LENGTH
from service.live import LiveCatalog
from service.reminders.mail import Links, Reminder, compose, message_id
from service.store.tables import outbox, revisions

WriteEvent = Callable[[str, str | Mapping[str, Any]], Path]
WriteConfig = Callable[..., Path]
MakeEvent = Callable[..., dict[str, Any]]
Problems = Callable[[], list[str]]
Load = Callable[[], Catalog]

HOST = "events.example.org"  # the host of the test project's base_url
ROOM = UID_LENGTH - len("@" + HOST)  # 236 characters of ids fit before it
EVENT = "id: x\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07\n"
HEAD = (
    "site: {title: T, base_url: 'https://e.example.org', timezone: Europe/Brussels}\n"
    "topics: {procurement: {name: P}}\n"
)


def length_of(column: sa.Column[Any]) -> int | None:
    """Return the length a text column holds."""
    assert isinstance(column.type, sa.String), column.type
    return column.type.length


def test_the_uid_length_is_what_the_database_keeps() -> None:
    assert length_of(revisions.c.uid) == UID_LENGTH
    assert length_of(outbox.c.event_id) == UID_LENGTH


# One line: titles, names, the sender


def test_a_folded_title_is_one_line_without_its_final_break(
    write_event: WriteEvent, load: Load
) -> None:
    write_event("x.yaml", EVENT.replace("title: T\n", "title: >\n  A long title\n  folded\n"))

    assert load().events[0].title == "A long title folded"


def test_the_whitespace_around_one_line_is_removed(write_event: WriteEvent, load: Load) -> None:
    write_event("x.yaml", EVENT + "location: |\n  Online\n")

    assert load().events[0].location == "Online"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            EVENT.replace("title: T\n", "title: |\n  Line one\n  Line two\n"),
            "feeds/x.yaml:2: title: must be one line, but it breaks after 'Line one' "
            "(only the breaks at its start and end are removed)",
            id="literal-block",
        ),
        pytest.param(
            EVENT.replace("title: T\n", 'title: "Webinar\\r\\nBcc: x@example.org"\n'),
            "feeds/x.yaml:2: title: must be one line, but it breaks after 'Webinar' "
            "(only the breaks at its start and end are removed)",
            id="escaped-crlf",
        ),
        pytest.param(
            EVENT.replace("title: T\n", 'title: "Webinar\\u2028Day two"\n'),
            "feeds/x.yaml:2: title: must be one line, but it breaks after 'Webinar' "
            "(only the breaks at its start and end are removed)",
            id="line-separator",
        ),
        pytest.param(
            EVENT.replace("title: T\n", "title: Save =?utf-8?q?the?= date\n"),
            "feeds/x.yaml:2: title: holds '=?utf-8?q?the?=', which mail programs would show "
            "decoded; write it otherwise",
            id="encoded-word",
        ),
        pytest.param(
            EVENT.replace("title: T\n", 'title: "   "\n'),
            "feeds/x.yaml:2: title: must not be empty",
            id="blank",
        ),
        pytest.param(
            EVENT + 'location: "On\\tline"\n',
            "feeds/x.yaml:5: location: holds control character U+0009 at character 3; remove it",
            id="tab",
        ),
        pytest.param(
            EVENT + 'subtitle: "A\\0B"\n',
            "feeds/x.yaml:5: subtitle: holds control character U+0000 at character 2; remove it",
            id="nul",
        ),
        pytest.param(
            EVENT + 'description: "Text\\nand\\ttab, then \\e[2J"\n',
            "feeds/x.yaml:5: description: holds control character U+001B at character 20; "
            "remove it",
            id="escape-in-free-text",
        ),
        pytest.param(
            EVENT + 'organizer: {name: "ICLEI\\n"}\n',
            None,
            id="break-at-the-end",
        ),
        pytest.param(
            EVENT + 'contacts:\n  - {name: Tom, phone: "+46\\n+47"}\n',
            "feeds/x.yaml:6: contacts[0].phone: must be one line, but it breaks after '+46' "
            "(only the breaks at its start and end are removed)",
            id="contact",
        ),
        pytest.param(
            EVENT + "sessions:\n  - {start: '00:00', end: '01:00', title: \"A\\nB\"}\n",
            "feeds/x.yaml:6: sessions[0].title: must be one line, but it breaks after 'A' "
            "(only the breaks at its start and end are removed)",
            id="session",
        ),
        pytest.param(
            EVENT + 'url: "https://example.org/a\\nb"\n',
            "feeds/x.yaml:5: url: 'https://example.org/a\\nb' is not an absolute http:// or "
            "https:// URL",
            id="url",
        ),
    ],
)
def test_one_line_text_holds_no_line_break_nor_control_character(
    write_event: WriteEvent, problems: Problems, text: str, expected: str | None
) -> None:
    write_event("x.yaml", text)

    assert problems() == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        pytest.param(
            '"Events <e@example.org>\\r\\nBcc: x@example.org"',
            "config.yaml:4: mail.from: must be one line, but it breaks after "
            "'Events <e@example.org>' (only the breaks at its start and end are removed)",
            id="header-injection",
        ),
        pytest.param(
            "'Events <e@example.org>, Other <o@example.org>'",
            "config.yaml:4: mail.from: 'Events <e@example.org>, Other <o@example.org>' is not a "
            "sender such as 'Events <events@example.org>': name one address, not 2",
            id="two-addresses",
        ),
        pytest.param(
            "Events <e@example.org> and more",
            "config.yaml:4: mail.from: 'Events <e@example.org> and more' is not a sender such "
            "as 'Events <events@example.org>'",
            id="trailing-text",
        ),
        pytest.param(
            "'Team: a@example.org;'",
            "config.yaml:4: mail.from: 'Team: a@example.org;' is not a sender such as "
            "'Events <events@example.org>'",
            id="group",
        ),
        pytest.param(
            "=?utf-8?q?a=2C_b=3A_c?= <e@example.org>",
            "config.yaml:4: mail.from: holds '=?utf-8?q?a=2C_b=3A_c?=', which mail programs "
            "would show decoded; write it otherwise",
            id="encoded-word",
        ),
        pytest.param(
            "Events <events@localhost>",
            "config.yaml:4: mail.from: 'Events <events@localhost>' is not a sender such as "
            "'Events <events@example.org>'",
            id="no-domain",
        ),
    ],
)
def test_the_sender_is_one_address_on_one_line(
    write_config: WriteConfig, problems: Problems, sender: str, expected: str
) -> None:
    write_config(HEAD + f"mail:\n  from: {sender}\n")

    assert problems() == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "site: {title: \"Events\\nBcc: x\", base_url: 'https://e.example.org', "
            "timezone: UTC}\ntopics: {procurement: {name: P}}\n",
            "config.yaml:1: site.title: must be one line, but it breaks after 'Events' "
            "(only the breaks at its start and end are removed)",
            id="site-title",
        ),
        pytest.param(
            "site: {title: T, base_url: 'https://e.example.org', timezone: UTC}\n"
            'topics: {procurement: {name: "Public\\nprocurement"}}\n',
            "config.yaml:2: topics.procurement.name: must be one line, but it breaks after "
            "'Public' (only the breaks at its start and end are removed)",
            id="topic-name",
        ),
    ],
)
def test_site_title_and_topic_names_are_one_line(
    write_config: WriteConfig, problems: Problems, text: str, expected: str
) -> None:
    write_config(text)

    assert problems() == [expected]


# The site's address: the host ends every UID and Message-ID


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        pytest.param(
            "https://événements.example.org",
            "the host 'événements.example.org' must be ASCII letters, digits, hyphens and "
            "dots (write an international domain in its xn-- form)",
            id="international",
        ),
        pytest.param(
            "https://e.example.org/?lang=en",
            "'https://e.example.org/?lang=en' must not have a query or fragment: links are "
            "added to it",
            id="query",
        ),
        pytest.param(
            "https://e.example.org/a<b>",
            "'https://e.example.org/a<b>' holds characters a URL must percent-encode (%20 for "
            "a space)",
            id="angle-brackets",
        ),
        pytest.param(
            "https://e_x.example.org",
            "the host 'e_x.example.org' must be ASCII letters, digits, hyphens and dots "
            "(write an international domain in its xn-- form)",
            id="underscore",
        ),
        pytest.param(
            "https://e.example.org/" + "p" * 379,
            "has 401 characters; at most 400 leave room for the links made from it in mail",
            id="long",
        ),
        pytest.param(
            "http://[::1]:8000",
            "the host '::1' must be ASCII letters, digits, hyphens and dots "
            "(write an international domain in its xn-- form)",
            id="ipv6",
        ),
        pytest.param(
            f"https://{'a' * 60}.{'b' * 40}.org",
            "the host has 105 characters; at most 100 fit in calendar UIDs",
            id="long-host",
        ),
    ],
)
def test_the_site_address_has_a_host_uids_and_mail_can_carry(
    write_config: WriteConfig, problems: Problems, base_url: str, expected: str
) -> None:
    write_config(
        f"site:\n  title: T\n  base_url: '{base_url}'\n  timezone: Europe/Brussels\n"
        "topics: {procurement: {name: P}}\n"
    )

    assert problems() == [f"config.yaml:3: site.base_url: {expected}"]


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8000", "https://xn--vnements-bya.org/x"])
def test_addresses_and_punycode_hosts_are_fine(
    write_config: WriteConfig, load: Load, base_url: str
) -> None:
    write_config(
        f"site:\n  title: T\n  base_url: '{base_url}'\n  timezone: Europe/Brussels\n"
        "topics: {procurement: {name: P}}\n"
    )

    assert load().config.site.base_url == base_url


# Ids: what fits in a UID and in the outbox


def long_id(length: int) -> str:
    return ("event-" * 60)[: length - 1] + "x"


def test_an_event_id_too_long_for_its_uid_is_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event("x.yaml", EVENT.replace("id: x", f"id: {long_id(ROOM + 1)}"))

    assert problems() == [
        "feeds/x.yaml:1: id: has 237 characters; at most 236 fit in the calendar UIDs of the "
        "event and the name of its .ics"
    ]


def test_an_event_id_too_long_for_the_name_of_its_calendar_is_refused(
    write_config: WriteConfig, write_event: WriteEvent, problems: Problems
) -> None:
    write_config(site={"title": "T", "base_url": "https://x.y", "timezone": "UTC"})
    write_event("x.yaml", EVENT.replace("id: x", f"id: {long_id(245)}"))

    assert problems() == [  # events/<id>.ics keeps its revisions in 255 characters
        "feeds/x.yaml:1: id: has 245 characters; at most 244 fit in the calendar UIDs of the "
        "event and the name of its .ics"
    ]


def test_an_event_id_that_leaves_no_room_for_its_sessions_is_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    sessions = "sessions:\n  - {start: '00:00', end: '01:00', title: A}\n"
    head = EVENT.replace("start: 2020-12-07", "start: 2020-12-07T00:00\nend: 2020-12-07T01:00")
    write_event("x.yaml", head.replace("id: x", f"id: {long_id(ROOM - 1)}") + sessions)

    assert problems() == [
        "feeds/x.yaml:1: id: has 235 characters; at most 234 fit in the calendar UIDs of the "
        "event and its sessions and the name of its .ics"
    ]


def test_a_session_id_too_long_for_its_uid_is_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    sessions = (
        "sessions:\n"
        f"  - {{id: {long_id(ROOM - 2 + 1)}, start: '10:00', end: '11:00', title: A}}\n"
        f"  - {{start: '11:00', end: '12:00', title: {'Word ' * 50}}}\n"
    )
    write_event(
        "x.yaml",
        EVENT.replace("start: 2020-12-07", "start: 2020-12-07T10:00\nend: 2020-12-07T12:00")
        + sessions,
    )

    assert problems() == [
        "feeds/x.yaml:7: sessions[0].id: has 235 characters; at most 234 fit in the session's "
        "calendar UID beside the event id",
        "feeds/x.yaml:8: sessions[1].title: makes the session id 'word-word-word-word-word-"
        "word-word-word-word-word-word-wo...' of 249 characters; at most 234 fit in its calendar "
        "UID beside the event id: give the session a shorter id:",
    ]


# Date arithmetic


def test_keep_past_days_beyond_a_hundred_years_is_refused(
    write_config: WriteConfig, problems: Problems
) -> None:
    write_config(HEAD + "feed: {keep_past_days: 1000000}\n")

    assert problems() == [
        "config.yaml:3: feed.keep_past_days: should be less than or equal to 36500, not 1000000"
    ]


# At the limits, the service stores, serves and mails


@pytest.fixture
def client_at_limits(
    project: Path, write_config: WriteConfig, write_event: WriteEvent, database: str
) -> Iterator[FlaskClient]:
    """Serve a project whose every limit is reached: ids, host, keep_past_days, years."""
    host = f"{'a' * 63}.{'b' * 32}.org"  # 100 characters
    room = UID_LENGTH - len("@" + host)
    write_config(
        site={"title": "T", "base_url": f"https://{host}", "timezone": "Europe/Brussels"},
        topics={"procurement": {"name": "P"}},
        feed={"keep_past_days": 36500, "refresh": "P3660D"},
        database=database,
        reminders={"before_start": ["3660d"]},
    )
    short = long_id(room - 2)  # leaves one character for a session's id after its dot
    write_event(
        "limits.yaml",
        {
            "events": [
                {
                    "id": long_id(room),
                    "title": "T",
                    "topics": ["procurement"],
                    "start": "2999-12-31",
                },
                {
                    "id": short,
                    "title": "T",
                    "topics": ["procurement"],
                    "start": "1900-01-01T00:00",
                    "end": "1900-01-01T01:00",
                    "sessions": [{"id": "s", "start": "00:00", "end": "01:00", "title": "S"}],
                },
            ]
        },
    )
    app = open_app(project / "config.yaml", {"TESTING": True})
    try:
        yield app.test_client()
    finally:
        app.extensions["calfeed.live"].close()


def test_at_every_limit_the_feeds_are_stored_and_served(client_at_limits: FlaskClient) -> None:
    live: LiveCatalog = client_at_limits.application.extensions["calfeed.live"]
    catalog = live.edition.catalog
    config = catalog.config

    old, new = catalog.events  # 1900, with a session; 2999, all day
    assert len(event_uid(new, config)) == UID_LENGTH
    for path in ("/feeds/all.ics", "/feeds/procurement.ics"):  # 1900 is past keep_past_days
        assert f"UID:{event_uid(new, config)}\r\n" in unfolded(client_at_limits.get(path))
    [session] = old.sessions
    assert len(session_uid(old, session, config)) == UID_LENGTH
    body = unfolded(client_at_limits.get(f"/events/{old.id}.ics"))
    assert f"UID:{event_uid(old, config)}\r\n" in body
    assert f"UID:{session_uid(old, session, config)}\r\n" in body


def unfolded(response: Any) -> str:
    assert response.status_code == 200, response.request.path
    text: str = response.get_data(as_text=True)
    return text.replace("\r\n ", "")


def test_at_every_limit_a_reminder_mail_composes(client_at_limits: FlaskClient) -> None:
    live: LiveCatalog = client_at_limits.application.extensions["calfeed.live"]
    catalog = live.edition.catalog
    event = catalog.events[-1]  # starts on 2999-12-31, reminded 3660 days before
    now = datetime(2989, 12, 1, tzinfo=UTC)
    reminder = Reminder(
        "ann@example.org", event.timezone, event, "start", 3660 * 86400, event.start
    )
    identity = message_id(1, reminder, catalog.config)
    message = compose(
        reminder,
        catalog.config,
        ics=live.edition.event_feed(event.id).body,
        links=Links(
            f"{catalog.config.site.base_url}/unsubscribe/token",
            f"{catalog.config.site.base_url}/preferences/token",
        ),
        message_id=identity,
        now=now,
    )
    data = message.as_bytes(policy=email.policy.SMTP)
    parsed = email.message_from_bytes(data, policy=email.policy.default)

    assert parsed["Message-ID"] == identity
    assert (
        parsed["Subject"] == f"Starts in {round((event.start - now) / timedelta(days=1))} days: T"
    )
    most = length_of(outbox.c.message_id)
    assert most is not None and len(identity) <= most


# Sizes: checking a hostile file stays quick


def test_a_list_longer_than_its_limit_is_one_problem(
    write_event: WriteEvent, problems: Problems
) -> None:
    topics = ", ".join(f"t{n}" for n in range(10_000))
    write_event("x.yaml", f"id: x\ntitle: T\nstart: 2020-12-07\ntopics: [{topics}]\n")

    assert problems() == ["feeds/x.yaml:4: topics: has 10,000 items; at most 100 are allowed"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "sessions: [" + "{}, " * 501 + "]\n",
            "feeds/x.yaml:5: sessions: has 501 items; at most 500 are allowed",
            id="sessions",
        ),
        pytest.param(
            "contacts: [" + "{name: N}, " * 101 + "]\n",
            "feeds/x.yaml:5: contacts: has 101 items; at most 100 are allowed",
            id="contacts",
        ),
    ],
)
def test_every_list_of_an_event_has_a_limit(
    write_event: WriteEvent, problems: Problems, text: str, expected: str
) -> None:
    write_event("x.yaml", EVENT + text)

    assert problems() == [expected]


def test_more_than_a_thousand_events_in_one_file_are_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event("x.yaml", "events:\n" + "  - {}\n" * 1001)

    assert problems() == ["feeds/x.yaml:1: events: has 1,001 items; at most 1,000 are allowed"]


def test_past_a_hundred_problems_a_file_is_not_checked_further(
    write_config: WriteConfig, write_event: WriteEvent, problems: Problems
) -> None:
    write_config(
        HEAD.replace(
            "{procurement: {name: P}}",
            "{" + ", ".join(f"topic-{n}: {{name: N}}" for n in range(1000)) + "}",
        )
    )
    unknown = ", ".join(f"unknown-{n}" for n in range(60))
    write_event(
        "x.yaml",
        "events:\n"
        + "".join(
            f"  - {{id: e{n}, title: T, start: 2020-12-07, topics: [{unknown}]}}\n"
            for n in range(500)
        ),
    )

    found = problems()

    assert len(found) == 101
    assert found[0] == "feeds/x.yaml: more than 100 problems: the rest of the file is not checked"
    assert found[1] == (
        "feeds/x.yaml:2: events[0].topics[0]: topic 'unknown-0' is not declared in "
        "config.yaml; declared: topic-0, topic-1, topic-2, topic-3, topic-4, topic-5, topic-6, "
        "topic-7, topic-8, topic-9, ... (1000 in all)"
    )
    assert {problem.split(": ")[0] for problem in found[1:]} == {"feeds/x.yaml:2", "feeds/x.yaml:3"}


def test_past_a_hundred_problems_the_config_is_not_checked_further(
    write_config: WriteConfig, problems: Problems
) -> None:
    subscribers = "".join(
        f"  - {{email: a{n}@example.org, topics: [nope], timezone: Mars/Base}}\n"
        for n in range(5000)
    )
    write_config(HEAD + "subscribers:\n" + subscribers)
    started = time.perf_counter()

    found = problems()

    assert time.perf_counter() - started < 10  # about a second; minutes before the limit
    assert len(found) == 101
    assert found[0] == "config.yaml: more than 100 problems: the rest of the file is not checked"
    assert found[1] == (
        "config.yaml:4: subscribers[0].timezone: unknown time zone 'Mars/Base'; "
        "use an IANA name such as Europe/Brussels"
    )


def test_the_longest_event_id_beside_a_short_host_is_served(
    project: Path, write_config: WriteConfig, write_event: WriteEvent, database: str
) -> None:
    write_config(
        site={"title": "T", "base_url": "https://x.y", "timezone": "UTC"}, database=database
    )
    event_id = long_id(UID_LENGTH - len("events/.ics"))
    write_event("x.yaml", EVENT.replace("id: x", f"id: {event_id}"))
    app = open_app(project / "config.yaml", {"TESTING": True})
    try:
        body = unfolded(app.test_client().get(f"/events/{event_id}.ics"))
    finally:
        app.extensions["calfeed.live"].close()

    assert f"UID:{event_id}@x.y\r\n" in body


def test_a_feed_of_many_topics_is_served_whatever_the_length_of_its_name(
    project: Path, write_config: WriteConfig, write_event: WriteEvent, database: str
) -> None:
    topics = {f"topic-number-{n:02d}": {"name": f"Topic {n}"} for n in range(20)}
    write_config(topics=topics, database=database)
    write_event("x.yaml", EVENT.replace("[procurement]", "[topic-number-00]"))
    name = "+".join(topics)  # feeds/<name>.ics has 302 characters
    app = open_app(project / "config.yaml", {"TESTING": True})
    try:
        body = unfolded(app.test_client().get(f"/feeds/{name}.ics"))
    finally:
        app.extensions["calfeed.live"].close()

    assert "UID:x@events.example.org\r\n" in body
