"""Join links in reminder mails (``service/reminders/mail.py``), as the SMTP server receives them.

Reminders go to confirmed subscribers only, so they carry an online event's join link
whether it is public or private; the link must reach both parts of the mail intact.
"""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory

from .conftest import Calfeed, check_mail

PRIVATE = "https://meet.example.org/j/members-room?pwd=only-for-subscribers"
PUBLIC = "https://meet.example.org/j/4711"
NORA = {"email": "nora@example.org", "topics": ["procurement"]}


def test_a_reminder_carries_the_join_link_private_or_public(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA])
    calfeed.event("members-webinar", online={"join_url": PRIVATE})
    calfeed.event(
        "open-webinar",
        start="2026-11-10T17:00",
        end="2026-11-10T18:00",
        location="Room 4, Brussels",
        online={"join_url": PUBLIC, "public": True},
    )
    calfeed.event("in-person", start="2026-11-10T19:00", end="2026-11-10T20:00")
    calfeed.sweep()
    clock.move_to("2026-11-03 19:00:00")  # 7 days before all three

    received = {mail.subject.removeprefix("Starts in 7 days: "): mail for mail in calfeed.sweep()}

    assert sorted(received) == [
        "Webinar in-person",
        "Webinar members-webinar",
        "Webinar open-webinar",
    ]
    for title, link in (("members-webinar", PRIVATE), ("open-webinar", PUBLIC)):
        mail = received[f"Webinar {title}"]
        check_mail(mail, title, calfeed.tokens)
        assert f"Join online: {link}\n" in mail.text()
        assert f'<a href="{link}">{link}</a>' in mail.html()
        assert link.encode() in mail.data  # 8-bit text: one piece on the wire
    plain = received["Webinar in-person"]
    assert "Join online" not in plain.text() and "Join online" not in plain.html()


def test_a_cancellation_notice_offers_no_link_to_join(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure([NORA])
    calfeed.event("members-webinar", online={"join_url": PRIVATE})
    calfeed.sweep()
    clock.move_to("2026-11-03 13:00:00")
    (reminder,) = calfeed.sweep()
    calfeed.event("members-webinar", online={"join_url": PRIVATE}, status="cancelled")

    (notice,) = calfeed.sweep()

    assert PRIVATE in reminder.text()
    assert notice.subject == "Cancelled: Webinar members-webinar"
    assert "Join online" not in notice.text()
    assert "Join online" not in notice.html()
