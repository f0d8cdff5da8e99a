"""The clock: every "now" calfeed reads comes through here, so tests can freeze it.

Code that needs the time takes a :data:`Clock` (a function returning an aware UTC instant)
and defaults to one of these; tests pass their own or freeze time with freezegun.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the current time in UTC, to the second (what LAST-MODIFIED can hold)."""
    return datetime.now(UTC).replace(microsecond=0)


def precise_now() -> datetime:
    """Return the current time in UTC to the microsecond, for timing what is due."""
    return datetime.now(UTC)
