"""``calfeed subscribers``: list, show, export and erase what is stored about a person.

Through the real command line, on a project whose worker mailed two subscribers into its
Maildir: an access request gets everything as JSON, an erasure leaves nothing of that person
(subscriber row, reminders, mails in the Maildir) and everything of the other.
"""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from freezegun.api import FrozenDateTimeFactory

from service.cli import main
from service.reminders.worker import worker_for
from service.store.tables import outbox, subscribers

from .conftest import Calfeed

ANN, BOB = "ann@example.org", "bob@example.org"


def calfeed_cli(root: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--config", str(root / "config.yaml"), *args], input=input)


@pytest.fixture
def mailed(calfeed: Calfeed, clock: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a project that mailed Ann and Bob a reminder into its Maildir."""
    monkeypatch.setenv("CALFEED_SECRET_KEY", "records-test-key")
    calfeed.configure(
        [
            {"email": ANN, "topics": ["procurement"], "timezone": "Europe/Vienna"},
            {"email": BOB, "topics": ["procurement"]},
        ],
        mail={"from": "Events <events@example.org>", "transport": "maildir", "maildir": "var/mail"},
    )
    calfeed.event("webinar")
    worker = worker_for(calfeed.open(), name="records-worker")
    worker.sweep()
    clock.move_to("2026-11-03 13:00:00")  # 7 days before the webinar
    worker.sweep()
    assert len(mailbox.Maildir(calfeed.root / "var" / "mail")) == 2
    return calfeed.root


def test_list_shows_every_subscriber(mailed: Path) -> None:
    result = calfeed_cli(mailed, "subscribers", "list")

    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{ANN}  confirmed  procurement  Europe/Vienna  1 mail sent\n"
        f"{BOB}  confirmed  procurement  UTC  1 mail sent\n"
        "2 subscribers\n"
    )


def test_show_lists_what_is_stored_and_every_mail(mailed: Path) -> None:
    result = calfeed_cli(mailed, "subscribers", "show", "Ann@Example.org")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:5] == [
        f"email: {ANN}",
        "status: confirmed",
        "source: config",
        "topics: procurement",
        "timezone: Europe/Vienna",
    ]
    assert "  2026-11-03T13:00:00+00:00  webinar  start  sent" in lines
    assert lines[-1] == "in the Maildir: 1 mail"


def test_export_is_everything_stored_about_one_person_as_json(mailed: Path) -> None:
    result = calfeed_cli(mailed, "subscribers", "export", ANN)

    assert result.exit_code == 0, result.output
    person = json.loads(result.output)
    assert person["email"] == ANN
    assert person["topics"] == ["procurement"]
    assert person["timezone"] == "Europe/Vienna"
    assert person["confirmed_at"] == "2026-10-01T12:00:00+00:00"
    sent = [mail for mail in person["mails"] if mail["status"] == "sent"]
    assert [(m["event_id"], m["kind"], m["offset_seconds"]) for m in sent] == [
        ("webinar", "start", 7 * 86400)
    ]
    assert sent[0]["message_id"].startswith("<reminder.")
    assert [m["message_id"] for m in person["maildir"]] == [sent[0]["message_id"]]
    assert BOB not in result.output


def test_erase_leaves_nothing_of_one_person_and_everything_of_the_others(mailed: Path) -> None:
    refused = calfeed_cli(mailed, "subscribers", "erase", ANN, input="n\n")
    assert refused.exit_code == 1  # asked, and told no: nothing erased
    assert calfeed_cli(mailed, "subscribers", "show", ANN).exit_code == 0

    result = calfeed_cli(mailed, "subscribers", "erase", ANN, "--yes")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"erased {ANN}: the subscriber, 1 reminder and 1 mail in the Maildir\n"
    assert result.stderr == (
        f"warning: {ANN} is listed under subscribers: in config.yaml; remove it there, "
        "or it is subscribed again\n"
    )
    missing = calfeed_cli(mailed, "subscribers", "show", ANN)
    assert missing.exit_code == 1
    assert missing.stderr == f"Error: {ANN}: no such subscriber\n"
    engine = sa.create_engine(f"sqlite:///{mailed / 'var' / 'calfeed.sqlite3'}")
    with engine.connect() as connection:
        emails = connection.execute(sa.select(subscribers.c.email)).scalars().all()
        owners = connection.execute(
            sa.select(subscribers.c.email).join(outbox, outbox.c.subscriber_id == subscribers.c.id)
        )
        assert emails == [BOB]
        assert set(owners.scalars()) == {BOB}
    engine.dispose()
    (left,) = mailbox.Maildir(mailed / "var" / "mail")
    assert left["To"] == BOB
    assert calfeed_cli(mailed, "subscribers", "erase", ANN, "--yes").exit_code == 1


def test_erase_and_export_take_every_spelling_merged_into_the_address(mailed: Path) -> None:
    # Before addresses were normalised, Ａnn's fullwidth spelling was a row of its own; the
    # migration kept it, with its history, as merged into ann@example.org.
    engine = sa.create_engine(f"sqlite:///{mailed / 'var' / 'calfeed.sqlite3'}")
    with engine.begin() as connection:
        (row,) = connection.execute(sa.select(subscribers).where(subscribers.c.email == ANN))
        values = {k: v for k, v in row._mapping.items() if k not in ("id", "email", "status")}
        connection.execute(
            subscribers.insert().values(email="ann@ｅｘａｍｐｌｅ.org", status="merged", **values)
        )
    engine.dispose()

    person = json.loads(calfeed_cli(mailed, "subscribers", "export", ANN).output)
    assert [other["email"] for other in person["merged"]] == ["ann@ｅｘａｍｐｌｅ.org"]
    assert calfeed_cli(mailed, "subscribers", "erase", ANN, "--yes").exit_code == 0

    engine = sa.create_engine(f"sqlite:///{mailed / 'var' / 'calfeed.sqlite3'}")
    with engine.connect() as connection:
        assert connection.execute(sa.select(subscribers.c.email)).scalars().all() == [BOB]
    engine.dispose()
