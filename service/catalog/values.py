"""Parsers for the small values operators write: text, slugs, zones, durations, dates, emails, URLs.

Each parser takes what YAML produced and returns a typed value or raises ``ValueError`` with
a message that says what was expected. They hold no state and know nothing of files.

Text that ends up in one line of a mail header or a calendar property (a title, a name, a
sender) must be one line: the whitespace around it is removed, as YAML's ``>`` and ``|``
blocks leave a line break at the end, but a break inside it is refused, as is any control
character (YAML's quoted escapes can write them). Free text keeps its line breaks and tabs.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
import zoneinfo
from datetime import date, datetime, time, timedelta
from email.policy import default as email_policy
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
_URI = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")  # what RFC 3986 allows unencoded
# A name (or an IPv4 address): what may end a UID and a Message-ID. An IPv6 address may not.
_DOMAIN = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)
# Text shaped like an RFC 2047 encoded word is decoded by whoever reads a header holding it.
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")
MAX_DOMAIN = 100  # the UID domain ends every calendar UID and Message-ID
# Links made from it (with an event id of up to 244 characters, twice on one line of the
# plain-text mail) must fit the 998 octets a line of mail may hold.
MAX_BASE_URL = 400
# A join link goes into one line of the plain-text mail and of the calendar's LOCATION.
MAX_JOIN_URL = 900
MAX_DURATION = timedelta(days=3660)
FIRST_YEAR, LAST_YEAR = 1900, 2999  # far enough for any event, safe for date arithmetic
# Abbreviations that mean "Central European local time", not the fixed-offset zone of that name.
LOCAL_ALIASES = frozenset({"CET", "CEST", "MET", "MEST"})
# The languages calfeed has message catalogs for (service/translations), by ISO 639-1 code.
LANGUAGES = ("en", "fr", "es", "de")


def line(value: Any) -> Any:
    """Return text as one line, without the whitespace around it; other values as they are.

    What is not text is left for the type check that follows, which names what it is.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    lines = text.splitlines()
    if len(lines) > 1:
        raise ValueError(
            f"must be one line, but it breaks after {clipped(lines[0])!r} "
            "(only the breaks at its start and end are removed)"
        )
    _no_controls(text, "")
    if found := _ENCODED_WORD.search(text):
        raise ValueError(
            f"holds {found.group()!r}, which mail programs would show decoded; write it otherwise"
        )
    return text


def prose(value: Any) -> Any:
    """Return free text as written; it may hold line breaks and tabs, no other control."""
    if isinstance(value, str):
        _no_controls(value, "\n\t")
    return value


def _no_controls(text: str, allowed: str) -> None:
    for index, character in enumerate(text):
        if unicodedata.category(character) == "Cc" and character not in allowed:
            raise ValueError(
                f"holds control character U+{ord(character):04X} at character {index + 1}; "
                "remove it"
            )


def language(value: Any) -> str:
    """Return a language calfeed is translated into: ``en``, ``fr``, ``es`` or ``de``."""
    if value not in LANGUAGES:
        raise ValueError(
            f"{clipped(as_written(value))} is not a language calfeed is translated into "
            f"({', '.join(LANGUAGES)})"
        )
    return str(value)


def line_in_languages(value: Any) -> str | dict[str, str]:
    """Return one line of text, or a mapping of language code to one line each."""
    return _in_languages(value, line)


def prose_in_languages(value: Any) -> str | dict[str, str]:
    """Return free text, or a mapping of language code to free text each."""
    return _in_languages(value, prose)


def _in_languages(value: Any, parse: Any) -> str | dict[str, str]:
    if isinstance(value, dict):
        if not value:
            raise ValueError("must not be empty: give a text for each language, {en: ...}")
        texts = {}
        for code, text in value.items():
            if not isinstance(code, str):
                raise ValueError(f"{as_written(code)} is not a language code such as en or fr")
            texts[code] = _one_text(text, parse, f"in {code!r}: ")
        return texts
    return _one_text(value, parse, "")


def _one_text(value: Any, parse: Any, where: str) -> str:
    try:
        text = parse(value)
    except ValueError as err:
        raise ValueError(f"{where}{err}") from err
    if isinstance(text, list):
        raise ValueError(f"{where}should be text, or a mapping of language to text, not a list")
    if not isinstance(text, str):
        shown = clipped(as_written(text))
        raise ValueError(f"{where}should be a valid string, not {shown}; write it in quotes")
    if parse is line and not text:
        raise ValueError(f"{where}must not be empty")
    return text


def clipped(text: str) -> str:
    """Cut a value shown in a message to 60 characters."""
    return text if len(text) <= 60 else text[:57] + "..."


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


def date_or_datetime(value: Any) -> date | datetime:
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


def time_or_datetime(value: Any) -> time | date | datetime:
    """Parse a session time: ``HH:MM`` on the event's start day, or a full date-time."""
    if isinstance(value, str) and (match := _HHMM.fullmatch(value.strip())):
        return time(int(match[1]), int(match[2]))
    if isinstance(value, time):
        return value
    try:
        return date_or_datetime(value)
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
    """Return a sender such as ``Events <events@example.org>``: one valid address, one line."""
    sender = line(value)
    if not isinstance(sender, str):
        raise ValueError(f"{value!r} is not a sender such as 'Events <events@example.org>'")
    wanted = f"{clipped(sender)!r} is not a sender such as 'Events <events@example.org>'"
    addresses = _addresses(sender)
    if addresses is None:
        raise ValueError(wanted)
    if len(addresses) != 1:
        raise ValueError(f"{wanted}: name one address, not {len(addresses)}")
    try:
        email(addresses[0])
    except ValueError:
        raise ValueError(wanted) from None
    return sender


def _addresses(text: str) -> list[str] | None:
    """Return the addresses a From header of ``text`` holds, or None if it is not clean.

    Not clean: a defect, a named group, or a name the email package fails on.
    """
    try:
        header = email_policy.header_factory("From", text)
        if header.defects or any(group.display_name for group in header.groups):
            return None
        return [address.addr_spec for address in header.addresses]
    except Exception:  # noqa: BLE001 - the email package raises odd errors on odd names
        return None


def url(value: Any) -> str:
    """Return an absolute http(s) URL, without spaces or control characters."""
    if isinstance(value, str):
        text = value.strip()
        try:
            parts = urlsplit(text)
            if (
                parts.scheme in ("http", "https")
                and parts.hostname
                and text.isprintable()
                and not any(character.isspace() for character in text)
            ):
                return text
        except ValueError:  # e.g. a broken IPv6 address
            pass
    raise ValueError(f"{clipped(repr(value))} is not an absolute http:// or https:// URL")


def join_url(value: Any) -> str:
    """Return the link that joins an online event: an http(s) URL that fits one mail line."""
    text = url(value)
    if len(text) > MAX_JOIN_URL:
        raise ValueError(
            f"{clipped(text)!r} has {len(text):,} characters; at most {MAX_JOIN_URL} are allowed"
        )
    return text


def base_url(value: Any) -> str:
    """Return the site's address: an http(s) URL whose host is ASCII, as UIDs and mail need."""
    text = url(value)
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.query or parts.fragment:
        raise ValueError(f"{text!r} must not have a query or fragment: links are added to it")
    if not _DOMAIN.fullmatch(host):
        raise ValueError(
            f"the host {host!r} must be ASCII letters, digits, hyphens and dots "
            "(write an international domain in its xn-- form)"
        )
    if not _URI.fullmatch(text):
        raise ValueError(f"{text!r} holds characters a URL must percent-encode (%20 for a space)")
    _fits_in_uids("the host", host)
    if len(text) > MAX_BASE_URL:
        raise ValueError(
            f"has {len(text)} characters; at most {MAX_BASE_URL} leave room for the links "
            "made from it in mail"
        )
    return text


def domain(value: Any) -> str:
    """Return a domain name (``events.example.org``), lower-cased, short enough for UIDs."""
    if isinstance(value, str) and _DOMAIN.fullmatch(text := value.strip().lower()):
        _fits_in_uids("it", text)
        return text
    raise ValueError(f"{value!r} is not a domain name like events.example.org")


def _fits_in_uids(what: str, name: str) -> None:
    if len(name) > MAX_DOMAIN:
        raise ValueError(
            f"{what} has {len(name)} characters; at most {MAX_DOMAIN} fit in calendar UIDs"
        )


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
