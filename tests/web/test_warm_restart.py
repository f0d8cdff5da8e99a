"""Warm restarts (``service/store/renders.py``): a fresh process renders only what changed.

Rendered entries are kept in the database by a digest of what they are rendered from. These
tests count the entries a restarted process renders, and check that what it serves is what a
process rendering everything would serve: never an entry left over from before an edit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from freezegun import freeze_time
from seed import SEED_IDS

from service.calendar import edition

from .conftest import MakeApp, entries, live, prop

FEEDS = ["/feeds/all.ics", *(f"/events/{event_id}.ics" for event_id in SEED_IDS)]
BIG_BUYERS = "2020-12-big-buyers-needs-assessment-webinar.yaml"


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record the UID of every entry rendered from here on."""
    rendered: list[str] = []
    for name in ("event_entry", "session_entry"):
        build = getattr(edition, name)

        def counted(*args: object, build: object = build, **options: object) -> object:
            entry = build(*args, **options)  # type: ignore[operator]
            rendered.append(str(entry["uid"]))
            return entry

        monkeypatch.setattr(edition, name, counted)
    yield rendered


def uids(served: dict[str, bytes]) -> set[str]:
    """Return the UID of every entry in any of the feeds served."""
    return {uid for body in served.values() for uid in entries(body)}


def serve_all(make_app: MakeApp) -> dict[str, bytes]:
    app = make_app()
    client = app.test_client()
    served = {}
    for path in FEEDS:
        response = client.get(path)
        assert response.status_code == 200, path
        served[path] = response.data
    live(app).close()
    return served


def test_a_restart_renders_nothing_and_serves_the_same_bytes(
    seed_project: Path, make_app: MakeApp, renders: list[str]
) -> None:
    first = serve_all(make_app)
    rendered_first = len(renders)
    renders.clear()

    again = serve_all(make_app)

    assert rendered_first == len(uids(first))  # events, sessions
    assert renders == []
    assert again == first


def test_an_edit_while_down_renders_that_event_alone_and_serves_it_new(
    seed_project: Path, make_app: MakeApp, renders: list[str]
) -> None:
    uid = "big-buyers-needs-assessment-webinar-2020-12@127.0.0.1"
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        before = serve_all(make_app)
    path = seed_project / "feeds" / BIG_BUYERS
    path.write_text(path.read_text("utf-8").replace("09:30", "09:45"), "utf-8")
    renders.clear()

    with freeze_time("2020-11-04 08:00:00", tz_offset=0):
        after = serve_all(make_app)

    assert set(renders) == {
        u for u in entries(after["/events/big-buyers-needs-assessment-webinar-2020-12.ics"])
    }
    assert prop(entries(after["/feeds/all.ics"])[uid], "DTSTART") == "20201208T094500"
    assert prop(entries(after["/feeds/all.ics"])[uid], "SEQUENCE") == "1"
    unchanged = [p for p in FEEDS if "big-buyers" not in p and p != "/feeds/all.ics"]
    assert all(after[p] == before[p] for p in unchanged)


def test_a_renamed_topic_renders_every_entry_that_names_it_again(
    seed_project: Path, make_app: MakeApp, renders: list[str]
) -> None:
    serve_all(make_app)
    config = seed_project / "config.yaml"
    config.write_text(
        config.read_text("utf-8").replace("{en: ICT,", "{en: Digital,"), encoding="utf-8"
    )
    renders.clear()

    after = serve_all(make_app)

    ict = [
        uid
        for uid, block in entries(after["/feeds/all.ics"]).items()
        if "Digital" in prop(block, "CATEGORIES")
    ]
    assert ict and set(ict) <= set(renders)
    assert b"CATEGORIES:ICT" not in after["/feeds/all.ics"]


def test_a_new_renderer_renders_everything_again(
    seed_project: Path, make_app: MakeApp, renders: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = serve_all(make_app)
    renders.clear()
    monkeypatch.setattr(edition, "_RENDERER", "a newer version of the renderer")

    again = serve_all(make_app)

    assert len(renders) == len(uids(first))
    assert again == first


def test_the_database_keeps_one_rendering_of_each_entry(
    seed_project: Path, make_app: MakeApp
) -> None:
    serve_all(make_app)
    path = seed_project / "feeds" / BIG_BUYERS
    for minute in ("35", "40", "45"):
        path.write_text(path.read_text("utf-8").replace("09:30", f"09:{minute}"), "utf-8")
        serve_all(make_app)
        path.write_text(path.read_text("utf-8").replace(f"09:{minute}", "09:30"), "utf-8")

    engine = sa.create_engine(f"sqlite:///{seed_project / 'var' / 'calfeed.sqlite3'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT uid, count(*) FROM renders GROUP BY uid"))
        counts: dict[str, int] = {uid: count for uid, count in rows.all()}
    engine.dispose()
    assert counts and set(counts.values()) == {1}


def test_a_restart_on_postgresql_renders_nothing_and_serves_the_same_bytes(
    seed_project: Path, make_app: MakeApp, renders: list[str], pg_url: str
) -> None:
    config = seed_project / "config.yaml"
    text = config.read_text("utf-8").replace("database: sqlite:///var/calfeed.sqlite3", "")
    config.write_text(f"{text}\ndatabase: {pg_url}\n", encoding="utf-8")
    first = serve_all(make_app)
    renders.clear()

    again = serve_all(make_app)

    assert renders == []
    assert again == first
