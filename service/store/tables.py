"""The tables calfeed keeps: what it must remember between runs.

The catalog lives in YAML; the database holds what YAML cannot: the revision of every calendar
entry and feed (so SEQUENCE and LAST-MODIFIED rise on edits and stay put otherwise), when each
event was first published and at which start, what each entry was rendered to and each
event file read into, the subscribers and a log of their changes, the outbox of mail to send
and what became of it, and the workers that send it.
"""

from __future__ import annotations

import sqlalchemy as sa

from .database import UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

revisions = sa.Table(
    "revisions",
    metadata,
    sa.Column("uid", sa.String(255), primary_key=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("last_modified", UTCDateTime, nullable=False),
)

# When each event was first published and the start it had then, never updated: an event
# whose start moved since is rescheduled (``publications.PublicationStore``).
publications = sa.Table(
    "publications",
    metadata,
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("first_start", UTCDateTime, nullable=False),
    sa.Column("published_at", UTCDateTime, nullable=False),
)

# What each calendar entry was rendered to (unstamped), by a digest of what it is rendered
# from, so a fresh process renders only what changed (``renders.RenderStore``).
renders = sa.Table(
    "renders",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("uid", sa.String(255), nullable=False, index=True),
    sa.Column("zone", sa.String(255), nullable=True),  # the TZID the entry uses, if any
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# What each clean event file was read into (JSON of its events), by a digest of its bytes
# and of what it is read against, so a fresh process parses only the files that changed
# (``parsed.ParsedStore``); ``file`` is a digest of the file's name, one row a file.
parsed_files = sa.Table(
    "parsed_files",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("file", sa.String(64), nullable=False, index=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),  # subscribers.normalise
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("topics", sa.Text, nullable=False),  # slugs joined by spaces
    # pending (not confirmed yet), confirmed, unsubscribed, removed (gone from config.yaml),
    # merged (another spelling of an address stored in its normalised one)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # config | web
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("confirmed_at", UTCDateTime),
    sa.Column("unsubscribed_at", UTCDateTime),
    # Raised each time a subscription ends and the address signs up again: links name it.
    sa.Column("generation", sa.Integer, nullable=False, server_default="1"),
    # Alarms of the personal feed: lead times before the start in seconds, joined by spaces.
    sa.Column("alarms", sa.String(64), nullable=False, server_default=sa.text("''")),
    # What mail they chose (migration 0010): reminders before each event; a weekly digest at
    # a weekday (0 is Monday) and hour of their zone, since a moment (none: no digest); mails
    # about events first published after a moment (none: no such mail).
    sa.Column("per_event", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("digest_weekday", sa.SmallInteger),
    sa.Column("digest_hour", sa.SmallInteger),
    sa.Column("digest_since", UTCDateTime),
    sa.Column("new_events_since", UTCDateTime),
    # Whether they want a mail when an event they follow moves (``reminders.notices``).
    sa.Column("change_notices", sa.Boolean, nullable=False, server_default=sa.true()),
    # The language of their mails, as they signed up or chose it; NULL: the site's own.
    sa.Column("language", sa.String(16)),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=False),
    # start | deadline | cancelled | new | moved (about an event) | confirm | manage (about a
    # subscription) | digest (about a week: event_id holds its ISO week, 2026-W49)
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("offset_seconds", sa.Integer, nullable=False),
    sa.Column("target_at", UTCDateTime, nullable=False),  # the start or deadline it is about
    sa.Column("due_at", UTCDateTime, nullable=False),
    # planned, sending (claimed under a lease), sent, skipped, withdrawn, failed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("claimed_by", sa.String(128)),  # a worker's name, as in workers
    # When its mail was written (its Date header): a mail sent again after a crash is the same
    sa.Column("written_at", UTCDateTime),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("message_id", sa.String(255)),
    sa.Column("detail", sa.Text),  # why it was skipped, withdrawn or failed; the SMTP reply
    sa.UniqueConstraint("subscriber_id", "event_id", "kind", "offset_seconds", "target_at"),
    sa.Index("ix_outbox_status_due", "status", "due_at"),
    sa.Index("ix_outbox_event_target", "event_id", "target_at"),  # one event's reminders
)

# Every insert, update and delete of a subscriber appends its id here (database triggers,
# migration 0006), so the planner re-plans just the people who changed. ``changed_at`` is the
# database's clock, read only to prune the log.
subscriber_changes = sa.Table(
    "subscriber_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subscriber_id", sa.Integer, nullable=False),  # no key: erased rows are logged
    sa.Column(
        "changed_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()
    ),
    sqlite_autoincrement=True,
)

# Per event, the date, time, zone and place (``notices.State``, as JSON) subscribers were
# last told, and the last seen: they differ from ``changed_at`` until a notice tells.
event_states = sa.Table(
    "event_states",
    metadata,
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("told", sa.Text, nullable=False),
    sa.Column("seen", sa.Text, nullable=False),
    sa.Column("seen_at", UTCDateTime, nullable=False),  # when it was last edited
    sa.Column("changed_at", UTCDateTime, index=True),  # the first edit since told; None: same
    sa.Column("notices", sa.Integer, nullable=False),  # how many were planned
)

# What each change notice tells: the event's state before and after (``notices.State``).
change_notices = sa.Table(
    "change_notices",
    metadata,
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),  # the outbox's offset_seconds
    sa.Column("before", sa.Text, nullable=False),
    sa.Column("after", sa.Text, nullable=False),
    sa.Column("planned_at", UTCDateTime, nullable=False),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),  # host:pid:random
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
)
