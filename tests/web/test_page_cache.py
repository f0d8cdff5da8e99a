"""Pages served like feeds (``service/web/page_cache.py``): ETag, 304, and never stale.

A page is rendered once per edition; these tests check what a visitor would notice if the
cache were wrong: an old page after an edit, an ended event still listed as upcoming, links
without the prefix the site is mounted under, one visitor's form token shown to another.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from .conftest import MakeApp, live
from .test_pages import BIG_BUYERS, CIRCULAR, MINERALS, NORDIC, OHS, PROCURA, sections

WriteEvent = Callable[[str, str | Mapping[str, Any]], Path]
PAGES = ["/", "/topics/circular-economy", "/events/circular-cities-webinar-2020-12"]


@pytest.mark.parametrize("path", ["/", "/events/circular-cities-webinar-2020-12"])
def test_a_page_answers_304_to_a_visitor_who_has_it(
    seed_project: Path, make_app: MakeApp, path: str
) -> None:
    client = make_app().test_client()
    first = client.get(path)
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)

    again = client.get(path, headers={"If-None-Match": etag})

    assert again.status_code == 304
    assert again.data == b""
    assert client.get(path).data == first.data
    assert client.get(path).headers["ETag"] == etag


def test_an_edit_is_on_the_next_page_with_a_new_etag(seed_project: Path, make_app: MakeApp) -> None:
    app = make_app()
    client = app.test_client()
    before = {path: client.get(path) for path in PAGES}
    event_file = seed_project / "feeds" / "2020-12-circular-cities-webinar.yaml"
    text = event_file.read_text(encoding="utf-8")
    event_file.write_text(text.replace(CIRCULAR, "Circular Cities, moved"), encoding="utf-8")

    assert live(app).refresh()

    for path in PAGES:
        after = client.get(path, headers={"If-None-Match": before[path].headers.get("ETag", "")})
        assert after.status_code == 200, path
        assert "Circular Cities, moved" in after.get_data(as_text=True), path
        assert CIRCULAR not in after.get_data(as_text=True), path


def test_after_an_edit_the_lists_are_the_pages_a_fresh_start_renders(
    seed_project: Path, make_app: MakeApp
) -> None:
    lists = ["/", "/topics/circular-economy", "/topics/procurement"]
    with freeze_time("2020-12-07 14:00:00", tz_offset=0):
        client = make_app().test_client()
        first = {path: client.get(path).get_data(as_text=True) for path in lists}
        circular = seed_project / "feeds" / "2020-12-circular-cities-webinar.yaml"
        text = circular.read_text(encoding="utf-8")
        circular.write_text(text.replace(CIRCULAR, "Round Cities"), encoding="utf-8")
        nordic = next((seed_project / "feeds").glob("*nordic*.yaml"))
        cancelled = nordic.read_text(encoding="utf-8").replace(
            "status: confirmed", "status: cancelled"
        )
        nordic.write_text(cancelled, encoding="utf-8")
        assert live(client.application).refresh()
        edited = {path: client.get(path).get_data(as_text=True) for path in lists}
        fresh = make_app().test_client()  # renders every entry anew
        again = {path: fresh.get(path).get_data(as_text=True) for path in lists}

    assert edited["/"] == again["/"] != first["/"]
    for path in lists:  # a topic page also holds the visitor's own form token
        assert sections(edited[path]) == sections(again[path]), path
    assert "Round Cities" in edited["/"] and CIRCULAR not in edited["/"]
    assert edited["/"].count('class="cancelled"') == first["/"].count('class="cancelled"') + 1


def test_an_event_moves_under_past_events_when_it_ends(
    seed_project: Path, make_app: MakeApp
) -> None:
    client = make_app().test_client()
    with freeze_time("2020-12-07 14:00:00", tz_offset=0):  # the Nordic forum is under way
        during = client.get("/")
    with freeze_time("2020-12-09 12:00:00", tz_offset=0):
        after = client.get("/", headers={"If-None-Match": during.headers["ETag"]})

    assert sections(during.get_data(as_text=True))[0] == (
        "December 2020",
        [NORDIC, CIRCULAR, BIG_BUYERS, PROCURA],
    )
    assert after.status_code == 200
    assert sections(after.get_data(as_text=True)) == [
        ("December 2020", [PROCURA]),
        ("January 2021", [MINERALS]),
        ("Past events", [BIG_BUYERS, CIRCULAR, NORDIC, OHS]),
    ]


def test_a_topic_page_moves_too_and_is_the_same_for_every_visitor(
    seed_project: Path, make_app: MakeApp
) -> None:
    app = make_app()
    alice, bob = app.test_client(), app.test_client()
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        first = alice.get("/topics/ict")
        second = bob.get("/topics/ict")
        again = bob.get("/topics/ict", headers={"If-None-Match": first.headers["ETag"]})
    with freeze_time("2021-02-01 09:00:00", tz_offset=0):
        later = alice.get("/topics/ict").get_data(as_text=True)

    assert sections(first.get_data(as_text=True)) == [
        ("December 2020", [PROCURA]),
        ("January 2021", [MINERALS]),
    ]
    assert sections(later) == [("Past events", [MINERALS, PROCURA])]
    # The sign-up form on it holds nothing of its own: one page, one ETag, no cookie.
    assert 'name="email"' in first.get_data(as_text=True)
    assert first.get_data() == second.get_data()
    assert first.headers["ETag"] == second.headers["ETag"]
    assert again.status_code == 304
    assert "Set-Cookie" not in first.headers and "Set-Cookie" not in second.headers


def test_links_follow_the_prefix_the_site_is_mounted_under(
    seed_project: Path, make_app: MakeApp
) -> None:
    client = make_app().test_client()
    plain = client.get("/").get_data(as_text=True)
    mounted = client.get("/", base_url="http://localhost/calendar/").get_data(as_text=True)

    assert 'href="/topics/ict"' in plain
    assert 'href="/calendar/topics/ict"' in mounted
    assert 'href="/topics/ict"' not in mounted
    assert 'href="/calendar/topics/ict"' not in client.get("/").get_data(as_text=True)
