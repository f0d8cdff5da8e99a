"""Parsers of the small values operators write: slugs, zones, durations, dates, emails, URLs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service.catalog import values

BRUSSELS = ZoneInfo("Europe/Brussels")


# Slugs


@pytest.mark.parametrize("text", ["procurement", "circular-economy", "covid-19", "2020", "a"])
def test_a_slug_is_lowercase_letters_digits_and_single_hyphens(text: str) -> None:
    assert values.slug(text) == text


@pytest.mark.parametrize(
    "given",
    ["Procurement", "circular_economy", "circular--economy", "-lead", "trail-", "", "a b", "é"],
)
def test_anything_else_is_not_a_slug(given: Any) -> None:
    with pytest.raises(
        ValueError, match="is not a slug: use lowercase letters, digits and hyphens"
    ):
        values.slug(given)


@pytest.mark.parametrize(
    ("given", "kind"), [(7, "a number"), (False, "true/false"), (date(2020, 1, 1), "a date")]
)
def test_a_value_yaml_did_not_read_as_text_is_not_a_slug_and_says_why(
    given: Any, kind: str
) -> None:
    with pytest.raises(ValueError, match=f"is not a slug: YAML read it as {kind}.*; quote it"):
        values.slug(given)


# Zones


@pytest.mark.parametrize("name", ["Europe/Brussels", "Europe/Stockholm", "America/New_York", "UTC"])
def test_an_iana_name_is_a_zone(name: str) -> None:
    assert values.zone(name) == ZoneInfo(name)


@pytest.mark.parametrize("alias", ["CET", "CEST", "MET"])
def test_central_european_abbreviations_mean_the_site_zone(alias: str) -> None:
    assert values.zone(alias, BRUSSELS) is BRUSSELS
    stockholm = ZoneInfo("Europe/Stockholm")
    assert values.zone(alias, stockholm) is stockholm


@pytest.mark.parametrize("alias", ["CET", "CEST", "MET"])
def test_an_abbreviation_is_refused_where_there_is_no_site_zone(alias: str) -> None:
    with pytest.raises(ValueError) as caught:
        values.zone(alias)

    assert str(caught.value) == (
        f"{alias!r} is an abbreviation: name the zone, e.g. Europe/Brussels"
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("Europe/Brusels", "unknown time zone 'Europe/Brusels'; did you mean 'Europe/Brussels'?"),
        (  # no close match: an example instead
            "Mars/Olympus_Mons",
            "unknown time zone 'Mars/Olympus_Mons'; use an IANA name such as Europe/Brussels",
        ),
    ],
)
def test_an_unknown_zone_suggests_the_closest_one_or_an_example(given: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        values.zone(given)

    assert str(caught.value) == message


@pytest.mark.parametrize("given", [None, 1, ["Europe/Brussels"]])
def test_a_zone_must_be_text(given: Any) -> None:
    with pytest.raises(ValueError, match="is not a time zone name such as Europe/Brussels"):
        values.zone(given)


def test_the_servers_local_zone_is_not_a_zone_name() -> None:
    # Some systems list /usr/share/zoneinfo/localtime among the zones: it is whatever the
    # server's clock is set to, not an IANA name, and no calendar client knows it as a TZID.
    with pytest.raises(ValueError, match="unknown time zone 'localtime'"):
        values.zone("localtime")


# Durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("1h", timedelta(hours=1)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
        ("P1D", timedelta(days=1)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("PT1M", timedelta(minutes=1)),
        ("P1W", timedelta(weeks=1)),
        ("p2d", timedelta(days=2)),
        (" 6h ", timedelta(hours=6)),
    ],
)
def test_durations_in_compact_units_and_iso_8601(text: str, expected: timedelta) -> None:
    assert values.duration(text) == expected


@pytest.mark.parametrize("text", ["1mo", "7D", "1.5h", "-1d", "1y", "90", "soon", "h"])
def test_an_invalid_duration_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        values.duration(text)

    assert str(caught.value) == (
        f"{text.strip()!r} is not a duration: write 7d, 1h, 30m, 2w, 45s or P1D"
    )


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2D", "p3m"])
def test_months_and_years_are_refused(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        values.duration(text)

    assert str(caught.value) == f"{text!r}: months and years vary in length; use days or weeks"


def test_minutes_after_t_are_not_months() -> None:
    assert values.duration("PT30M") == timedelta(minutes=30)


@pytest.mark.parametrize("text", ["0m", "0d", "P0D", "PT0S"])
def test_a_zero_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        values.duration(text)

    assert str(caught.value) == f"{text!r} must be longer than zero"


@pytest.mark.parametrize("text", ["P", "PT", "P1H", "Pabc"])
def test_a_broken_iso_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        values.duration(text)

    assert str(caught.value) == f"{text!r} is not an ISO 8601 duration such as P1D or PT1H"


@pytest.mark.parametrize("given", [None, True, 1.5, ["7d"], {"days": 7}])
def test_a_duration_must_be_text(given: Any) -> None:
    with pytest.raises(ValueError, match="is not a duration such as 7d, 1h, 30m or P1D"):
        values.duration(given)


def test_an_empty_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="^empty: write a duration"):
        values.duration("")


@pytest.mark.parametrize("text", ["99999999999d", "999999999999999w"])
def test_a_duration_too_long_for_a_calendar_is_refused_not_a_crash(text: str) -> None:
    with pytest.raises(ValueError):
        values.duration(text)


# Dates and date-times


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2020-12-07", date(2020, 12, 7)),
        (" 2020-12-07 ", date(2020, 12, 7)),
        (date(2020, 12, 7), date(2020, 12, 7)),
        ("2020-12-07T14:00", datetime(2020, 12, 7, 14, 0)),
        ("2020-12-07 14:00", datetime(2020, 12, 7, 14, 0)),
        ("2020-12-07T14:00:30", datetime(2020, 12, 7, 14, 0, 30)),
        (datetime(2020, 12, 7, 14, 0), datetime(2020, 12, 7, 14, 0)),
        (
            "2026-10-25T02:30+01:00",
            datetime(2026, 10, 25, 2, 30, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("2020-12-07T13:00Z", datetime(2020, 12, 7, 13, 0, tzinfo=UTC)),
    ],
)
def test_dates_and_date_times(given: Any, expected: date | datetime) -> None:
    result = values.date_or_datetime(given)

    assert result == expected
    assert type(result) is type(expected)
    if isinstance(expected, datetime):
        assert isinstance(result, datetime)
        assert result.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "given", ["7 Dec 2020", "2020-12-32", "2020-12-07T25:00", "14:00", "", 20201207, None, True]
)
def test_an_invalid_date_says_how_to_write_one(given: Any) -> None:
    with pytest.raises(ValueError) as caught:
        values.date_or_datetime(given)

    assert str(caught.value) == (
        f"{given!r} is not a date or date-time: write 2020-12-07, 2020-12-07T14:00 "
        "or 2020-12-07T14:00+01:00"
    )


def test_a_compact_date_is_not_read_as_midnight() -> None:
    # "20201207" names a day; reading it as a date-time at 00:00 turns an all-day event into
    # a timed one that starts at midnight and then demands an end time.
    try:
        result = values.date_or_datetime("20201207")
    except ValueError:
        return
    assert not isinstance(result, datetime), f"read as the date-time {result.isoformat()}"
    assert result == date(2020, 12, 7)


# Session times


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("14:00", time(14, 0)),
        ("9:30", time(9, 30)),
        ("09:30", time(9, 30)),
        ("23:59", time(23, 59)),
        ("00:00", time(0, 0)),
        (" 14:00 ", time(14, 0)),
        (time(14, 0), time(14, 0)),
        ("2020-12-08T09:00", datetime(2020, 12, 8, 9, 0)),
    ],
)
def test_session_times_are_clock_times_or_date_times(given: Any, expected: time | datetime) -> None:
    assert values.time_or_datetime(given) == expected


@pytest.mark.parametrize("given", ["24:00", "14:60", "14h", "2pm", "1400", 840, None])
def test_an_invalid_session_time_says_how_to_write_one(given: Any) -> None:
    with pytest.raises(ValueError) as caught:
        values.time_or_datetime(given)

    assert str(caught.value) == (
        f"{given!r} is not a time: write HH:MM such as 14:00, or a date-time "
        "such as 2020-12-07T14:00"
    )


# Emails and senders


def test_an_email_address_is_normalised() -> None:
    assert values.email("Tom@Swedwatch.ORG") == "Tom@swedwatch.org"
    assert values.email("tom@swedwatch.org") == "tom@swedwatch.org"


@pytest.mark.parametrize("given", ["info", "info@", "@example.org", "a b@example.org", "a@b"])
def test_an_invalid_email_address_says_why(given: str) -> None:
    with pytest.raises(ValueError, match=f"^{given!r} is not a valid email address: .+"):
        values.email(given)


@pytest.mark.parametrize("given", [None, 5, ["a@example.org"]])
def test_an_email_address_must_be_text(given: Any) -> None:
    with pytest.raises(ValueError) as caught:
        values.email(given)

    assert str(caught.value) == f"{given!r} is not an email address"


@pytest.mark.parametrize(
    "given", ["Events <events@example.org>", "events@example.org", '"Events, EU" <e@example.org>']
)
def test_a_sender_is_an_address_with_an_optional_name(given: str) -> None:
    assert values.mailbox(given) == given


@pytest.mark.parametrize("given", ["Events <events>", "Events", ""])
def test_a_sender_without_a_valid_address_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match=f"^{given!r} is not a sender such as"):
        values.mailbox(given)


# URLs


@pytest.mark.parametrize(
    "given",
    [
        "https://example.org",
        "http://127.0.0.1:8000",
        "https://example.org/register?x=1#form",
        " https://example.org/padded ",
    ],
)
def test_an_absolute_http_url_is_accepted(given: str) -> None:
    assert values.url(given) == given.strip()


@pytest.mark.parametrize(
    "given",
    [
        "ftp://example.org/file",
        "mailto:info@example.org",
        "/events",
        "example.org",
        "https://",
        "http:///no-host",
        "https://exa mple.org",
        "http://[::1",
        None,
        7,
    ],
)
def test_anything_else_is_not_a_url(given: Any) -> None:
    with pytest.raises(ValueError) as caught:
        values.url(given)

    assert str(caught.value) == f"{given!r} is not an absolute http:// or https:// URL"
