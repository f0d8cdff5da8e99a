"""The shape of ``config.yaml`` and of an event file, as pydantic models.

These specs mirror the YAML one to one: they check keys (unknown keys are errors), types and
single values. Rules that need several values at once (a local time in the event's zone, an
end after its start) live in ``build``, which turns specs into the catalog's models.
"""

from __future__ import annotations

import copy
import difflib
from datetime import date, datetime, time, timedelta
from functools import cache, reduce
from operator import getitem
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
)
from pydantic_core import ErrorDetails

from ..errors import Problem
from . import values
from .source import Document, Loc

Slug = Annotated[str, BeforeValidator(values.slug)]
Email = Annotated[str, BeforeValidator(values.email)]
Url = Annotated[str, BeforeValidator(values.url)]
JoinUrl = Annotated[str, BeforeValidator(values.join_url)]
BaseUrl = Annotated[str, BeforeValidator(values.base_url)]
Domain = Annotated[str, BeforeValidator(values.domain)]
Duration = Annotated[timedelta, PlainValidator(values.duration)]
Moment = Annotated[date | datetime, PlainValidator(values.date_or_datetime)]
TimeOrMoment = Annotated[time | date | datetime, PlainValidator(values.time_or_datetime)]
# Zone names stay text here: CET/CEST/MET resolve against site.timezone in ``build``.
ZoneName = Annotated[str, Field(min_length=1)]
# One line, as it goes into a mail header or a calendar property; free text keeps its breaks.
Line = Annotated[str, BeforeValidator(values.line), Field(min_length=1)]
Prose = Annotated[str, BeforeValidator(values.prose)]
# The same, or a mapping of language code to it: ``title: {en: ..., fr: ...}``.
LineIn = Annotated[str | dict[str, str], PlainValidator(values.line_in_languages)]
ProseIn = Annotated[str | dict[str, str], PlainValidator(values.prose_in_languages)]
Language = Annotated[str, PlainValidator(values.language)]
Folder = Annotated[str, PlainValidator(values.folder)]
RateLimit = Annotated[str, PlainValidator(values.rate_limit)]
# Lists are bounded far above real use, so that checking a hostile file stays quick.
MAX_TOPICS = 1000


class Spec(BaseModel):
    """A YAML mapping: unknown keys are errors, values are never coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# config.yaml


class SiteSpec(Spec):
    title: Line
    base_url: BaseUrl
    timezone: ZoneName
    uid_domain: Domain | None = Field(
        default=None,
        description="The domain part of every calendar entry's UID; default: the host of "
        "base_url. Never change it once people subscribe: calendars would show every event "
        "twice.",
    )
    language: Language = Field(
        default="en",
        description="The site's own language (`en`, `fr`, `es` or `de`): of pages a browser "
        "asks for in no language the site has, of the export, of the calendar feeds, and "
        "the one every translated text of the files must give.",
    )
    languages: Annotated[list[Language], Field(min_length=1, max_length=10)] | None = Field(
        default=None,
        description="The languages pages and mails are offered in, switchable on every "
        "page; default: all of `en`, `fr`, `es`, `de`. Must hold `language`.",
    )


class FeedSpec(Spec):
    refresh: Duration = timedelta(hours=6)
    # A hundred years back from now is still a date; a million days is not.
    keep_past_days: Annotated[int, Field(ge=0, le=36500)] | None = None


class TopicSpec(Spec):
    name: LineIn
    description: ProseIn | None = None


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class DigestSpec(Spec):
    weekday: Weekday = Field(
        default="monday", description="The day a weekly digest goes out, in each reader's zone."
    )
    hour: Annotated[int, Field(ge=0, le=23)] = Field(
        default=8, description="The hour (0-23) it goes out at, in each reader's zone."
    )


class ChoicesSpec(Spec):
    per_event: bool = Field(
        default=True, description="Reminders before each event's deadline and start."
    )
    digest: bool = Field(
        default=False, description="A weekly digest at `reminders.digest`'s day and hour."
    )
    new_events: bool = Field(
        default=False, description="A mail when a new event appears in one's topics."
    )


class RemindersSpec(Spec):
    before_start: Annotated[list[Duration], Field(max_length=20)] = Field(default_factory=list)
    before_registration_deadline: Annotated[list[Duration], Field(max_length=20)] = Field(
        default_factory=list
    )
    digest: DigestSpec = DigestSpec()
    defaults: ChoicesSpec = ChoicesSpec()


class SmtpSpec(Spec):
    host: Line = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = False
    username: Line | None = None
    password_env: str | None = None
    connections: Annotated[int, Field(ge=1, le=32)] = 1


class MailSpec(Spec):
    sender: Annotated[str, BeforeValidator(values.mailbox)] = Field(
        default="calfeed <calfeed@localhost>", alias="from"
    )
    transport: Literal["maildir", "smtp"] = "maildir"
    maildir: Folder = "var/mail"
    smtp: SmtpSpec = SmtpSpec()


class SignupSpec(Spec):
    limit_per_client: RateLimit = "20/hour"  # sign-up requests from one address (IP)
    limit_per_address: RateLimit = "5/hour"  # requests for one email address
    limits_storage: Line = "memory://"  # a redis:// URL when several web processes run


class SubscriberSpec(Spec):
    email: Email
    topics: Annotated[list[Slug], Field(min_length=1, max_length=MAX_TOPICS)]
    timezone: ZoneName = "UTC"
    language: Language | None = Field(
        default=None,
        description="The language of their mails, one of site.languages; default: site.language.",
    )


class ConfigSpec(Spec):
    site: SiteSpec
    feeds_dir: Folder = "feeds"
    feed: FeedSpec = FeedSpec()
    database: Line = "sqlite:///var/calfeed.sqlite3"
    topics: Annotated[dict[Slug, TopicSpec], Field(min_length=1, max_length=MAX_TOPICS)]
    reminders: RemindersSpec = RemindersSpec()
    mail: MailSpec = MailSpec()
    signup: SignupSpec = SignupSpec()
    subscribers: Annotated[list[SubscriberSpec], Field(max_length=10_000)] = Field(
        default_factory=list
    )


# feeds/*.yaml


class OrganizerSpec(Spec):
    name: Line
    email: Email | None = None
    url: Url | None = None


class ContactSpec(Spec):
    name: Line
    role: Line | None = None
    email: Email | None = None
    phone: Line | None = None


class RegistrationSpec(Spec):
    url: Url | None = None
    deadline: Moment | None = None


class OnlineSpec(Spec):
    join_url: JoinUrl = Field(
        description="The link that joins the meeting (video call, webinar room)."
    )
    public: bool = Field(
        default=False,
        description="`true` shows the link in every feed and page; `false` only in the "
        "personal feeds, reminder mails and change notices of confirmed subscribers.",
    )


class SessionSpec(Spec):
    id: Slug | None = None
    start: TimeOrMoment
    end: TimeOrMoment
    title: Line
    speakers: Annotated[list[Line], Field(max_length=100)] = Field(default_factory=list)
    description: Prose | None = None


class EventSpec(Spec):
    id: Slug
    title: LineIn
    subtitle: LineIn | None = None
    topics: Annotated[list[Slug], Field(min_length=1, max_length=100)]
    timezone: ZoneName | None = None
    start: Moment
    end: Moment | None = None
    status: Literal["confirmed", "tentative", "cancelled"] = "confirmed"
    location: Line | None = None
    url: Url | None = None
    organizer: OrganizerSpec | None = None
    contacts: Annotated[list[ContactSpec], Field(max_length=100)] = Field(default_factory=list)
    registration: RegistrationSpec | None = None
    online: OnlineSpec | None = None
    description: ProseIn | None = None
    sessions: Annotated[list[SessionSpec], Field(max_length=500)] = Field(default_factory=list)


class EventListSpec(Spec):
    events: Annotated[list[Any], Field(min_length=1, max_length=1000)]


# Validation errors as operators read them

S = TypeVar("S", bound=Spec)


def validate(spec: type[S], doc: Document, loc: Loc, problems: list[Problem]) -> S | None:
    """Validate the data at ``loc`` of ``doc`` against ``spec``, collecting problems.

    The result is None when nothing usable is left; when problems were recorded it must only
    be checked further, never used.
    """
    data = reduce(getitem, loc, doc.data)
    try:
        return spec.model_validate(data)
    except ValidationError as err:
        errors = err.errors(include_url=False)
    for error in errors:
        where = (*loc, *_clean(error))
        problems.append(doc.problem(where, _message(error, spec, _clean(error))))
    # Without the faulty values the rest may still validate; returning it lets the rules that
    # span fields run too, so one run reports every problem. The recorded problems keep it
    # from being used. A removed value can leave its mapping without a required key, which
    # the next round removes in turn.
    candidate = copy.deepcopy(data)
    for _ in range(3):
        if not all(_prune(candidate, error) for error in errors):
            return None
        try:
            return spec.model_validate(candidate)
        except ValidationError as err:
            errors = err.errors(include_url=False)
    return None


# Stand-ins for required text whose own problem is already recorded: nothing else depends
# on them, so the checks of the other fields can go on.
_STAND_INS = {"id": "invalid-id", "title": "invalid title", "name": "invalid name"}


def _prune(data: Any, error: ErrorDetails) -> bool:
    """Remove (or stand in for) what ``error`` names, keeping list positions; False if stuck.

    A wrong value goes with the key that holds it (a list goes whole); a missing key takes the
    mapping that lacks it along.
    """
    loc = _clean(error)
    keys = [i for i, part in enumerate(loc) if isinstance(part, str)]
    if error["type"] == "missing":
        keys = keys[:-1]  # the key itself is absent: act on the key that holds its mapping
    try:
        if loc and loc[-1] in _STAND_INS:
            reduce(getitem, loc[:-1], data)[loc[-1]] = _STAND_INS[str(loc[-1])]
        elif keys:
            *path, key = loc[: keys[-1] + 1]
            reduce(getitem, path, data).pop(key, None)
        else:
            return False
    except (KeyError, IndexError, TypeError, AttributeError):
        pass  # an earlier error of this round already removed the mapping around it
    return True


def _clean(error: ErrorDetails) -> Loc:
    """Return where ``error`` is, without pydantic's marker for a mapping key that failed.

    The marker ends the location; a key the operator named ``[key]`` is not one.
    """
    loc = tuple(error["loc"])
    if loc and loc[-1] == "[key]" and error["type"] != "extra_forbidden":
        return loc[:-1]
    return loc


def _message(error: ErrorDetails, spec: type[Spec], loc: Loc) -> str:
    kind, given = error["type"], error.get("input")
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        keys = _keys_at(spec, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
        return (
            f"unknown key; did you mean {close[0]!r}?"
            if close
            else (f"unknown key; expected one of: {', '.join(keys)}")
        )
    if kind == "value_error":
        return error["msg"].removeprefix("Value error, ")
    if kind == "string_too_short" or (kind == "too_short" and isinstance(given, str)):
        return "must not be empty"
    if kind == "too_short":
        return "needs at least one item"
    if kind == "too_long":
        context = error.get("ctx", {})
        count, most = context.get("actual_length"), context.get("max_length")
        return f"has {count:,} items; at most {most:,} are allowed"
    if kind in ("model_type", "dict_type"):
        return f"should be a mapping of keys and values, not {_kind(given)}"
    if kind == "list_type":
        return f"should be a list, not {_kind(given)}"
    shown = values.clipped(values.as_written(given))
    hint = (
        "; write it in quotes"
        if kind == "string_type" and not isinstance(given, dict | list)
        else ""
    )
    message = error["msg"].replace("Input should be", "should be")
    return f"{message[0].lower()}{message[1:]}, not {shown}{hint}"


@cache
def _mappings(spec: type[Spec]) -> dict[Loc, list[str]]:
    """Return the keys allowed in each mapping inside ``spec``, by location.

    A ``*`` in a location stands for any list position or mapping key.
    """
    found: dict[Loc, list[str]] = {
        (): [field.alias or name for name, field in spec.model_fields.items()]
    }
    for name, field in spec.model_fields.items():
        inner: Any = field.annotation
        hops: Loc = ()
        if get_origin(inner) in (list, dict):  # list[X], dict[str, X]
            inner, hops = get_args(inner)[-1], ("*",)
        for option in (inner, *get_args(inner)):  # X, or X | None
            if isinstance(option, type) and issubclass(option, Spec):
                for at, keys in _mappings(option).items():
                    found[(field.alias or name, *hops, *at)] = keys
    return found


def _keys_at(spec: type[Spec], loc: Loc) -> list[str]:
    """Return the keys allowed in the mapping that ``loc`` leads to inside ``spec``."""
    for at, keys in _mappings(spec).items():
        if len(at) == len(loc) and all(
            part in ("*", given) for part, given in zip(at, loc, strict=True)
        ):
            return keys
    return []


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return values.clipped(repr(value))
