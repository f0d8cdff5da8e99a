"""Editions (``service/calendar/edition.py``): what subscribed clients see as YAML changes.

A client replaces an entry only when its SEQUENCE rises, and polls cheaply only while an
unchanged feed stays byte-identical with the same ETag (docs/promises.md, feeds, point 5); a
cancelled event must stay, say so and raise its SEQUENCE (point 8). Time is the publisher's clock,
which each test moves by hand. The golden files pin the seed feeds and the edge
catalog's all.ics byte for byte; refresh them with
``CALFEED_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/calendar -k golden``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from parsers import lines, oracle
from parsers.oracle import ServedFeed

from service.calendar.edition import Edition, Publisher
from service.catalog import Catalog, Config, load_catalog
from service.catalog.load import CatalogLoader
from service.store.database import open_database
from service.store.parsed import ParsedStore

REPO = Path(__file__).resolve().parents[2]
SEED_PATHS = oracle.read_project(REPO / "config.yaml").paths(("procurement", "supply-chains"))
FeedSets = dict[str, dict[str, ServedFeed]]
Served = dict[str, tuple[bytes, str, datetime]]
MakePublisher = Callable[..., Publisher]

T1 = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
T2 = datetime(2026, 2, 2, 11, 30, tzinfo=UTC)
T3 = datetime(2026, 2, 3, 8, 15, tzinfo=UTC)
HOST = "events.example.org"
WEBINAR = "circular-cities-webinar"
SESSIONS = [
    {"start": "14:00", "end": "14:30", "title": "Welcome"},
    {"start": "14:30", "end": "15:30", "title": "Panel"},
    {"start": "15:30", "end": "16:00", "title": "Close"},
]


def serve_all(edition: Edition, paths: list[str]) -> Served:
    """Fetch each path as a client does: (body, ETag, Last-Modified)."""
    served = {}
    for path in paths:
        kind, _, name = path.removesuffix(".ics").partition("/")
        slugs = tuple(name.split("+"))
        feed = edition.event_feed(name) if kind == "events" else edition.topic_feed(slugs)
        served[path] = (feed.body, feed.etag, feed.last_modified)
    return served


class Clock:
    """The publisher's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = T1

    def __call__(self) -> datetime:
        return self.now


def publish_at(moment: datetime, publisher: Publisher, load: Callable[[], Catalog]) -> Served:
    """Load the project and publish it at ``moment``; fetch every feed of the project."""
    clock = publisher.store.clock
    assert isinstance(clock, Clock)
    clock.now = moment
    catalog = load()
    project = oracle.read_project(catalog.config.path)
    topics = list(project.topics)
    return serve_all(publisher.publish(catalog), project.paths((topics[0], topics[1])))


def revisions(body: bytes) -> dict[str, tuple[str, str, str]]:
    """Return uid -> (SEQUENCE, DTSTAMP, LAST-MODIFIED) of each entry in ``body``."""
    found = {}
    for block in lines.blocks(body):
        values = {line.name: line.value for line in block}
        found[values["UID"]] = (values["SEQUENCE"], values["DTSTAMP"], values["LAST-MODIFIED"])
    return found


def entry(body: bytes, uid: str) -> dict[str, str]:
    """Return the properties of the entry ``uid`` in ``body``, unescaped where TEXT."""
    for block in lines.blocks(body):
        values = {line.name: line.value for line in block}
        if values["UID"] == uid:
            return {**values, "SUMMARY": lines.unescape(values["SUMMARY"])}
    raise AssertionError(f"{uid} is not in the feed")


def stamp(moment: datetime) -> str:
    return f"{moment:%Y%m%dT%H%M%SZ}"


@pytest.fixture
def three_events(
    write_event: Callable[[str, Any], Path], make_event: Callable[..., dict[str, Any]]
) -> Callable[..., None]:
    """Write a webinar with sessions (circular-economy), a forum (procurement) and an
    all-day fair (procurement, supply-chains); ``write(**webinar_overrides)`` rewrites them."""

    def write(**webinar: Any) -> None:
        write_event("webinar.yaml", make_event(**{"sessions": SESSIONS, **webinar}))
        write_event(
            "forum.yaml",
            make_event(
                id="procurement-forum",
                title="Procurement forum",
                topics=["procurement"],
                start="2020-12-08T09:30",
                end="2020-12-08T10:30",
            ),
        )
        write_event(
            "fair.yaml",
            make_event(
                id="supply-fair",
                title="Supply fair",
                topics=["supply-chains", "procurement"],
                start="2020-12-09",
                end="2020-12-10",
            ),
        )

    write()
    return write


# --- 5. revisions --------------------------------------------------------------------------


def test_editing_an_event_raises_its_sequence_and_last_modified_only(
    three_events: Callable[..., None], load: Callable[[], Catalog], make_publisher: MakePublisher
) -> None:
    publisher = make_publisher(Clock())
    before = publish_at(T1, publisher, load)
    three_events(title="Circular Cities Declaration Webinar (renamed)", location="Online")

    after = publish_at(T2, publisher, load)

    everything = revisions(after["feeds/all.ics"][0])
    assert everything == {
        f"{WEBINAR}@{HOST}": ("1", stamp(T2), stamp(T2)),
        f"procurement-forum@{HOST}": ("0", stamp(T1), stamp(T1)),
        f"supply-fair@{HOST}": ("0", stamp(T1), stamp(T1)),
    }
    untouched = [path for path in before if "circular" not in path and path != "feeds/all.ics"]
    assert untouched  # procurement, supply-chains, their pair, the other events' .ics
    assert {path: after[path] for path in untouched} == {path: before[path] for path in untouched}
    for path in ("feeds/all.ics", "feeds/circular-economy.ics", f"events/{WEBINAR}.ics"):
        assert after[path][1] != before[path][1], f"{path} keeps its ETag"
        assert after[path][2] == T2, f"{path} keeps its Last-Modified"


def test_an_event_in_an_older_rule_writes_a_later_one_of_its_zone_in_utc_as_a_revision(
    write_event: Callable[[str, Any], Path],
    make_event: Callable[..., dict[str, Any]],
    load: Callable[[], Catalog],
    make_publisher: MakePublisher,
) -> None:
    moscow = {"timezone": "Europe/Moscow", "topics": ["procurement"]}
    new = make_event(id="moscow-2026", start="2026-07-01T12:00", end="2026-07-01T13:00", **moscow)
    write_event("2026.yaml", new)
    publisher = make_publisher(Clock())
    before = publish_at(T1, publisher, load)["events/moscow-2026.ics"][0]
    # Moscow's VTIMEZONE now reaches back to its 2010 daylight saving time, which classic
    # Outlook would apply to 2026 too: the 2026 entry goes to UTC, as a new revision.
    old = make_event(id="moscow-2010", start="2010-07-01T12:00", end="2010-07-01T13:00", **moscow)
    write_event("2010.yaml", old)

    after = publish_at(T2, publisher, load)["events/moscow-2026.ics"][0]

    def dtstart(body: bytes) -> tuple[dict[str, str], str]:
        (start,) = [
            line for block in lines.blocks(body) for line in block if line.name == "DTSTART"
        ]
        return start.params, start.value

    assert dtstart(before) == ({"TZID": "Europe/Moscow"}, "20260701T120000")
    assert dtstart(after) == ({}, "20260701T090000Z")
    assert revisions(after)[f"moscow-2026@{HOST}"] == ("1", stamp(T2), stamp(T2))


def test_retiming_a_session_raises_that_session_and_the_agenda_only(
    three_events: Callable[..., None], load: Callable[[], Catalog], make_publisher: MakePublisher
) -> None:
    publisher = make_publisher(Clock())
    publish_at(T1, publisher, load)
    retimed = [*SESSIONS[:2], {"start": "15:40", "end": "16:00", "title": "Close"}]
    three_events(sessions=retimed)

    after = publish_at(T2, publisher, load)

    assert revisions(after[f"events/{WEBINAR}.ics"][0]) == {
        f"{WEBINAR}@{HOST}": ("1", stamp(T2), stamp(T2)),  # its agenda shows the new time
        f"{WEBINAR}.welcome@{HOST}": ("0", stamp(T1), stamp(T1)),
        f"{WEBINAR}.panel@{HOST}": ("0", stamp(T1), stamp(T1)),
        f"{WEBINAR}.close@{HOST}": ("1", stamp(T2), stamp(T2)),
    }


def test_an_unchanged_catalog_publishes_byte_identical_feeds(
    edge_project: Path, load: Callable[[], Catalog], make_publisher: MakePublisher
) -> None:
    publisher = make_publisher(Clock())
    before = publish_at(T1, publisher, load)

    after = publish_at(T2, publisher, load)  # a fresh catalog: new objects, same YAML

    assert len(before) > 100
    assert after == before


def test_an_edit_of_the_config_that_entries_do_not_use_renders_nothing_again(
    three_events: Callable[..., None], load: Callable[[], Catalog], make_publisher: MakePublisher
) -> None:
    publisher = make_publisher(Clock())
    catalog = load()
    before = publisher.publish(catalog)
    rendered = [entry for *_, entry in publisher._events.values()]
    signup = replace(catalog.config.signup, limit_per_client="1/day")
    site = replace(catalog.config.site, title="Another title")
    edited = replace(catalog.config, signup=signup, site=site)

    after = publisher.publish(Catalog(edited, catalog.events))

    assert after._events == before._events
    again = [entry for *_, entry in publisher._events.values()]
    assert all(a is b for a, b in zip(again, rendered, strict=True)), "entries rendered again"


def test_a_renamed_topic_and_then_a_new_site_address_are_written_into_the_entries(
    three_events: Callable[..., None], load: Callable[[], Catalog], make_publisher: MakePublisher
) -> None:
    publisher = make_publisher(Clock())
    catalog = load()
    publisher.publish(catalog)

    def forum(config: Config, host: str) -> dict[str, str]:
        body = publisher.publish(Catalog(config, catalog.events)).topic_feed(("all",)).body
        return entry(body, f"procurement-forum@{host}")

    topics = {
        slug: replace(topic, name=f"{topic.name} (renamed)")
        for slug, topic in catalog.config.topics.items()
    }
    renamed = replace(catalog.config, topics=topics)
    assert "Public procurement (renamed)" in forum(renamed, HOST)["CATEGORIES"]

    site = replace(
        renamed.site, base_url="https://calendar.example.net", uid_domain="calendar.example.net"
    )
    moved = replace(renamed, site=site)
    assert forum(moved, "calendar.example.net")["URL"] == (
        "https://calendar.example.net/events/procurement-forum"
    )


def test_an_edition_served_for_days_keeps_only_the_current_days_topic_feeds(
    edge_project: Path, load: Callable[[], Catalog], make_publisher: MakePublisher
) -> None:
    edition = make_publisher(Clock()).publish(load())
    topics = [(slug,) for slug in edition.catalog.config.topics] + [("all",)]
    days = [datetime(2026, 11, day, tzinfo=UTC) for day in range(1, 31)]

    for day in days:  # keep_past_days moves the cut-off every day the server runs
        served = {slugs: edition.topic_feed(slugs, day) for slugs in topics}

    kept = [key for key in edition._feeds if key[0] == "topics"]
    assert len(kept) == len(topics), "topic feeds of past days are still held"
    assert all(edition.topic_feed(slugs, days[-1]) is served[slugs] for slugs in topics)


def test_an_unchanged_feed_keeps_its_bytes_and_etag_across_a_restart(
    edge_project: Path, load: Callable[[], Catalog], make_publisher: MakePublisher
) -> None:
    first = make_publisher(Clock())
    before = publish_at(T1, first, load)
    first.store.engine.dispose()  # the process ends; its database file stays

    after = publish_at(T2, make_publisher(Clock()), load)

    assert after == before
    assert {last_modified for _, _, last_modified in after.values()} == {T1}


@pytest.mark.parametrize("catalog", ["edge", "seed"])
def test_a_restart_that_reads_its_files_back_serves_the_bytes_parsing_does(
    catalog: str, edge_project: Path, tmp_path: Path, make_publisher: MakePublisher
) -> None:
    config = edge_project / "config.yaml" if catalog == "edge" else REPO / "config.yaml"
    engine = open_database(f"sqlite:///{tmp_path / 'parsed.sqlite3'}")
    store = ParsedStore(engine)
    CatalogLoader(config, lambda _: store).load()  # the first start parses and keeps

    class ReadOnly:
        def read(self, keys: Sequence[str]) -> Mapping[str, bytes]:
            return store.read(keys)

        def write(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
            pytest.fail(f"parsed again: {[name for _, name, _ in entries]}")

    warm = CatalogLoader(config, lambda _: ReadOnly()).load()
    engine.dispose()
    plain = load_catalog(config)

    assert warm == plain and repr(warm) == repr(plain)
    served = publish_at(T1, make_publisher(Clock(), f"sqlite:///{tmp_path / 'a'}"), lambda: warm)
    parsed = publish_at(T1, make_publisher(Clock(), f"sqlite:///{tmp_path / 'b'}"), lambda: plain)
    assert served == parsed


def test_an_event_that_comes_back_changed_continues_its_sequence(
    three_events: Callable[..., None],
    project: Path,
    load: Callable[[], Catalog],
    make_publisher: MakePublisher,
) -> None:
    publisher = make_publisher(Clock())
    publish_at(T1, publisher, load)
    (project / "feeds" / "forum.yaml").rename(project / "forum.yaml.away")
    gone = publish_at(T2, publisher, load)
    (project / "forum.yaml.away").rename(project / "feeds" / "forum.yaml")
    (project / "feeds" / "forum.yaml").write_text(
        (project / "feeds" / "forum.yaml").read_text().replace("Procurement forum", "Forum"),
        encoding="utf-8",
    )

    back = publish_at(T3, publisher, load)

    assert f"procurement-forum@{HOST}" not in revisions(gone["feeds/all.ics"][0])
    assert revisions(back["feeds/all.ics"][0])[f"procurement-forum@{HOST}"] == (
        "1",
        stamp(T3),
        stamp(T3),
    )


# --- 8. cancelled events -------------------------------------------------------------------


def test_a_cancelled_event_stays_says_so_and_raises_its_sequence(
    three_events: Callable[..., None], load: Callable[[], Catalog], make_publisher: MakePublisher
) -> None:
    publisher = make_publisher(Clock())
    publish_at(T1, publisher, load)
    three_events(status="cancelled")

    after = publish_at(T2, publisher, load)

    title = "Circular Cities Declaration Webinar"
    uids = [f"{WEBINAR}@{HOST}", *(f"{WEBINAR}.{s}@{HOST}" for s in ("welcome", "panel", "close"))]
    shown = {
        path: entry(after[path][0], uids[0])
        for path in ("feeds/all.ics", "feeds/circular-economy.ics")
    }
    shown.update({uid: entry(after[f"events/{WEBINAR}.ics"][0], uid) for uid in uids})
    wrong = [
        f"{where}: {values['STATUS']} SEQUENCE:{values['SEQUENCE']} {values['SUMMARY']!r}"
        for where, values in shown.items()
        if values["STATUS"] != "CANCELLED"
        or values["SEQUENCE"] != "1"
        or "Cancelled" not in values["SUMMARY"]
        or title not in values["SUMMARY"]
    ]
    assert wrong == []


# --- golden files --------------------------------------------------------------------------


@pytest.mark.parametrize("path", SEED_PATHS)
def test_golden_seed_feed(
    path: str, feed_sets: FeedSets, golden: Callable[[str, bytes], None]
) -> None:
    golden(f"seed/{path}", feed_sets["seed"][path].body)


def test_golden_edge_catalog_all_feed(
    feed_sets: FeedSets, golden: Callable[[str, bytes], None]
) -> None:
    golden("edge/feeds/all.ics", feed_sets["edge"]["feeds/all.ics"].body)
