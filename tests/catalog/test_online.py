"""The ``online`` key of an event: its join link, private unless said public, checked as written."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from service.catalog import Catalog
from service.catalog.models import Online

WriteEvent = Callable[[str, str | Mapping[str, Any]], Path]
Problems = Callable[[], list[str]]
Load = Callable[[], Catalog]

HEAD = """\
id: webinar
title: Webinar
topics: [procurement]
start: 2020-12-07T14:00
end: 2020-12-07T16:00
"""


def test_a_join_link_is_private_unless_said_public(write_event: WriteEvent, load: Load) -> None:
    write_event(
        "webinars.yaml",
        """\
        events:
          - {id: private, title: P, topics: [procurement], start: 2020-12-07T14:00,
             end: 2020-12-07T16:00, online: {join_url: "https://meet.example.org/j/123"}}
          - {id: public, title: Q, topics: [procurement], start: 2020-12-08T14:00,
             end: 2020-12-08T16:00,
             online: {join_url: "https://meet.example.org/j/456", public: true}}
          - {id: in-person, title: R, topics: [procurement], start: 2020-12-09T14:00,
             end: 2020-12-09T16:00}
        """,
    )

    events = load().by_id
    assert events["private"].online == Online("https://meet.example.org/j/123", public=False)
    assert events["public"].online == Online("https://meet.example.org/j/456", public=True)
    assert events["in-person"].online is None


def test_a_join_link_must_be_a_web_address(write_event: WriteEvent, problems: Problems) -> None:
    write_event("webinar.yaml", HEAD + "online:\n  join_url: meet.example.org/j/123\n")

    assert problems() == [
        "feeds/webinar.yaml:7: online.join_url: 'meet.example.org/j/123' is not an absolute "
        "http:// or https:// URL"
    ]


def test_a_join_link_in_another_scheme_is_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event("webinar.yaml", HEAD + "online: {join_url: 'zoommtg://zoom.us/join?confno=1'}\n")

    assert problems() == [
        "feeds/webinar.yaml:6: online.join_url: 'zoommtg://zoom.us/join?confno=1' is not an "
        "absolute http:// or https:// URL"
    ]


def test_a_join_link_too_long_for_a_mail_line_is_refused(
    write_event: WriteEvent, problems: Problems
) -> None:
    link = "https://meet.example.org/j/" + "1" * 900
    write_event("webinar.yaml", HEAD + f"online: {{join_url: '{link}'}}\n")

    [problem] = problems()
    assert problem.startswith("feeds/webinar.yaml:6: online.join_url: ")
    assert problem.endswith("has 927 characters; at most 900 are allowed")


def test_an_unknown_key_under_online_is_named_with_its_line(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event(
        "webinar.yaml",
        HEAD + "online:\n  join_url: https://meet.example.org/j/1\n  publik: true\n",
    )

    assert problems() == [
        "feeds/webinar.yaml:8: online.publik: unknown key; did you mean 'public'?"
    ]


def test_online_needs_its_join_link_and_a_yes_or_no(
    write_event: WriteEvent, problems: Problems
) -> None:
    write_event("webinar.yaml", HEAD + "online:\n  public: 'yes'\n")

    assert problems() == [
        "feeds/webinar.yaml:6: online.join_url: required",
        "feeds/webinar.yaml:7: online.public: should be a valid boolean, not 'yes'",
    ]
