"""Reminder mails: subject, plain text and HTML, the event's .ics, and list headers.

Times are written in the subscriber's zone with the event's own zone beside them, and the
whole mail (subject, both bodies, dates) in the subscriber's language (``service.language``),
or the site's own when the site no longer offers theirs. Every mail
carries one-click unsubscribe headers (RFC 8058) and a Message-ID derived from what the
reminder is, so a mail sent again after a crash is recognisable as the same one.

Each mail is composed for its recipient: the templates render with their own links, times
and Message-ID, so Jinja escapes everything the HTML part shows, and the operator's text goes
out as written. Only what is the same in every mail of an edition is made once: the event's
.ics part, and the From and List-Id headers.

The email package encodes and folds the headers that hold the operator's text or the
recipient's address (Subject, From, To, List-Id). The MIME headers, Date, Message-ID and the
list headers are constants or values calfeed writes itself, in ASCII on one line
(``_Verbatim``), and the parts are put together directly: set_content() and its kin parse
every header again at each step, about 3 ms a mail where this takes a sixth of it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message, MIMEPart
from email.policy import SMTP, Policy
from email.utils import format_datetime
from functools import cache, lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from babel.support import NullTranslations
from jinja2 import Environment, PackageLoader, StrictUndefined, nodes, select_autoescape
from jinja2.compiler import CodeGenerator, Frame

from .. import language as words
from .. import urls
from ..calendar.entries import event_page, join_url, uid_domain
from ..catalog import Config, Event
from ..tokens import CONFIRM_WITHIN, Tokens


class _HeaderClasses(HeaderRegistry):
    """The email package's header classes, each made once.

    The registry it comes with makes a class anew each time a header is set or parsed,
    which costs more than the rest of setting it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


# How every mail is written: as SMTP wants it (CRLF line endings, 8-bit parts allowed).
_HEADERS = _HeaderClasses()
_POLICY = SMTP.clone(header_factory=_HEADERS)
_Part = TypeVar("_Part", bound=MIMEPart)


class _Translated(CodeGenerator):
    """Writes each ``_("text", name=value)`` of a mail template with its translation in.

    The i18n extension looks the text up in the catalog at every render, through three
    calls of Jinja's context each: 18 per reminder, a fifth of composing one (measured).
    Each environment speaks one language, so the text is translated once, when the
    template is compiled, into what the extension's (newstyle) gettext returns: the
    translation, marked safe where the template autoescapes, ``%`` the values, which
    Markup escapes. Anything else (ngettext, ``_`` called otherwise) renders as before.
    """

    environment: _MailTemplates

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        called, args = node.node, node.args
        if (
            isinstance(called, nodes.Name)
            and called.name == "_"
            and len(args) == 1
            and isinstance(args[0], nodes.Const)
            and isinstance(args[0].value, str)
            and node.dyn_args is None
            and node.dyn_kwargs is None
            and not forward_caller
        ):
            text = self.environment.translations.gettext(args[0].value)
            values = [nodes.Pair(nodes.Const(kw.key), kw.value) for kw in node.kwargs]
            self.visit(
                nodes.Mod(nodes.MarkSafeIfAutoescape(nodes.Const(text)), nodes.Dict(values)), frame
            )
            return
        super().visit_Call(node, frame, forward_caller=forward_caller)


class _MailTemplates(Environment):
    """The mail templates of one language, its words written in as they compile."""

    code_generator_class = _Translated

    def __init__(self, translations: NullTranslations, **options: Any) -> None:
        super().__init__(**options)
        self.translations = translations
        self.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]


@cache
def _templates(language: str) -> Environment:
    """Return the mail templates speaking ``language``: one environment per language."""
    return _MailTemplates(
        words.translations(language),
        loader=PackageLoader("service.reminders", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        auto_reload=False,  # package files: no need to look at them again for every mail
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )


@dataclass(frozen=True, slots=True)
class Links:
    """The links every mail carries that are one subscriber's own."""

    unsubscribe: str
    preferences: str


def links_for(config: Config, tokens: Tokens, subscriber_id: int, generation: int) -> Links:
    """Return one subscription's links to leave and to change its preferences."""
    return Links(
        urls.absolute(
            config, urls.unsubscribe(tokens.make("unsubscribe", subscriber_id, generation))
        ),
        urls.absolute(config, urls.preferences(tokens.make("manage", subscriber_id, generation))),
    )


@dataclass(frozen=True, slots=True)
class Times:
    """An event's times as one subscriber reads them: in their zone, the event's beside."""

    when: str
    deadline: str | None


def times_in(event: Event, zone: ZoneInfo, language: str = "en") -> Times:
    """Return the event's times (and registration deadline) written for ``zone``."""
    deadline = event.registration.deadline if event.registration else None
    return Times(
        event_times(event, zone, language),
        instant_times(deadline, event, zone, language) if deadline else None,
    )


@dataclass(frozen=True, slots=True)
class Reminder:
    """What one mail is about: who, which event, which kind, for which instant."""

    email: str
    timezone: ZoneInfo
    event: Event
    kind: str  # start | deadline | cancelled
    offset_seconds: int
    target_at: datetime
    language: str | None = None  # the subscriber's; None: the site's own


def message_id(subscriber_id: int, reminder: Reminder, config: Config) -> str:
    """Return the Message-ID of a reminder: the same reminder always gets the same one."""
    key = "|".join(
        (
            str(subscriber_id),
            reminder.event.id,
            reminder.kind,
            str(reminder.offset_seconds),
            reminder.target_at.isoformat(),
        )
    )
    return derived_message_id("reminder", key, config)


def account_message_id(subscriber_id: int, kind: str, target_at: datetime, config: Config) -> str:
    """Return the Message-ID of a confirmation or preferences mail."""
    return derived_message_id(kind, f"{subscriber_id}|{kind}|{target_at.isoformat()}", config)


def derived_message_id(prefix: str, key: str, config: Config) -> str:
    """Return ``<prefix.digest-of-key@site>``: what a mail is always gives the same id."""
    return f"<{prefix}.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{uid_domain(config)}>"


def compose(
    reminder: Reminder,
    config: Config,
    *,
    ics: bytes,
    links: Links,
    message_id: str,
    now: datetime,
) -> EmailMessage:
    """Build the mail for ``reminder``'s recipient as it would be sent at ``now``."""
    language = config.site.language_for(reminder.language)
    event = reminder.event.in_language(language)
    ahead = remaining(reminder.target_at - now, language)
    times = times_in(event, reminder.timezone, language)
    page = event_page(event, config)
    context = {
        "language": language,
        "site": config.site,
        "event": event,
        "kind": reminder.kind,
        "remaining": ahead,
        "when": times.when,
        "deadline": times.deadline,
        "topics": [config.topics[slug].in_language(language).name for slug in event.topics],
        "page_url": page,
        "ics_url": page + ".ics",
        # A link to register is only worth showing while registration is open.
        "register_url": _open_registration(event, now),
        # Reminders go to confirmed subscribers only: a private join link is theirs to see.
        "join_url": None if event.status == "cancelled" else join_url(event, private=True),
        "links": links,
    }
    said = subject(reminder, ahead, language)
    return write_mail(
        "reminder",
        context,
        language,
        subject=said,
        to=reminder.email,
        config=config,
        message_id=message_id,
        links=links,
        now=now,
        calendar=(event.id, ics),
    )


def _open_registration(event: Event, now: datetime) -> str | None:
    registration = event.registration
    if registration is None or registration.url is None or event.status == "cancelled":
        return None
    if registration.deadline is not None and registration.deadline <= now:
        return None
    return registration.url


def subject(reminder: Reminder, remaining_text: str, language: str = "en") -> str:
    """Return the subject line, in ``language``."""
    said = words.translations(language)
    kind, title = reminder.kind, reminder.event.in_language(language).title
    if kind == "cancelled":
        return said.gettext("Cancelled: %(title)s") % {"title": title}
    if kind == "deadline":
        return said.gettext("Registration closes %(when)s: %(title)s") % {
            "when": remaining_text,
            "title": title,
        }
    return said.gettext("Starts %(when)s: %(title)s") % {"when": remaining_text, "title": title}


def remaining(delta: timedelta, language: str = "en") -> str:
    """Say how far ahead something is: ``in 7 days``, ``in 3 hours``, ``in 20 minutes``."""
    said = words.translations(language)
    minutes = max(0, round(delta.total_seconds() / 60))
    if minutes >= 1440:
        days = round(minutes / 1440)
        return said.ngettext("in %(num)d day", "in %(num)d days", days) % {"num": days}
    if minutes >= 60:
        hours = round(minutes / 60)
        return said.ngettext("in %(num)d hour", "in %(num)d hours", hours) % {"num": hours}
    return said.ngettext("in %(num)d minute", "in %(num)d minutes", minutes) % {"num": minutes}


def event_times(event: Event, zone: ZoneInfo, language: str = "en") -> str:
    """Write an event's dates and times in ``zone``, with the event's own beside them."""
    if event.all_day:
        days = words.days(event.first_day, event.last_day, language, short=True)
        all_day = words.translations(language).gettext("all day, %(zone)s")
        return f"{days} ({all_day % {'zone': event.timezone.key}})"
    return _both(
        lambda z: _span(event.start, event.end, z, language), zone, event.timezone, language
    )


def instant_times(moment: datetime, event: Event, zone: ZoneInfo, language: str = "en") -> str:
    """Write one instant in ``zone``, with the event's zone beside it."""
    return _both(lambda z: _instant(moment, z, language), zone, event.timezone, language)


def _both(write: Callable[[ZoneInfo], str], zone: ZoneInfo, own: ZoneInfo, language: str) -> str:
    """Write a time in the reader's zone and the event's; once when they read the same."""
    theirs, ours = write(zone), write(own)
    if zone.key == own.key:
        return f"{theirs} ({zone.key})"
    if theirs == ours:  # Vienna and Brussels: the same clock time, said once
        both = words.translations(language).gettext("%(zone)s and %(other)s")
        return f"{theirs} ({both % {'zone': zone.key, 'other': own.key}})"
    return f"{theirs} ({zone.key}); {ours} ({own.key})"


# Babel takes a tenth of a millisecond to write a date, four times in a reminder, and the
# subscribers of an edition live in a few zones and languages: each span and instant is
# written once for each (zone, language) instead (a sixth of composing a reminder,
# measured). Datetimes and zones are values, so the same text comes back.
@lru_cache(maxsize=1024)
def _span(start: datetime, end: datetime, zone: ZoneInfo, language: str) -> str:
    start, end = start.astimezone(zone), end.astimezone(zone)
    opening = f"{words.short_date(start.date(), language)}, {words.clock(start)}"
    if start.date() == end.date():
        return f"{opening}–{words.clock(end)} {words.zone_name(end)}"
    return f"{opening} {words.zone_name(start)} – {_instant(end, zone, language)}"


@lru_cache(maxsize=1024)
def _instant(moment: datetime, zone: ZoneInfo, language: str) -> str:
    local = moment.astimezone(zone)
    day = words.short_date(local.date(), language)
    return f"{day}, {words.clock(local)} {words.zone_name(local)}"


def compose_account(
    kind: str,
    email: str,
    topics: list[str],
    config: Config,
    *,
    link: str,
    links: Links,
    message_id: str,
    now: datetime,
    language: str | None = None,
) -> EmailMessage:
    """Build the mail that asks to confirm a sign-up, or that links to one's preferences.

    ``topics`` are the topics' names in ``language``, the subscriber's (None: the site's own).
    """
    language = config.site.language_for(language)
    said = words.translations(language)
    context = {
        "language": language,
        "site": config.site,
        "kind": kind,
        "topics": topics,
        "link": link,
        "valid_hours": CONFIRM_WITHIN // timedelta(hours=1),
        "links": links,
    }
    if kind == "confirm":
        title = said.gettext("Confirm your reminders from %(site)s")
    else:
        title = said.gettext("Your reminders from %(site)s")
    said_subject = title % {"site": config.site.title}
    return write_mail(
        "account",
        context,
        language,
        subject=said_subject,
        to=email,
        config=config,
        message_id=message_id,
        links=links,
        now=now,
    )


def write_mail(
    template: str,
    context: dict[str, Any],
    language: str,
    *,
    subject: str,
    to: str,
    config: Config,
    message_id: str,
    links: Links,
    now: datetime,
    calendar: tuple[str, bytes] | None = None,
) -> EmailMessage:
    """Write a mail: the headers every calfeed mail carries, ``template``'s text and HTML
    in ``language``, and an event's .ics attached when ``calendar`` gives its id and bytes."""
    message = _message(subject, to, config, message_id, links, now)
    bodies = _bodies(template, context, language)
    if calendar is None:
        return _fill(message, "alternative", bodies)
    alternative = _fill(MIMEPart(_POLICY), "alternative", bodies)
    return _fill(message, "mixed", [alternative, _calendar(*calendar)])


def _bodies(template: str, context: dict[str, Any], language: str) -> list[MIMEPart]:
    """Return the plain text and HTML parts, each rendered once for its recipient."""
    templates = _templates(language)
    return [
        _text("plain", templates.get_template(f"{template}.txt").render(context)),
        _text("html", templates.get_template(f"{template}.html").render(context)),
    ]


def _text(subtype: str, text: str) -> MIMEPart:
    """Return a text part as 8-bit UTF-8.

    8-bit keeps the text as written, where quoted-printable or base64 would encode every
    accented letter; a server that does not take 8BITMIME gets it in base64
    (``transports``). The payload is the UTF-8 bytes as the email package keeps 8-bit
    data, escaped into text (``surrogateescape``).
    """
    part = MIMEPart(_POLICY)
    part["Content-Type"] = _Verbatim("Content-Type", f'text/{subtype}; charset="utf-8"')
    part["Content-Transfer-Encoding"] = _Verbatim("Content-Transfer-Encoding", "8bit")
    lines = text.encode().splitlines()  # each ended as set_content() would end it
    part.set_payload(b"".join(line + b"\n" for line in lines).decode("ascii", "surrogateescape"))
    return part


@lru_cache(maxsize=64)
def _calendar(event_id: str, ics: bytes) -> MIMEPart:
    """Return the event's .ics as an attachment: made once per edition of the event.

    Every mail about the event carries this one part; flattening a mail never changes it.
    """
    part = MIMEPart(_POLICY)
    part["Content-Type"] = _Verbatim(
        "Content-Type", 'text/calendar; charset="utf-8"; method="PUBLISH"'
    )
    part["Content-Transfer-Encoding"] = _Verbatim("Content-Transfer-Encoding", "base64")
    # The email package's own, folded once: whoever reads the message asks it whether this is
    # an attachment.
    disposition = _HEADERS("Content-Disposition", f'attachment; filename="{event_id}.ics"')
    part["Content-Disposition"] = _FoldedOnce(disposition)
    part.set_payload(base64.encodebytes(ics).decode("ascii"))  # lines of 76, as MIME wants
    return part


def _fill(part: _Part, subtype: str, parts: Sequence[Message]) -> _Part:
    """Make ``part`` a multipart/``subtype`` of ``parts``, under a boundary of its own."""
    # Random, so that no text in the parts holds it; the email package would otherwise
    # compile a pattern for each multipart of each mail to search the text for its own.
    boundary = f"=_{secrets.token_hex(16)}"
    part["Content-Type"] = _Verbatim("Content-Type", f'multipart/{subtype}; boundary="{boundary}"')
    part.set_payload(list(parts))
    return part


def one_line(text: str) -> str:
    """Return ``text`` with every run of white space, line breaks too, as one space.

    A header must never carry a line break of its own: it would end the header there and
    let the rest of the text become headers or body.
    """
    return " ".join(text.split())


def _message(
    subject: str, to: str, config: Config, message_id: str, links: Links, now: datetime
) -> EmailMessage:
    """Start a mail with the headers every calfeed mail carries, one-click unsubscribe too."""
    message = EmailMessage(_POLICY)
    # What the operator wrote and the recipient's address: the email package encodes and
    # folds them. The rest calfeed writes itself, in ASCII and on one line each.
    # The subject is one of a few per edition (an event's title, kind and how far ahead, in
    # a language): parsed and folded once each, not in every mail (a fifth of composing
    # and writing one, 0.2 of 0.9 ms measured), by the email package as in each mail.
    message["Subject"] = _shared_header("Subject", one_line(subject))
    message["From"] = _shared_header("From", config.mail.sender)
    message["To"] = to
    message["Date"] = _Verbatim("Date", format_datetime(now))
    message["Message-ID"] = _Verbatim("Message-ID", message_id)
    list_id = f"{one_line(config.site.title)} <reminders.{uid_domain(config)}>"
    message["List-Id"] = _shared_header("List-Id", list_id)
    message["Auto-Submitted"] = _Verbatim("Auto-Submitted", "auto-generated")
    message["List-Unsubscribe"] = _Verbatim("List-Unsubscribe", f"<{links.unsubscribe}>")
    message["List-Unsubscribe-Post"] = _Verbatim(
        "List-Unsubscribe-Post", "List-Unsubscribe=One-Click"
    )
    message["MIME-Version"] = _Verbatim("MIME-Version", "1.0")
    return message


@lru_cache(maxsize=256)
def _shared_header(name: str, value: str) -> _FoldedOnce:
    """Return a header that many mails share (the site's, a subject), parsed and folded once."""
    header = _HEADERS(name, value)
    if name == "From":
        # Written again from its parts: from the text as written, the email package folds a
        # display name partly quoted and partly beyond ASCII into an encoded word glued to
        # the text before it, which readers show undecoded (RFC 2047, 5).
        addresses = header.addresses  # type: ignore[attr-defined]
        header = _HEADERS(
            name, tuple(Address(a.display_name, addr_spec=a.addr_spec) for a in addresses)
        )
    return _FoldedOnce(header)


class _FoldedOnce(str):
    """A header of the email package's, folded by it once for each way a mail is written.

    Folding parses the header's text again each time: for the headers the same in every
    mail, that was a tenth of the worker's time per mail. The folded lines are the email
    package's own, kept for each policy that writes them (with SMTPUTF8 or without).
    """

    name: str

    def __new__(cls, header: BaseHeader) -> _FoldedOnce:
        folded = super().__new__(cls, str(header))
        folded.name, folded._header, folded._lines = header.name, header, {}
        return folded

    _header: BaseHeader
    _lines: dict[tuple[str, bool, int | None], str]

    def fold(self, *, policy: Policy) -> str:
        """Return the header's lines as the email package folds them under ``policy``."""
        key = (policy.linesep, bool(getattr(policy, "utf8", False)), policy.max_line_length)
        lines = self._lines.get(key)
        if lines is None:
            lines = self._lines[key] = self._header.fold(policy=policy)
        return lines


class _Verbatim(str):
    """A header written as it is, on one line: never folded, never RFC 2047-encoded.

    The email package folds a header over 78 characters, and encodes a word too long to
    fold, such as a long URL; Gmail and Yahoo then offer no one-click unsubscribe (RFC 8058).
    A URL fits the 998 characters a line may hold. Only for what calfeed writes itself:
    ASCII on one line.
    """

    name: str

    def __new__(cls, name: str, value: str) -> _Verbatim:
        if not value.isascii() or "\r" in value or "\n" in value:
            raise ValueError(f"{name}: {value!r} must be ASCII on one line")
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy: Policy) -> str:
        """Write the header line with the policy's line ending."""
        return f"{self.name}: {self}{policy.linesep}"
