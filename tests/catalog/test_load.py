"""Loading config.yaml and every event file: file layout, shapes of files, and every problem.

Tests here go through ``load_catalog`` as ``calfeed check`` does and assert the exact lines an
operator would read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from seed import SEED_EVENTS

from service.catalog import Catalog, event_files, load_catalog
from service.catalog.load import CatalogLoader
from service.errors import CatalogError

WriteEvent = Callable[[str, str | Mapping[str, Any]], Path]
WriteConfig = Callable[..., Path]
MakeEvent = Callable[..., dict[str, Any]]
Problems = Callable[[], list[str]]
Load = Callable[[], Catalog]


# Where events come from


def test_an_empty_feeds_folder_is_a_catalog_without_events(load: Load) -> None:
    catalog = load()

    assert catalog.events == ()
    assert list(catalog.config.topics) == ["procurement", "circular-economy", "supply-chains"]
    assert catalog.config.site.base_url == "https://events.example.org"


def test_events_come_from_any_layout_of_yaml_files(
    write_event: WriteEvent, make_event: MakeEvent, project: Path, load: Load
) -> None:
    write_event("2020/12/webinar.yaml", make_event(id="webinar", start="2020-12-07T14:00"))
    write_event(
        "forum.yml", make_event(id="forum", start="2020-12-01T09:00", end="2020-12-01T10:00")
    )
    write_event("notes.txt", "id: not-an-event\n")
    write_event(".draft.yaml", make_event(id="draft"))
    write_event(".git/old.yaml", make_event(id="old"))

    catalog = load()

    assert [event.id for event in catalog.events] == ["forum", "webinar"]
    assert [str(event.source) for event in catalog.events] == [
        "feeds/forum.yml:1",
        "feeds/2020/12/webinar.yaml:1",
    ]
    assert [
        p.relative_to(project / "feeds").as_posix() for p in event_files(project / "feeds")
    ] == [
        "2020/12/webinar.yaml",
        "forum.yml",
    ]


def test_events_are_sorted_by_start_then_id(
    write_event: WriteEvent, make_event: MakeEvent, load: Load
) -> None:
    write_event("a.yaml", make_event(id="b-second", start="2020-12-07T14:00"))
    write_event("b.yaml", make_event(id="a-second", start="2020-12-07T14:00"))
    write_event(
        "c.yaml", make_event(id="z-first", start="2020-12-07T09:00", end="2020-12-07T10:00")
    )

    assert [event.id for event in load().events] == ["z-first", "a-second", "b-second"]


def test_a_file_can_hold_several_events(write_event: WriteEvent, load: Load) -> None:
    write_event(
        "series.yaml",
        """\
        events:
          - id: session-1
            title: Session 1
            topics: [procurement]
            start: 2020-11-09T10:00
            end: 2020-11-09T11:30
          - id: session-2
            title: Session 2
            topics: [procurement]
            start: 2020-12-10T10:00
            end: 2020-12-10T11:30
        """,
    )

    catalog = load()

    assert [(e.id, str(e.source)) for e in catalog.events] == [
        ("session-1", "feeds/series.yaml:2"),
        ("session-2", "feeds/series.yaml:7"),
    ]
    assert catalog.events[1].start.astimezone(UTC) == datetime(2020, 12, 10, 9, 0, tzinfo=UTC)


def test_problems_in_a_list_of_events_name_the_item(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "series.yaml",
        """\
        events:
          - id: session-1
            title: Session 1
            topics: [procurement]
            start: 2020-11-09
          - id: session-2
            title: Session 2
            topics: [procurment]
            start: 2020-12-10T10:00
            end: 2020-12-10T09:00
          - title: Session 3
        """,
    )

    assert problems() == [
        "feeds/series.yaml:8: events[1].topics[0]: topic 'procurment' is not declared in "
        "config.yaml; did you mean 'procurement'?",
        "feeds/series.yaml:10: events[1].end: ends before start "
        "(2020-12-10T09:00 is not after 2020-12-10T10:00)",
        "feeds/series.yaml:11: events[2].id: required",
        "feeds/series.yaml:11: events[2].start: required",
        "feeds/series.yaml:11: events[2].topics: required",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("events: []\n", "feeds/series.yaml:1: events: needs at least one item"),
        ("events: 5\n", "feeds/series.yaml:1: events: should be a list, not 5"),
        (
            "events:\n  - 5\n",
            "feeds/series.yaml:2: events[0]: should be a mapping of keys and values, not 5",
        ),
        (
            "events:\n  - id: a\n    title: A\n    topics: [procurement]\n    start: 2020-12-07\n"
            "title: Series\n",
            "feeds/series.yaml:6: title: unknown key; expected one of: events",
        ),
    ],
)
def test_a_broken_list_of_events(
    write_event: WriteEvent, problems: Problems, text: str, expected: str
) -> None:
    write_event("series.yaml", text)

    assert problems() == [expected]


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("", "empty"),
        ("# nothing here yet\n", "empty"),
        ("- id: a\n- id: b\n", "a list"),
        ("just some text\n", "one value"),
        ("42\n", "one value"),
    ],
)
def test_a_file_that_is_not_an_event_says_what_to_write(
    write_event: WriteEvent, problems: Problems, text: str, what: str
) -> None:
    write_event("x.yaml", text)

    assert problems() == [
        f"feeds/x.yaml:1: file is {what}: write one event (a mapping with id:) "
        "or events: and a list"
    ]


# Ids


def test_an_id_used_twice_names_the_other_place(
    write_event: WriteEvent, make_event: MakeEvent, problems: Problems
) -> None:
    write_event("a.yaml", make_event(id="webinar"))
    write_event(
        "b.yaml",
        """\
        events:
          - id: other
            title: Other
            topics: [procurement]
            start: 2020-12-08
          - id: webinar
            title: Same id
            topics: [procurement]
            start: 2020-12-09
        """,
    )
    write_event("c/d.yaml", make_event(id="other"))

    assert problems() == [
        "feeds/b.yaml:6: events[1].id: duplicate id 'webinar': also used at feeds/a.yaml:1",
        "feeds/c/d.yaml:1: id: duplicate id 'other': also used at feeds/b.yaml:2",
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Circular_Cities", "'Circular_Cities'"),
        ("circular cities", "'circular cities'"),
        ("webinar-", "'webinar-'"),
        ('""', "''"),
    ],
)
def test_an_id_must_be_a_slug(
    write_event: WriteEvent, problems: Problems, value: str, shown: str
) -> None:
    write_event("x.yaml", f"id: {value}\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07\n")

    assert problems() == [
        f"feeds/x.yaml:1: id: {shown} is not a slug: use lowercase letters, digits and hyphens"
    ]


def test_an_id_yaml_reads_as_a_number_says_to_quote_it(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event("x.yaml", "id: 2020\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07\n")

    assert problems() == [
        "feeds/x.yaml:1: id: 2020 is not a slug: YAML read it as a number; quote it"
    ]


# Required fields and unknown keys


@pytest.mark.parametrize("field", ["id", "title", "topics", "start"])
def test_required_event_fields(
    write_event: WriteEvent, make_event: MakeEvent, problems: Problems, field: str
) -> None:
    write_event("x.yaml", make_event(without=[field]))

    assert problems() == [f"feeds/x.yaml:1: {field}: required"]


def test_all_missing_fields_are_reported_together(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event("x.yaml", "subtitle: Only a subtitle\n")

    assert problems() == [
        "feeds/x.yaml:1: id: required",
        "feeds/x.yaml:1: start: required",
        "feeds/x.yaml:1: title: required",
        "feeds/x.yaml:1: topics: required",
    ]


@pytest.mark.parametrize(
    ("title", "topics", "expected"),
    [
        ("''", "[procurement]", "feeds/x.yaml:2: title: must not be empty"),
        (
            "yes",
            "[procurement]",
            "feeds/x.yaml:2: title: should be a valid string, not True; write it in quotes",
        ),
        ("Webinar", "[]", "feeds/x.yaml:3: topics: needs at least one item"),
        (
            "Webinar",
            "procurement",
            "feeds/x.yaml:3: topics: should be a list, not 'procurement'",
        ),
    ],
)
def test_wrong_types_say_what_is_expected(
    write_event: WriteEvent, problems: Problems, title: str, topics: str, expected: str
) -> None:
    write_event("x.yaml", f"id: x\ntitle: {title}\ntopics: {topics}\nstart: 2020-12-07\n")

    assert problems() == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "statsu: confirmed\n",
            "feeds/x.yaml:5: statsu: unknown key; did you mean 'status'?",
        ),
        (
            "colour: red\n",
            "feeds/x.yaml:5: colour: unknown key; expected one of: id, title, subtitle, topics, "
            "timezone, start, end, status, location, url, organizer, contacts, registration, "
            "online, description, sessions",
        ),
        (
            "organizer:\n  name: ICLEI\n  emial: info@example.org\n",
            "feeds/x.yaml:7: organizer.emial: unknown key; did you mean 'email'?",
        ),
        (
            "registration:\n  url: https://example.org/register\n  deadlin: 2020-12-06\n",
            "feeds/x.yaml:7: registration.deadlin: unknown key; did you mean 'deadline'?",
        ),
        (
            "contacts:\n  - name: Tom Sullivan\n    phon: '+46 8 525 203 83'\n",
            "feeds/x.yaml:7: contacts[0].phon: unknown key; did you mean 'phone'?",
        ),
        (
            "sessions:\n  - start: '10:00'\n    end: '11:00'\n    title: Talk\n"
            "    speaker: [Ann]\n",
            "feeds/x.yaml:9: sessions[0].speaker: unknown key; did you mean 'speakers'?",
        ),
        (
            "sessions:\n  - {start: '10:00', end: '11:00', title: Talk, room: 2}\n",
            "feeds/x.yaml:6: sessions[0].room: unknown key; expected one of: id, start, end, "
            "title, speakers, description",
        ),
    ],
)
def test_unknown_keys_are_errors_with_a_suggestion(
    write_event: WriteEvent, problems: Problems, text: str, expected: str
) -> None:
    write_event("x.yaml", "id: x\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07\n" + text)

    assert problems() == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "sessions:\n  - start: '10:00'\n    end: '11:00'\n",
            "feeds/x.yaml:6: sessions[0].title: required",
        ),
        ("organizer: {email: info@example.org}\n", "feeds/x.yaml:5: organizer.name: required"),
        ("contacts:\n  - role: Advisor\n", "feeds/x.yaml:6: contacts[0].name: required"),
    ],
)
def test_required_fields_inside_an_event(
    write_event: WriteEvent, problems: Problems, text: str, expected: str
) -> None:
    write_event("x.yaml", "id: x\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07\n" + text)

    assert problems() == [expected]


@pytest.mark.parametrize(
    ("key", "shown"),
    [("[key]", "[key]"), ("\\e[2J", "'\\x1b[2J'"), ("loca\\ntion", "'loca\\ntion'")],
)
def test_an_unknown_key_is_named_as_written_even_when_odd(
    write_event: WriteEvent, problems: Problems, key: str, shown: str
) -> None:
    head = "id: x\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07\n"
    write_event("x.yaml", f'{head}"{key}": 1\n')

    [problem] = problems()

    assert problem.startswith(f"feeds/x.yaml:5: {shown}: unknown key; ")


# Single values


@pytest.mark.parametrize("status", ["confirmed", "tentative", "cancelled"])
def test_statuses(write_event: WriteEvent, make_event: MakeEvent, load: Load, status: str) -> None:
    write_event("x.yaml", make_event(status=status))

    assert [event.status for event in load().events] == [status]


def test_a_status_that_is_not_one_of_three_is_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "x.yaml", "id: x\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07\nstatus: Cancelled\n"
    )

    assert problems() == [
        "feeds/x.yaml:5: status: should be 'confirmed', 'tentative' or 'cancelled', not 'Cancelled'"
    ]


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("url: ftp://example.org/info\n", "url", "'ftp://example.org/info'"),
        ("url: /events/webinar\n", "url", "'/events/webinar'"),
        ("url: www.example.org\n", "url", "'www.example.org'"),
        (
            "registration: {url: 'example.org/register'}\n",
            "registration.url",
            "'example.org/register'",
        ),
        ("organizer: {name: ICLEI, url: 'iclei.org'}\n", "organizer.url", "'iclei.org'"),
    ],
)
def test_urls_must_be_absolute_http(
    write_event: WriteEvent, problems: Problems, text: str, field: str, value: str
) -> None:
    write_event("x.yaml", "id: x\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07\n" + text)

    assert problems() == [
        f"feeds/x.yaml:5: {field}: {value} is not an absolute http:// or https:// URL"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "organizer: {name: ICLEI, email: info.example.org}\n",
            "feeds/x.yaml:5: organizer.email: 'info.example.org' is not a valid email address: "
            "An email address must have an @-sign.",
        ),
        (
            "contacts:\n  - name: Tom\n    email: tom@swedwatch\n",
            "feeds/x.yaml:7: contacts[0].email: 'tom@swedwatch' is not a valid email address: "
            "The part after the @-sign is not valid. It should have a period.",
        ),
    ],
)
def test_emails_must_be_addresses(
    write_event: WriteEvent, problems: Problems, text: str, expected: str
) -> None:
    write_event("x.yaml", "id: x\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07\n" + text)

    assert problems() == [expected]


def test_every_optional_field_of_an_event_is_kept(write_event: WriteEvent, load: Load) -> None:
    write_event(
        "full.yaml",
        """\
        id: full
        title: Full event
        subtitle: With everything
        topics: [procurement, supply-chains]
        timezone: Europe/Brussels
        start: 2021-01-19T14:00
        end: 2021-01-19T16:00
        status: tentative
        location: Online
        url: https://example.org/more-info
        organizer: {name: ICLEI, email: info@example.org, url: https://iclei.org}
        contacts:
          - {name: Tom Sullivan, role: Communications Advisor, phone: "+46(0)8 525 203 83",
             email: tom@swedwatch.org}
        registration: {url: https://example.org/register, deadline: 2021-01-18}
        description: |
          Line one.

          Line two.
        """,
    )

    [event] = load().events

    assert event.subtitle == "With everything"
    assert event.topics == ("procurement", "supply-chains")
    assert event.status == "tentative"
    assert event.location == "Online"
    assert event.url == "https://example.org/more-info"
    assert event.organizer is not None
    assert (event.organizer.name, event.organizer.email, event.organizer.url) == (
        "ICLEI",
        "info@example.org",
        "https://iclei.org",
    )
    assert [(c.name, c.role, c.phone, c.email) for c in event.contacts] == [
        ("Tom Sullivan", "Communications Advisor", "+46(0)8 525 203 83", "tom@swedwatch.org")
    ]
    assert event.description == "Line one.\n\nLine two.\n"


# Files YAML cannot read


def test_a_syntax_error_names_its_line(write_event: WriteEvent, problems: Problems) -> None:
    write_event(
        "x.yaml",
        """\
        id: x
        title: T
        topics: [procurement
        start: 2020-12-07
        """,
    )

    [problem] = problems()

    assert problem.startswith("feeds/x.yaml:4: YAML syntax error: ")


def test_a_duplicate_key_is_an_error(write_event: WriteEvent, problems: Problems) -> None:
    write_event(
        "x.yaml",
        """\
        id: x
        title: T
        topics: [procurement]
        start: 2020-12-07T14:00
        end: 2020-12-07T15:00
        end: 2020-12-07T16:00
        """,
    )

    assert problems() == ["feeds/x.yaml:6: end: duplicate key 'end' (first at line 5)"]


def test_a_file_that_is_not_utf8_is_named(project: Path, problems: Problems) -> None:
    (project / "feeds" / "x.yaml").write_bytes(b"id: x\ntitle: Ume\xe5\n")

    assert problems() == ["feeds/x.yaml:2: not UTF-8: byte 0xE5 at column 11; save it as UTF-8"]


@pytest.mark.parametrize("start", ["2020-02-30", "2020-12-07 25:00:00"])
def test_an_impossible_unquoted_date_is_a_problem_on_its_line(
    write_event: WriteEvent, problems: Problems, start: str
) -> None:
    write_event("x.yaml", f"id: x\ntitle: T\ntopics: [procurement]\nstart: {start}\n")

    found = problems()

    assert len(found) == 1
    assert found[0].startswith("feeds/x.yaml:4: start: ")


def test_an_impossible_quoted_date_is_a_problem_on_its_line(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event("x.yaml", 'id: x\ntitle: T\ntopics: [procurement]\nstart: "2020-02-30"\n')

    assert problems() == [
        "feeds/x.yaml:4: start: '2020-02-30' is not a date or date-time: write 2020-12-07, "
        "2020-12-07T14:00 or 2020-12-07T14:00+01:00"
    ]


# One run, every problem


def test_every_problem_of_every_file_is_reported_at_once(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event("a.yaml", "id: a\ntitle: A\ntopics: [procurement]\nstart: 2020-12-07T14:00\n")
    write_event("b.yaml", "id: b\ntitle: B\ntopics: [procurement\n")
    write_event("c.yaml", "id: c\ntitle: C\ntopics: [nope]\nstart: 2020-12-07\nstatsu: x\n")
    write_event("d.yaml", "")

    found = problems()

    assert [p.split(": ")[0] for p in found] == [
        "feeds/a.yaml:4",
        "feeds/b.yaml:4",
        "feeds/c.yaml:3",
        "feeds/c.yaml:5",
        "feeds/d.yaml:1",
    ]
    assert found[0] == "feeds/a.yaml:4: end: required for an event with a start time"
    assert found[3] == "feeds/c.yaml:5: statsu: unknown key; did you mean 'status'?"


def test_an_unknown_key_does_not_hide_a_rule_that_spans_fields(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "x.yaml",
        """\
        id: x
        title: T
        topics: [procurement]
        start: 2020-12-07T14:00
        end: 2020-12-07T13:00
        colour: red
        """,
    )

    found = problems()

    assert [p.split(": ")[0:2] for p in found] == [
        ["feeds/x.yaml:5", "end"],
        ["feeds/x.yaml:6", "colour"],
    ]


@pytest.mark.parametrize(
    ("broken", "line", "field"),
    [
        ("id: Bad_Id\n", 1, "id"),
        ("title: ''\n", 2, "title"),
    ],
)
def test_a_bad_required_field_does_not_hide_the_other_problems_of_its_event(
    write_event: WriteEvent, problems: Problems, broken: str, line: int, field: str
) -> None:
    fields = {
        "id": "id: x\n",
        "title": "title: T\n",
        "topics": "topics: [procurment]\n",
        "start": "start: 2026-03-29T02:30\n",
        "end": "end: 2026-03-29T04:00\n",
    }
    fields[field] = broken
    write_event("x.yaml", "".join(fields.values()))

    found = [p.split(": ")[0:2] for p in problems()]

    assert found == [
        [f"feeds/x.yaml:{line}", field],
        ["feeds/x.yaml:3", "topics[0]"],
        ["feeds/x.yaml:4", "start"],
    ]


def test_a_bad_session_key_does_not_hide_the_other_sessions_problems(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "x.yaml",
        """\
        id: x
        title: T
        topics: [procurement]
        start: 2020-12-07T14:00
        end: 2020-12-07T16:00
        sessions:
          - {start: "14:00", end: "15:00", title: First, room: 2}
          - {start: "13:00", end: "15:00", title: Too early}
        """,
    )

    found = [p.split(": ")[0:2] for p in problems()]

    assert found == [
        ["feeds/x.yaml:7", "sessions[0].room"],
        ["feeds/x.yaml:8", "sessions[1].start"],
    ]


# config.yaml


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "site: {title: T, base_url: 'https://e.example.org', timezone: Europe/Brussels}\n"
            "topcs: {procurement: {name: P}}\n",
            [
                "config.yaml:1: topics: required",
                "config.yaml:2: topcs: unknown key; did you mean 'topics'?",
            ],
        ),
        (
            "site:\n  title: T\n  base_url: https://e.example.org\n  timezone: Europe/Brussels\n"
            "  colour: red\ntopics: {procurement: {name: P}}\n",
            [
                "config.yaml:5: site.colour: unknown key; expected one of: title, base_url, "
                "timezone, uid_domain, language, languages"
            ],
        ),
        (
            "site:\n  title: T\n  base_url: https://e.example.org\n  timzone: Europe/Brussels\n"
            "topics: {procurement: {name: P}}\n",
            [
                "config.yaml:1: site.timezone: required",
                "config.yaml:4: site.timzone: unknown key; did you mean 'timezone'?",
            ],
        ),
        (
            "site: {title: T, base_url: 'https://e.example.org', timezone: Europe/Brussels}\n"
            "topics:\n  procurement: {name: P, descripton: Buying}\n",
            [
                "config.yaml:3: topics.procurement.descripton: unknown key; "
                "did you mean 'description'?"
            ],
        ),
        (
            "site: {title: T, base_url: 'https://e.example.org', timezone: Europe/Brussels}\n"
            "topics: {procurement: {name: P}}\nmail:\n  form: Events <e@example.org>\n",
            ["config.yaml:4: mail.form: unknown key; did you mean 'from'?"],
        ),
        (
            "site: {title: T, base_url: 'https://e.example.org', timezone: Europe/Brussels}\n"
            "topics: {procurement: {name: P}}\nmail:\n  smtp: {host: localhost, pasword: x}\n",
            ["config.yaml:4: mail.smtp.pasword: unknown key; did you mean 'password_env'?"],
        ),
        (
            "site: {title: T, base_url: 'https://e.example.org', timezone: Europe/Brussels}\n"
            "topics: {procurement: {name: P}}\nreminders:\n  before_end: [1h]\n",
            [
                "config.yaml:4: reminders.before_end: unknown key; did you mean 'before_start'?",
            ],
        ),
        (
            "site: {title: T, base_url: 'https://e.example.org', timezone: Europe/Brussels}\n"
            "topics: {procurement: {name: P}}\nfeed: {refesh: 6h}\n",
            ["config.yaml:3: feed.refesh: unknown key; did you mean 'refresh'?"],
        ),
    ],
)
def test_config_keys_are_checked_at_every_level(
    write_config: WriteConfig, problems: Problems, text: str, expected: list[str]
) -> None:
    write_config(text)

    assert problems() == expected


HEAD = (
    "site: {title: T, base_url: 'https://e.example.org', timezone: Europe/Brussels}\n"
    "topics: {procurement: {name: P}}\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "reminders:\n  before_start: [7d, 1mo]\n",
            "config.yaml:4: reminders.before_start[1]: '1mo' is not a duration: "
            "write 7d, 1h, 30m, 2w, 45s or P1D",
        ),
        (
            "reminders:\n  before_start: [P1M]\n",
            "config.yaml:4: reminders.before_start[0]: 'P1M': months and years vary in length; "
            "use days or weeks",
        ),
        (
            "reminders:\n  before_registration_deadline: [0m]\n",
            "config.yaml:4: reminders.before_registration_deadline[0]: "
            "'0m' must be longer than zero",
        ),
        (
            "reminders:\n  before_start:\n    - 1h\n    - 1.5h\n",
            "config.yaml:6: reminders.before_start[1]: '1.5h' is not a duration: "
            "write 7d, 1h, 30m, 2w, 45s or P1D",
        ),
        (
            "reminders:\n  before_start: 7d\n",
            "config.yaml:4: reminders.before_start: should be a list, not '7d'",
        ),
        (
            "feed: {refresh: P1Y}\n",
            "config.yaml:3: feed.refresh: 'P1Y': months and years vary in length; "
            "use days or weeks",
        ),
        (
            "feed: {keep_past_days: -1}\n",
            "config.yaml:3: feed.keep_past_days: should be greater than or equal to 0, not -1",
        ),
        (
            "mail:\n  from: Events <events>\n",
            "config.yaml:4: mail.from: 'Events <events>' is not a sender such as "
            "'Events <events@example.org>'",
        ),
        (
            "mail:\n  transport: sendmail\n",
            "config.yaml:4: mail.transport: should be 'maildir' or 'smtp', not 'sendmail'",
        ),
        (
            "mail:\n  smtp: {port: 0}\n",
            "config.yaml:4: mail.smtp.port: should be greater than or equal to 1, not 0",
        ),
        (
            "subscribers:\n  - {email: team, topics: [procurement]}\n",
            "config.yaml:4: subscribers[0].email: 'team' is not a valid email address: "
            "An email address must have an @-sign.",
        ),
        (
            "subscribers:\n  - {email: team@example.org, topics: []}\n",
            "config.yaml:4: subscribers[0].topics: needs at least one item",
        ),
    ],
)
def test_config_values_are_checked(
    write_config: WriteConfig, problems: Problems, text: str, expected: str
) -> None:
    write_config(HEAD + text)

    assert problems() == [expected]


def test_reminder_durations_too_long_are_a_problem_not_a_crash(
    write_config: WriteConfig, problems: Problems
) -> None:
    write_config(HEAD + "reminders:\n  before_start: [99999999999d]\n")

    found = problems()

    assert [p.split(": ")[0:2] for p in found] == [["config.yaml:4", "reminders.before_start[0]"]]


@pytest.mark.parametrize(
    ("base_url", "shown"),
    [
        ("/events", "'/events'"),
        ("ftp://example.org", "'ftp://example.org'"),
        ("example.org", "'example.org'"),
    ],
)
def test_the_site_base_url_must_be_absolute(
    write_config: WriteConfig, problems: Problems, base_url: str, shown: str
) -> None:
    write_config(
        f"site:\n  title: T\n  base_url: {base_url}\n  timezone: Europe/Brussels\n"
        "topics: {procurement: {name: P}}\n"
    )

    assert problems() == [
        f"config.yaml:3: site.base_url: {shown} is not an absolute http:// or https:// URL"
    ]


def test_the_sender_accepts_a_display_name(write_config: WriteConfig, load: Load) -> None:
    write_config(HEAD + "mail:\n  from: Sustainable Procurement Events <events@example.org>\n")

    assert load().config.mail.sender == "Sustainable Procurement Events <events@example.org>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "config.yaml:1: config.yaml must be a mapping of settings (site:, topics:, ...)"),
        (
            "- site\n",
            "config.yaml:1: config.yaml must be a mapping of settings (site:, topics:, ...)",
        ),
        (
            "site: {title: T}\nsite: {title: U}\n",
            "config.yaml:2: site: duplicate key 'site' (first at line 1)",
        ),
    ],
)
def test_a_config_file_that_is_not_settings(
    write_config: WriteConfig, problems: Problems, text: str, expected: str
) -> None:
    write_config(text)

    assert problems() == [expected]


def test_a_config_syntax_error_names_its_line(
    write_config: WriteConfig, problems: Problems
) -> None:
    write_config(HEAD + "mail:\n  from: Events <e@example.org\n   transport: smtp\n")

    [problem] = problems()

    assert problem.startswith("config.yaml:5: YAML syntax error: ")


def test_events_are_still_checked_when_the_config_is_broken(
    write_config: WriteConfig, write_event: WriteEvent, problems: Problems
) -> None:
    write_config(
        """\
        site:
          title: Events
          base_url: /relative
          timezone: Europe/Stockholm
        topics:
          procurement: {name: Public procurement}
        """
    )
    write_event(
        "x.yaml",
        "id: x\ntitle: T\ntopics: [procurment]\nstart: 2026-03-29T02:30\nend: 2026-03-29T04:00\n",
    )

    assert problems() == [
        "config.yaml:3: site.base_url: '/relative' is not an absolute http:// or https:// URL",
        "feeds/x.yaml:3: topics[0]: topic 'procurment' is not declared in config.yaml; "
        "did you mean 'procurement'?",
        "feeds/x.yaml:4: start: 2026-03-29T02:30 does not exist in Europe/Stockholm: clocks go "
        "forward from 02:00 to 03:00 on 2026-03-29 (CET +01:00 to CEST +02:00); pick another "
        "time or write an explicit offset",
    ]


def test_a_missing_config_file_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    with pytest.raises(CatalogError) as caught:
        load_catalog(Path("config.yaml"))

    assert [str(p) for p in caught.value.problems] == ["config.yaml: no such configuration file"]


# Paths in messages


def test_paths_in_messages_are_relative_to_the_current_folder(
    project: Path, write_event: WriteEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_event("x.yaml", "id: x\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07T14:00\n")
    monkeypatch.chdir(project.parent)

    with pytest.raises(CatalogError) as caught:
        load_catalog(Path("project/config.yaml"))

    assert [str(p) for p in caught.value.problems] == [
        "project/feeds/x.yaml:4: end: required for an event with a start time"
    ]


def test_paths_outside_the_current_folder_are_absolute(
    project: Path, write_event: WriteEvent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_event("x.yaml", "id: x\ntitle: T\ntopics: [procurement]\nstart: 2020-12-07T14:00\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    with pytest.raises(CatalogError) as caught:
        load_catalog(Path("../project/config.yaml"))

    where = project.resolve() / "feeds" / "x.yaml"
    assert [str(p) for p in caught.value.problems] == [
        f"{where}:4: end: required for an event with a start time"
    ]


# Loading again after edits


def test_a_reload_sees_edits_new_files_and_removed_files(
    project: Path, write_event: WriteEvent, make_event: MakeEvent
) -> None:
    loader = CatalogLoader(project / "config.yaml")
    write_event("a.yaml", make_event(id="a", title="First title"))
    write_event("b.yaml", make_event(id="b", start="2020-12-08T14:00", end="2020-12-08T15:00"))
    assert [e.title for e in loader.load().events] == [
        "First title",
        "Circular Cities Declaration Webinar",
    ]
    assert loader.reload() is None  # nothing changed

    write_event("a.yaml", make_event(id="a", title="A new, longer title"))
    catalog = loader.reload()
    assert catalog is not None
    assert [e.title for e in catalog.events] == [
        "A new, longer title",
        "Circular Cities Declaration Webinar",
    ]
    assert loader.reload() is None

    write_event("c.yaml", make_event(id="c", start="2020-12-09T14:00", end="2020-12-09T15:00"))
    (project / "feeds" / "b.yaml").unlink()
    catalog = loader.reload()
    assert catalog is not None
    assert [e.id for e in catalog.events] == ["a", "c"]


def test_a_broken_edit_is_reported_and_its_fix_is_seen(
    project: Path, write_event: WriteEvent, make_event: MakeEvent
) -> None:
    loader = CatalogLoader(project / "config.yaml")
    write_event("a.yaml", make_event(id="a"))
    loader.load()

    # Each edit changes the file's size too, so it shows even where clocks are coarse.
    write_event("a.yaml", make_event(id="a", end="2020-12-07T13:00", location="Online"))
    with pytest.raises(CatalogError) as caught:
        loader.reload()
    assert [str(p) for p in caught.value.problems] == [
        "feeds/a.yaml:7: end: ends before start (2020-12-07T13:00 is not after 2020-12-07T14:00)"
    ]

    write_event("a.yaml", make_event(id="a", end="2020-12-07T17:00"))
    catalog = loader.reload()
    assert catalog is not None
    [event] = catalog.events
    assert event.end.astimezone(UTC) == datetime(2020, 12, 7, 16, 0, tzinfo=UTC)


def test_an_edit_of_the_config_checks_every_event_again(
    project: Path, write_event: WriteEvent, make_event: MakeEvent, write_config: WriteConfig
) -> None:
    loader = CatalogLoader(project / "config.yaml")
    write_event("a.yaml", make_event(id="a", topics=["supply-chains"]))
    loader.load()

    write_config(topics={"procurement": {"name": "Public procurement"}})
    with pytest.raises(CatalogError) as caught:
        loader.reload()

    assert [str(p) for p in caught.value.problems] == [
        "feeds/a.yaml:4: topics[0]: topic 'supply-chains' is not declared in config.yaml; "
        "declared: procurement"
    ]


def test_an_edit_of_the_config_that_events_do_not_read_keeps_them_as_read(
    project: Path, write_event: WriteEvent, make_event: MakeEvent, write_config: WriteConfig
) -> None:
    loader = CatalogLoader(project / "config.yaml")
    write_event("a.yaml", make_event(id="a"))
    first = loader.load()

    write_config(subscribers=[{"email": "ann@example.org", "topics": ["procurement"]}])
    second = loader.reload()

    assert second is not None
    assert [s.email for s in second.config.subscribers] == ["ann@example.org"]
    assert second.by_id["a"] is first.by_id["a"]  # not read and checked again


def test_a_duplicate_id_in_a_new_file_is_found_on_reload(
    project: Path, write_event: WriteEvent, make_event: MakeEvent
) -> None:
    loader = CatalogLoader(project / "config.yaml")
    write_event("a.yaml", make_event(id="a"))
    loader.load()

    write_event("b.yaml", make_event(id="a"))
    with pytest.raises(CatalogError) as caught:
        loader.reload()

    assert [str(p) for p in caught.value.problems] == [
        "feeds/b.yaml:1: id: duplicate id 'a': also used at feeds/a.yaml:1"
    ]


# The project's own configuration and the events of the seed page

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def seed() -> Catalog:
    return load_catalog(REPO / "config.yaml")


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def test_the_project_holds_every_event_of_its_seed_files(seed: Catalog) -> None:
    # Each event's first day is the date its start is written with, in its own zone.
    assert sorted((e.id, e.first_day.isoformat()) for e in seed.events) == sorted(
        (event["id"], str(event["start"])[:10]) for event in SEED_EVENTS
    )
    assert [(e.start, e.id) for e in seed.events] == sorted((e.start, e.id) for e in seed.events)
    assert seed.config.site.timezone == ZoneInfo("Europe/Brussels")
    assert seed.config.feeds_dir == REPO / "feeds"


def test_the_circular_cities_webinar(seed: Catalog) -> None:
    event = seed.by_id["circular-cities-webinar-2020-12"]

    assert event.title == "1st European Circular Cities Declaration Webinar"
    assert event.subtitle == "Introducing the Declaration and sharing inspiring examples"
    assert not event.all_day
    assert event.start.astimezone(UTC) == datetime(2020, 12, 7, 13, 0, tzinfo=UTC)
    assert event.end.astimezone(UTC) == datetime(2020, 12, 7, 15, 0, tzinfo=UTC)
    assert len(event.sessions) == 5
    first = event.sessions[0]
    assert first.title == "Introduction to the European Circular Cities Declaration"
    assert (local(first.start, "Europe/Brussels"), local(first.end, "Europe/Brussels")) == (
        datetime(2020, 12, 7, 14, 0),
        datetime(2020, 12, 7, 14, 30),
    )
    assert [local(s.start, "Europe/Brussels").strftime("%H:%M") for s in event.sessions] == [
        "14:00",
        "14:30",
        "15:10",
        "15:20",
        "15:40",
    ]
    assert local(event.sessions[-1].end, "Europe/Brussels") == datetime(2020, 12, 7, 15, 45)


def test_the_nordic_forum_is_all_day_in_stockholm(seed: Catalog) -> None:
    event = seed.by_id["nordic-strategy-forum-supply-chain-procurement-2020-12"]

    assert event.all_day
    assert event.timezone == ZoneInfo("Europe/Stockholm")
    assert (event.first_day, event.last_day) == (date(2020, 12, 7), date(2020, 12, 8))
    assert event.start == datetime(2020, 12, 7, tzinfo=ZoneInfo("Europe/Stockholm"))
    assert event.end == datetime(2020, 12, 9, tzinfo=ZoneInfo("Europe/Stockholm"))
    assert event.location == "Stockholm, Sweden"


def test_the_summit_is_all_day_from_30_november_to_4_december(seed: Catalog) -> None:
    event = seed.by_id["occupational-health-and-safety-summit-2020"]

    assert event.all_day
    assert (event.first_day, event.last_day) == (date(2020, 11, 30), date(2020, 12, 4))
    assert event.end == datetime(2020, 12, 5, tzinfo=ZoneInfo("Europe/Brussels"))


@pytest.mark.parametrize(
    ("event_id", "start_utc", "end_utc", "local_times", "sessions"),
    [
        (
            "procura-plus-socially-responsible-ict-webinar-2020-12",
            datetime(2020, 12, 10, 9, 0, tzinfo=UTC),
            datetime(2020, 12, 10, 10, 30, tzinfo=UTC),
            ("10:00", "11:30"),
            4,
        ),
        (
            "public-procurement-minerals-electronics-webinar-2021-01",
            datetime(2021, 1, 19, 13, 0, tzinfo=UTC),
            datetime(2021, 1, 19, 15, 0, tzinfo=UTC),
            ("14:00", "16:00"),
            0,
        ),
        (
            "big-buyers-needs-assessment-webinar-2020-12",
            datetime(2020, 12, 8, 8, 30, tzinfo=UTC),
            datetime(2020, 12, 8, 9, 30, tzinfo=UTC),
            ("09:30", "10:30"),
            0,
        ),
    ],
)
def test_webinars_at_central_european_time(
    seed: Catalog,
    event_id: str,
    start_utc: datetime,
    end_utc: datetime,
    local_times: tuple[str, str],
    sessions: int,
) -> None:
    event = seed.by_id[event_id]

    assert not event.all_day
    assert event.timezone == ZoneInfo("Europe/Brussels")
    assert (event.start.astimezone(UTC), event.end.astimezone(UTC)) == (start_utc, end_utc)
    assert (event.start.strftime("%H:%M"), event.end.strftime("%H:%M")) == local_times
    assert len(event.sessions) == sessions


def test_the_procura_agenda(seed: Catalog) -> None:
    event = seed.by_id["procura-plus-socially-responsible-ict-webinar-2020-12"]

    assert [(s.start.strftime("%H:%M"), s.end.strftime("%H:%M")) for s in event.sessions] == [
        ("10:00", "10:10"),
        ("10:10", "10:40"),
        ("10:40", "10:55"),
        ("10:55", "11:30"),
    ]
    assert event.sessions[0].speakers == ("Paula Land, ICLEI Local Governments for Sustainability",)
