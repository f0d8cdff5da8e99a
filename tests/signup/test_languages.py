"""Signing up in another language: the pages, the mails and their dates speak it throughout.

A visitor whose browser asks for French (or who picks Français on the language switch) gets
the topic page and its form in French; the form posts the language, the confirmation mail,
the pages behind its links and every reminder are in French, with dates written the French
way; the preferences page changes it. Each test reads what the visitor reads: the pages, and
the mails as the real Maildir received them.
"""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from freezegun.api import FrozenDateTimeFactory

from service.cli import main
from service.reminders.worker import Worker, worker_for

from .conftest import (
    BASE_URL,
    FORUM,
    SAME_ORIGIN,
    TOPICS,
    Inbox,
    MakeApp,
    Page,
    confirm,
    form_data,
    link_in,
    live,
    manage_path,
    text_of,
)
from .test_signup import at

ALICE = "alice@example.org"
# The forum as an operator gives it in French too; its subtitle only in English.
FORUM_FR: dict[str, Any] = {
    **FORUM,
    "title": {"en": "Procurement forum", "fr": "Forum des marchés publics"},
    "subtitle": "Buying better together",
}
TOPICS_FR: dict[str, Any] = {
    **TOPICS,
    "procurement": {"name": {"en": "Public procurement", "fr": "Marchés publics"}},
}
FRENCH = {"Accept-Language": "fr-BE,fr;q=0.9,en;q=0.5"}
# site: of tests/conftest.py's config.
SITE = {"title": "Test events", "base_url": BASE_URL, "timezone": "Europe/Brussels"}


def french_app(make_app: MakeApp) -> Flask:
    return make_app(events=(FORUM_FR,), topics=TOPICS_FR)


def raw_mails(inbox: Inbox) -> list[bytes]:
    """Return the bytes of every mail the Maildir holds."""
    box = mailbox.Maildir(inbox.path, create=False)
    return [box.get_bytes(key) for key in box.keys()]


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    content: str = part.get_content()
    return content


def signed_up_in_french(client: FlaskClient, worker: Worker, inbox: Inbox, form: str) -> Page:
    """Sign Alice up for procurement in French at ``form`` and confirm; return the page."""
    data = {"email": ALICE, "topics": ["procurement"], "timezone": "Europe/Brussels"}
    client.post(form, data={**data, "language": "fr"}, headers=SAME_ORIGIN)
    worker.sweep()
    return Page.of(confirm(client, link_in(inbox.latest(ALICE), "confirm")))


def test_a_sign_up_in_french_gets_french_pages_mails_and_dates_end_to_end(
    make_app: MakeApp, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    app = french_app(make_app)
    client = app.test_client()
    worker = worker_for(live(app))

    # The browser asks for French: the topic page and its form are in French.
    response = client.get("/topics/procurement", headers=FRENCH)
    page = Page.of(response)
    assert page.one("html").attrs["lang"] == "fr"
    assert page.h1 == "Marchés publics"
    assert page.one("h2", id="reminders").text == "Rappels par e-mail"
    assert "Forum des marchés publics" in page.text
    assert "10 mars 2030, 14:00 – 16:00 CET" in page.text
    assert page.buttons() == ["Envoyez-moi des rappels"]
    assert response.headers["Vary"] == "Accept-Language"
    form = page.one("form", class_="signup")
    assert [o.attrs["value"] for o in form.find_all("option", selected=True)] == ["fr"]

    # The switch names the language in the address's path; the page's own links keep it.
    switch = page.one("nav", class_="languages")
    assert [a.text for a in switch.find_all("a")] == ["English", "Français", "Español", "Deutsch"]
    assert switch.one("a", lang="en").attrs["href"] == "/topics/procurement"
    chosen = switch.one("a", lang="fr").attrs["href"]
    assert chosen == "/fr/topics/procurement"
    response = client.get(chosen)  # no Accept-Language: the address alone says French
    page = Page.of(response)
    assert page.one("html").attrs["lang"] == "fr" and page.h1 == "Marchés publics"
    assert "Vary" not in response.headers
    assert response.headers["Content-Language"] == "fr"
    assert page.link("Forum des marchés publics") == "/fr/events/procurement-forum"
    form = page.one("form", class_="signup")
    assert form.attrs["action"] == "/fr/subscribe"
    # Its subscribe links give the calendar in French.
    hrefs = [a.attrs.get("href", "") for a in page.find_all("a")]
    assert any(h.startswith("webcal://") and h.endswith("/fr/feeds/procurement.ics") for h in hrefs)

    # The form posts its language; the answer is in French.
    data = {
        "email": ALICE,
        "topics": ["procurement"],
        "timezone": "Europe/Paris",
        "language": "fr",
    }
    response = client.post(form.attrs["action"], data=data, headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert Page.of(response).h1 == "Consultez votre boîte de réception"

    # The confirmation mail, as the Maildir received it, is in French.
    worker.sweep()
    (data_bytes,) = raw_mails(inbox)
    mail = parsed(data_bytes)
    assert str(mail["Subject"]) == "Confirmez vos rappels de Test events"
    assert b"Content-Transfer-Encoding: 8bit" in data_bytes  # French as written, not encoded
    text = text_of(mail)
    assert (
        "Quelqu’un, sans doute vous, a demandé à Test events d’envoyer à cette adresse "
        "des rappels sur Marchés publics." in text
    )
    assert "Confirmez avec ce lien (valable 72 heures) :" in text
    assert "Se désabonner en un clic :" in text
    assert "Quelqu’un, sans doute vous".encode() in data_bytes
    assert '<html lang="fr">' in html_of(mail)
    assert "Confirmez vos rappels</a> (le lien est valable 72 heures)." in html_of(mail)

    # Its link opens a French page, whatever the browser says.
    path = link_in(mail, "confirm")
    assert Page.of(client.get(path)).buttons() == ["Confirmer mes rappels"]
    page = Page.of(confirm(client, path))
    assert page.one("html").attrs["lang"] == "fr"
    assert page.h1 == "Vos rappels"
    assert page.one(class_="saved").text == "Vos rappels sont confirmés."

    # A week before the forum (10 March 2030, 14:00 in Brussels), the reminder is French too.
    clock.move_to(at("2030-03-03 13:00"))
    worker.sweep()
    reminder = inbox.latest(ALICE)
    assert str(reminder["Subject"]) == "Commence dans 7 jours : Forum des marchés publics"
    text = text_of(reminder)
    assert text.splitlines()[0] == "Forum des marchés publics commence dans 7 jours."
    assert "Buying better together" in text  # given in English only: shown as given
    # Paris and Brussels read the same clock: the time is written once, the French way.
    assert "Quand : dim. 10 mars 2030, 14:00–16:00 CET (Europe/Paris et Europe/Brussels)" in text
    assert "Clôture des inscriptions : ven. 8 mars 2030, 23:59 CET" in text
    assert "Vous recevez ce message parce que vous avez demandé à Test events" in text
    html = html_of(reminder)
    assert "<strong>Forum des marchés publics</strong> commence dans 7 jours." in html
    assert "<th" in html and ">Quand</th>" in html


def test_the_preferences_page_changes_the_language_of_the_mails(
    make_app: MakeApp, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    app = french_app(make_app)
    client = app.test_client()
    worker = worker_for(live(app))
    page = signed_up_in_french(client, worker, inbox, "/subscribe")
    select = page.one("select", name="language")
    assert [o.attrs["value"] for o in select.find_all("option", selected=True)] == ["fr"]

    response = client.post(
        manage_path(page), data=form_data(page, language="de"), headers=SAME_ORIGIN
    )
    page = Page.of(response)
    assert page.one("html").attrs["lang"] == "de"
    assert page.one(class_="saved").text == "Ihre Einstellungen sind gespeichert."
    # The choices of mail speak German too, the digest's days named as German names them.
    labels = {e.attrs.get("for"): e.text for e in page.find_all("label")}
    assert labels["per_event"] == "Erinnerungen vor jeder Veranstaltung"
    assert labels["change_notices"] == (
        "Mir schreiben, wenn eine Veranstaltung, der ich folge, verlegt wird"
    )
    days = page.one("select", name="digest_weekday").find_all("option")
    assert [o.text for o in days][:2] == ["Montag", "Dienstag"]
    assert [o.attrs["value"] for o in days][:2] == ["monday", "tuesday"]

    clock.move_to(at("2030-03-03 13:00"))
    worker.sweep()
    reminder = inbox.latest(ALICE)
    # German is not given for the title: it falls back to the site's own language.
    assert str(reminder["Subject"]) == "Beginnt in 7 Tagen: Procurement forum"
    assert "Wann: So., 10. März 2030, 14:00–16:00 CET (Europe/Brussels)" in text_of(reminder)


def test_a_page_is_cached_per_language_and_says_it_varies_by_it(client: FlaskClient) -> None:
    french = client.get("/", headers=FRENCH)
    english = client.get("/", headers={"Accept-Language": "en-GB"})
    spanish = client.get("/es/", headers=FRENCH)
    italian = client.get("/", headers={"Accept-Language": "it"})  # not offered: the site's own

    assert Page.of(french).h1 == "Événements à venir"
    assert Page.of(english).h1 == "Upcoming events"
    assert Page.of(spanish).h1 == "Próximos eventos"
    assert Page.of(italian).h1 == "Upcoming events"
    assert Page.of(spanish).find_all("h2", class_="month")[0].text == "marzo de 2030"
    assert french.headers["Vary"] == english.headers["Vary"] == "Accept-Language"
    assert "Vary" not in spanish.headers
    assert len({french.headers["ETag"], english.headers["ETag"], spanish.headers["ETag"]}) == 3
    # Each language's copy is answered 304 to its own ETag.
    again = client.get("/", headers={**FRENCH, "If-None-Match": french.headers["ETag"]})
    assert again.status_code == 304


def test_an_address_with_lang_is_sent_to_the_path_of_its_language(client: FlaskClient) -> None:
    spanish = client.get("/topics/procurement?lang=es&topic=x")
    english = client.get("/events/procurement-forum?lang=en", headers=FRENCH)

    assert spanish.status_code == english.status_code == 301
    assert spanish.headers["Location"] == "/es/topics/procurement?topic=x"
    assert english.headers["Location"] == "/events/procurement-forum"
    assert client.get("/en/topics/procurement").status_code == 404  # the site's own: no path
    assert client.get("/it/topics/procurement").status_code == 404  # not offered


def test_a_site_of_one_language_shows_no_switch_and_does_not_vary(make_app: MakeApp) -> None:
    app = make_app(site={**SITE, "language": "de", "languages": ["de"]})
    response = app.test_client().get("/", headers=FRENCH)

    page = Page.of(response)
    assert page.one("html").attrs["lang"] == "de"
    assert page.h1 == "Bevorstehende Veranstaltungen"
    assert page.find_all("nav", class_="languages") == []
    assert "Vary" not in response.headers


def test_the_language_stored_for_a_subscriber_is_shown_and_exported(
    make_app: MakeApp, project: Path
) -> None:
    client = french_app(make_app).test_client()
    data = {"email": ALICE, "topics": ["procurement"], "timezone": "Europe/Brussels"}
    client.post("/subscribe", data={**data, "language": "es"}, headers=SAME_ORIGIN)
    config = ["--config", str(project / "config.yaml"), "subscribers"]

    shown = CliRunner().invoke(main, [*config, "show", ALICE])
    exported = CliRunner().invoke(main, [*config, "export", ALICE])

    assert "language: es (of their mails)" in shown.output.splitlines()
    assert json.loads(exported.output)["language"] == "es"


def test_a_subscriber_config_yaml_lists_gets_mail_in_the_language_it_gives(
    make_app: MakeApp, inbox: Inbox, clock: FrozenDateTimeFactory
) -> None:
    team = {"email": ALICE, "topics": ["procurement"], "timezone": "Europe/Berlin"}
    app = make_app(events=(FORUM_FR,), topics=TOPICS_FR, subscribers=[{**team, "language": "fr"}])
    worker = worker_for(live(app))
    worker.sweep()
    clock.move_to(at("2030-03-03 13:00"))
    worker.sweep()

    assert inbox.subjects(ALICE) == ["Commence dans 7 jours : Forum des marchés publics"]
