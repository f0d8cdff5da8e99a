"""Atom and JSON Feed beside every calendar (``service/web/syndication.py``, ``feeds.py``).

The Atom feeds are read by feedparser, as feed readers built on it read them; the JSON
feeds are checked against what JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/)
requires and allows: ``version``, ``title`` and ``items``; each item an ``id`` and
``content_html`` or ``content_text``; only the keys the spec names, or extensions starting
with an underscore; dates in RFC 3339. Both answer like the calendars: ETag, Last-Modified,
304, the same names (``all``, a slug, ``a+b``) and 404 for an unknown topic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from seed import SEED_BY_ID, SEED_EVENTS, SEED_TOPICS

from .conftest import Html, MakeApp, live

NAMES = ["all", *SEED_TOPICS, "procurement+supply-chains"]

FEED_KEYS = {
    "version",
    "title",
    "home_page_url",
    "feed_url",
    "description",
    "user_comment",
    "next_url",
    "icon",
    "favicon",
    "authors",
    "language",
    "expired",
    "hubs",
    "items",
}
ITEM_KEYS = {
    "id",
    "url",
    "external_url",
    "title",
    "content_html",
    "content_text",
    "summary",
    "image",
    "banner_image",
    "date_published",
    "date_modified",
    "authors",
    "tags",
    "language",
    "attachments",
}
AUTHOR_KEYS = {"name", "url", "avatar"}
ATTACHMENT_KEYS = {"url", "mime_type", "title", "size_in_bytes", "duration_in_seconds"}
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def json_feed_problems(feed: Any) -> list[str]:
    """Return what keeps ``feed`` from being a valid JSON Feed 1.1 document."""
    wrong = []

    def keys(found: dict[str, Any], allowed: set[str], where: str) -> None:
        extra = {key for key in found if key not in allowed and not key.startswith("_")}
        if extra:
            wrong.append(f"{where}: keys JSON Feed 1.1 does not define: {sorted(extra)}")

    def authors(listed: Any, where: str) -> None:
        if not isinstance(listed, list) or not listed:
            wrong.append(f"{where}.authors: not a list of authors")
            return
        for author in listed:
            keys(author, AUTHOR_KEYS, f"{where}.authors")
            if not set(author) & AUTHOR_KEYS:
                wrong.append(f"{where}.authors: an author needs a name, url or avatar")

    if not isinstance(feed, dict):
        return ["not an object"]
    keys(feed, FEED_KEYS, "feed")
    if feed.get("version") != "https://jsonfeed.org/version/1.1":
        wrong.append(f"version: {feed.get('version')!r}")
    if not isinstance(feed.get("title"), str):
        wrong.append("title: missing")
    for name in ("home_page_url", "feed_url"):
        if name in feed and not str(feed[name]).startswith(("http://", "https://")):
            wrong.append(f"{name}: not a URL")
    if "authors" in feed:
        authors(feed["authors"], "feed")
    items = feed.get("items")
    if not isinstance(items, list):
        return [*wrong, "items: missing"]
    ids = [item.get("id") for item in items]
    if len(set(ids)) != len(ids):
        wrong.append("items: ids repeat")
    for index, item in enumerate(items):
        where = f"items[{index}]"
        keys(item, ITEM_KEYS, where)
        if not isinstance(item.get("id"), str) or not item["id"]:
            wrong.append(f"{where}.id: missing")
        if not any(isinstance(item.get(k), str) for k in ("content_html", "content_text")):
            wrong.append(f"{where}: neither content_html nor content_text")
        for name in ("date_published", "date_modified"):
            if name in item and not RFC3339.fullmatch(item[name]):
                wrong.append(f"{where}.{name}: not RFC 3339: {item[name]!r}")
        if "tags" in item and not all(isinstance(tag, str) for tag in item["tags"]):
            wrong.append(f"{where}.tags: not strings")
        if "authors" in item:
            authors(item["authors"], where)
        for attachment in item.get("attachments", []):
            keys(attachment, ATTACHMENT_KEYS, f"{where}.attachments")
            if not {"url", "mime_type"} <= set(attachment):
                wrong.append(f"{where}.attachments: url and mime_type are required")
    return wrong


def _titles(name: str) -> list[str]:
    """Return the titles of the seed events of the feed ``name``, the latest start first."""
    wanted = set(name.split("+"))
    events = [e for e in SEED_EVENTS if name == "all" or wanted & set(e["topics"])]
    return [e["title"] for e in sorted(events, key=lambda e: str(e["start"]), reverse=True)]


def test_the_json_feed_check_finds_what_is_wrong() -> None:
    assert json_feed_problems(
        {
            "version": "https://jsonfeed.org/version/1",
            "colour": "red",
            "items": [{"id": "a", "date_published": "7 Dec 2020"}, {"id": "a", "title": "x"}],
        }
    ) == [
        "feed: keys JSON Feed 1.1 does not define: ['colour']",
        "version: 'https://jsonfeed.org/version/1'",
        "title: missing",
        "items: ids repeat",
        "items[0]: neither content_html nor content_text",
        "items[0].date_published: not RFC 3339: '7 Dec 2020'",
        "items[1]: neither content_html nor content_text",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_every_atom_feed_reads_in_feedparser(client: FlaskClient, name: str) -> None:
    response = client.get(f"/feeds/{name}.atom")

    assert response.status_code == 200
    assert response.content_type == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title.startswith("Sustainable Procurement Events")
    assert parsed.feed.updated_parsed is not None
    links = {link.rel: link.href for link in parsed.feed.links if link.rel != "alternate"}
    assert links["self"] == f"http://127.0.0.1:8000/feeds/{name}.atom"
    assert [entry.title for entry in parsed.entries] == _titles(name)
    for entry in parsed.entries:
        event_id = entry.link.removeprefix("http://127.0.0.1:8000/events/")
        seed = SEED_BY_ID[event_id]
        assert entry.id.startswith("urn:uuid:")
        assert entry.published_parsed is not None and entry.updated_parsed is not None
        organizer = (seed.get("organizer") or {}).get("name")
        assert (entry.get("author_detail") or {}).get("name") == organizer  # else the feed's
        assert {tag.term for tag in entry.tags} == set(seed["topics"])
        assert f"{event_id}.ics" in entry.content[0].value  # the calendar, linked
    assert len({entry.id for entry in parsed.entries}) == len(parsed.entries)


@pytest.mark.parametrize("name", NAMES)
def test_every_json_feed_is_json_feed_1_1(client: FlaskClient, name: str) -> None:
    response = client.get(f"/feeds/{name}.json")

    assert response.status_code == 200
    assert response.content_type == "application/feed+json; charset=utf-8"
    feed = json.loads(response.data)
    assert json_feed_problems(feed) == []
    assert feed["feed_url"] == f"http://127.0.0.1:8000/feeds/{name}.json"
    assert [item["title"] for item in feed["items"]] == _titles(name)
    for item in feed["items"]:
        seed = SEED_BY_ID[item["url"].removeprefix("http://127.0.0.1:8000/events/")]
        event = item["_event"]
        assert (event["timezone"], event["all_day"]) == (seed["timezone"], "T" not in seed["start"])
        assert event["start"].startswith(str(seed["start"]))
        assert seed["description"].split("\n")[0] in item["content_text"]


def test_the_atom_and_json_ids_of_an_event_are_one_and_last_across_restarts(
    seed_project: Path, make_app: MakeApp
) -> None:
    first = make_app().test_client()
    atom = feedparser.parse(first.get("/feeds/all.atom").data)
    body = first.get("/feeds/all.json").data
    json_ids = [item["id"] for item in json.loads(body)["items"]]

    again = make_app().test_client()

    assert [entry.id for entry in atom.entries] == json_ids
    assert again.get("/feeds/all.json").data == body


@pytest.mark.parametrize("kind", ["atom", "json"])
def test_reader_feeds_answer_conditional_requests_like_the_calendars(
    client: FlaskClient, kind: str
) -> None:
    first = client.get(f"/feeds/procurement.{kind}")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]

    assert (
        client.get(f"/feeds/procurement.{kind}", headers={"If-None-Match": etag}).status_code == 304
    )
    assert (
        client.get(
            f"/feeds/procurement.{kind}", headers={"If-Modified-Since": modified}
        ).status_code
        == 304
    )
    assert first.headers["Cache-Control"] == "public, max-age=300"
    # a+b in any order and repeated is the same feed; an unknown topic is not found.
    assert (
        client.get(f"/feeds/supply-chains+procurement+procurement.{kind}").data
        == client.get(f"/feeds/procurement+supply-chains.{kind}").data
    )
    assert client.get(f"/feeds/no-such-topic.{kind}").status_code == 404
    assert client.get(f"/feeds/procurement+nope.{kind}").status_code == 404


def test_an_edit_changes_the_reader_feeds_of_its_topics_only(
    make_app: MakeApp,
    make_event: Callable[..., dict[str, Any]],
    write_event: Callable[[str, Any], Path],
) -> None:
    event = make_event()
    other = make_event(id="supply-forum", topics=["supply-chains"], title="Forum")
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        app = make_app(events={"a.yaml": event, "b.yaml": other})
    client = app.test_client()
    untouched = ["/feeds/supply-chains.json", "/feeds/procurement.atom", "/feeds/procurement.json"]
    before = {path: client.get(path) for path in ["/feeds/circular-economy.atom", *untouched]}
    assert feedparser.parse(before["/feeds/procurement.atom"].data).entries == []  # no events

    write_event("a.yaml", {**event, "status": "cancelled"})
    with freeze_time("2020-11-02 09:00:00", tz_offset=0):  # a day later
        assert live(app).refresh()
        after = {path: client.get(path) for path in before}

    changed = after["/feeds/circular-economy.atom"]
    assert changed.headers["ETag"] != before["/feeds/circular-economy.atom"].headers["ETag"]
    [entry] = feedparser.parse(changed.data).entries
    assert entry.title == "Cancelled: Circular Cities Declaration Webinar"
    assert "This event is cancelled." in entry.content[0].value
    for path in untouched:  # other topics' feeds, the empty one too, keep their bytes
        assert after[path].data == before[path].data, path
        assert after[path].headers["ETag"] == before[path].headers["ETag"], path


def test_an_events_text_is_escaped_in_atom_and_kept_exact_in_json(
    make_app: MakeApp, make_event: Callable[..., dict[str, Any]]
) -> None:
    title = "Buyers & <suppliers> “meet” – ümlauts 🌍"
    app = make_app(events={"a.yaml": make_event(title=title, description="<script>x</script>")})
    client = app.test_client()

    [entry] = feedparser.parse(client.get("/feeds/all.atom").data).entries
    [item] = json.loads(client.get("/feeds/all.json").data)["items"]

    assert entry.title == item["title"] == title
    assert "<script>" not in entry.content[0].value and "&lt;script&gt;" in item["content_html"]


def test_pages_announce_their_feeds(client: FlaskClient) -> None:
    def alternates(path: str) -> dict[str, str]:
        page = client.get(path).get_data(as_text=True)
        return dict(
            re.findall(r'<link rel="alternate" type="([^"]+)" title="[^"]*" href="([^"]+)">', page)
        )

    assert alternates("/") == {
        "application/atom+xml": "/feeds/all.atom",
        "application/feed+json": "/feeds/all.json",
        "text/calendar": "/feeds/all.ics",
    }
    assert alternates("/topics/minerals")["application/atom+xml"] == "/feeds/minerals.atom"
    assert Html(client.get("/topics/minerals").get_data(as_text=True)).title.startswith("Minerals")


def test_json_feed_dates_are_the_events_publication_and_revision(
    make_app: MakeApp, make_event: Callable[..., dict[str, Any]]
) -> None:
    app = make_app(events={"a.yaml": make_event()})
    [item] = json.loads(app.test_client().get("/feeds/all.json").data)["items"]
    edition = live(app).edition

    published = edition.publications["circular-cities-webinar"].published_at
    assert datetime.fromisoformat(item["date_published"]) == published
    assert (
        datetime.fromisoformat(item["date_modified"])
        == edition.entry("circular-cities-webinar").last_modified
    )


def test_a_new_site_address_is_in_every_reader_feeds_content_at_once(
    make_app: MakeApp, make_event: Callable[..., dict[str, Any]], project: Path
) -> None:
    app = make_app(events={"a.yaml": make_event()})
    client = app.test_client()
    assert "https://events.example.org/events/" in client.get("/feeds/all.atom").text
    config = project / "config.yaml"
    moved = config.read_text().replace("https://events.example.org", "https://calendar.example.net")
    config.write_text(moved)

    assert live(app).refresh()

    for path in ("/feeds/all.atom", "/feeds/all.json", "/feeds/circular-economy.atom"):
        text = client.get(path).text
        assert "https://calendar.example.net/events/" in text, path
        assert "events.example.org" not in text, path
