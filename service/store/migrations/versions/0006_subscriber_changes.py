"""A log of changed subscribers, so the planner re-plans only the people who changed.

Every insert, update and delete of a ``subscribers`` row appends the row's id to
``subscriber_changes``, written by the database itself (a trigger), so no writer can forget
it: the web process (sign-ups, confirmations, preferences, unsubscribes), ``calfeed
subscribers erase``, the worker's sync of config.yaml, and any added later. The planner
remembers the last id it read and re-plans those subscribers only. ``changed_at`` (the
database's clock) serves only to prune the log.

The outbox gets an index on (event_id, target_at), so that one event's reminders are read
without reading everyone else's.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = {
    "insert": "AFTER INSERT ON subscribers BEGIN "
    "INSERT INTO subscriber_changes (subscriber_id) VALUES (NEW.id); END",
    "update": "AFTER UPDATE ON subscribers BEGIN "
    "INSERT INTO subscriber_changes (subscriber_id) VALUES (NEW.id); END",
    "delete": "AFTER DELETE ON subscribers BEGIN "
    "INSERT INTO subscriber_changes (subscriber_id) VALUES (OLD.id); END",
}

_POSTGRESQL_FUNCTION = """
CREATE FUNCTION subscriber_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO subscriber_changes (subscriber_id) VALUES (OLD.id);
    ELSE
        INSERT INTO subscriber_changes (subscriber_id) VALUES (NEW.id);
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "subscriber_changes",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column(
            "changed_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_subscriber_changes"),
        sqlite_autoincrement=True,  # an id is never used twice, even after pruning
    )
    op.create_index("ix_outbox_event_target", "outbox", ["event_id", "target_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRESQL_FUNCTION)
        op.execute(
            "CREATE TRIGGER subscriber_changes AFTER INSERT OR UPDATE OR DELETE ON subscribers "
            "FOR EACH ROW EXECUTE FUNCTION subscriber_changed()"
        )
    else:
        for name, body in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER subscriber_changes_{name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER subscriber_changes ON subscribers")
        op.execute("DROP FUNCTION subscriber_changed()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER subscriber_changes_{name}")
    op.drop_index("ix_outbox_event_target", "outbox")
    op.drop_table("subscriber_changes")
