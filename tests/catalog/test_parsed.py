"""Parsed files kept by digest (``service/catalog/parsed.py``): a restart reads back exactly
what parsing gives, and never what an edit made stale.

The loader is given the real store, on SQLite or PostgreSQL (``database``), wrapped only to
count what it reads and writes: a file read back from it was not parsed, and a file parsed
is written to it. Every test compares the catalog with what plain parsing (``load_catalog``,
as ``calfeed check`` reads) gives, by ``repr`` as well, which shows each time's zone and fold.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from service.catalog import Catalog, load_catalog
from service.catalog import parsed as parsed_module
from service.catalog.load import CatalogLoader
from service.catalog.models import Config
from service.errors import CatalogError, Problem
from service.store.database import open_database
from service.store.parsed import ParsedStore
from service.store.tables import parsed_files

WriteEvent = Callable[[str, str | Mapping[str, Any]], Path]
WriteConfig = Callable[..., Path]
MakeEvent = Callable[..., dict[str, Any]]


class Counted:
    """The store, counting the files it gave back and those written to it."""

    def __init__(self, store: ParsedStore) -> None:
        self.store = store
        self.found = 0
        self.written: list[str] = []  # the files written, by name

    def read(self, keys: Sequence[str]) -> Mapping[str, bytes]:
        found = self.store.read(keys)
        self.found += len(found)
        return found

    def write(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
        self.written += [name for _, name, _ in entries]
        self.store.write(entries)


@pytest.fixture
def store(database: str) -> Iterator[ParsedStore]:
    engine = open_database(database)
    yield ParsedStore(engine)
    engine.dispose()


@pytest.fixture
def start(project: Path, store: ParsedStore) -> Callable[[], tuple[Catalog, Counted]]:
    """Return ``start()``: load the project as a fresh process does, with the store."""

    def run() -> tuple[Catalog, Counted]:
        counted = Counted(store)

        def memo(config: Config) -> Counted:
            return counted

        return CatalogLoader(project / "config.yaml", memo).load(), counted

    return run


def same(catalog: Catalog, project: Path) -> None:
    """Assert that ``catalog`` is exactly what parsing every file gives."""
    parsed = load_catalog(project / "config.yaml")
    assert catalog == parsed
    assert repr(catalog.events) == repr(parsed.events)


@pytest.fixture
def two_files(write_event: WriteEvent, make_event: MakeEvent) -> None:
    write_event("webinar.yaml", make_event(id="webinar", title="Webinar – café ☕"))
    write_event(
        "two.yaml",
        {
            "events": [
                make_event(
                    id="forum",
                    timezone="America/New_York",
                    start="2026-11-01T01:30-04:00",  # the first of the repeated hour
                    end="2026-11-01T01:45-05:00",  # the second: fold=1
                    sessions=[
                        {
                            "start": "2026-11-01T01:30-04:00",
                            "end": "2026-11-01T01:40-05:00",
                            "title": "Open",
                        }
                    ],
                ),
                make_event(
                    id="summit",
                    start="2026-03-29",
                    end="2026-03-31",
                    registration={"url": "https://example.org/r", "deadline": "2026-03-28"},
                    organizer={"name": "ICLEI", "email": "info@example.org"},
                    contacts=[{"name": "Zoë", "role": "host", "phone": "+32 2 000 00 00"}],
                    online={"join_url": "https://meet.example.org/j/1", "public": False},
                    description="Line one\nline two\ttab \\N",
                    status="tentative",
                ),
            ]
        },
    )


def test_a_restart_reads_back_every_file_as_parsing_gives_it(
    two_files: None, project: Path, start: Callable[[], tuple[Catalog, Counted]]
) -> None:
    first, cold = start()
    again, warm = start()

    assert sorted(cold.written) == ["feeds/two.yaml", "feeds/webinar.yaml"]
    assert (warm.found, warm.written) == (2, [])  # nothing parsed
    forum = again.by_id["forum"]
    assert (forum.start.fold, forum.end.fold, forum.sessions[0].end.fold) == (0, 1, 1)
    same(again, project)
    assert repr(again) == repr(first)


def test_any_text_reads_back_as_written(
    write_event: WriteEvent, project: Path, start: Callable[[], tuple[Catalog, Counted]]
) -> None:
    write_event(
        "odd.yaml",
        'id: odd\ntitle: "e\\u0301 \\U0001F600 \\\\N \\"q\\""\n'
        'description: "one\\u2028two\\u2029three four\\tfive\\nsix"\n'
        "topics: [procurement]\nstart: 2026-01-01T10:00\nend: 2026-01-01T11:00\n",
    )
    start()

    catalog, counted = start()

    assert counted.found == 1
    odd = catalog.by_id["odd"]
    assert odd.title == 'e\u0301 \U0001f600 \\N "q"'
    assert odd.description == "one\u2028two\u2029three four\tfive\nsix"
    same(catalog, project)


def test_texts_in_several_languages_read_back_as_written(
    write_event: WriteEvent, project: Path, start: Callable[[], tuple[Catalog, Counted]]
) -> None:
    write_event(
        "many.yaml",
        "id: many\ntitle: {en: Circular cities, fr: Villes circulaires, de: Kreislaufstädte}\n"
        "description: {en: Plain text., es: Texto llano.}\n"
        "topics: [procurement]\nstart: 2026-01-01T10:00\nend: 2026-01-01T11:00\n",
    )
    start()

    catalog, counted = start()

    assert counted.found == 1
    many = catalog.by_id["many"]
    assert many.in_language("fr").title == "Villes circulaires"
    assert many.in_language("es").description == "Texto llano."
    assert many.in_language("es").title == "Circular cities"  # the site's own, as a fallback
    same(catalog, project)


def test_an_edited_file_is_parsed_again_and_the_others_are_not(
    two_files: None, project: Path, start: Callable[[], tuple[Catalog, Counted]]
) -> None:
    start()
    path = project / "feeds" / "webinar.yaml"
    path.write_text(path.read_text("utf-8").replace("café", "cafe"), encoding="utf-8")

    catalog, counted = start()

    assert catalog.by_id["webinar"].title == "Webinar – cafe ☕"
    assert (counted.found, counted.written) == (1, ["feeds/webinar.yaml"])
    same(catalog, project)


def test_a_file_whose_edit_keeps_its_size_and_time_is_seen(
    two_files: None, project: Path, start: Callable[[], tuple[Catalog, Counted]]
) -> None:
    start()
    path = project / "feeds" / "webinar.yaml"
    before = path.stat()
    path.write_text(path.read_text("utf-8").replace("café", "cafë"), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size

    catalog, _ = start()

    assert catalog.by_id["webinar"].title == "Webinar – cafë ☕"


@pytest.mark.parametrize(
    "change",
    [
        {"topics": {"procurement": {"name": "P"}, "circular-economy": {"name": "C"}}},
        {"site": {"title": "T", "base_url": "https://events.example.org", "timezone": "UTC"}},
        {
            "site": {
                "title": "T",
                "base_url": "https://events.example.org",
                "timezone": "Europe/Brussels",
                "uid_domain": "uids.example.org",
            }
        },
    ],
    ids=["topics", "site zone", "uid room"],
)
def test_an_edit_of_what_events_are_read_against_parses_them_again(
    two_files: None,
    project: Path,
    write_config: WriteConfig,
    start: Callable[[], tuple[Catalog, Counted]],
    change: dict[str, Any],
) -> None:
    start()
    write_config(**change)

    try:
        catalog, counted = start()
    except CatalogError as err:  # the edit made the files wrong: what check says, exactly
        with pytest.raises(CatalogError) as parsing:
            load_catalog(project / "config.yaml")
        assert err.problems == parsing.value.problems
        return
    assert counted.found == 0 and len(counted.written) == 2
    same(catalog, project)


def test_a_file_that_became_wrong_is_reported_as_check_reports_it(
    write_event: WriteEvent,
    make_event: MakeEvent,
    project: Path,
    write_config: WriteConfig,
    start: Callable[[], tuple[Catalog, Counted]],
) -> None:
    write_event("webinar.yaml", make_event(id="webinar", topics=["supply-chains"]))
    start()
    write_config(topics={"procurement": {"name": "P"}})

    with pytest.raises(CatalogError) as err:
        start()

    assert [str(p) for p in err.value.problems] == [
        "feeds/webinar.yaml:4: topics[0]: topic 'supply-chains' is not declared in "
        "config.yaml; declared: procurement"
    ]


def test_a_new_version_of_the_code_parses_every_file_again(
    two_files: None,
    project: Path,
    start: Callable[[], tuple[Catalog, Counted]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start()
    monkeypatch.setattr(parsed_module, "_CODE", b"another version of the catalog's code")

    catalog, counted = start()

    assert counted.found == 0 and len(counted.written) == 2
    same(catalog, project)


def test_the_code_version_covers_the_reading_code() -> None:
    here = Path(parsed_module.__file__).parent
    sources = b"".join(path.read_bytes() for path in sorted(here.glob("*.py")))
    assert b"def build_event(" in sources and b"def parse_document(" in sources
    assert parsed_module._code() == parsed_module._CODE


def test_a_zone_whose_tz_data_changed_is_parsed_again(
    two_files: None,
    project: Path,
    store: ParsedStore,
    start: Callable[[], tuple[Catalog, Counted]],
) -> None:
    start()
    with store.engine.begin() as connection:
        rows = list(connection.execute(sa.select(parsed_files.c.key, parsed_files.c.data)))
        for key, data in rows:
            kept = json.loads(data)
            kept["zones"] = {zone: "0" * 64 for zone in kept["zones"]}  # as after an update
            changed = json.dumps(kept).encode()
            connection.execute(
                parsed_files.update().where(parsed_files.c.key == key).values(data=changed)
            )

    catalog, counted = start()

    assert counted.found == 2 and len(counted.written) == 2  # found, refused, parsed
    same(catalog, project)


def _rewrite(store: ParsedStore, change: Callable[[Any], Any]) -> None:
    """Replace every stored entry's JSON by what ``change`` makes of it."""
    with store.engine.begin() as connection:
        for key, data in list(
            connection.execute(sa.select(parsed_files.c.key, parsed_files.c.data))
        ):
            connection.execute(
                parsed_files.update()
                .where(parsed_files.c.key == key)
                .values(data=json.dumps(change(json.loads(data))).encode())
            )


def _field(index: int, value: Any) -> Callable[[Any], Any]:
    def change(kept: Any) -> Any:
        for event, _ in kept["events"]:
            event[index] = value
        return kept

    return change


@pytest.mark.parametrize(
    "change",
    [
        _field(0, 42),  # an id that is not text
        _field(6, 1),  # all_day as a number, not a bool
        _field(3, "../../../etc/passwd"),  # a zone that is a path
        _field(3, "Mars/Olympus_Mons"),  # a zone the tz database does not have
        _field(4, ["2026-01-01T10:00+01:00", 0, "Europe/Brussels"]),  # an offset in the wall
        _field(4, ["2026-01-01T10:00", 2, "Europe/Brussels"]),  # no such fold
        _field(4, ["2026-01-01T10:00", 0, "Asia/Tokyo"]),  # a zone whose data was not kept
        _field(9, "postponed"),  # a status that is none of three
        _field(16, [["too", "short"]]),  # a session of the wrong shape
        lambda kept: {**kept, "more": 1},
        lambda kept: kept["events"],
        lambda kept: {"zones": kept["zones"], "events": [[1, 2, 3]]},
    ],
    ids=[
        "id",
        "all_day",
        "zone path",
        "unknown zone",
        "offset",
        "fold",
        "zone not kept",
        "status",
        "session",
        "extra key",
        "a list",
        "an item",
    ],
)
def test_an_entry_that_is_not_what_was_written_is_not_used(
    two_files: None,
    project: Path,
    store: ParsedStore,
    start: Callable[[], tuple[Catalog, Counted]],
    change: Callable[[Any], Any],
) -> None:
    start()
    _rewrite(store, change)

    catalog, counted = start()

    assert len(counted.written) == 2  # both parsed again
    same(catalog, project)


def test_bytes_that_are_not_json_are_not_used(
    two_files: None,
    project: Path,
    store: ParsedStore,
    start: Callable[[], tuple[Catalog, Counted]],
) -> None:
    start()
    with store.engine.begin() as connection:
        connection.execute(parsed_files.update().values(data=b"\x80\x04garbage."))

    catalog, counted = start()

    assert len(counted.written) == 2
    same(catalog, project)


def test_a_store_that_fails_costs_a_parse_and_nothing_else(
    two_files: None, project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def read(self, keys: Sequence[str]) -> Mapping[str, bytes]:
            raise sa.exc.OperationalError("SELECT", {}, Exception("database is locked"))

        def write(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))

    catalog = CatalogLoader(project / "config.yaml", lambda config: Broken()).load()

    same(catalog, project)
    assert "parsed files cannot be read back" in caplog.text
    assert "cannot be kept for the next start" in caplog.text


def test_a_file_with_problems_is_not_kept(
    write_event: WriteEvent,
    make_event: MakeEvent,
    store: ParsedStore,
    start: Callable[[], tuple[Catalog, Counted]],
) -> None:
    write_event("good.yaml", make_event(id="good"))
    write_event("bad.yaml", make_event(id="bad", end="2020-12-07T13:00"))
    with pytest.raises(CatalogError):
        start()
    with pytest.raises(CatalogError) as err:
        start()

    assert [str(p) for p in err.value.problems] == [
        "feeds/bad.yaml:7: end: ends before start (2020-12-07T13:00 is not after 2020-12-07T14:00)"
    ]
    with store.engine.connect() as connection:
        assert list(connection.execute(sa.select(parsed_files.c.file))) == [(_name("good"),)]


def test_the_store_keeps_one_row_a_file(
    two_files: None, project: Path, store: ParsedStore, start: Callable[[], tuple[Catalog, Counted]]
) -> None:
    start()
    path = project / "feeds" / "webinar.yaml"
    for title in ("One", "Two", "Three"):
        path.write_text(path.read_text("utf-8").replace("Webinar", title, 1), encoding="utf-8")
        start()

    with store.engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(parsed_files)).scalar() == 2
        )


def test_an_entry_is_kept_only_when_it_reads_back_alike(two_files: None, project: Path) -> None:
    at = Problem("feeds/two.yaml", 2, "events[0].id", "")
    for event in load_catalog(project / "config.yaml").events:
        kept = parsed_module.encode(((event, at),), event.timezone)
        assert kept is not None
        assert repr(parsed_module.decode(kept)) == repr(((event, at),))

        # A time at a fixed offset reads back as another zone: never kept.
        odd = replace(event, start=event.start.astimezone(timezone(timedelta(hours=1))))
        assert parsed_module.encode(((odd, at),), event.timezone) is None


def _name(stem: str) -> str:
    """Return how the store names ``feeds/<stem>.yaml``."""
    import hashlib

    return hashlib.sha256(f"feeds/{stem}.yaml".encode()).hexdigest()
