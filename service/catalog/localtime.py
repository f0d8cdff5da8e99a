"""Local wall times to instants, refusing the ones a zone skips or repeats.

An operator writes times as the clock on the wall shows them. Around a DST change some wall
times never happen (spring forward) and some happen twice (fall back); guessing there puts an
event an hour off, so those are errors that name the zone and the change, unless the operator
writes an explicit UTC offset that says which instant is meant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo


def resolve(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the aware datetime in ``zone`` that ``wall`` names, or raise ValueError."""
    if wall.tzinfo is not None:
        return _with_offset(wall, zone)
    naive = wall.replace(fold=0)
    early = naive.replace(tzinfo=zone)
    late = naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return early
    change = _transition_near(early, zone)
    offsets = f"{_offset(early)} or {_offset(late)}"
    if _round_trips(early):
        raise ValueError(
            f"{_show(naive)} happens twice in {zone.key}: {change}; "
            f"write it with an explicit offset ({offsets})"
        )
    raise ValueError(
        f"{_show(naive)} does not exist in {zone.key}: {change}; "
        "pick another time or write an explicit offset"
    )


def _with_offset(wall: datetime, zone: ZoneInfo) -> datetime:
    """Accept an explicit offset only if the zone uses it at that wall time."""
    naive = wall.replace(tzinfo=None, fold=0)
    allowed = {naive.replace(tzinfo=zone, fold=fold).utcoffset() for fold in (0, 1)}
    if wall.utcoffset() not in allowed:
        used = " or ".join(sorted(_format_offset(o) for o in allowed if o is not None))
        raise ValueError(
            f"{_show(naive)}{_offset(wall)} is not a time in {zone.key}, which is at {used} then"
        )
    return wall.astimezone(zone)


def _round_trips(aware: datetime) -> bool:
    """Tell whether a wall time exists: a skipped one comes back changed from UTC."""
    back = aware.astimezone(UTC).astimezone(aware.tzinfo)
    return back.replace(tzinfo=None) == aware.replace(tzinfo=None)


def clock_change(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    """Return the first whole second (UTC) after ``low`` at ``high``'s offset in ``zone``.

    Between the two, ``zone``'s clocks change once: this is when.
    """
    low, high = low.astimezone(UTC), high.astimezone(UTC)
    after = high.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def _transition_near(aware: datetime, zone: ZoneInfo) -> str:
    """Describe the clock change closest to ``aware``, e.g. for an error message."""
    changed = clock_change(aware - timedelta(days=1), aware + timedelta(days=1), zone)
    old, new = (changed - timedelta(seconds=1)).astimezone(zone), changed.astimezone(zone)
    old_offset, new_offset = old.utcoffset() or timedelta(0), new.utcoffset() or timedelta(0)
    wall_before = new - new_offset + old_offset
    direction = "forward" if new_offset > old_offset else "back"
    was, now = wall_before.replace(tzinfo=None), new.replace(tzinfo=None)
    # A change that skips or repeats whole days (Pacific/Apia, 2011) needs the dates.
    shape = "%H:%M" if was.date() == now.date() else "%Y-%m-%d %H:%M"
    return (
        f"clocks go {direction} from {was:{shape}} to "
        f"{now:{shape}} on {new:%Y-%m-%d} "
        f"({old.tzname()} {_offset(old)} to {new.tzname()} {_offset(new)})"
    )


def _show(naive: datetime) -> str:
    return naive.isoformat(timespec="minutes" if not naive.second else "seconds")


def _offset(aware: datetime) -> str:
    return _format_offset(aware.utcoffset())


def _format_offset(offset: timedelta | None) -> str:
    return datetime(2000, 1, 1, tzinfo=timezone(offset or timedelta(0))).isoformat()[-6:]
