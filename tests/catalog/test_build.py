"""Rules that span fields: times in zones, ends after starts, sessions inside events, config.

Each test writes the operator's YAML literally, so the line numbers in the expected messages
can be read off the text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service.catalog import Catalog, Event
from service.catalog.models import Choices, Digest

BRUSSELS = ZoneInfo("Europe/Brussels")
STOCKHOLM = ZoneInfo("Europe/Stockholm")

WriteEvent = Callable[[str, str | Mapping[str, Any]], Path]
WriteConfig = Callable[..., Path]
Problems = Callable[[], list[str]]
Load = Callable[[], Catalog]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def instant(moment: datetime) -> datetime:
    """Compare instants in UTC: within one zone Python compares wall clocks, ignoring fold."""
    return moment.astimezone(UTC)


def only_event(load: Load) -> Event:
    [event] = load().events
    return event


# Timed events


def test_a_timed_event_is_local_wall_time_in_its_zone(write_event: WriteEvent, load: Load) -> None:
    write_event(
        "webinar.yaml",
        """\
        id: webinar
        title: Webinar
        topics: [circular-economy]
        timezone: Europe/Brussels
        start: "2020-12-07T14:00"
        end: "2020-12-07T16:00"
        """,
    )

    event = only_event(load)

    assert not event.all_day
    assert instant(event.start) == utc(2020, 12, 7, 13, 0)
    assert instant(event.end) == utc(2020, 12, 7, 15, 0)
    assert event.timezone == BRUSSELS
    assert event.start.tzinfo == BRUSSELS


def test_an_event_without_a_zone_is_in_the_site_zone(write_event: WriteEvent, load: Load) -> None:
    write_event(
        "webinar.yaml",
        """\
        id: webinar
        title: Webinar
        topics: [procurement]
        start: "2020-12-08T09:30"
        end: "2020-12-08T10:30"
        """,
    )

    event = only_event(load)

    assert event.timezone == BRUSSELS
    assert instant(event.start) == utc(2020, 12, 8, 8, 30)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param('"2020-12-07T14:00"', '"2020-12-07T16:00"', id="quoted"),
        pytest.param('"2020-12-07 14:00"', '"2020-12-07 16:00"', id="quoted-with-space"),
        pytest.param("2020-12-07T14:00", "2020-12-07T16:00", id="unquoted-without-seconds"),
        pytest.param("2020-12-07 14:00:00", "2020-12-07 16:00:00", id="yaml-timestamp"),
        pytest.param("2020-12-07T14:00:00", "2020-12-07T16:00:00", id="yaml-timestamp-t"),
        pytest.param("2020-12-07T14:00:00+01:00", "2020-12-07T16:00:00+01:00", id="yaml-offset"),
        pytest.param('"2020-12-07T14:00+01:00"', '"2020-12-07T16:00+01:00"', id="quoted-offset"),
        pytest.param("2020-12-07 14:00:00 +01:00", "2020-12-07 16:00:00 +01:00", id="spaced"),
    ],
)
def test_date_times_mean_the_same_quoted_or_as_yaml_values(
    write_event: WriteEvent, load: Load, start: str, end: str
) -> None:
    write_event(
        "webinar.yaml",
        f"id: webinar\ntitle: Webinar\ntopics: [procurement]\nstart: {start}\nend: {end}\n",
    )

    event = only_event(load)

    assert not event.all_day
    assert instant(event.start) == utc(2020, 12, 7, 13, 0)
    assert instant(event.end) == utc(2020, 12, 7, 15, 0)


def test_a_yaml_timestamp_in_utc_is_refused_where_the_zone_is_not_at_utc(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "webinar.yaml",
        """\
        id: webinar
        title: Webinar
        topics: [procurement]
        start: 2020-12-07T13:00:00Z
        end: 2020-12-07T15:00:00Z
        """,
    )

    assert problems() == [
        "feeds/webinar.yaml:4: start: 2020-12-07T13:00+00:00 is not a time in Europe/Brussels, "
        "which is at +01:00 then",
        "feeds/webinar.yaml:5: end: 2020-12-07T15:00+00:00 is not a time in Europe/Brussels, "
        "which is at +01:00 then",
    ]


def test_a_timed_event_needs_an_end(write_event: WriteEvent, problems: Problems) -> None:
    write_event(
        "webinar.yaml",
        """\
        id: webinar
        title: Webinar
        topics: [procurement]
        start: 2020-12-07T14:00
        """,
    )

    # "end" has no line of its own: the problem points at the start it belongs to
    assert problems() == ["feeds/webinar.yaml:4: end: required for an event with a start time"]


@pytest.mark.parametrize("end", ["2020-12-07", '"2020-12-07"'])
def test_a_timed_event_cannot_end_on_a_plain_date(
    write_event: WriteEvent, problems: Problems, end: str
) -> None:
    write_event(
        "webinar.yaml",
        f"id: webinar\ntitle: Webinar\ntopics: [procurement]\n"
        f"start: 2020-12-07T14:00\nend: {end}\n",
    )

    assert problems() == [
        "feeds/webinar.yaml:5: end: must be a date-time like start, e.g. 2020-12-07T16:00"
    ]


@pytest.mark.parametrize(
    ("end", "shown"),
    [("2020-12-07T13:00", "2020-12-07T13:00"), ("2020-12-07T14:00", "2020-12-07T14:00")],
)
def test_a_timed_event_must_end_after_it_starts(
    write_event: WriteEvent, problems: Problems, end: str, shown: str
) -> None:
    write_event(
        "webinar.yaml",
        f"id: webinar\ntitle: Webinar\ntopics: [procurement]\n"
        f"start: 2020-12-07T14:00\nend: {end}\n",
    )

    assert problems() == [
        f"feeds/webinar.yaml:5: end: ends before start ({shown} is not after 2020-12-07T14:00)"
    ]


# All-day events


@pytest.mark.parametrize(
    ("start", "end"),
    [('"2020-11-30"', '"2020-12-04"'), ("2020-11-30", "2020-12-04")],
    ids=["quoted", "yaml-dates"],
)
def test_an_all_day_event_ends_at_midnight_after_its_last_day(
    write_event: WriteEvent, load: Load, start: str, end: str
) -> None:
    write_event(
        "summit.yaml",
        f"id: summit\ntitle: Summit\ntopics: [procurement]\nstart: {start}\nend: {end}\n",
    )

    event = only_event(load)

    assert event.all_day
    assert event.start == datetime(2020, 11, 30, tzinfo=BRUSSELS)
    assert event.end == datetime(2020, 12, 5, tzinfo=BRUSSELS)  # exclusive
    assert instant(event.end) == utc(2020, 12, 4, 23, 0)
    assert (event.first_day, event.last_day) == (date(2020, 11, 30), date(2020, 12, 4))


def test_a_one_day_event_needs_no_end(write_event: WriteEvent, load: Load) -> None:
    write_event("day.yaml", "id: day\ntitle: Day\ntopics: [procurement]\nstart: 2020-12-07\n")

    event = only_event(load)

    assert event.all_day
    assert (event.first_day, event.last_day) == (date(2020, 12, 7), date(2020, 12, 7))
    assert event.end == datetime(2020, 12, 8, tzinfo=BRUSSELS)


def test_an_all_day_event_over_a_clock_change_spans_the_real_hours(
    write_event: WriteEvent, load: Load
) -> None:
    write_event(
        "weekend.yaml",
        "id: weekend\ntitle: Weekend\ntopics: [procurement]\nstart: 2026-03-28\nend: 2026-03-29\n",
    )

    event = only_event(load)

    assert instant(event.start) == utc(2026, 3, 27, 23, 0)
    assert instant(event.end) == utc(2026, 3, 29, 22, 0)
    assert instant(event.end) - instant(event.start) == timedelta(hours=47)


def test_an_all_day_event_starts_when_the_day_does_where_midnight_is_skipped(
    write_event: WriteEvent, load: Load
) -> None:
    # Chile moved its clocks from 00:00 to 01:00 on 11 September 2022.
    write_event(
        "santiago.yaml",
        """\
        id: santiago
        title: Santiago
        topics: [procurement]
        timezone: America/Santiago
        start: 2022-09-11
        """,
    )

    event = only_event(load)

    assert instant(event.start) == utc(2022, 9, 11, 4, 0)
    assert event.start.replace(tzinfo=None) == datetime(2022, 9, 11, 1, 0)


@pytest.mark.parametrize("end", ["2020-12-04T17:00", '"2020-12-04T17:00"', "2020-12-04 17:00:00"])
def test_an_all_day_event_cannot_end_at_a_time(
    write_event: WriteEvent, problems: Problems, end: str
) -> None:
    write_event(
        "summit.yaml",
        f"id: summit\ntitle: Summit\ntopics: [procurement]\nstart: 2020-11-30\nend: {end}\n",
    )

    assert problems() == [
        "feeds/summit.yaml:5: end: must be a plain date like start: "
        "the last day of an all-day event"
    ]


def test_an_all_day_event_must_not_end_before_its_first_day(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "summit.yaml",
        "id: summit\ntitle: Summit\ntopics: [procurement]\nstart: 2020-12-04\nend: 2020-11-30\n",
    )

    assert problems() == [
        "feeds/summit.yaml:5: end: ends before start "
        "(last day 2020-11-30 is before first day 2020-12-04)"
    ]


@pytest.mark.parametrize(
    "dates", ["start: 9999-12-31", "start: 9999-12-30\nend: 9999-12-31", "start: 0001-01-01"]
)
def test_an_all_day_event_at_the_end_of_the_calendar_is_a_problem_not_a_crash(
    write_event: WriteEvent, problems: Problems, dates: str
) -> None:
    write_event("far.yaml", f"id: far\ntitle: Far\ntopics: [procurement]\n{dates}\n")

    found = problems()

    assert found, "accepted an event whose end cannot be represented"
    assert all(p.startswith("feeds/far.yaml:") for p in found)


# Zones


def test_an_event_in_its_own_zone(write_event: WriteEvent, load: Load) -> None:
    write_event(
        "forum.yaml",
        """\
        id: forum
        title: Forum
        topics: [supply-chains]
        timezone: Europe/Stockholm
        start: 2020-12-07
        end: 2020-12-08
        """,
    )

    event = only_event(load)

    assert event.timezone == STOCKHOLM
    assert event.start == datetime(2020, 12, 7, tzinfo=STOCKHOLM)
    assert event.end == datetime(2020, 12, 9, tzinfo=STOCKHOLM)


@pytest.mark.parametrize("alias", ["CET", "CEST", "MET"])
@pytest.mark.parametrize("site_zone", ["Europe/Brussels", "Europe/Stockholm"])
def test_cet_in_an_event_means_the_site_zone(
    write_event: WriteEvent, write_config: WriteConfig, load: Load, alias: str, site_zone: str
) -> None:
    write_config(
        site={"title": "T", "base_url": "https://events.example.org", "timezone": site_zone}
    )
    write_event(
        "webinar.yaml",
        f"id: webinar\ntitle: W\ntopics: [procurement]\ntimezone: {alias}\n"
        "start: 2020-12-10T10:00\nend: 2020-12-10T11:30\n",
    )

    event = only_event(load)

    assert event.timezone == ZoneInfo(site_zone)
    assert instant(event.start) == utc(2020, 12, 10, 9, 0)


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("Europe/Brusels", "unknown time zone 'Europe/Brusels'; did you mean 'Europe/Brussels'?"),
        ("Nowhere/Zz", "unknown time zone 'Nowhere/Zz'; use an IANA name such as Europe/Brussels"),
    ],
)
def test_an_unknown_zone_suggests_the_closest_one_or_an_example(
    write_event: WriteEvent, problems: Problems, zone: str, message: str
) -> None:
    write_event(
        "webinar.yaml",
        f"id: webinar\ntitle: W\ntopics: [procurement]\ntimezone: {zone}\nstart: 2020-12-07\n",
    )

    assert problems() == [f"feeds/webinar.yaml:4: timezone: {message}"]


# Clock changes, through the whole load


@pytest.mark.parametrize(
    ("zone", "start", "end", "expected"),
    [
        (
            "Europe/Brussels",
            "2026-03-29T02:30",
            "2026-03-29T04:00",
            "feeds/night.yaml:5: start: 2026-03-29T02:30 does not exist in Europe/Brussels: "
            "clocks go forward from 02:00 to 03:00 on 2026-03-29 (CET +01:00 to CEST +02:00); "
            "pick another time or write an explicit offset",
        ),
        (
            "Europe/Brussels",
            "2026-10-25T01:00",
            "2026-10-25T02:30",
            "feeds/night.yaml:6: end: 2026-10-25T02:30 happens twice in Europe/Brussels: "
            "clocks go back from 03:00 to 02:00 on 2026-10-25 (CEST +02:00 to CET +01:00); "
            "write it with an explicit offset (+02:00 or +01:00)",
        ),
        (
            "Europe/Stockholm",
            "2026-03-29 02:30:00",
            "2026-03-29 04:00:00",
            "feeds/night.yaml:5: start: 2026-03-29T02:30 does not exist in Europe/Stockholm: "
            "clocks go forward from 02:00 to 03:00 on 2026-03-29 (CET +01:00 to CEST +02:00); "
            "pick another time or write an explicit offset",
        ),
        (
            "America/New_York",
            "2026-03-08T02:30",
            "2026-03-08T04:00",
            "feeds/night.yaml:5: start: 2026-03-08T02:30 does not exist in America/New_York: "
            "clocks go forward from 02:00 to 03:00 on 2026-03-08 (EST -05:00 to EDT -04:00); "
            "pick another time or write an explicit offset",
        ),
        (
            "America/New_York",
            "2026-11-01T00:30",
            "2026-11-01T01:30",
            "feeds/night.yaml:6: end: 2026-11-01T01:30 happens twice in America/New_York: "
            "clocks go back from 02:00 to 01:00 on 2026-11-01 (EDT -04:00 to EST -05:00); "
            "write it with an explicit offset (-04:00 or -05:00)",
        ),
    ],
)
def test_a_time_a_clock_change_skips_or_repeats_is_refused(
    write_event: WriteEvent, problems: Problems, zone: str, start: str, end: str, expected: str
) -> None:
    write_event(
        "night.yaml",
        f"id: night\ntitle: Night\ntopics: [procurement]\ntimezone: {zone}\n"
        f"start: {start}\nend: {end}\n",
    )

    assert problems() == [expected]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ('"2026-10-25T02:30+02:00"', '"2026-10-25T02:30+01:00"'),
        ("2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"),
    ],
    ids=["quoted", "yaml"],
)
def test_the_repeated_hour_with_explicit_offsets_is_one_hour_long(
    write_event: WriteEvent, load: Load, start: str, end: str
) -> None:
    write_event(
        "night.yaml",
        f"id: night\ntitle: Night\ntopics: [procurement]\nstart: {start}\nend: {end}\n",
    )

    event = only_event(load)

    assert instant(event.start) == utc(2026, 10, 25, 0, 30)
    assert instant(event.end) == utc(2026, 10, 25, 1, 30)


def test_an_event_that_really_ends_before_it_starts_in_the_repeated_hour_is_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    # 02:15 CET is 01:15 UTC; 02:45 CEST is 00:45 UTC, half an hour earlier.
    write_event(
        "night.yaml",
        """\
        id: night
        title: Night
        topics: [procurement]
        start: "2026-10-25T02:15+01:00"
        end: "2026-10-25T02:45+02:00"
        """,
    )

    found = problems()

    assert len(found) == 1
    assert found[0].startswith("feeds/night.yaml:5: end: ends before start")


def test_an_explicit_offset_in_new_york_fold(write_event: WriteEvent, load: Load) -> None:
    write_event(
        "night.yaml",
        """\
        id: night
        title: Night
        topics: [procurement]
        timezone: America/New_York
        start: "2026-11-01T01:30-04:00"
        end: "2026-11-01T03:00"
        """,
    )

    event = only_event(load)

    assert instant(event.start) == utc(2026, 11, 1, 5, 30)
    assert instant(event.end) == utc(2026, 11, 1, 8, 0)


def test_an_offset_the_zone_does_not_use_is_refused_on_its_line(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "night.yaml",
        """\
        id: night
        title: Night
        topics: [procurement]
        start: "2026-10-25T02:30+03:00"
        end: "2026-10-25T05:00"
        """,
    )

    assert problems() == [
        "feeds/night.yaml:4: start: 2026-10-25T02:30+03:00 is not a time in Europe/Brussels, "
        "which is at +01:00 or +02:00 then"
    ]


# Topics


def test_an_undeclared_topic_suggests_a_declared_one(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "webinar.yaml",
        """\
        id: webinar
        title: Webinar
        topics:
          - circular-economy
          - procurment
        start: 2020-12-07
        """,
    )

    assert problems() == [
        "feeds/webinar.yaml:5: topics[1]: topic 'procurment' is not declared in config.yaml; "
        "did you mean 'procurement'?"
    ]


def test_an_undeclared_topic_without_a_close_match_lists_the_declared_ones(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "webinar.yaml",
        "id: webinar\ntitle: Webinar\ntopics: [minerals]\nstart: 2020-12-07\n",
    )

    assert problems() == [
        "feeds/webinar.yaml:3: topics[0]: topic 'minerals' is not declared in config.yaml; "
        "declared: procurement, circular-economy, supply-chains"
    ]


def test_a_topic_listed_twice(write_event: WriteEvent, problems: Problems) -> None:
    write_event(
        "webinar.yaml",
        "id: webinar\ntitle: W\ntopics: [procurement, procurement]\nstart: 2020-12-07\n",
    )

    assert problems() == ["feeds/webinar.yaml:3: topics[1]: 'procurement' is listed twice"]


# Registration


def test_a_registration_deadline_on_a_date_closes_at_the_end_of_that_day(
    write_event: WriteEvent, load: Load
) -> None:
    write_event(
        "webinar.yaml",
        """\
        id: webinar
        title: Webinar
        topics: [procurement]
        start: 2020-12-07T14:00
        end: 2020-12-07T16:00
        registration: {url: "https://example.org/register", deadline: 2020-12-06}
        """,
    )

    event = only_event(load)

    assert event.registration is not None
    assert event.registration.url == "https://example.org/register"
    assert event.registration.deadline == datetime(2020, 12, 7, tzinfo=BRUSSELS)


def test_a_registration_deadline_at_a_time_is_local(write_event: WriteEvent, load: Load) -> None:
    write_event(
        "webinar.yaml",
        """\
        id: webinar
        title: Webinar
        topics: [procurement]
        timezone: Europe/Stockholm
        start: 2020-12-07T14:00
        end: 2020-12-07T16:00
        registration:
          deadline: 2020-12-06T23:59
        """,
    )

    registration = only_event(load).registration

    assert registration is not None and registration.deadline is not None
    assert instant(registration.deadline) == utc(2020, 12, 6, 22, 59)


def test_a_registration_deadline_after_the_event_is_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "webinar.yaml",
        """\
        id: webinar
        title: Webinar
        topics: [procurement]
        start: 2020-12-07T14:00
        end: 2020-12-07T16:00
        registration:
          url: https://example.org/register
          deadline: 2020-12-07T17:00
        """,
    )

    assert problems() == [
        "feeds/webinar.yaml:8: registration.deadline: closes after the event ends"
    ]


def test_a_registration_deadline_in_a_gap_is_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "webinar.yaml",
        """\
        id: webinar
        title: Webinar
        topics: [procurement]
        start: 2026-03-30T14:00
        end: 2026-03-30T16:00
        registration:
          deadline: 2026-03-29T02:30
        """,
    )

    assert problems() == [
        "feeds/webinar.yaml:7: registration.deadline: 2026-03-29T02:30 does not exist in "
        "Europe/Brussels: clocks go forward from 02:00 to 03:00 on 2026-03-29 "
        "(CET +01:00 to CEST +02:00); pick another time or write an explicit offset"
    ]


# Sessions

AGENDA = """\
id: webinar
title: Webinar
topics: [circular-economy]
timezone: Europe/Brussels
start: "2020-12-07T14:00"
end: "2020-12-07T16:00"
sessions:
"""


def test_session_times_are_on_the_start_day_quoted_or_not(
    write_event: WriteEvent, load: Load
) -> None:
    write_event(
        "webinar.yaml",
        AGENDA
        + """\
  - start: "14:00"
    end: "14:30"
    title: Introduction to the European Circular Cities Declaration
  - start: 14:30
    end: 15:10
    title: Circular Cities – best practice presentations
  - {start: 15:10, end: "15:45", title: Close, id: close}
""",
    )

    event = only_event(load)

    assert [s.id for s in event.sessions] == [
        "introduction-to-the-european-circular-cities-declaration",
        "circular-cities-best-practice-presentations",
        "close",
    ]
    assert [(instant(s.start), instant(s.end)) for s in event.sessions] == [
        (utc(2020, 12, 7, 13, 0), utc(2020, 12, 7, 13, 30)),
        (utc(2020, 12, 7, 13, 30), utc(2020, 12, 7, 14, 10)),
        (utc(2020, 12, 7, 14, 10), utc(2020, 12, 7, 14, 45)),
    ]


def test_sessions_of_a_multi_day_event_use_full_date_times(
    write_event: WriteEvent, load: Load
) -> None:
    write_event(
        "summit.yaml",
        """\
        id: summit
        title: Summit
        topics: [procurement]
        start: 2020-11-30
        end: 2020-12-04
        sessions:
          - {start: "09:00", end: "10:00", title: Opening}
          - {start: "2020-12-02T14:00", end: "2020-12-02T15:30", title: Panel}
          - {start: 2020-12-04 16:00:00, end: 2020-12-04 17:00:00, title: Closing}
        """,
    )

    event = only_event(load)

    assert [(instant(s.start), instant(s.end)) for s in event.sessions] == [
        (utc(2020, 11, 30, 8, 0), utc(2020, 11, 30, 9, 0)),
        (utc(2020, 12, 2, 13, 0), utc(2020, 12, 2, 14, 30)),
        (utc(2020, 12, 4, 15, 0), utc(2020, 12, 4, 16, 0)),
    ]


def test_sessions_outside_the_event_are_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "webinar.yaml",
        AGENDA
        + """\
  - {start: "13:30", end: "14:30", title: Too early}
  - {start: "15:30", end: "16:30", title: Too late}
  - {start: "2020-12-08T14:00", end: "2020-12-08T15:00", title: Next day}
""",
    )

    assert problems() == [
        "feeds/webinar.yaml:8: sessions[0].start: starts before the event (2020-12-07T14:00)",
        "feeds/webinar.yaml:9: sessions[1].end: ends after the event (2020-12-07T16:00)",
        "feeds/webinar.yaml:10: sessions[2].end: ends after the event (2020-12-07T16:00)",
    ]


def test_a_session_must_end_after_it_starts(write_event: WriteEvent, problems: Problems) -> None:
    write_event(
        "webinar.yaml",
        AGENDA
        + """\
  - start: "15:00"
    end: "14:30"
    title: Backwards
  - start: "15:00"
    end: "15:00"
    title: Empty
""",
    )

    assert problems() == [
        "feeds/webinar.yaml:9: sessions[0].end: ends before start "
        "(2020-12-07T14:30 is not after 2020-12-07T15:00)",
        "feeds/webinar.yaml:12: sessions[1].end: ends before start "
        "(2020-12-07T15:00 is not after 2020-12-07T15:00)",
    ]


def test_a_session_on_a_date_without_a_time_is_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "webinar.yaml",
        AGENDA + '  - {start: "2020-12-07", end: "15:00", title: Dateless}\n',
    )

    assert problems() == [
        "feeds/webinar.yaml:8: sessions[0].start: 2020-12-07 is a date without a time: "
        "write HH:MM or a date-time"
    ]


def test_duplicate_session_ids_are_refused(write_event: WriteEvent, problems: Problems) -> None:
    write_event(
        "webinar.yaml",
        AGENDA
        + """\
  - {start: "14:00", end: "14:30", title: Q&A}
  - {start: "14:30", end: "15:00", title: Q & A}
  - {id: talks, start: "15:00", end: "15:30", title: Talks one}
  - {id: talks, start: "15:30", end: "16:00", title: Talks two}
""",
    )

    assert problems() == [
        "feeds/webinar.yaml:9: sessions[1].title: session id 'q-a' is also used by sessions[0]; "
        "give one of them its own id",
        "feeds/webinar.yaml:11: sessions[3].id: session id 'talks' is also used by sessions[2]; "
        "give one of them its own id",
    ]


def test_a_session_time_in_a_gap_is_refused(write_event: WriteEvent, problems: Problems) -> None:
    write_event(
        "night.yaml",
        """\
        id: night
        title: Night
        topics: [procurement]
        start: 2026-03-29T01:00
        end: 2026-03-29T05:00
        sessions:
          - {start: 02:30, end: 03:30, title: In the gap}
        """,
    )

    assert problems() == [
        "feeds/night.yaml:7: sessions[0].start: 2026-03-29T02:30 does not exist in "
        "Europe/Brussels: clocks go forward from 02:00 to 03:00 on 2026-03-29 "
        "(CET +01:00 to CEST +02:00); pick another time or write an explicit offset"
    ]


def test_a_session_across_the_repeated_hour_with_offsets_is_accepted(
    write_event: WriteEvent, load: Load
) -> None:
    write_event(
        "night.yaml",
        """\
        id: night
        title: Night
        topics: [procurement]
        timezone: America/New_York
        start: 2026-11-01T00:00
        end: 2026-11-01T03:00
        sessions:
          - {start: "2026-11-01T01:30-04:00", end: "2026-11-01T01:30-05:00", title: Twice}
        """,
    )

    [session] = only_event(load).sessions

    assert instant(session.end) - instant(session.start) == timedelta(hours=1)


def test_a_session_after_the_event_in_the_repeated_hour_is_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    # The event ends at 00:30 UTC; the session runs 01:15-01:20 UTC.
    write_event(
        "night.yaml",
        """\
        id: night
        title: Night
        topics: [procurement]
        start: 2026-10-25T01:00
        end: "2026-10-25T02:30+02:00"
        sessions:
          - {start: "2026-10-25T02:15+01:00", end: "2026-10-25T02:20+01:00", title: Late}
        """,
    )

    found = problems()

    assert len(found) == 1
    assert found[0].startswith("feeds/night.yaml:7: sessions[0].end: ends after the event")


# config.yaml


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("CET", "'CET' is an abbreviation: name the zone, e.g. Europe/Brussels"),
        (
            "Europe/Stokholm",
            "unknown time zone 'Europe/Stokholm'; did you mean 'Europe/Stockholm'?",
        ),
    ],
)
def test_the_site_zone_must_be_a_zone_name(
    write_config: WriteConfig, problems: Problems, zone: str, message: str
) -> None:
    write_config(
        f"""\
        site:
          title: Events
          base_url: https://events.example.org
          timezone: {zone}
        topics:
          procurement: {{name: Public procurement}}
        """
    )

    assert problems() == [f"config.yaml:4: site.timezone: {message}"]


def test_a_missing_feeds_dir_is_named(
    write_config: WriteConfig, problems: Problems, project: Path
) -> None:
    write_config(
        """\
        site: {title: Events, base_url: "https://events.example.org", timezone: Europe/Brussels}
        topics: {procurement: {name: Public procurement}}
        feeds_dir: events
        """
    )

    assert problems() == ["config.yaml:3: feeds_dir: folder 'events' does not exist"]


CONFIG_HEAD = """\
site: {title: Events, base_url: "https://events.example.org", timezone: Europe/Brussels}
topics: {procurement: {name: Public procurement}}
"""


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        ("sqlite:///var/calfeed.sqlite3", "sqlite:///{root}/var/calfeed.sqlite3"),
        ("sqlite:///calfeed.db", "sqlite:///{root}/calfeed.db"),
        ("sqlite:////srv/calfeed/calfeed.db", "sqlite:////srv/calfeed/calfeed.db"),
        ("sqlite://", "sqlite://"),
        ("postgresql+psycopg://calfeed@db.example.org/calfeed", None),
        ("postgresql://calfeed:secret@localhost:5432/calfeed", None),
    ],
)
def test_database_urls_are_sqlite_anchored_at_the_config_folder_or_postgresql(
    write_config: WriteConfig,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    load: Load,
    database: str,
    expected: str | None,
) -> None:
    write_config(CONFIG_HEAD + f"database: {database!r}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load().config

    wanted = database if expected is None else expected.format(root=project.resolve())
    assert config.database_url == wanted


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("mysql://calfeed@localhost/calfeed", "'mysql' is not supported: use sqlite or postgresql"),
        ("mysql+pymysql://u@h/db", "'mysql' is not supported: use sqlite or postgresql"),
        (
            "var/calfeed.sqlite3",
            "'var/calfeed.sqlite3' is not a database URL such as sqlite:///var/calfeed.sqlite3",
        ),
    ],
)
def test_other_databases_are_refused(
    write_config: WriteConfig, problems: Problems, database: str, message: str
) -> None:
    write_config(CONFIG_HEAD + f"database: {database}\n")

    assert problems() == [f"config.yaml:3: database: {message}"]


def test_relative_paths_start_at_the_config_folder_not_the_current_one(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load: Load
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "feeds").mkdir(parents=True)
    monkeypatch.chdir(elsewhere)

    config = load().config

    assert config.feeds_dir == project.resolve() / "feeds"
    assert config.mail.maildir == project.resolve() / "var" / "mail"
    assert config.database_url == f"sqlite:///{project.resolve()}/var/calfeed.sqlite3"


@pytest.mark.parametrize("value", ["SMTP_PASSWORD", "_pw", "calfeed_smtp_2"])
def test_password_env_names_a_variable(write_config: WriteConfig, load: Load, value: str) -> None:
    write_config(CONFIG_HEAD + f"mail:\n  transport: smtp\n  smtp:\n    password_env: {value}\n")

    assert load().config.mail.smtp.password_env == value


@pytest.mark.parametrize("value", ["'hunter2!'", "'1PASSWORD'", "'pass word'", "'$SMTP'"])
def test_password_env_must_not_be_the_password(
    write_config: WriteConfig, problems: Problems, value: str
) -> None:
    write_config(CONFIG_HEAD + f"mail:\n  transport: smtp\n  smtp:\n    password_env: {value}\n")

    assert problems() == [
        "config.yaml:6: mail.smtp.password_env: must name an environment variable that holds "
        "the password, not the password"
    ]


def test_reminder_offsets_are_parsed_and_sorted(write_config: WriteConfig, load: Load) -> None:
    write_config(
        CONFIG_HEAD
        + "reminders:\n"
        + "  before_start: [1h, 7d, 30m, 2w, 45s, P1D, PT1H30M]\n"
        + "  before_registration_deadline: [1d, 3d]\n"
    )

    reminders = load().config.reminders

    assert reminders.before_start == (
        timedelta(weeks=2),
        timedelta(days=7),
        timedelta(days=1),
        timedelta(hours=1, minutes=30),
        timedelta(hours=1),
        timedelta(minutes=30),
        timedelta(seconds=45),
    )
    assert reminders.before_registration_deadline == (timedelta(days=3), timedelta(days=1))


def test_the_same_reminder_offset_twice_is_refused(
    write_config: WriteConfig, problems: Problems
) -> None:
    write_config(
        CONFIG_HEAD
        + """\
reminders:
  before_start:
    - 7d
    - 1h
    - 1w
    - 60m
"""
    )

    found = problems()

    assert [p.split(": ")[0:2] for p in found] == [
        ["config.yaml:7", "reminders.before_start[2]"],
        ["config.yaml:8", "reminders.before_start[3]"],
    ]
    assert all(p.endswith("is listed twice") for p in found)


def test_a_subscriber_in_cet_is_in_the_site_zone(write_config: WriteConfig, load: Load) -> None:
    write_config(
        CONFIG_HEAD
        + "subscribers:\n"
        + "  - {email: team@example.org, topics: [procurement], timezone: CET}\n"
        + "  - {email: other@example.org, topics: [procurement], timezone: Europe/Stockholm}\n"
        + "  - {email: utc@example.org, topics: [procurement]}\n"
    )

    subscribers = load().config.subscribers

    assert [(s.email, s.timezone) for s in subscribers] == [
        ("team@example.org", BRUSSELS),
        ("other@example.org", STOCKHOLM),
        ("utc@example.org", ZoneInfo("UTC")),
    ]


def test_subscriber_problems_are_named(write_config: WriteConfig, problems: Problems) -> None:
    write_config(
        CONFIG_HEAD
        + """\
subscribers:
  - {email: team@example.org, topics: [procurement]}
  - {email: Team@Example.org, topics: [procurment], timezone: Europe/Brusels}
"""
    )

    assert problems() == [
        "config.yaml:5: subscribers[1].email: Team@example.org is listed twice (also at index 0)",
        "config.yaml:5: subscribers[1].timezone: unknown time zone 'Europe/Brusels'; "
        "did you mean 'Europe/Brussels'?",
        "config.yaml:5: subscribers[1].topics[0]: topic 'procurment' is not declared in "
        "config.yaml; did you mean 'procurement'?",
    ]


def test_the_digest_and_the_defaults_of_new_subscribers_are_read(
    write_config: WriteConfig, load: Load
) -> None:
    write_config(
        CONFIG_HEAD
        + """\
reminders:
  digest: {weekday: thursday, hour: 17}
  defaults: {per_event: false, digest: true, new_events: true}
"""
    )

    reminders = load().config.reminders

    assert reminders.digest == Digest(3, 17)
    assert reminders.defaults == Choices(False, Digest(3, 17), True)


def test_a_bad_digest_day_or_hour_and_no_reminder_at_all_are_refused_by_line(
    write_config: WriteConfig, problems: Problems
) -> None:
    write_config(
        CONFIG_HEAD
        + """\
reminders:
  digest:
    weekday: mondays
    hour: 24
  defaults:
    digest: true
    new_events: maybe
"""
    )

    found = problems()

    assert [p.split(": ")[0:2] for p in found] == [
        ["config.yaml:5", "reminders.digest.weekday"],
        ["config.yaml:6", "reminders.digest.hour"],
        ["config.yaml:9", "reminders.defaults.new_events"],
    ]
    write_config(CONFIG_HEAD + "reminders:\n  defaults:\n    per_event: false\n")
    assert problems() == [
        "config.yaml:5: reminders.defaults.per_event: a subscriber would get no reminder at "
        "all: set per_event or digest to true"
    ]
