"""Who gets which reminder and when (``service/reminders/planner.py``), seen from the inbox.

Every test drives the real worker (``Worker.sweep()``: refresh, plan, send) under frozen
time and looks at what the SMTP server received and what the outbox says happened.

The event used throughout starts Tue, 10 Nov 2026 14:00 in Brussels (13:00 UTC) and, when it
has one, its registration closes Fri 6 Nov 23:59 (22:59 UTC). With ``before_start: [7d, 1d,
1h]`` and ``before_registration_deadline: [3d, 1d]`` its reminders come due at the UTC
instants below.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory

from service.reminders import subscribers as subscriber_store

from .conftest import Calfeed, check_mail, utc

START_7D = "2026-11-03 13:00:00"
DEADLINE_3D = "2026-11-03 22:59:00"
DEADLINE_1D = "2026-11-05 22:59:00"
START_1D = "2026-11-09 13:00:00"
START_1H = "2026-11-10 12:00:00"
START = "2026-11-10 13:00:00"
TITLE = "Circular Cities Webinar"
REGISTRATION = {"url": "https://example.org/register", "deadline": "2026-11-06T23:59"}
ANN = {"email": "ann@example.org", "topics": ["procurement"], "timezone": "UTC"}
BOB = {"email": "bob@example.org", "topics": ["procurement"], "timezone": "UTC"}


def test_a_reminder_leaves_at_each_offset_before_start_and_before_the_deadline(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE, registration=REGISTRATION)
    assert calfeed.sweep() == []  # 1 Oct: Ann is confirmed, nothing is due yet

    expected = [
        (START_7D, f"Starts in 7 days: {TITLE}"),
        (DEADLINE_3D, f"Registration closes in 3 days: {TITLE}"),
        (DEADLINE_1D, f"Registration closes in 1 day: {TITLE}"),
        (START_1D, f"Starts in 1 day: {TITLE}"),
        (START_1H, f"Starts in 1 hour: {TITLE}"),
    ]
    for due, subject in expected:
        clock.move_to(utc(due) - timedelta(seconds=1))
        assert calfeed.sweep() == [], f"nothing is due a second before {due}"
        clock.move_to(due)
        sent = calfeed.sweep()
        assert [(m.to, m.subject) for m in sent] == [("ann@example.org", subject)], due
        check_mail(sent[0], "webinar", calfeed.tokens)

    clock.move_to("2026-11-11 09:00:00")
    assert calfeed.sweep() == []
    assert len(calfeed.smtp.sink.messages) == 5
    assert {row["status"] for row in calfeed.outbox()} == {"sent"}


def test_no_deadline_reminders_for_an_event_without_a_deadline(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE, registration={"url": "https://example.org/register"})
    calfeed.sweep()

    for due in (START_7D, DEADLINE_3D, DEADLINE_1D, START_1D, START_1H, START):
        clock.move_to(due)
        calfeed.sweep()

    assert calfeed.smtp.sink.subjects == [
        f"Starts in 7 days: {TITLE}",
        f"Starts in 1 day: {TITLE}",
        f"Starts in 1 hour: {TITLE}",
    ]


def test_one_mail_per_event_when_several_of_the_subscribers_topics_match(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    both = {"email": "both@example.org", "topics": ["procurement", "circular-economy"]}
    one = {"email": "one@example.org", "topics": ["circular-economy"]}
    calfeed.configure([both, one])
    calfeed.event("webinar", title=TITLE, topics=["procurement", "circular-economy"])
    calfeed.event(
        "forum", title="Supply Chain Forum", topics=["procurement", "supply-chains"]
    )  # same start: a second event is a second mail
    calfeed.sweep()

    clock.move_to(START_7D)
    sent = calfeed.sweep()

    assert sorted((m.to, m.subject) for m in sent) == [
        ("both@example.org", "Starts in 7 days: Circular Cities Webinar"),
        ("both@example.org", "Starts in 7 days: Supply Chain Forum"),
        ("one@example.org", "Starts in 7 days: Circular Cities Webinar"),
    ]
    assert len({m.message_id for m in sent}) == 3
    webinar_rows = [row for row in calfeed.outbox() if row["event_id"] == "webinar"]
    assert sorted(row["email"] for row in webinar_rows) == ["both@example.org", "one@example.org"]


def test_only_reminders_due_after_confirmation_are_sent(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE)
    calfeed.sweep()
    clock.move_to(START_7D)
    assert [m.to for m in calfeed.sweep()] == ["ann@example.org"]

    # Bob joins on 5 Nov: the 7-day reminder came due before that, so it is not his.
    clock.move_to("2026-11-05 08:00:00")
    calfeed.configure([ANN, BOB])
    assert calfeed.sweep() == []
    clock.move_to("2026-11-07 08:00:00")
    assert calfeed.sweep() == []

    clock.move_to(START_1D)
    sent = calfeed.sweep()
    assert sorted((m.to, m.subject) for m in sent) == [
        ("ann@example.org", f"Starts in 1 day: {TITLE}"),
        ("bob@example.org", f"Starts in 1 day: {TITLE}"),
    ]
    bob = [(r["kind"], r["offset_seconds"]) for r in calfeed.outbox() if r["email"] == BOB["email"]]
    assert ("start", 7 * 86400) not in bob


def test_someone_who_signs_up_is_reminded_only_once_confirmed_of_what_comes_due_after(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE)
    calfeed.sweep()
    clock.move_to("2026-10-20 09:00:00")
    with calfeed.engine.begin() as connection:
        dora, _ = subscriber_store.request(
            connection,
            "Dora@Example.org",
            ["procurement"],
            ZoneInfo("Europe/Paris"),
            utc("2026-10-20 09:00"),
        )  # she has not clicked the confirmation link yet

    clock.move_to(START_7D)
    assert [m.to for m in calfeed.sweep()] == ["ann@example.org"]
    clock.move_to("2026-11-05 09:00:00")
    with calfeed.engine.begin() as connection:
        assert subscriber_store.confirm(connection, dora.id, utc("2026-11-05 09:00"))
    assert calfeed.sweep() == []  # the 7-day reminder came due before she confirmed

    clock.move_to(START_1D)
    sent = {m.to: m for m in calfeed.sweep()}
    assert sorted(sent) == ["ann@example.org", "dora@example.org"]
    when = "Tue, 10 Nov 2026, 14:00–16:00 CET (Europe/Paris and Europe/Brussels)"  # same clock
    assert when in sent["dora@example.org"].text()
    check_mail(sent["dora@example.org"], "webinar", calfeed.tokens)


def test_a_moved_event_reminds_at_its_new_time_and_never_at_the_old_one(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE)
    calfeed.sweep()
    clock.move_to("2026-11-02 09:00:00")
    calfeed.sweep()  # the 7-day reminder for 10 Nov is in the outbox, due tomorrow
    assert calfeed.statuses() == [("ann@example.org", "webinar", "start", 604800, "planned")]

    # The operator moves the webinar two days later, to Thu 12 Nov 14:00.
    clock.move_to("2026-11-02 10:00:00")
    calfeed.event("webinar", title=TITLE, start="2026-11-12T14:00", end="2026-11-12T16:00")
    assert calfeed.sweep() == []
    old = [row for row in calfeed.outbox() if row["target_at"] == utc(START)]
    assert [(row["status"], row["detail"]) for row in old] == [
        ("withdrawn", "event moved or topics changed")
    ]

    clock.move_to(START_7D)  # when the old reminder was due: only the change notice goes
    assert [m.subject for m in calfeed.sweep()] == [f"Moved: {TITLE}"]

    clock.move_to("2026-11-05 13:00:00")  # 7 days before the new start
    sent = calfeed.sweep()
    assert [m.subject for m in sent] == [f"Starts in 7 days: {TITLE}"]
    assert "Thu, 12 Nov 2026, 13:00–15:00 UTC" in sent[0].text()
    check_mail(sent[0], "webinar", calfeed.tokens)

    for due in ("2026-11-09 13:00:00", "2026-11-10 12:00:00"):  # the old 1d and 1h
        clock.move_to(due)
        assert calfeed.sweep() == [], due
    clock.move_to("2026-11-11 13:00:00")
    assert [m.subject for m in calfeed.sweep()] == [f"Starts in 1 day: {TITLE}"]
    clock.move_to("2026-11-12 12:00:00")
    assert [m.subject for m in calfeed.sweep()] == [f"Starts in 1 hour: {TITLE}"]
    assert len(calfeed.smtp.sink.messages) == 4  # three reminders and the change notice


def test_an_event_moved_and_moved_back_is_reminded_at_its_time(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE)
    calfeed.sweep()
    clock.move_to("2026-11-02 09:00:00")
    calfeed.sweep()  # the 7-day reminder for 10 Nov is queued

    clock.move_to("2026-11-02 09:01:00")
    calfeed.event("webinar", title=TITLE, start="2026-11-10T15:00", end="2026-11-10T16:00")
    calfeed.sweep()  # a typo: 15:00
    clock.move_to("2026-11-02 09:05:00")
    calfeed.event("webinar", title=TITLE)  # fixed: 14:00 again
    calfeed.sweep()

    for due in (START_7D, START_1D, START_1H):
        clock.move_to(due)
        calfeed.sweep()
    assert calfeed.smtp.sink.subjects == [
        f"Starts in 7 days: {TITLE}",
        f"Starts in 1 day: {TITLE}",
        f"Starts in 1 hour: {TITLE}",
    ]


def test_a_cancelled_event_sends_one_notice_to_those_already_reminded_and_nothing_else(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    carol = {"email": "carol@example.org", "topics": ["procurement"]}
    calfeed.configure([ANN, BOB])
    calfeed.event("webinar", title=TITLE, registration=REGISTRATION)
    calfeed.sweep()
    clock.move_to(START_7D)
    assert sorted(m.to for m in calfeed.sweep()) == ["ann@example.org", "bob@example.org"]
    clock.move_to("2026-11-04 09:00:00")
    calfeed.configure([ANN, BOB, carol])  # Carol joins: nothing has reminded her yet
    calfeed.sweep()  # Ann and Bob: registration closes in 3 days (caught up)
    assert len(calfeed.smtp.sink.messages) == 4
    assert calfeed.smtp.sink.to("carol@example.org") == []

    clock.move_to("2026-11-04 10:00:00")
    calfeed.event("webinar", title=TITLE, registration=REGISTRATION, status="cancelled")
    notices = calfeed.sweep()

    assert sorted((m.to, m.subject) for m in notices) == [
        ("ann@example.org", f"Cancelled: {TITLE}"),
        ("bob@example.org", f"Cancelled: {TITLE}"),
    ]
    for notice in notices:
        assert f"{TITLE} has been cancelled." in notice.text()
        check_mail(notice, "webinar", calfeed.tokens)
        attached = next(iter(notice.message.iter_attachments())).get_content()
        assert "STATUS:CANCELLED" in attached

    for moment in ("2026-11-04 11:00:00", DEADLINE_1D, START_1D, START_1H, START):
        clock.move_to(moment)
        assert calfeed.sweep() == [], f"nothing more after the cancellation ({moment})"
    assert calfeed.smtp.sink.to("carol@example.org") == []
    assert len(calfeed.smtp.sink.messages) == 6
    reminders = [row for row in calfeed.outbox() if row["kind"] != "cancelled"]
    assert {row["status"] for row in reminders} == {"sent", "withdrawn"}
    assert {row["detail"] for row in reminders if row["status"] == "withdrawn"} == {
        "event cancelled"
    }


def test_an_event_cancelled_by_mistake_and_reinstated_is_reminded_again(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE)
    calfeed.sweep()
    clock.move_to(START_7D)
    assert len(calfeed.sweep()) == 1
    clock.move_to("2026-11-08 14:00:00")
    calfeed.sweep()  # the 1d reminder is queued for tomorrow

    clock.move_to("2026-11-08 14:01:00")
    calfeed.event("webinar", title=TITLE, status="cancelled")
    assert [m.subject for m in calfeed.sweep()] == [f"Cancelled: {TITLE}"]
    clock.move_to("2026-11-08 14:05:00")
    calfeed.event("webinar", title=TITLE, status="confirmed")  # the operator undoes it
    calfeed.sweep()

    clock.move_to(START_1D)
    assert [m.subject for m in calfeed.sweep()] == [f"Starts in 1 day: {TITLE}"]
    clock.move_to(START_1H)
    assert [m.subject for m in calfeed.sweep()] == [f"Starts in 1 hour: {TITLE}"]


def test_an_unsubscribed_person_gets_nothing_more_even_with_a_reminder_queued(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN, BOB])
    calfeed.event("webinar", title=TITLE)
    calfeed.sweep()
    clock.move_to("2026-11-02 09:00:00")
    calfeed.sweep()  # both 7-day reminders are queued for tomorrow
    assert [row["status"] for row in calfeed.outbox()] == ["planned", "planned"]

    clock.move_to("2026-11-02 10:00:00")
    with calfeed.engine.begin() as connection:
        assert subscriber_store.unsubscribe(
            connection, calfeed.subscriber_id("bob@example.org"), utc("2026-11-02 10:00")
        )

    for due in (START_7D, START_1D, START_1H):
        clock.move_to(due)
        calfeed.sweep()

    assert calfeed.smtp.sink.to("bob@example.org") == []  # config.yaml still lists him
    assert len(calfeed.smtp.sink.to("ann@example.org")) == 3
    bob = [row for row in calfeed.outbox() if row["email"] == "bob@example.org"]
    assert [(row["status"], row["detail"]) for row in bob] == [("withdrawn", "subscriber left")]


def test_someone_removed_from_config_yaml_gets_nothing_more(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN, BOB])
    calfeed.event("webinar", title=TITLE)
    calfeed.sweep()
    clock.move_to(START_7D)
    assert len(calfeed.sweep()) == 2

    clock.move_to("2026-11-05 09:00:00")
    calfeed.configure([ANN])
    calfeed.sweep()
    for due in (START_1D, START_1H):
        clock.move_to(due)
        calfeed.sweep()

    assert [m.subject for m in calfeed.smtp.sink.to("bob@example.org")] == [
        f"Starts in 7 days: {TITLE}"
    ]
    assert len(calfeed.smtp.sink.to("ann@example.org")) == 3


def test_after_downtime_only_the_latest_due_reminder_is_sent_and_older_ones_are_skipped(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE, registration=REGISTRATION)
    calfeed.sweep()  # 1 Oct; then the worker is down until 9 Nov 14:00

    clock.move_to("2026-11-09 14:00:00")  # the 7d and 1d start reminders are both due
    sent = calfeed.sweep()

    assert [m.subject for m in sent] == [f"Starts in 23 hours: {TITLE}"]
    rows = {(r["kind"], r["offset_seconds"]): (r["status"], r["detail"]) for r in calfeed.outbox()}
    assert rows[("start", 7 * 86400)] == ("skipped", "a later reminder of the same kind was due")
    assert rows[("start", 86400)][0] == "sent"
    # The registration deadline (6 Nov) passed while the worker was down: nothing to send.
    assert not [kind for kind, _ in rows if kind == "deadline"]

    clock.move_to(START_1H)
    assert [m.subject for m in calfeed.sweep()] == [f"Starts in 1 hour: {TITLE}"]


def test_after_downtime_a_reminder_of_each_kind_is_sent(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE, registration=REGISTRATION)
    calfeed.sweep()

    clock.move_to("2026-11-05 23:30:00")  # start 7d, deadline 3d and deadline 1d are all due
    sent = calfeed.sweep()

    assert sorted(m.subject for m in sent) == [
        f"Registration closes in 23 hours: {TITLE}",
        f"Starts in 5 days: {TITLE}",
    ]
    skipped = [
        (r["kind"], r["offset_seconds"], r["detail"])
        for r in calfeed.outbox()
        if r["status"] == "skipped"
    ]
    assert skipped == [("deadline", 3 * 86400, "a later reminder of the same kind was due")]


def test_reminders_whose_event_started_while_the_worker_was_down_are_skipped(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN])
    calfeed.event("webinar", title=TITLE)
    calfeed.sweep()
    clock.move_to(START_7D)
    assert len(calfeed.sweep()) == 1
    clock.move_to("2026-11-09 10:00:00")
    assert calfeed.sweep() == []  # plans the 1d (13:00 today) and 1h reminders, then stops

    clock.move_to("2026-11-10 13:30:00")  # back after the start: nothing is worth sending
    assert calfeed.sweep() == []

    rows = [(r["offset_seconds"], r["status"], r["detail"]) for r in calfeed.outbox()]
    assert rows == [
        (7 * 86400, "sent", None),
        (86400, "skipped", "what it announced has passed"),
        (3600, "skipped", "what it announced has passed"),
    ]
    assert len(calfeed.smtp.sink.messages) == 1


def test_planning_again_never_duplicates_a_reminder(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([ANN, BOB])
    calfeed.event("webinar", title=TITLE, registration=REGISTRATION)
    calfeed.sweep()
    clock.move_to("2026-11-02 09:00:00")
    for _ in range(3):
        calfeed.sweep()
        calfeed.worker.live.refresh()
    rows = calfeed.outbox()
    keys = [(r["email"], r["kind"], r["offset_seconds"], r["target_at"]) for r in rows]
    assert len(keys) == len(set(keys)) == 4  # 7d start and 3d deadline, for each of two
    for due in (START_7D, DEADLINE_3D):
        clock.move_to(due)
        calfeed.sweep()
        calfeed.sweep()
    assert len(calfeed.smtp.sink.messages) == 4
    assert len({m.message_id for m in calfeed.smtp.sink.messages}) == 4
