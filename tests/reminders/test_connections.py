"""Several SMTP connections per worker (``mail.smtp.connections``): faster, and still once.

Each connection claims, holds and records its own batches under a name of its own, so two
connections of one worker never trust each other's claim. A slow server (each mail answered
after a while, as a content filter does) shows whether the mails really go out side by side.
"""

from __future__ import annotations

import collections

import pytest
import sqlalchemy as sa

from service.reminders.worker import worker_for
from service.store.tables import outbox

from .conftest import Calfeed, due_batch


@pytest.mark.parametrize("connections", [1, 4])
def test_every_due_mail_goes_once_on_as_many_connections_as_configured(
    calfeed: Calfeed, connections: int
) -> None:
    planned = due_batch(calfeed, people=40, events=1, connections=connections)
    calfeed.smtp.sink.end_delay = 0.05
    worker = worker_for(calfeed.open(), name="mailer")

    outcome = worker.sender.send_due()

    received = collections.Counter(m.to for m in calfeed.smtp.sink.messages)
    assert planned == 40
    assert outcome.sent == 40
    assert sorted(received) == sorted(f"person{n:04d}@example.org" for n in range(40))
    assert set(received.values()) == {1}
    with calfeed.open().engine.connect() as db:
        rows = db.execute(sa.select(outbox.c.status, outbox.c.claimed_by)).all()
    assert {status for status, _ in rows} == {"sent"}
    names = {claimed_by for _, claimed_by in rows}
    if connections == 1:
        assert names == {"mailer"}
        assert calfeed.smtp.sink.most_answering == 1
    else:
        assert len(names) > 1 and names <= {f"mailer#{n}" for n in range(1, 5)}
        assert calfeed.smtp.sink.most_answering > 1  # mails waited for their answer together


def test_a_connection_the_server_drops_leaves_its_mails_for_later_and_the_others_go(
    calfeed: Calfeed,
) -> None:
    due_batch(calfeed, people=40, events=1, connections=4)
    calfeed.smtp.sink.drop_next(1)
    worker = worker_for(calfeed.open(), name="mailer")

    first = worker.sender.send_due()

    received = collections.Counter(m.to for m in calfeed.smtp.sink.messages)
    assert set(received.values()) == {1}
    assert first.sent == len(received) and 0 < first.sent < 40
    assert first.sent + first.retried == 40
    with calfeed.open().engine.connect() as db:
        statuses = collections.Counter(db.execute(sa.select(outbox.c.status)).scalars())
    assert statuses == {"sent": first.sent, "planned": 40 - first.sent}
