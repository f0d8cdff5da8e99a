"""One subscriber per address, and a generation per subscription.

Links name the generation of the subscription they were made for, so that they die with it
(a new column, 1 for every subscription so far: the links already mailed keep working).

Addresses were stored lower-cased only, so spellings of one address (fullwidth letters, an
IDNA A-label, a differently composed accent) were separate subscribers, each mailed. Each is
now stored in its normalised spelling, and the rows of one address are merged into one:
 - the one that keeps the address is the row already spelled so, else the earliest;
 - it is confirmed if any of them was (the owner confirmed that address), with every topic
   they were confirmed for; else pending with the latest sign-up's choices; else it keeps
   its own status (and if that was a departed one, the subscription it takes on is new:
   the next generation, so that links of the one that ended stay dead);
 - the others keep their spelling and history under the status ``merged``; their queued
   reminders move to it, except the ones it has already (those are withdrawn), and their
   record of what was sent moves too, so that nothing is sent twice.
An address the validator refuses (none should be stored) is left as it is.

Revision ID: 0004
Revises: 0003
"""

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

from service.reminders.subscribers import normalise

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

subscribers = sa.table(
    "subscribers",
    sa.column("id", sa.Integer),
    sa.column("email", sa.String),
    sa.column("timezone", sa.String),
    sa.column("topics", sa.Text),
    sa.column("status", sa.String),
    sa.column("source", sa.String),
    sa.column("created_at", sa.DateTime),
    sa.column("confirmed_at", sa.DateTime),
    sa.column("generation", sa.Integer),
)
outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer),
    sa.column("subscriber_id", sa.Integer),
    sa.column("event_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("offset_seconds", sa.Integer),
    sa.column("target_at", sa.DateTime),
    sa.column("status", sa.String),
    sa.column("detail", sa.Text),
)
KEY = ("event_id", "kind", "offset_seconds", "target_at")


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("generation", sa.Integer, nullable=False, server_default="1"))
    connection = op.get_bind()
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in connection.execute(sa.select(subscribers).order_by(subscribers.c.id)):
        try:
            groups[normalise(row.email)].append(row)
        except ValueError:
            continue
    for address, rows in groups.items():
        if len(rows) > 1:
            _merge(connection, address, rows)
        elif rows[0].email != address:
            _set(connection, rows[0].id, email=address)


def _merge(connection: sa.Connection, address: str, rows: list[Any]) -> None:
    keeper = next((row for row in rows if row.email == address), rows[0])
    others = [row for row in rows if row is not keeper]
    confirmed = [row for row in rows if row.status == "confirmed"]
    pending = [row for row in rows if row.status == "pending"]
    if confirmed:
        latest = max(confirmed, key=lambda row: (row.confirmed_at, row.id))
        topics = sorted({topic for row in confirmed for topic in row.topics.split()})
        web = any(row.source == "web" for row in confirmed)  # their own choices win
        _set(
            connection,
            keeper.id,
            status="confirmed",
            topics=" ".join(topics),
            timezone=latest.timezone,
            source="web" if web else "config",
            confirmed_at=min(row.confirmed_at for row in confirmed),
        )
    elif pending:
        latest = max(pending, key=lambda row: (row.created_at, row.id))
        _set(
            connection, keeper.id, status="pending", topics=latest.topics, timezone=latest.timezone
        )
    if (confirmed or pending) and keeper.status not in ("confirmed", "pending"):
        # The address it keeps had left: what it takes on is a new subscription.
        _set(connection, keeper.id, generation=2)
    for other in others:
        _move_outbox(connection, other.id, keeper.id)
        _set(connection, other.id, status="merged")
    _set(connection, keeper.id, email=address)


def _move_outbox(connection: sa.Connection, source: int, target: int) -> None:
    """Give ``target`` the reminders of ``source`` that it has not got itself."""
    theirs = outbox.alias("theirs")
    has_it = (
        sa.select(theirs.c.id)
        .where(theirs.c.subscriber_id == target)
        .where(*(theirs.c[name] == outbox.c[name] for name in KEY))
        .exists()
    )
    connection.execute(
        outbox.update()
        .where(outbox.c.subscriber_id == source, outbox.c.status == "planned", has_it)
        .values(status="withdrawn", detail="address merged into another spelling")
    )
    connection.execute(
        outbox.update()
        .where(outbox.c.subscriber_id == source, ~has_it)
        .values(subscriber_id=target)
    )


def _set(connection: sa.Connection, subscriber_id: int, **values: Any) -> None:
    connection.execute(
        subscribers.update().where(subscribers.c.id == subscriber_id).values(**values)
    )


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("generation")
