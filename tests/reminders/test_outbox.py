"""The outbox (``service/reminders/outbox.py``): claims under a lease, outcomes, what is due.

Rows are planned by the real planner from a project with three subscribers of one webinar
(10 Nov 2026 14:00 Brussels, 13:00 UTC; reminders 7d and 1h before it).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory

from service.live import LiveCatalog
from service.reminders import outbox, planner

from .conftest import Calfeed, utc

PEOPLE = [
    {"email": "ann@example.org", "topics": ["procurement"]},
    {"email": "bob@example.org", "topics": ["procurement"]},
    {"email": "carol@example.org", "topics": ["procurement"]},
]
WEEK_BEFORE = utc("2026-11-03 13:00")
HOUR_BEFORE = utc("2026-11-10 12:00")


@pytest.fixture
def live(calfeed: Calfeed, clock: FrozenDateTimeFactory) -> LiveCatalog:
    """Return a live catalog whose outbox holds the 7d and 1h reminders of three people."""
    calfeed.configure(PEOPLE, reminders={"before_start": ["7d", "1h"]})
    calfeed.event("webinar")
    live = calfeed.open()
    planner.plan(live.engine, live.edition.catalog, utc("2026-10-01 12:00"))  # confirms them
    planner.plan(live.engine, live.edition.catalog, utc("2026-11-09 12:00"))  # plans all six
    return live


def test_a_claimed_reminder_is_held_by_one_worker_until_its_lease_ends(live: LiveCatalog) -> None:
    now = WEEK_BEFORE
    with live.engine.begin() as connection:
        first = outbox.claim(connection, "w1", now, limit=10, lease=timedelta(minutes=5))
        assert len(first) == 3  # the three 7-day reminders; the 1-hour ones are not due
        assert outbox.claim(connection, "w2", now + timedelta(minutes=4), limit=10) == []

        # w1 died; once its lease ends, w2 takes the reminders over.
        later = now + timedelta(minutes=5, seconds=1)
        second = outbox.claim(connection, "w2", later, limit=10)
        assert sorted(c.id for c in second) == sorted(c.id for c in first)
        assert outbox.finish(connection, second[0], "w2", "sent", sent_at=later)
        assert not outbox.finish(connection, first[1], "w1", "sent", sent_at=later)
        assert outbox.finish(connection, first[0], "w1", "sent", sent_at=later) is False
        assert outbox.counts(connection, later)["sent"] == 1


def test_claims_take_the_oldest_due_first_and_at_most_the_limit(live: LiveCatalog) -> None:
    with live.engine.begin() as connection:
        batch = outbox.claim(connection, "w1", HOUR_BEFORE, limit=4)
        rest = outbox.claim(connection, "w1", HOUR_BEFORE, limit=4)

    assert [c.offset_seconds for c in batch] == [7 * 86400] * 3 + [3600]
    assert [c.offset_seconds for c in rest] == [3600, 3600]
    assert len({c.id for c in batch + rest}) == 6


def test_a_retry_is_not_claimed_before_its_next_attempt(live: LiveCatalog) -> None:
    with live.engine.begin() as connection:
        (claimed, *_) = outbox.claim(connection, "w1", WEEK_BEFORE, limit=1)
        retry_at = WEEK_BEFORE + timedelta(seconds=30)
        assert outbox.finish(
            connection, claimed, "w1", "planned", attempts=1, next_attempt_at=retry_at
        )
        others = outbox.claim(connection, "w2", retry_at - timedelta(seconds=1), limit=10)
        assert claimed.id not in {c.id for c in others}
        (again,) = outbox.claim(connection, "w3", retry_at, limit=10)
    assert again.id == claimed.id and again.attempts == 1


def test_next_due_is_the_earliest_of_due_reminders_retries_and_lease_ends(
    live: LiveCatalog,
) -> None:
    with live.engine.begin() as connection:
        assert outbox.next_due(connection) == WEEK_BEFORE
        claimed = outbox.claim(connection, "w1", WEEK_BEFORE, limit=10, lease=timedelta(minutes=5))
        assert outbox.next_due(connection) == WEEK_BEFORE + timedelta(minutes=5)  # lease end
        for row in claimed:
            outbox.finish(connection, row, "w1", "sent", sent_at=WEEK_BEFORE)
        assert outbox.next_due(connection) == HOUR_BEFORE
        (one, *_) = outbox.claim(connection, "w1", HOUR_BEFORE, limit=1)
        retry_at = HOUR_BEFORE + timedelta(seconds=33)
        outbox.finish(connection, one, "w1", "planned", attempts=1, next_attempt_at=retry_at)
        assert outbox.next_due(connection) == HOUR_BEFORE  # two more are due at 12:00
        for row in outbox.claim(connection, "w1", HOUR_BEFORE, limit=10):
            outbox.finish(connection, row, "w1", "sent", sent_at=HOUR_BEFORE)
        assert outbox.next_due(connection) == retry_at
        (last,) = outbox.claim(connection, "w1", retry_at, limit=10)
        outbox.finish(connection, last, "w1", "failed", detail="550 no")
        assert outbox.next_due(connection) is None


def test_counts_show_the_backlog_an_operator_watches(live: LiveCatalog) -> None:
    with live.engine.begin() as connection:
        assert outbox.counts(connection, WEEK_BEFORE - timedelta(seconds=1)) == {
            "planned": 6,
            "overdue": 0,
        }
        assert outbox.counts(connection, WEEK_BEFORE)["overdue"] == 3
        (claimed, *_) = outbox.claim(connection, "w1", WEEK_BEFORE, limit=1)
        outbox.finish(connection, claimed, "w1", "failed", detail="550 no")
        assert outbox.counts(connection, WEEK_BEFORE) == {"planned": 5, "failed": 1, "overdue": 2}
        outbox.claim(connection, "w1", WEEK_BEFORE, limit=10)
        assert outbox.counts(connection, WEEK_BEFORE) == {
            "planned": 3,
            "sending": 2,
            "failed": 1,
            "overdue": 2,
        }


def test_triage_skips_what_is_superseded_or_past_and_nothing_else(live: LiveCatalog) -> None:
    with live.engine.begin() as connection:
        assert outbox.triage(connection, WEEK_BEFORE) == 0  # one reminder due per person
        assert outbox.triage(connection, HOUR_BEFORE) == 3  # the 7d ones, superseded by 1h
        assert outbox.counts(connection, HOUR_BEFORE) == {
            "planned": 3,
            "skipped": 3,
            "overdue": 3,
        }
        assert outbox.triage(connection, utc("2026-11-10 13:00")) == 3  # the start passed
        assert outbox.counts(connection, utc("2026-11-10 13:00")) == {"skipped": 6, "overdue": 0}
