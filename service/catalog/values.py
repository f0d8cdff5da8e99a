"""Parsers for the small values operators write: slugs, zones, durations, dates, emails, URLs.

Each parser takes what YAML produced and returns a typed value or raises ``ValueError`` with
a message that says what was expected. They hold no state and know nothing of files.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from datetime import date, datetime, time, timedelta
from email.utils import parseaddr
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import email_validator
from pydantic import TypeAdapter, ValidationError

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_COMPACT = re.compile(r"(\d+)\s*([smhdw])")
_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_ISO_DURATION = TypeAdapter(timedelta)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_DURATION = timedelta(days=3660)
FIRST_YEAR, LAST_YEAR = 1900, 2999  # far enough for any event, safe for date arithmetic
# Abbreviations that mean "Central European local time", not the fixed-offset zone of that name.
LOCAL_ALIASES = frozenset({"CET", "CEST", "MET", "MEST"})


def slug(value: Any) -> str:
    """Return ``value`` if it is a slug: lowercase letters, digits and single hyphens."""
    if not isinstance(value, str):
        raise ValueError(
            f"{as_written(value)} is not a slug: YAML read it as {_kind(value)}; quote it"
        )
    if not SLUG.fullmatch(value):
        raise ValueError(f"{value!r} is not a slug: use lowercase letters, digits and hyphens")
    return value


@cache
def _zone_names() -> frozenset[str]:
    # "localtime" and friends are files of this machine's zone database, not zone names.
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "posixrules", "Factory"}


@cache
def zone_choices() -> tuple[str, ...]:
    """Return, sorted, every zone name ``zone`` accepts on its own (no CET-style alias)."""
    return tuple(sorted(_zone_names() - LOCAL_ALIASES))


def zone(value: Any, local: zoneinfo.ZoneInfo | None = None) -> zoneinfo.ZoneInfo:
    """Return the IANA zone named ``value``; CET, CEST and MET mean ``local`` when given."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time zone name such as Europe/Brussels")
    if value in LOCAL_ALIASES:
        if local is not None:
            return local
        raise ValueError(f"{value!r} is an abbreviation: name the zone, e.g. Europe/Brussels")
    if value not in _zone_names():
        close = difflib.get_close_matches(value, _zone_names(), n=1)
        hint = (
            f"; did you mean {close[0]!r}?"
            if close
            else "; use an IANA name such as Europe/Brussels"
        )
        raise ValueError(f"unknown time zone {value!r}{hint}")
    return zoneinfo.ZoneInfo(value)


def duration(value: Any) -> timedelta:
    """Parse a positive duration: ``7d``, ``1h``, ``30m``, ``2w``, ``45s`` or ISO 8601 ``P1D``."""
    text = str(value).strip() if isinstance(value, str | int) else None
    if text is None or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration such as 7d, 1h, 30m or P1D")
    compact = _COMPACT.fullmatch(text)
    if not text:
        raise ValueError("empty: write a duration such as 7d, 1h, 30m or P1D")
    if compact:
        seconds = int(compact[1]) * _UNITS[compact[2]]
        if seconds > MAX_DURATION.total_seconds():
            raise ValueError(f"{text!r} is longer than {MAX_DURATION.days} days")
        result = timedelta(seconds=seconds)
    elif text[:1] in "Pp":
        if re.search(r"[YM]", text.upper().partition("T")[0]):
            raise ValueError(f"{text!r}: months and years vary in length; use days or weeks")
        try:
            result = _ISO_DURATION.validate_python(text.upper())
        except (ValidationError, OverflowError) as err:
            raise ValueError(f"{text!r} is not an ISO 8601 duration such as P1D or PT1H") from err
    else:
        raise ValueError(f"{text!r} is not a duration: write 7d, 1h, 30m, 2w, 45s or P1D")
    if result <= timedelta(0):
        raise ValueError(f"{text!r} must be longer than zero")
    if result > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than {MAX_DURATION.days} days")
    return result


def format_duration(value: timedelta) -> str:
    """Write a duration the way operators write it: ``7d``, ``1h``, ``90m``."""
    seconds = int(value.total_seconds())
    # Days rather than weeks: "7d" is how reminder offsets are usually written.
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def when(value: Any) -> date | datetime:
    """Parse a date (``2020-12-07``) or a date-time, with or without a UTC offset."""
    parsed: date | datetime | None = None
    if isinstance(value, datetime | date):
        parsed = value
    elif isinstance(value, str) and _ISO_DATE.match(text := value.strip()):
        try:
            parsed = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            pass
    if parsed is not None:
        if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
            raise ValueError(f"{parsed.isoformat()}: the year must be {FIRST_YEAR} to {LAST_YEAR}")
        return parsed
    raise ValueError(
        f"{as_written(value)} is not a date or date-time: write 2020-12-07, 2020-12-07T14:00 "
        "or 2020-12-07T14:00+01:00"
    )


def clock_or_when(value: Any) -> time | date | datetime:
    """Parse a session time: ``HH:MM`` on the event's start day, or a full date-time."""
    if isinstance(value, str) and (match := _HHMM.fullmatch(value.strip())):
        return time(int(match[1]), int(match[2]))
    if isinstance(value, time):
        return value
    try:
        return when(value)
    except ValueError:
        raise ValueError(
            f"{as_written(value)} is not a time: write HH:MM such as 14:00, or a date-time "
            "such as 2020-12-07T14:00"
        ) from None


def folder(value: Any) -> str:
    """Return a folder path as written; it must be text without NUL characters."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise ValueError(f"{as_written(value)} is not a folder path such as feeds or var/mail")
    return value


def rate_limit(value: Any) -> str:
    """Return a rate limit such as ``20/hour`` or ``5 per minute``."""
    from limits import parse_many

    try:
        if isinstance(value, str) and parse_many(value):
            return value
    except ValueError:
        pass
    raise ValueError(f"{as_written(value)} is not a rate limit such as 20/hour or 5 per minute")


def email(value: Any) -> str:
    """Return a syntactically valid email address, normalised."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an email address")
    try:
        return email_validator.validate_email(value, check_deliverability=False).normalized
    except email_validator.EmailNotValidError as err:
        raise ValueError(f"{value!r} is not a valid email address: {err}") from err


def mailbox(value: Any) -> str:
    """Return a sender such as ``Events <events@example.org>`` with a valid address."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a sender such as 'Events <events@example.org>'")
    _, address = parseaddr(value)
    try:
        email(address or value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a sender such as 'Events <events@example.org>'"
        ) from None
    return value.strip()


def url(value: Any) -> str:
    """Return an absolute http(s) URL."""
    if isinstance(value, str):
        try:
            parts = urlsplit(value.strip())
            if parts.scheme in ("http", "https") and parts.hostname and " " not in value.strip():
                return value.strip()
        except ValueError:  # e.g. a broken IPv6 address
            pass
    raise ValueError(f"{value!r} is not an absolute http:// or https:// URL")


_DOMAIN = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)


def domain(value: Any) -> str:
    """Return a domain name (``events.example.org``), lower-cased."""
    if isinstance(value, str) and _DOMAIN.fullmatch(value.strip().lower()):
        return value.strip().lower()
    raise ValueError(f"{value!r} is not a domain name like events.example.org")


def as_written(value: Any) -> str:
    """Show a value as the operator wrote it, not as Python spells it."""
    if isinstance(value, date | time):
        return value.isoformat()
    return repr(value)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false (yes, no, on and off are too)"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, date):
        return "a date"
    return f"a {type(value).__name__}"
