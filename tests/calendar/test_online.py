"""Online events and alarms in calendars (``entries``, ``alarms``, ``edition.personal_feed``).

A public join link is in every feed, as CONFERENCE (RFC 7986) and in the LOCATION and
DESCRIPTION texts that Outlook and Google Calendar show; ``test_entries`` reads those back
through every reader for every feed. A private link is in no public feed at all, and only in
the personal feed, where the alarms a subscriber chose are too. Each is read back by the
independent readers, as a calendar app would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from parsers import lines, oracle, readers
from parsers.oracle import ServedFeed

from service.calendar.edition import Edition, Publisher
from service.catalog import load_catalog
from service.store.database import open_database
from service.store.renders import RenderStore
from service.store.revisions import RevisionStore

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HOST = "events.example.org"
MINUTES_10, HOUR, DAY = timedelta(minutes=10), timedelta(hours=1), timedelta(days=1)
REQUIRE = "CALFEED_REQUIRE_PARSERS"


def private_links(project: oracle.Project) -> list[str]:
    """Return every private join link the YAML of ``project`` holds."""
    found = (oracle.private_join_url(event.raw) for event in project.events.values())
    return [link for link in found if link]


def unfolded(body: bytes) -> str:
    return body.decode("utf-8").replace("\r\n ", "")


def test_the_edge_catalog_has_private_links_to_look_for(
    feed_sets: dict[str, dict[str, ServedFeed]],
) -> None:
    project = feed_sets["edge"]["feeds/all.ics"].project
    assert len(private_links(project)) == 2


def test_no_public_feed_holds_a_private_join_link(feed: ServedFeed) -> None:
    text = unfolded(feed.body)
    links = private_links(feed.project)
    # Neither the link nor any spelling of it: escaped, percent-encoded, or cut at a fold.
    for link in links:
        for spelling in (link, link.replace(";", "\\;"), link.replace("?", "%3F")):
            assert spelling not in text
        assert "/j/members-room" not in text
    for event in feed.events:
        if oracle.private_join_url(event.raw):
            block = _block(feed.body, event.entry.uid)
            assert "CONFERENCE" not in block
            assert "the join link is sent to confirmed subscribers" in block.replace("\\n", " ")


def _block(body: bytes, uid: str) -> str:
    for block in lines.blocks(body):
        if any(line.name == "UID" and line.value == uid for line in block):
            return "\n".join(f"{line.name}:{line.value}" for line in block)
    raise AssertionError(f"no entry {uid}")


# --- the personal feed -------------------------------------------------------------------


@pytest.fixture
def edge_edition(edge_project: Path) -> Iterator[Edition]:
    """Return an edition of the edge catalog, published at NOW."""
    engine = open_database("sqlite://")
    catalog = load_catalog(edge_project / "config.yaml")
    yield Publisher(RevisionStore(engine, lambda: NOW)).publish(catalog)
    engine.dispose()


def read_every(body: bytes, folder: Path) -> dict[str, readers.Reading]:
    """Return what each reader reads of ``body``; a missing external reader is left out,
    or fails the test when CALFEED_REQUIRE_PARSERS=1."""
    path = folder / "personal.ics"
    path.write_bytes(body)
    found = {"icalendar": readers.read_icalendar(body), "ical": readers.read_ical(body)}
    for tool in readers.EXTERNAL:
        try:
            [found[tool]] = readers.read_external(tool, [path])
        except readers.ToolMissing as err:
            if os.environ.get(REQUIRE) == "1":
                pytest.fail(f"{err}; {REQUIRE}=1 requires it")
    return found


def test_the_personal_feed_carries_private_links_every_reader_reads(
    edge_edition: Edition, tmp_path: Path
) -> None:
    body = edge_edition.personal_feed(("online",)).body

    for reader, reading in read_every(body, tmp_path).items():
        webinar = reading[f"members-webinar-2026@{HOST}"]
        link = "https://meet.example.org/j/members-room?pwd=only-for-subscribers"
        assert webinar.conferences == (link,), reader
        assert webinar.location == f"Online: {link}", reader
        assert f"Join online: {link}" in (webinar.description or ""), reader
        summit = reading[f"online-summit-2026@{HOST}"]
        assert summit.conferences == (link + "-summit",), reader
        assert summit.location == f"Online: {link}-summit", reader
        hybrid = reading[f"hybrid-forum-2026@{HOST}"]
        assert hybrid.conferences == ("https://meet.example.org/j/4711?pwd=a%3Bb%2Cc",), reader
        assert hybrid.alarms == (), reader
    assert "the join link is sent to" not in unfolded(body)


def test_the_personal_feed_has_only_its_topics_and_no_sessions(edge_edition: Edition) -> None:
    body = edge_edition.personal_feed(("online",)).body
    reading = readers.read_icalendar(body)

    assert sorted(reading) == [
        f"hybrid-forum-2026@{HOST}",
        f"members-webinar-2026@{HOST}",
        f"online-summit-2026@{HOST}",
    ]


def test_a_public_feed_of_the_same_topics_is_left_as_it_was(edge_edition: Edition) -> None:
    before = edge_edition.topic_feed(("online",))
    edge_edition.personal_feed(("online",), (HOUR,))

    assert edge_edition.topic_feed(("online",)) == before
    assert b"VALARM" not in before.body
    assert b"members-room" not in before.body


def test_alarms_read_back_through_every_reader(edge_edition: Edition, tmp_path: Path) -> None:
    body = edge_edition.personal_feed(("online",), (DAY, HOUR, MINUTES_10)).body

    for reader, reading in read_every(body, tmp_path).items():
        timed = reading[f"members-webinar-2026@{HOST}"]
        assert timed.alarms == (("DISPLAY", -86400), ("DISPLAY", -3600), ("DISPLAY", -600)), reader
        # An all-day event starts at midnight: only the lead time of a day rings.
        all_day = reading[f"online-summit-2026@{HOST}"]
        assert all_day.alarms == (("DISPLAY", -86400),), reader


def test_an_alarm_says_what_it_is_for_on_the_wire(edge_edition: Edition) -> None:
    body = edge_edition.personal_feed(("online",), (HOUR,)).body
    alarms = lines.blocks(body, "VALARM")

    assert len(alarms) == 2  # the two timed events
    for alarm in alarms:
        assert [(line.name, line.value) for line in alarm] == [
            ("ACTION", "DISPLAY"),
            ("DESCRIPTION", "Starts in 1 hour"),
            ("TRIGGER", "-PT1H"),
        ]


def test_a_cancelled_event_rings_for_nobody(edge_edition: Edition) -> None:
    body = edge_edition.personal_feed(("status",), (HOUR, DAY)).body
    reading = readers.read_icalendar(body)

    assert reading[f"cancelled-webinar-2026@{HOST}"].alarms == ()
    assert reading[f"cancelled-fair-2026@{HOST}"].alarms == ()
    assert len(reading[f"tentative-forum-2026@{HOST}"].alarms) == 2


def test_a_personal_feed_keeps_its_etag_until_something_in_it_changes(
    edge_edition: Edition,
) -> None:
    first = edge_edition.personal_feed(("online", "status"), (HOUR,))
    again = edge_edition.personal_feed(("online", "status"), (HOUR,))
    other = edge_edition.personal_feed(("online", "status"), (DAY,))

    assert again.etag == first.etag and again.body == first.body
    assert other.etag != first.etag


# --- edits of the join link --------------------------------------------------------------


def _webinar_file(root: Path) -> Path:
    return root / "feeds" / "online.yaml"


def _edit_private_link(root: Path, link: str) -> None:
    path = _webinar_file(root)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["events"][1]["online"]["join_url"] = link
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_an_edit_of_a_private_link_renders_again_after_a_restart(edge_project: Path) -> None:
    config = edge_project / "config.yaml"
    url = f"sqlite:///{edge_project / 'calfeed.sqlite3'}"
    clock: Callable[[], datetime] = lambda: NOW  # noqa: E731

    def fresh_process() -> tuple[Edition, Callable[[], None]]:
        engine = open_database(url)
        publisher = Publisher(RevisionStore(engine, clock), RenderStore(engine))
        return publisher.publish(load_catalog(config)), engine.dispose

    edition, close = fresh_process()
    public_before = readers.read_icalendar(edition.topic_feed(("online",)).body)
    close()
    _edit_private_link(edge_project, "https://meet.example.org/j/9999")
    clock = lambda: NOW + timedelta(hours=1)  # noqa: E731
    edition, close = fresh_process()
    personal = edition.personal_feed(("online",))
    public = edition.topic_feed(("online",))
    close()

    uid = f"members-webinar-2026@{HOST}"
    assert readers.read_icalendar(personal.body)[uid].conferences == (
        "https://meet.example.org/j/9999",
    )
    # The entry changed for those who see the link: its one revision rises, in both feeds;
    # the public one still shows no link, and its text is what it was.
    for body in (personal.body, public.body):
        [block] = [b for b in lines.blocks(body) if any(x.value == uid for x in b)]
        assert {x.name: x.value for x in block}["SEQUENCE"] == "1"
    assert readers.read_icalendar(public.body)[uid] == public_before[uid]
    assert b"9999" not in public.body


def test_the_feeds_in_another_language_read_as_the_same_events_in_every_reader(
    edge_edition: Edition, tmp_path: Path
) -> None:
    french = edge_edition.in_language("fr")
    english_body = edge_edition.personal_feed(("online",), (HOUR,)).body
    french_body = french.personal_feed(("online",), (HOUR,)).body
    (tmp_path / "en").mkdir()
    (tmp_path / "fr").mkdir()
    english = read_every(english_body, tmp_path / "en")
    in_french = read_every(french_body, tmp_path / "fr")

    assert in_french.keys() == english.keys()
    for reader, reading in in_french.items():
        assert reading.keys() == english[reader].keys(), reader
        for uid, entry in reading.items():
            same = english[reader][uid]
            assert (entry.times, entry.alarms, entry.conferences) == (
                same.times,
                same.alarms,
                same.conferences,
            ), (reader, uid)
        webinar = reading[f"members-webinar-2026@{HOST}"]
        link = "https://meet.example.org/j/members-room?pwd=only-for-subscribers"
        assert webinar.location == f"En ligne : {link}", reader
        assert f"Rejoindre en ligne : {link}" in (webinar.description or ""), reader
    alarms = lines.blocks(french_body, "VALARM")
    assert {line.value for alarm in alarms for line in alarm if line.name == "DESCRIPTION"} == {
        "Commence dans 1 heure"
    }
