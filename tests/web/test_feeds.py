"""Feeds over HTTP (``service/web/feeds.py``): headers, conditional requests, names, restarts."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import icalendar
import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from seed import SEED_EVENTS, SEED_IDS, SEED_TOPICS

from .conftest import MakeApp, entries, live, prop, unfold

CIRCULAR = "circular-cities-webinar-2020-12"
FEED_PATHS = [
    "/feeds/all.ics",
    *(f"/feeds/{slug}.ics" for slug in SEED_TOPICS),
    "/feeds/ict+procurement.ics",
    *(f"/events/{event_id}.ics" for event_id in SEED_IDS),
]


@pytest.mark.parametrize(
    "path", ["/feeds/all.ics", "/feeds/procurement.ics", f"/events/{CIRCULAR}.ics"]
)
def test_a_feed_is_a_utf8_calendar_with_validators(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2  # strong: no W/
    assert response.last_modified is not None
    assert response.cache_control.public
    assert response.cache_control.max_age is not None and response.cache_control.max_age > 0
    assert response.data.startswith(b"BEGIN:VCALENDAR\r\n")
    assert response.data.endswith(b"END:VCALENDAR\r\n")
    icalendar.Calendar.from_ical(response.data)  # a calendar a parser accepts


def test_the_all_feed_holds_every_event_and_a_topic_feed_only_its_own(
    client: FlaskClient,
) -> None:
    everything = entries(client.get("/feeds/all.ics").data)
    circular = entries(client.get("/feeds/circular-economy.ics").data)

    assert sorted(everything) == sorted(f"{event_id}@127.0.0.1" for event_id in SEED_IDS)
    assert list(circular) == [f"{CIRCULAR}@127.0.0.1"]


def test_one_events_calendar_has_an_entry_per_session(client: FlaskClient) -> None:
    found = entries(client.get(f"/events/{CIRCULAR}.ics").data)

    assert len(found) == 1 + 5
    sessions = [block for uid, block in found.items() if uid != f"{CIRCULAR}@127.0.0.1"]
    assert {prop(block, "RELATED-TO") for block in sessions} == {f"{CIRCULAR}@127.0.0.1"}


def test_a_matching_if_none_match_gets_304_without_a_body(client: FlaskClient) -> None:
    etag = client.get("/feeds/all.ics").headers["ETag"]

    response = client.get("/feeds/all.ics", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag


def test_a_stale_if_none_match_gets_the_feed(client: FlaskClient) -> None:
    response = client.get("/feeds/all.ics", headers={"If-None-Match": '"stale"'})

    assert response.status_code == 200
    assert response.data.startswith(b"BEGIN:VCALENDAR")


@pytest.mark.parametrize(
    "header",
    ["{etag}", "W/{etag}", '"other", {etag}', "*"],
    ids=["exact", "weak", "in-a-list", "star"],
)
def test_if_none_match_forms_that_match_get_304(client: FlaskClient, header: str) -> None:
    etag = client.get("/feeds/procurement.ics").headers["ETag"]

    response = client.get(
        "/feeds/procurement.ics", headers={"If-None-Match": header.format(etag=etag)}
    )

    assert response.status_code == 304


def test_a_stale_etag_wins_over_a_recent_if_modified_since(client: FlaskClient) -> None:
    # RFC 9110 13.2.2: If-Modified-Since is ignored when If-None-Match is present.
    response = client.get(
        "/feeds/all.ics",
        headers={"If-None-Match": '"stale"', "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
    )

    assert response.status_code == 200
    assert response.data.startswith(b"BEGIN:VCALENDAR")


@pytest.mark.parametrize("seconds_later", [0, 3600])
def test_if_modified_since_at_or_after_last_modified_gets_304(
    client: FlaskClient, seconds_later: int
) -> None:
    last_modified = client.get("/feeds/procurement.ics").last_modified
    assert last_modified is not None
    since = datetime.fromtimestamp(last_modified.timestamp() + seconds_later, UTC)

    response = client.get(
        "/feeds/procurement.ics", headers={"If-Modified-Since": format_datetime(since, True)}
    )

    assert response.status_code == 304
    assert response.data == b""


def test_if_modified_since_before_last_modified_gets_the_feed(client: FlaskClient) -> None:
    last_modified = client.get("/feeds/procurement.ics").last_modified
    assert last_modified is not None
    since = datetime.fromtimestamp(last_modified.timestamp() - 1, UTC)

    response = client.get(
        "/feeds/procurement.ics", headers={"If-Modified-Since": format_datetime(since, True)}
    )

    assert response.status_code == 200
    assert response.data.startswith(b"BEGIN:VCALENDAR")


@pytest.mark.parametrize("garbage", ["yesterday", "Mon, 99 Foo 2020 99:99:99 GMT", ""])
def test_a_garbage_if_modified_since_gets_the_feed(client: FlaskClient, garbage: str) -> None:
    full = client.get("/feeds/all.ics")

    response = client.get("/feeds/all.ics", headers={"If-Modified-Since": garbage})

    assert response.status_code == 200
    assert response.data == full.data


def test_head_gives_the_headers_and_no_body(client: FlaskClient) -> None:
    full = client.get("/feeds/all.ics")

    response = client.head("/feeds/all.ics")

    assert response.status_code == 200
    assert response.data == b""
    for header in ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "Content-Length"):
        assert response.headers[header] == full.headers[header], header
    assert int(response.headers["Content-Length"]) == len(full.data)


def test_topics_joined_by_plus_are_one_feed_whatever_their_order(client: FlaskClient) -> None:
    forward = client.get("/feeds/ict+procurement.ics")
    backward = client.get("/feeds/procurement+ict.ics")

    assert forward.status_code == backward.status_code == 200
    assert backward.data == forward.data
    assert backward.headers["ETag"] == forward.headers["ETag"]
    procurement = entries(client.get("/feeds/procurement.ics").data)
    ict = entries(client.get("/feeds/ict.ics").data)
    assert sorted(entries(forward.data)) == sorted(procurement.keys() | ict.keys())


def test_a_joined_feed_names_every_topic(client: FlaskClient) -> None:
    body = client.get("/feeds/procurement+ict.ics").data

    # TEXT values escape commas (RFC 5545 3.3.11); the header is outside every VEVENT.
    header = body.split(b"BEGIN:VTIMEZONE")[0]
    name = r"Sustainable Procurement Events: ICT\, Public procurement"
    assert prop(header, "X-WR-CALNAME") == name
    assert prop(header, "NAME") == name


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/unknown.ics",
        "/feeds/procurement+unknown.ics",
        "/feeds/unknown+procurement.ics",
        "/feeds/.ics",
        "/feeds/+.ics",
        "/feeds/procurement+.ics",
        "/feeds/Procurement.ics",
        "/feeds/ALL.ics",
        "/feeds/all+procurement.ics",
        "/feeds/procurement",
        "/events/unknown-event.ics",
        "/events/.ics",
        f"/events/{CIRCULAR.upper()}.ics",
    ],
)
def test_unknown_feeds_are_404(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert b"BEGIN:VCALENDAR" not in response.data


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/../config.yaml",
        "/feeds/..%2Fconfig.yaml",
        "/feeds/%2e%2e%2fconfig.yaml.ics",
        "/feeds/%2E%2E%2Fconfig.yaml.ics",
        "/feeds/..%2f..%2fconfig.yaml.ics",
        "/events/..%2Fconfig.ics",
        "/events/..%2F..%2Fconfig.yaml.ics",
        f"/events/{CIRCULAR}%2F..%2F..%2Fconfig.ics",
        "/feeds/procurement%2Fict.ics",
        "/feeds/%2Fetc%2Fpasswd.ics",
        "/feeds/%00.ics",
        "/events/%2e%2e.ics",
    ],
)
def test_path_tricks_are_404_and_show_no_file(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert b"base_url" not in response.data
    assert b"root:" not in response.data


def test_feeds_keep_their_bytes_and_etag_across_requests(client: FlaskClient) -> None:
    first = {path: client.get(path) for path in FEED_PATHS}
    second = {path: client.get(path) for path in FEED_PATHS}

    for path in FEED_PATHS:
        assert second[path].data == first[path].data, path
        assert second[path].headers["ETag"] == first[path].headers["ETag"], path


def test_a_restart_serves_byte_identical_feeds_with_the_same_validators(
    seed_project: Path, make_app: MakeApp
) -> None:
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        first_app = make_app()
        client = first_app.test_client()
        before = {path: client.get(path) for path in FEED_PATHS}
        live(first_app).close()
    assert (seed_project / "var" / "calfeed.sqlite3").is_file()

    with freeze_time("2020-11-20 17:45:00", tz_offset=0):  # restarted days later
        client = make_app().test_client()
        after = {path: client.get(path) for path in FEED_PATHS}

    for path in FEED_PATHS:
        assert after[path].status_code == 200, path
        assert after[path].data == before[path].data, path
        assert after[path].headers["ETag"] == before[path].headers["ETag"], path
        assert after[path].headers["Last-Modified"] == "Sun, 01 Nov 2020 09:00:00 GMT", path
    for block in entries(after["/feeds/all.ics"].data).values():
        assert prop(block, "SEQUENCE") == "0"
        assert prop(block, "LAST-MODIFIED") == "20201101T090000Z"


def test_an_old_etag_still_gets_304_after_a_restart(seed_project: Path, make_app: MakeApp) -> None:
    first_app = make_app()
    etag = first_app.test_client().get("/feeds/procurement.ics").headers["ETag"]
    live(first_app).close()

    response = (
        make_app().test_client().get("/feeds/procurement.ics", headers={"If-None-Match": etag})
    )

    assert response.status_code == 304


def test_an_edit_made_while_the_service_was_down_is_served_after_the_restart(
    seed_project: Path, make_app: MakeApp
) -> None:
    uid = "big-buyers-needs-assessment-webinar-2020-12@127.0.0.1"
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        first_app = make_app()
        before = entries(first_app.test_client().get("/feeds/all.ics").data)
        live(first_app).close()
    path = seed_project / "feeds" / "2020-12-big-buyers-needs-assessment-webinar.yaml"
    path.write_text(path.read_text("utf-8").replace("09:30", "09:45"), "utf-8")

    with freeze_time("2020-11-04 08:00:00", tz_offset=0):
        after = entries(make_app().test_client().get("/feeds/all.ics").data)

    assert prop(after[uid], "DTSTART") == "20201208T094500"
    assert prop(after[uid], "SEQUENCE") == "1"
    assert prop(after[uid], "LAST-MODIFIED") == "20201104T080000Z"
    assert {key: block for key, block in after.items() if key != uid} == {
        key: block for key, block in before.items() if key != uid
    }


def test_a_topic_without_events_is_an_empty_valid_calendar(
    project: Path, make_app: MakeApp
) -> None:
    response = make_app().test_client().get("/feeds/supply-chains.ics")

    assert response.status_code == 200
    calendar = icalendar.Calendar.from_ical(response.data)
    assert calendar.walk("VEVENT") == []
    assert str(calendar["X-WR-CALNAME"]) == "Test events: Supply chains"


def test_keep_past_days_drops_older_events_from_topic_feeds(
    seed_project: Path, make_app: MakeApp
) -> None:
    config = seed_project / "config.yaml"
    config.write_text(
        config.read_text("utf-8").replace("keep_past_days: null", "keep_past_days: 30"), "utf-8"
    )
    with freeze_time("2021-01-05 12:00:00", tz_offset=0):  # 30 days back: 6 December
        client = make_app().test_client()
        kept = sorted(entries(client.get("/feeds/all.ics").data))
        old_event = client.get("/events/occupational-health-and-safety-summit-2020.ics")

    assert (
        kept
        == sorted(  # what ends before 6 December (the summit, on the 4th) is left out
            f"{event['id']}@127.0.0.1"
            for event in SEED_EVENTS
            if str(event.get("end", event["start"]))[:10] >= "2020-12-06"
        )
    )
    assert old_event.status_code == 200  # its own calendar stays reachable


def _move_site(config: Path, base_url: str, uid_domain: str | None) -> None:
    text = config.read_text("utf-8").replace(
        "base_url: http://127.0.0.1:8000", f"base_url: {base_url}"
    )
    if uid_domain is not None:
        text = text.replace(
            "  timezone: Europe/Brussels",
            f"  timezone: Europe/Brussels\n  uid_domain: {uid_domain}",
            1,
        )
    config.write_text(text, "utf-8")


def test_uids_keep_their_domain_when_the_site_moves_to_its_real_address(
    seed_project: Path, make_app: MakeApp
) -> None:
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        before = make_app().test_client().get("/feeds/all.ics").data
    assert sorted(entries(before)) == sorted(f"{e}@127.0.0.1" for e in SEED_IDS)  # the default

    # The site moves; uid_domain keeps what the UIDs always said.
    _move_site(seed_project / "config.yaml", "https://events.example.org", "127.0.0.1")
    with freeze_time("2020-11-02 09:00:00", tz_offset=0):
        client = make_app().test_client()
        after = client.get("/feeds/all.ics").data
        page = client.get("/topics/procurement").get_data(as_text=True)

    assert sorted(entries(after)) == sorted(entries(before))
    assert b"SOURCE;VALUE=URI:https://events.example.org/feeds/all.ics\r\n" in after
    assert 'href="webcal://events.example.org/feeds/procurement.ics"' in page


def test_a_bad_uid_domain_is_named_with_its_line(seed_project: Path) -> None:
    from service.catalog import load_catalog
    from service.errors import CatalogError

    _move_site(seed_project / "config.yaml", "https://events.example.org", "https://x.org")
    with pytest.raises(CatalogError) as raised:
        load_catalog(seed_project / "config.yaml")
    assert [str(p) for p in raised.value.problems] == [
        "config.yaml:6: site.uid_domain: 'https://x.org' is not a domain name like "
        "events.example.org"
    ]


def test_the_seed_agenda_names_each_speaker_once_in_one_pair_of_parentheses(
    client: FlaskClient,
) -> None:
    text = unfold(client.get(f"/events/{CIRCULAR}.ics").data).replace("\\n", "\n")

    assert (
        "14:00–14:30 Introduction to the European Circular Cities Declaration "
        "(Simon Clement, ICLEI – Local Governments for Sustainability)"
    ) in text.replace("\\,", ",")
    assert "((" not in text and "))" not in text
    assert text.count("Zala Strojin") == 1
