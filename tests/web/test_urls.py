"""Every public address (``service/urls.py``): each path it writes is the route that serves it."""

from __future__ import annotations

import pytest
from flask import Flask

from service import urls

ADDRESSES = [
    (urls.HOME, "pages.index", {}),
    (urls.topic("procurement"), "pages.topic", {"slug": "procurement"}),
    (urls.event("webinar-2020"), "pages.event", {"event_id": "webinar-2020"}),
    (urls.event_calendar("webinar-2020"), "feeds.event_feed", {"event_id": "webinar-2020"}),
    (urls.feed(["all"]), "feeds.topic_feed", {"name": "all"}),
    (urls.feed(["procurement", "minerals"]), "feeds.topic_feed", {"name": "procurement+minerals"}),
    (urls.feed(["all"], "atom"), "feeds.atom", {"name": "all"}),
    (urls.feed(["ict", "minerals"], "json"), "feeds.json", {"name": "ict+minerals"}),
    (urls.embed(["all"]), "embed.embed", {"name": "all"}),
    (urls.embed(["ict", "minerals"]), "embed.embed", {"name": "ict+minerals"}),
    (urls.BUILDER, "pages.builder", {}),
    (urls.personal_feed("tok.en"), "personal.personal_feed", {"token": "tok.en"}),
    (urls.SUBSCRIBE, "signup.subscribe", {}),
    (urls.confirm("tok.en"), "signup.confirm", {"token": "tok.en"}),
    (urls.preferences("tok.en"), "signup.preferences", {"token": "tok.en"}),
    (urls.unsubscribe("tok.en"), "signup.unsubscribe", {"token": "tok.en"}),
    (urls.HEALTH, "health.healthz", {}),
]


@pytest.mark.parametrize(("path", "endpoint", "arguments"), ADDRESSES)
def test_each_address_is_the_route_that_serves_it(
    app: Flask, path: str, endpoint: str, arguments: dict[str, str]
) -> None:
    adapter = app.url_map.bind("events.example.org")

    assert adapter.match(path) == (endpoint, arguments)
    assert adapter.build(endpoint, arguments) == path


def test_every_route_of_the_site_has_its_address(app: Flask) -> None:
    served = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}

    assert served == {endpoint for _, endpoint, _ in ADDRESSES}
