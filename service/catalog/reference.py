"""The field reference of config.yaml and the event files, written from the pydantic schema.

Keys, types, defaults and which keys are required come from ``catalog/schema.py`` itself;
what each key means comes from the field's own description there or, for the others, from
``CONFIG`` and ``EVENT`` below. A key of the schema without a meaning, or a meaning without its key,
stops the build, so the reference cannot fall behind the schema. ``make reference``
writes ``docs/reference.md``; a test fails when the committed file is not current.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from . import schema, values

# What the values a validator accepts look like, by validator.
KINDS = {
    values.slug: "slug (`a-z`, `0-9`, `-`)",
    values.email: "email address",
    values.url: "absolute `http(s)://` URL",
    values.base_url: "absolute `http(s)://` URL",
    values.join_url: "absolute `http(s)://` URL",
    values.domain: "domain name",
    values.duration: "duration: `30m`, `6h`, `7d`, `2w`, or ISO 8601 `P1D`",
    values.date_or_datetime: "date `2020-12-07` or local date-time `2020-12-07T14:00`",
    values.time_or_datetime: "`HH:MM` on the start day, or a local date-time",
    values.folder: "folder, relative to config.yaml",
    values.rate_limit: "rate limit: `20/hour`, `5 per minute`",
    values.mailbox: "sender: `Name <address@example.org>`",
    values.line_in_languages: "text, or a mapping of language to text: `{en: ..., fr: ...}`",
    values.prose_in_languages: "text, or a mapping of language to text: `{en: ..., fr: ...}`",
    values.language: "language: `en`, `fr`, `es` or `de`",
}

CONFIG = {
    "site": "The site as people see it.",
    "site.title": "The site's name: page titles, feed names, mail subjects and List-Id.",
    "site.base_url": "The address people use, in every link of pages, feeds and mails "
    "(subscribe links too), whatever port calfeed itself listens on.",
    "site.timezone": "IANA zone for times written without one; what `CET` means.",
    "feeds_dir": "The folder holding the event files, in any layout.",
    "feed": "How calendar apps poll the feeds.",
    "feed.refresh": "How often calendar apps should poll (REFRESH-INTERVAL, X-PUBLISHED-TTL).",
    "feed.keep_past_days": "Drop events older than this many days from topic feeds; "
    "empty keeps every past event.",
    "database": "SQLAlchemy URL: `sqlite:///var/calfeed.sqlite3` (relative to config.yaml) "
    "or `postgresql+psycopg://user@host/db`.",
    "topics": "The topics, by slug; events name them in `topics:`.",
    "topics.<slug>.name": "The topic's name on pages and in feeds; in several languages "
    "as `{en: ..., fr: ...}` (the calendar feeds name it in site.language).",
    "topics.<slug>.description": "A line under the topic's name on its page; in several "
    "languages as the name.",
    "reminders": "When reminder mails go out.",
    "reminders.before_start": "Offsets before an event starts.",
    "reminders.before_registration_deadline": "Offsets before registration closes.",
    "reminders.digest": "When a weekly digest goes out, unless a subscriber picks another "
    "day and hour on their preferences page.",
    "reminders.defaults": "What a new subscriber gets until they choose otherwise on their "
    "preferences page, and what every subscriber listed under `subscribers:` gets.",
    "mail": "How mail leaves.",
    "mail.from": "The sender of every mail.",
    "mail.transport": "`maildir` writes mail into a local Maildir; `smtp` sends it.",
    "mail.maildir": "The Maildir the `maildir` transport writes to.",
    "mail.smtp": "The SMTP server the `smtp` transport sends through.",
    "mail.smtp.host": "Its host name.",
    "mail.smtp.port": "Its port.",
    "mail.smtp.starttls": "Whether to switch to TLS with STARTTLS.",
    "mail.smtp.username": "The user name to log in with, if any.",
    "mail.smtp.password_env": "The environment variable holding the password (never the "
    "password itself).",
    "mail.smtp.connections": "How many connections to the server one worker sends on at "
    "once. More send faster where the server allows it; a worker killed mid-send may send "
    "again the one mail in flight on each.",
    "signup": "The reminder sign-up form's limits.",
    "signup.limit_per_client": "Sign-up requests from one client address.",
    "signup.limit_per_address": "Sign-up requests for one email address.",
    "signup.limits_storage": "Where the counts are kept: `memory://`, or `redis://host:6379` "
    "when several web processes run.",
    "subscribers": "People subscribed by definition (a team list), confirmed without a mail.",
    "subscribers[].email": "Their address.",
    "subscribers[].topics": "The topics they get reminders for.",
    "subscribers[].timezone": "The zone their mails show times in.",
}

EVENT = {
    "id": "Unique and permanent: the UIDs derive from it. Never reuse one.",
    "title": "The event's title; in several languages as `{en: ..., fr: ...}`, which must "
    "give site.language (pages in a language it does not give show that one).",
    "subtitle": "A line under the title; in several languages as the title.",
    "topics": "Slugs declared under `topics:` in config.yaml.",
    "timezone": "IANA zone of the event's times; `CET`, `CEST`, `MET` mean site.timezone; "
    "default site.timezone.",
    "start": "Local wall time in `timezone`; a plain date makes an all-day event.",
    "end": "For all-day events, the last day (inclusive).",
    "status": "A cancelled event stays in the feeds, marked so.",
    "location": "Where it takes place (`Online`, an address).",
    "url": "A page with more information.",
    "organizer": "Who organises it (shown in the text, never as ORGANIZER).",
    "organizer.name": "Their name.",
    "organizer.email": "Their address.",
    "organizer.url": "Their site.",
    "contacts": "People to ask.",
    "contacts[].name": "Their name.",
    "contacts[].role": "Their role.",
    "contacts[].email": "Their address.",
    "contacts[].phone": "Their phone number.",
    "registration": "How to register.",
    "registration.url": "Where to register; mails show it while registration is open.",
    "registration.deadline": "When registration closes: reminders go out before it.",
    "online": "How to join from afar: the join link and who may see it.",
    "description": "Free text, several paragraphs; lines starting `- ` are a list; in "
    "several languages as the title.",
    "sessions": "The agenda: one calendar entry per session in the event's own .ics.",
    "sessions[].id": "Keeps a session's entry when its title changes; default: its title.",
    "sessions[].start": "When it starts.",
    "sessions[].end": "When it ends.",
    "sessions[].title": "Its title.",
    "sessions[].speakers": "Who speaks, one entry each.",
    "sessions[].description": "Free text; lines starting `- ` are a list.",
}


def render() -> str:
    """Return the reference as Markdown."""
    parts = [
        "# Field reference\n",
        "Written from the schema by `make reference`; do not edit by hand. Unknown keys are "
        "errors, and `calfeed check` names the file, line and key of every problem.\n",
        "## config.yaml\n",
        *_table(schema.ConfigSpec, CONFIG),
        "\n## Event files (feeds/**/*.yaml)\n",
        "A file holds one event, or several as a list under `events:`.\n",
        *_table(schema.EventSpec, EVENT),
    ]
    return "\n".join(parts)


def _table(model: type[BaseModel], meanings: dict[str, str]) -> list[str]:
    rows = ["| key | value | default | what it means |", "|---|---|---|---|"]
    fields = list(_fields(model, ""))
    unknown = set(meanings) - {path for path, _ in fields}
    if unknown:
        raise LookupError(f"no such key in the schema: {', '.join(sorted(unknown))}")
    for path, field in fields:
        meaning = field.description or meanings.get(path)
        if meaning is None:
            raise LookupError(f"{path}: no meaning given for this key of the schema")
        default = "required" if field.is_required() else _default(field)
        rows.append(f"| `{path}` | {_field_kind(field)} | {default} | {meaning} |")
    return rows


def _fields(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, FieldInfo]]:
    """Yield every key under ``model``, its path and field, depth first."""
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name)
        yield path, field
        inner = _unwrap(field.annotation)
        origin, args = get_origin(inner), get_args(inner)
        if _is_model(inner):
            yield from _fields(inner, path + ".")
        elif origin is list and _is_model(_unwrap(args[0])):
            yield from _fields(_unwrap(args[0]), path + "[].")
        elif origin is dict and _is_model(_unwrap(args[1])):
            yield from _fields(_unwrap(args[1]), path + ".<slug>.")


def _unwrap(annotation: Any) -> Any:
    """Return the type inside Annotated[...] and ``X | None``."""
    if get_origin(annotation) is Annotated:
        return _unwrap(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        others = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(others) == 1:
            return _unwrap(others[0])
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _field_kind(field: FieldInfo) -> str:
    """Describe the values a field accepts; pydantic keeps a field's own validators apart."""
    for meta in field.metadata:
        if getattr(meta, "func", None) in KINDS:
            return KINDS[meta.func]
    return _kind(field.annotation)


def _kind(annotation: Any) -> str:
    """Describe the values ``annotation`` accepts."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        for meta in args[1:]:
            if getattr(meta, "func", None) in KINDS:
                return KINDS[meta.func]
        return _kind(args[0])
    if origin in (Union, UnionType):
        return " or ".join(_kind(arg) for arg in args if arg is not type(None))
    if origin is Literal:
        return " \\| ".join(f"`{arg}`" for arg in args)
    if origin is list:
        return f"list of {_kind(args[0])}" if not _is_model(_unwrap(args[0])) else "list"
    if origin is dict:
        return "mapping of slug to topic"
    if _is_model(annotation):
        return "mapping"
    names = {str: "text", int: "whole number", bool: "`true` or `false`"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "empty"
    value = field.default
    if value is None or value is PydanticUndefined:
        return "none"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if hasattr(value, "total_seconds"):
        return f"`{values.format_duration(value)}`"
    return f"`{value}`"


if __name__ == "__main__":
    sys.stdout.write(render())
