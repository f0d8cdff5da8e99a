"""How much of a calendar UID an event's ids may take.

UIDs are ``<event-id>@<uid-domain>`` and ``<event-id>.<session-id>@<uid-domain>`` (a
session's id is given, or made from its title), and the database keeps 255 characters of
them (revisions.uid; outbox.event_id holds the event id). The revisions of an event's own
calendar are kept under ``events/<event-id>.ics``, in as many. ``check`` refuses ids that
would not fit, so that no edit fails where the service stores it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from . import values
from .schema import EventSpec

if TYPE_CHECKING:
    from .build import Checker

UID_LENGTH = 255
MAX_EVENT_ID = UID_LENGTH - len("events/.ics")


def uid_room(domain: str) -> int:
    """Return how many characters of ids fit in a calendar UID before its ``@domain``."""
    return UID_LENGTH - len("@" + domain)


def check_uids(spec: EventSpec, room: int, check: Checker) -> None:
    """Check that the UIDs of the event and of every session fit where they are kept."""
    most = min(room, MAX_EVENT_ID)
    if spec.sessions:
        most = min(most, room - 2)  # a session's UID adds a dot and an id of its own
    if len(spec.id) > most:
        whose = "of the event and its sessions" if spec.sessions else "of the event"
        check.fail(
            ("id",),
            f"has {len(spec.id)} characters; at most {most} fit in the calendar UIDs {whose} "
            "and the name of its .ics",
        )
        return
    left = room - len(spec.id) - 1  # for a session's id, after "<event-id>."
    for index, session in enumerate(spec.sessions):
        if session.id is not None and len(session.id) > left:
            check.fail(
                ("sessions", index, "id"),
                f"has {len(session.id)} characters; at most {left} fit in the session's "
                "calendar UID beside the event id",
            )
        elif session.id is None and len(derived := session_id_of(session.title)) > left:
            check.fail(
                ("sessions", index, "title"),
                f"makes the session id {values.clipped(derived)!r} of {len(derived)} "
                f"characters; at most {left} fit in its calendar UID beside the event id: "
                "give the session a shorter id:",
            )


def session_id_of(title: str) -> str:
    """Return the id a session without ``id:`` gets: its title as a slug."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-") or "session"
