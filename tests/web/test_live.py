"""Hot reload (``service/live.py``): good edits are served, bad ones refused, nothing goes down."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from freezegun import freeze_time

from service.calendar.edition import Edition
from service.live import QUIET, LiveCatalog

from .conftest import MakeApp, entries, live, prop

WriteEvent = Callable[[str, str | Mapping[str, Any]], Path]
MakeEvent = Callable[..., dict[str, Any]]

T1, T2 = "2020-11-01 09:00:00", "2020-11-02 10:30:15"
UID_A, UID_B = "webinar-a@events.example.org", "webinar-b@events.example.org"


def two_events(write_event: WriteEvent, make_event: MakeEvent) -> None:
    write_event("a.yaml", make_event(id="webinar-a", title="Webinar A"))
    write_event(
        "b.yaml",
        make_event(
            id="webinar-b",
            title="Webinar B",
            topics=["procurement"],
            start="2020-12-08T10:00",
            end="2020-12-08T11:00",
            sessions=[{"start": "10:00", "end": "10:30", "title": "Opening"}],
        ),
    )


def health(client: FlaskClient) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/healthz").get_json()
    return body


def test_an_edit_raises_that_events_sequence_and_leaves_the_others_untouched(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    with freeze_time(T1, tz_offset=0):
        app = make_app()
        client = app.test_client()
        before = client.get("/feeds/all.ics")

    with freeze_time(T2, tz_offset=0):
        write_event(
            "a.yaml",
            make_event(
                id="webinar-a",
                title="Webinar A, moved an hour later",
                start="2020-12-07T15:00",
                end="2020-12-07T17:00",
            ),
        )
        assert live(app).refresh() is True
        after = client.get("/feeds/all.ics")

    assert after.headers["ETag"] != before.headers["ETag"]
    assert before.headers["Last-Modified"] == "Sun, 01 Nov 2020 09:00:00 GMT"
    assert after.headers["Last-Modified"] == "Mon, 02 Nov 2020 10:30:15 GMT"
    old, new = entries(before.data), entries(after.data)
    assert prop(old[UID_A], "SEQUENCE") == "0"
    assert prop(new[UID_A], "SEQUENCE") == "1"
    assert prop(old[UID_A], "LAST-MODIFIED") == "20201101T090000Z"
    assert prop(new[UID_A], "LAST-MODIFIED") == "20201102T103015Z"
    assert prop(new[UID_A], "DTSTART") == "20201207T150000"
    assert prop(new[UID_A], "SUMMARY") == r"Webinar A\, moved an hour later"
    assert new[UID_B] == old[UID_B]  # byte-identical: SEQUENCE, DTSTAMP, LAST-MODIFIED kept


def test_a_client_holding_the_old_etag_gets_the_edited_feed(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    app = make_app()
    client = app.test_client()
    etag = client.get("/feeds/circular-economy.ics").headers["ETag"]

    write_event("a.yaml", make_event(id="webinar-a", title="Webinar A (new title)"))
    assert live(app).refresh() is True
    response = client.get("/feeds/circular-economy.ics", headers={"If-None-Match": etag})

    assert response.status_code == 200
    assert "Webinar A (new title)" in response.get_data(as_text=True)


def test_an_edit_elsewhere_keeps_a_topic_feed_byte_identical_with_its_etag(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    with freeze_time(T1, tz_offset=0):
        app = make_app()
        client = app.test_client()
        before = client.get("/feeds/procurement.ics")  # holds only webinar-b
        event_before = client.get("/events/webinar-b.ics")

    with freeze_time(T2, tz_offset=0):
        write_event("a.yaml", make_event(id="webinar-a", title="Webinar A (new title)"))
        assert live(app).refresh() is True
        after = client.get("/feeds/procurement.ics")
        event_after = client.get("/events/webinar-b.ics")
        conditional = client.get(
            "/feeds/procurement.ics", headers={"If-None-Match": before.headers["ETag"]}
        )

    assert after.data == before.data
    assert after.headers["ETag"] == before.headers["ETag"]
    assert after.headers["Last-Modified"] == before.headers["Last-Modified"]
    assert event_after.data == event_before.data
    assert conditional.status_code == 304


def test_a_second_edit_raises_the_sequence_again(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    app = make_app()
    client = app.test_client()
    for number, title in enumerate(["First rename", "Second rename, longer"], start=1):
        write_event("a.yaml", make_event(id="webinar-a", title=title))
        assert live(app).refresh() is True
        block = entries(client.get("/feeds/all.ics").data)[UID_A]
        assert prop(block, "SEQUENCE") == str(number)


def test_refresh_without_changes_serves_the_same_edition(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    app = make_app()
    body = app.test_client().get("/feeds/all.ics").data

    assert live(app).refresh() is False
    assert app.test_client().get("/feeds/all.ics").data == body


def test_a_new_event_file_is_served_after_refresh(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    app = make_app()
    client = app.test_client()
    assert client.get("/events/webinar-c.ics").status_code == 404

    write_event("more/c.yaml", make_event(id="webinar-c", title="Webinar C"))
    assert live(app).refresh() is True

    assert client.get("/events/webinar-c.ics").status_code == 200
    assert "webinar-c@events.example.org" in entries(client.get("/feeds/all.ics").data)


def test_a_broken_yaml_edit_is_refused_and_the_last_good_feed_keeps_serving(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    app = make_app()
    client = app.test_client()
    good = client.get("/feeds/all.ics")
    assert health(client)["status"] == "ok"

    write_event("a.yaml", "id: webinar-a\ntitle: [unclosed\ntopics: [procurement]\n")
    assert live(app).refresh() is False

    served = client.get("/feeds/all.ics")
    assert served.status_code == 200
    assert served.data == good.data
    assert served.headers["ETag"] == good.headers["ETag"]
    report = health(client)
    assert report["status"] == "degraded"
    assert len(report["config"]["problems"]) == 1
    assert report["config"]["problems"][0].startswith("feeds/a.yaml:3: ")
    assert "YAML" in report["config"]["problems"][0]


def test_every_problem_of_a_refused_edit_is_listed_with_path_line_and_field(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    app = make_app()
    client = app.test_client()

    write_event(
        "b.yaml",
        """\
        id: webinar-b
        title: Webinar B
        topics: [procurement]
        start: 2020-12-08T10:00
        end: 2020-12-08T09:00
        tittle: typo
        """,
    )
    assert live(app).refresh() is False

    problems = health(client)["config"]["problems"]
    assert [problem.split(": ")[0:2] for problem in problems] == [
        ["feeds/b.yaml:5", "end"],
        ["feeds/b.yaml:6", "tittle"],
    ]
    assert [str(problem) for problem in live(app).problems] == problems
    assert "Webinar B" in client.get("/feeds/procurement.ics").get_data(as_text=True)


def test_fixing_the_file_recovers(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    app = make_app()
    client = app.test_client()
    write_event("a.yaml", "id: webinar-a\ntitle: [unclosed\n")
    assert live(app).refresh() is False

    write_event("a.yaml", make_event(id="webinar-a", title="Webinar A, fixed"))
    assert live(app).refresh() is True

    report = health(client)
    assert report["status"] == "ok"
    assert report["config"]["problems"] == []
    assert live(app).problems == ()
    assert "Webinar A\\, fixed" in client.get("/feeds/all.ics").get_data(as_text=True)


def test_a_duplicate_id_in_a_new_file_is_refused(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    app = make_app()
    client = app.test_client()
    good = client.get("/feeds/all.ics").data

    write_event("copy.yaml", make_event(id="webinar-a", title="Copy of A"))
    assert live(app).refresh() is False

    assert client.get("/feeds/all.ics").data == good
    problems = health(client)["config"]["problems"]
    assert any(p.startswith("feeds/copy.yaml:1: id: duplicate id") for p in problems), problems


def test_the_watcher_thread_serves_an_edit_by_itself(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    app = make_app(watch=0.05)
    client = app.test_client()
    assert "Webinar A, edited" not in client.get("/feeds/all.ics").get_data(as_text=True)

    write_event("a.yaml", make_event(id="webinar-a", title="Webinar A, edited"))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        body = client.get("/feeds/all.ics").get_data(as_text=True)
        if "Webinar A\\, edited" in body:
            break
        time.sleep(0.02)

    assert "Webinar A\\, edited" in body, "the watcher did not pick the edit up within 3 s"
    assert prop(entries(body.encode())[UID_A], "SEQUENCE") == "1"


def test_the_watcher_refuses_a_bad_edit_and_keeps_serving(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    app = make_app(watch=0.05)
    client = app.test_client()
    good = client.get("/feeds/all.ics").data

    write_event("a.yaml", "id: webinar-a\ntitle: [unclosed\n")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and health(client)["status"] == "ok":
        time.sleep(0.02)

    assert health(client)["status"] == "degraded"
    assert client.get("/feeds/all.ics").data == good


def test_cancelling_an_event_is_served_as_a_cancelled_entry(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    app = make_app()
    client = app.test_client()

    write_event("a.yaml", make_event(id="webinar-a", title="Webinar A", status="cancelled"))
    assert live(app).refresh() is True

    block = entries(client.get("/feeds/all.ics").data)[UID_A]
    assert prop(block, "STATUS") == "CANCELLED"
    assert prop(block, "SUMMARY") == "Cancelled: Webinar A"
    assert prop(block, "SEQUENCE") == "1"
    assert "Cancelled:" in client.get("/events/webinar-a").get_data(as_text=True)


def test_a_deleted_event_file_takes_its_event_off_the_site(
    write_event: WriteEvent, make_event: MakeEvent, make_app: MakeApp
) -> None:
    two_events(write_event, make_event)
    app = make_app()
    client = app.test_client()

    write_event("a.yaml", "").unlink()
    assert live(app).refresh() is True

    assert list(entries(client.get("/feeds/all.ics").data)) == [UID_B]
    assert client.get("/events/webinar-a.ics").status_code == 404
    assert client.get("/events/webinar-a").status_code == 404
    assert "Webinar A" not in client.get("/").get_data(as_text=True)


def test_a_config_edit_renames_the_feeds_and_keeps_every_entry(
    write_event: WriteEvent,
    make_event: MakeEvent,
    make_app: MakeApp,
    write_config: Callable[..., Path],
) -> None:
    two_events(write_event, make_event)
    with freeze_time(T1, tz_offset=0):
        app = make_app()
        client = app.test_client()
        before = client.get("/feeds/all.ics").data

    with freeze_time(T2, tz_offset=0):
        write_config(
            site={
                "title": "Renamed events",
                "base_url": "https://events.example.org",
                "timezone": "Europe/Brussels",
            }
        )
        assert live(app).refresh() is True
        after = client.get("/feeds/all.ics")

    assert prop(after.data.split(b"BEGIN:VEVENT")[0], "X-WR-CALNAME") == "Renamed events"
    assert entries(after.data) == entries(before)
    assert after.headers["Last-Modified"] == "Mon, 02 Nov 2020 10:30:15 GMT"
    assert "Renamed events" in client.get("/").get_data(as_text=True)


def test_a_broken_config_edit_is_refused_naming_config_yaml(
    write_event: WriteEvent,
    make_event: MakeEvent,
    make_app: MakeApp,
    write_config: Callable[..., Path],
) -> None:
    two_events(write_event, make_event)
    app = make_app()
    client = app.test_client()
    good = client.get("/feeds/all.ics").data

    write_config(feed={"refresh": "often"})
    assert live(app).refresh() is False

    assert client.get("/feeds/all.ics").data == good
    report = health(client)
    assert report["status"] == "degraded"
    assert [p.split(": ")[:2] for p in report["config"]["problems"]] == [
        ["config.yaml:19", "feed.refresh"]
    ]


# Files being written, files that are not files, and failures the watcher must survive


class StillClock:
    """A monotonic clock that moves only when told: how long files have been still."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    """Wait (bounded) until ``condition()`` holds, polling every few milliseconds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.005)


def watched(project: Path, timer: Callable[[], float] = time.monotonic) -> Iterator[LiveCatalog]:
    live_catalog = LiveCatalog(project / "config.yaml", timer=timer)
    live_catalog.watch(interval=0.01)
    try:
        yield live_catalog
    finally:
        live_catalog.close()


def look_twice(live_catalog: LiveCatalog) -> None:
    """Wait until the watcher has looked at the files twice more."""
    seen = live_catalog.polls
    wait_for(lambda: live_catalog.polls >= seen + 2, "two more looks at the files")


def test_the_watcher_looks_again_as_soon_as_an_edit_has_been_still_long_enough(
    project: Path, write_event: WriteEvent, make_event: MakeEvent
) -> None:
    write_event("a.yaml", make_event(id="webinar-a", title="Webinar A"))
    clock = StillClock()
    live_catalog = LiveCatalog(project / "config.yaml", timer=clock)
    try:
        assert live_catalog.until_next_look(interval=1.0) == 1.0  # nothing waits
        write_event("a.yaml", make_event(id="webinar-a", title="Webinar A, edited"))
        assert not live_catalog.look()  # seen, but not still for QUIET yet: not read
        assert live_catalog.until_next_look(interval=1.0) == pytest.approx(QUIET)
        clock.now += QUIET - 0.1
        assert live_catalog.until_next_look(interval=1.0) == pytest.approx(0.1)
        assert not live_catalog.look()
        clock.now += 0.1
        assert live_catalog.until_next_look(interval=1.0) == 0.0
        assert live_catalog.look()  # read at the end of the quiet period, not a poll later
        assert live_catalog.edition.catalog.events[0].title == "Webinar A, edited"
        assert live_catalog.until_next_look(interval=1.0) == 1.0
    finally:
        live_catalog.close()


def test_a_file_written_in_chunks_is_published_once_complete_and_once(
    project: Path, write_event: WriteEvent, make_event: MakeEvent
) -> None:
    write_event("a.yaml", make_event(id="webinar-a", title="Webinar A"))
    edited = yaml.safe_dump(
        make_event(
            id="webinar-a",
            title="Webinar A, with its agenda",
            location="Online",
            description="A long description.\n" * 20,
            sessions=[
                {"start": f"14:{minute:02d}", "end": f"14:{minute + 5:02d}", "title": f"Talk {n}"}
                for n, minute in enumerate(range(0, 60, 5))
                if minute + 5 < 60
            ],
        ),
        sort_keys=False,
    )
    clock = StillClock()
    with contextmanager(watched)(project, clock) as live_catalog:
        published: list[Edition] = []
        live_catalog.on_change(lambda: published.append(live_catalog.edition))
        fd = os.open(project / "feeds" / "a.yaml", os.O_WRONLY | os.O_TRUNC)
        try:
            data = edited.encode()
            for start in range(0, len(data), 97):  # odd chunks, so that some end mid-line
                os.write(fd, data[start : start + 97])
                look_twice(live_catalog)  # each half-written version is seen, and not read
                clock.now += 0.1  # the writer is never still for the whole quiet period
                assert (published, live_catalog.problems) == ([], ())
        finally:
            os.close(fd)
        clock.now += QUIET
        wait_for(lambda: bool(published), "the publication of the complete file")
        look_twice(live_catalog)

    assert len(published) == 1
    [event] = published[0].catalog.events
    assert (event.title, len(event.sessions)) == ("Webinar A, with its agenda", 11)
    body = published[0].topic_feed(("all",)).body
    assert prop(entries(body)[UID_A], "SEQUENCE") == "1"


def test_an_edit_is_served_within_a_second_of_the_last_write(
    project: Path, write_event: WriteEvent, make_event: MakeEvent
) -> None:
    write_event("a.yaml", make_event(id="webinar-a", title="Webinar A"))
    with contextmanager(watched)(project) as live_catalog:
        look_twice(live_catalog)
        write_event("a.yaml", make_event(id="webinar-a", title="Webinar A, edited"))
        written = time.monotonic()
        wait_for(
            lambda: live_catalog.edition.catalog.events[0].title == "Webinar A, edited",
            "serving the edit",
        )
        took = time.monotonic() - written

    assert QUIET <= took < 5  # about 0.4 s; a busy machine may take longer


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("fifo", "feeds/x.yaml: not a regular file but a FIFO (named pipe): only files are read"),
        ("loop", "feeds/x.yaml: cannot read file: Too many levels of symbolic links"),
        ("deep", "feeds/x.yaml:1: nested more than 20 levels deep"),
        (
            "utf-16",
            "feeds/x.yaml:1: a NUL byte at column 2: the file looks like UTF-16; save it as UTF-8",
        ),
    ],
)
def test_a_hostile_file_added_live_is_refused_in_healthz_and_the_watcher_goes_on(
    project: Path,
    write_event: WriteEvent,
    make_event: MakeEvent,
    make_app: MakeApp,
    kind: str,
    expected: str,
) -> None:
    two_events(write_event, make_event)
    app = make_app(watch=0.01)
    client = app.test_client()
    good = client.get("/feeds/all.ics").data
    path = project / "feeds" / "x.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        path.symlink_to("x.yaml")
    elif kind == "deep":
        path.write_text("[" * 500 + "]" * 500)
    else:
        path.write_bytes(yaml.safe_dump(make_event(id="x")).encode("utf-16-le"))

    wait_for(lambda: health(client)["status"] == "degraded", "the refusal")

    assert health(client)["config"]["problems"] == [expected]
    assert client.get("/feeds/all.ics").data == good
    path.unlink()
    write_event("a.yaml", make_event(id="webinar-a", title="Webinar A, after"))
    wait_for(lambda: health(client)["status"] == "ok", "the recovery")
    assert "Webinar A\\, after" in client.get("/feeds/all.ics").get_data(as_text=True)


def test_an_edit_the_database_cannot_take_is_shown_and_published_once_it_can(
    write_event: WriteEvent,
    make_event: MakeEvent,
    make_app: MakeApp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    two_events(write_event, make_event)
    app = make_app(watch=0.01)
    client = app.test_client()
    good = client.get("/feeds/all.ics").data
    engine = live(app).engine
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE revisions RENAME TO revisions_away")

    write_event("a.yaml", make_event(id="webinar-a", title="Webinar A, edited"))
    wait_for(lambda: health(client)["config"]["problems"] != [], "the refusal")

    assert health(client)["config"]["problems"] == [
        "feeds: the edit cannot be published (OperationalError; the log says why)"
    ]
    assert "no such table: revisions" in caplog.text
    assert client.get("/feeds/all.ics").data == good  # the last good edition, as it was
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE revisions_away RENAME TO revisions")
    wait_for(lambda: health(client)["config"]["problems"] == [], "the publication")
    assert "Webinar A\\, edited" in client.get("/feeds/all.ics").get_data(as_text=True)


def test_a_watcher_that_stops_says_so_in_healthz(
    write_event: WriteEvent,
    make_event: MakeEvent,
    make_app: MakeApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    two_events(write_event, make_event)
    app = make_app()
    client = app.test_client()

    def stop(quiet: float = 0.0) -> bool:
        raise SystemExit("stopped")  # what no Exception handler catches

    monkeypatch.setattr(live(app), "refresh", stop)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # it is meant to die
    live(app).watch(interval=0.01).join(10)

    assert health(client)["status"] == "degraded"
    assert health(client)["config"]["problems"] == [
        "feeds: the file watcher stopped: restart the service to serve edits"
    ]
