"""Wall times to instants on real DST transitions, refusing the ones a zone skips or repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.catalog.localtime import resolve

BRUSSELS = ZoneInfo("Europe/Brussels")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
NEW_YORK = ZoneInfo("America/New_York")


def offset(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def instant(moment: datetime) -> datetime:
    """Return ``moment`` in UTC: Python never calls a time in a fold equal to one in another
    zone, and compares times in one zone by wall clock, ignoring the fold."""
    return moment.astimezone(UTC)


@pytest.mark.parametrize(
    ("wall", "zone", "expected"),
    [
        (datetime(2020, 12, 7, 14, 0), BRUSSELS, utc(2020, 12, 7, 13, 0)),
        (datetime(2026, 7, 1, 14, 0), BRUSSELS, utc(2026, 7, 1, 12, 0)),
        (datetime(2026, 3, 29, 1, 59), BRUSSELS, utc(2026, 3, 29, 0, 59)),
        (datetime(2026, 3, 29, 3, 0), BRUSSELS, utc(2026, 3, 29, 1, 0)),
        (datetime(2026, 10, 25, 1, 59), BRUSSELS, utc(2026, 10, 24, 23, 59)),
        (datetime(2026, 10, 25, 3, 0), BRUSSELS, utc(2026, 10, 25, 2, 0)),
        (datetime(2020, 12, 7, 9, 0), STOCKHOLM, utc(2020, 12, 7, 8, 0)),
        (datetime(2026, 3, 8, 3, 0), NEW_YORK, utc(2026, 3, 8, 7, 0)),
        (datetime(2026, 11, 1, 2, 0), NEW_YORK, utc(2026, 11, 1, 7, 0)),
    ],
)
def test_a_wall_time_that_happens_once_is_that_instant(
    wall: datetime, zone: ZoneInfo, expected: datetime
) -> None:
    result = resolve(wall, zone)

    assert instant(result) == expected
    assert instant(result) == instant(wall.replace(tzinfo=zone))  # what zoneinfo says
    assert result.tzinfo is zone
    assert result.replace(tzinfo=None) == wall


@pytest.mark.parametrize(
    ("wall", "zone", "message"),
    [
        (
            datetime(2026, 3, 29, 2, 30),
            BRUSSELS,
            "2026-03-29T02:30 does not exist in Europe/Brussels: clocks go forward from 02:00 "
            "to 03:00 on 2026-03-29 (CET +01:00 to CEST +02:00); pick another time or write "
            "an explicit offset",
        ),
        (
            datetime(2026, 3, 29, 2, 0),
            BRUSSELS,
            "2026-03-29T02:00 does not exist in Europe/Brussels: clocks go forward from 02:00 "
            "to 03:00 on 2026-03-29 (CET +01:00 to CEST +02:00); pick another time or write "
            "an explicit offset",
        ),
        (
            datetime(2026, 3, 29, 2, 30),
            STOCKHOLM,
            "2026-03-29T02:30 does not exist in Europe/Stockholm: clocks go forward from 02:00 "
            "to 03:00 on 2026-03-29 (CET +01:00 to CEST +02:00); pick another time or write "
            "an explicit offset",
        ),
        (
            datetime(2026, 3, 8, 2, 30),
            NEW_YORK,
            "2026-03-08T02:30 does not exist in America/New_York: clocks go forward from 02:00 "
            "to 03:00 on 2026-03-08 (EST -05:00 to EDT -04:00); pick another time or write "
            "an explicit offset",
        ),
    ],
)
def test_a_wall_time_in_a_spring_forward_gap_is_refused(
    wall: datetime, zone: ZoneInfo, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        resolve(wall, zone)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("wall", "zone", "message"),
    [
        (
            datetime(2026, 10, 25, 2, 30),
            BRUSSELS,
            "2026-10-25T02:30 happens twice in Europe/Brussels: clocks go back from 03:00 to "
            "02:00 on 2026-10-25 (CEST +02:00 to CET +01:00); write it with an explicit offset "
            "(+02:00 or +01:00)",
        ),
        (
            datetime(2026, 10, 25, 2, 0),
            BRUSSELS,
            "2026-10-25T02:00 happens twice in Europe/Brussels: clocks go back from 03:00 to "
            "02:00 on 2026-10-25 (CEST +02:00 to CET +01:00); write it with an explicit offset "
            "(+02:00 or +01:00)",
        ),
        (
            datetime(2026, 10, 25, 2, 30),
            STOCKHOLM,
            "2026-10-25T02:30 happens twice in Europe/Stockholm: clocks go back from 03:00 to "
            "02:00 on 2026-10-25 (CEST +02:00 to CET +01:00); write it with an explicit offset "
            "(+02:00 or +01:00)",
        ),
        (
            datetime(2026, 11, 1, 1, 30),
            NEW_YORK,
            "2026-11-01T01:30 happens twice in America/New_York: clocks go back from 02:00 to "
            "01:00 on 2026-11-01 (EDT -04:00 to EST -05:00); write it with an explicit offset "
            "(-04:00 or -05:00)",
        ),
    ],
)
def test_a_wall_time_in_a_fall_back_fold_is_refused(
    wall: datetime, zone: ZoneInfo, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        resolve(wall, zone)

    assert str(caught.value) == message


@pytest.mark.parametrize("fold", [0, 1])
def test_pythons_fold_flag_does_not_choose_for_the_operator(fold: int) -> None:
    with pytest.raises(ValueError, match="happens twice in Europe/Brussels"):
        resolve(datetime(2026, 10, 25, 2, 30, fold=fold), BRUSSELS)


@pytest.mark.parametrize(
    ("wall", "zone", "expected"),
    [
        (datetime(2026, 10, 25, 2, 30, tzinfo=offset(2)), BRUSSELS, utc(2026, 10, 25, 0, 30)),
        (datetime(2026, 10, 25, 2, 30, tzinfo=offset(1)), BRUSSELS, utc(2026, 10, 25, 1, 30)),
        (datetime(2026, 10, 25, 2, 30, tzinfo=offset(2)), STOCKHOLM, utc(2026, 10, 25, 0, 30)),
        (datetime(2026, 10, 25, 2, 30, tzinfo=offset(1)), STOCKHOLM, utc(2026, 10, 25, 1, 30)),
        (datetime(2026, 11, 1, 1, 30, tzinfo=offset(-4)), NEW_YORK, utc(2026, 11, 1, 5, 30)),
        (datetime(2026, 11, 1, 1, 30, tzinfo=offset(-5)), NEW_YORK, utc(2026, 11, 1, 6, 30)),
        (datetime(2020, 12, 7, 14, 0, tzinfo=offset(1)), BRUSSELS, utc(2020, 12, 7, 13, 0)),
        (datetime(2026, 7, 1, 14, 0, tzinfo=offset(2)), BRUSSELS, utc(2026, 7, 1, 12, 0)),
    ],
)
def test_an_explicit_offset_the_zone_uses_names_one_instant(
    wall: datetime, zone: ZoneInfo, expected: datetime
) -> None:
    result = resolve(wall, zone)

    assert instant(result) == expected
    assert result.tzinfo is zone
    # Shown in the event's zone, it reads as written, with the offset written.
    assert result.replace(tzinfo=None) == wall.replace(tzinfo=None)
    assert result.utcoffset() == wall.utcoffset()


def test_both_offsets_in_the_repeated_hour_are_accepted_one_hour_apart() -> None:
    summer = resolve(datetime(2026, 10, 25, 2, 30, tzinfo=offset(2)), BRUSSELS)
    winter = resolve(datetime(2026, 10, 25, 2, 30, tzinfo=offset(1)), BRUSSELS)

    assert instant(winter) - instant(summer) == timedelta(hours=1)
    assert instant(summer) == instant(datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=BRUSSELS))
    assert instant(winter) == instant(datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BRUSSELS))
    assert summer.tzname() == "CEST"
    assert winter.tzname() == "CET"


@pytest.mark.parametrize(
    ("wall", "zone", "message"),
    [
        (
            datetime(2026, 7, 1, 14, 0, tzinfo=offset(1)),
            BRUSSELS,
            "2026-07-01T14:00+01:00 is not a time in Europe/Brussels, which is at +02:00 then",
        ),
        (
            datetime(2020, 12, 7, 14, 0, tzinfo=UTC),
            BRUSSELS,
            "2020-12-07T14:00+00:00 is not a time in Europe/Brussels, which is at +01:00 then",
        ),
        (
            datetime(2026, 10, 25, 2, 30, tzinfo=offset(3)),
            BRUSSELS,
            "2026-10-25T02:30+03:00 is not a time in Europe/Brussels, "
            "which is at +01:00 or +02:00 then",
        ),
        (
            datetime(2026, 11, 1, 1, 30, tzinfo=offset(1)),
            NEW_YORK,
            "2026-11-01T01:30+01:00 is not a time in America/New_York, "
            "which is at -04:00 or -05:00 then",
        ),
    ],
)
def test_an_offset_the_zone_does_not_use_then_is_refused(
    wall: datetime, zone: ZoneInfo, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        resolve(wall, zone)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        # 02:30 on the old clock (CET) is 01:30 UTC, when the new clock already shows 03:30.
        (datetime(2026, 3, 29, 2, 30, tzinfo=offset(1)), utc(2026, 3, 29, 1, 30)),
        # 02:30 on the new clock (CEST) is 00:30 UTC, when the old clock still shows 01:30.
        (datetime(2026, 3, 29, 2, 30, tzinfo=offset(2)), utc(2026, 3, 29, 0, 30)),
    ],
)
def test_an_explicit_offset_in_the_gap_is_the_instant_it_names(
    wall: datetime, expected: datetime
) -> None:
    result = resolve(wall, BRUSSELS)

    assert instant(result) == expected
    assert result.utcoffset() == expected.astimezone(BRUSSELS).utcoffset()


def test_an_offset_in_the_gap_that_neither_clock_uses_is_refused() -> None:
    with pytest.raises(ValueError) as caught:
        resolve(datetime(2026, 3, 29, 2, 30, tzinfo=offset(3)), BRUSSELS)

    assert str(caught.value) == (
        "2026-03-29T02:30+03:00 is not a time in Europe/Brussels, which is at +01:00 or +02:00 then"
    )


def test_seconds_are_shown_when_written() -> None:
    with pytest.raises(ValueError, match=r"^2026-03-29T02:30:15 does not exist"):
        resolve(datetime(2026, 3, 29, 2, 30, 15), BRUSSELS)


ZONES = [BRUSSELS, STOCKHOLM, NEW_YORK, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")]
# Hours around the 2026 transitions of these zones, so gaps and folds come up often.
AROUND_CHANGES = st.sampled_from(
    [
        datetime(2026, 3, 29, 0, 0),
        datetime(2026, 10, 25, 0, 0),
        datetime(2026, 3, 8, 0, 0),
        datetime(2026, 11, 1, 0, 0),
        datetime(2026, 4, 5, 0, 0),
        datetime(2026, 10, 4, 0, 0),
    ]
).flatmap(lambda day: st.integers(0, 4 * 60 - 1).map(lambda m: day + timedelta(minutes=m)))


@settings(max_examples=200, deadline=None, database=None)
@given(wall=AROUND_CHANGES | st.datetimes(), zone=st.sampled_from(ZONES))
def test_a_wall_time_resolves_to_itself_or_is_refused_because_of_a_change(
    wall: datetime, zone: ZoneInfo
) -> None:
    early = wall.replace(tzinfo=zone, fold=0)
    late = wall.replace(tzinfo=zone, fold=1)
    try:
        result = resolve(wall, zone)
    except ValueError as err:
        assert zone.key in str(err)
        assert early.utcoffset() != late.utcoffset()
        return
    except OverflowError:
        pytest.fail(f"{wall} in {zone.key} crashed instead of being refused")
    assert early.utcoffset() == late.utcoffset()
    assert instant(result) == instant(early)
    assert result.replace(tzinfo=None) == wall


@settings(max_examples=200, deadline=None, database=None)
@given(
    wall=AROUND_CHANGES,
    zone=st.sampled_from(ZONES),
    minutes=st.sampled_from([-300, -240, 0, 60, 120, 180, 600, 630, 660]),
)
def test_an_explicit_offset_is_the_instant_it_names_or_is_refused(
    wall: datetime, zone: ZoneInfo, minutes: int
) -> None:
    written = wall.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    used = {wall.replace(tzinfo=zone, fold=fold).utcoffset() for fold in (0, 1)}
    try:
        result = resolve(written, zone)
    except ValueError as err:
        assert written.utcoffset() not in used
        assert zone.key in str(err)
        return
    assert written.utcoffset() in used
    assert instant(result) == instant(written)
    in_gap = instant(wall.replace(tzinfo=zone)).astimezone(zone).replace(tzinfo=None) != wall
    if not in_gap:  # the zone's clock shows what was written, with the offset written
        assert result.replace(tzinfo=None) == wall
        assert result.utcoffset() == written.utcoffset()
