"""Change notices, digests and new-event mails in the subscriber's language, on the wire.

A subscriber whose language is French gets each of them in French: subject, text and HTML,
dates as French writes them, the event's own French title where it gives one.
"""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory

from .conftest import Calfeed, Received

MARIE = {
    "email": "marie@example.org",
    "topics": ["procurement"],
    "timezone": "Europe/Paris",
    "language": "fr",
}
EVERYTHING = {"per_event": True, "digest": True, "new_events": True}


def by_subject(mails: list[Received]) -> dict[str, Received]:
    return {mail.subject.split(" :")[0]: mail for mail in mails}


def test_a_french_subscriber_gets_notices_digests_and_news_in_french(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure(
        [MARIE],
        reminders={
            "before_start": ["1d"],
            "digest": {"weekday": "monday", "hour": 8},
            "defaults": EVERYTHING,
        },
    )
    title = {"en": "Circular cities", "fr": "Villes circulaires"}
    calfeed.event("webinar", title=title)  # Tuesday 10 November
    assert calfeed.sweep() == []
    clock.move_to("2026-11-01 12:00:00")  # a Sunday
    calfeed.event("fresh", title="Fresh forum", start="2026-11-05T14:00", end="2026-11-05T16:00")
    calfeed.event("webinar", title=title, start="2026-11-04T14:00", end="2026-11-04T16:00")
    calfeed.worker.live.refresh()
    sent = calfeed.sweep()
    clock.tick(timedelta(minutes=5))  # the move has settled
    sent += calfeed.sweep()
    clock.move_to("2026-11-02 07:00:00")  # Monday 08:00 in Paris
    sent += calfeed.sweep()

    mails = by_subject(sent)
    assert set(mails) == {"D’ici au lun. 9 nov.", "Déplacé", "Nouveau"}, list(mails)

    moved = mails["Déplacé"]
    assert moved.subject == "Déplacé : Villes circulaires"
    text = moved.text()
    assert text.startswith(
        "Villes circulaires a été déplacé.\n\nCe qui change : la date et l’heure.\n"
    )
    both = "14:00–16:00 CET (Europe/Paris et Europe/Brussels)"
    assert f"Avant : mar. 10 nov. 2026, {both}\n" in text
    assert f"Désormais : mer. 4 nov. 2026, {both}\n" in text
    assert "Modifiez vos thèmes, votre fuseau horaire ou ces avis : https://" in text
    assert '<html lang="fr">' in moved.html() and "<th" in moved.html()
    assert f"<s>mar. 10 nov. 2026, {both}</s>" in moved.html()

    fresh = mails["Nouveau"]
    assert fresh.subject == "Nouveau : Fresh forum"
    assert fresh.text().startswith("Un nouvel événement dans Public procurement : Fresh forum\n")
    assert f"Quand : jeu. 5 nov. 2026, {both}\n" in fresh.text()

    digest = mails["D’ici au lun. 9 nov."]
    assert digest.subject == "D’ici au lun. 9 nov. : 2 événements"
    listing = digest.text()
    assert listing.startswith(
        "Ce qui arrive dans vos thèmes d’ici au prochain récapitulatif, "
        "lun. 9 nov. 2026, 08:00 CET :"
    )
    assert f"Début\n- Villes circulaires : mer. 4 nov. 2026, {both}\n" in listing
    assert f"- Fresh forum : jeu. 5 nov. 2026, {both}\n" in listing
    assert "Vous recevez ce récapitulatif hebdomadaire parce que" in listing
    assert '<html lang="fr">' in digest.html()
