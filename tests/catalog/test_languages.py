"""Texts in several languages: ``title: {en: ..., fr: ...}``, topic names, site.languages.

A text may be given in each language the site offers; the site's own must be among them,
and is what any other language falls back to. ``calfeed check`` names the file, line and
field of a language the site does not list, as of every other mistake.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.catalog import Catalog

SITE = {"title": "T", "base_url": "https://e.example.org", "timezone": "Europe/Brussels"}
EVENT = """\
id: webinar
topics: [procurement]
start: 2020-12-07T14:00
end: 2020-12-07T16:00
"""


def test_a_title_in_several_languages_falls_back_to_the_sites_own(
    write_event: Callable[[str, str], Path], load: Callable[[], Catalog]
) -> None:
    write_event(
        "x.yaml",
        EVENT + "title:\n  en: Circular cities\n  fr: Villes circulaires\n"
        "subtitle: Best practice\ndescription: {en: Free text., de: Freier Text.}\n",
    )

    (event,) = load().events

    assert event.title == "Circular cities"  # the site's own language: feeds and fallbacks
    assert event.in_language("fr").title == "Villes circulaires"
    assert event.in_language("fr").subtitle == "Best practice"  # a plain text: every language
    assert event.in_language("fr").description == "Free text."  # not given in French
    assert event.in_language("de").description == "Freier Text."
    assert event.in_language("es").title == "Circular cities"  # not given in Spanish


def test_a_plain_text_keeps_working_in_every_language(
    write_event: Callable[[str, str], Path], load: Callable[[], Catalog]
) -> None:
    write_event("x.yaml", EVENT + "title: Circular cities\n")

    (event,) = load().events

    assert [event.in_language(code).title for code in ("en", "fr", "es", "de")] == [
        "Circular cities"
    ] * 4


def test_check_names_a_language_the_site_does_not_list(
    write_config: Callable[..., Path],
    write_event: Callable[[str, str], Path],
    problems: Callable[[], list[str]],
) -> None:
    write_config(site={**SITE, "languages": ["en", "fr", "es", "de"]})
    write_event("x.yaml", EVENT + "title:\n  en: Circular cities\n  it: Città circolari\n")

    assert problems() == [
        'feeds/x.yaml:7: title: language "it" is not one of site.languages (en, fr, es, de)'
    ]


def test_check_wants_the_sites_own_language_in_every_translated_text(
    write_config: Callable[..., Path],
    write_event: Callable[[str, str], Path],
    problems: Callable[[], list[str]],
) -> None:
    write_config(
        site={**SITE, "language": "fr", "languages": ["fr", "en"]},
        topics={"procurement": {"name": {"en": "Public procurement"}}},
    )
    write_event("x.yaml", EVENT + "title: {en: Circular cities, de: Zirkuläre Städte}\n")

    assert problems() == [
        "config.yaml:11: topics.procurement.name: gives no text in the site's language "
        '"fr", which every other falls back to',
        'feeds/x.yaml:5: title: gives no text in the site\'s language "fr", which every '
        "other falls back to",
        'feeds/x.yaml:5: title: language "de" is not one of site.languages (fr, en)',
    ]


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        (
            {"language": "it"},
            "config.yaml:5: site.language: 'it' is not a language calfeed is translated into "
            "(en, fr, es, de)",
        ),
        (
            {"languages": ["en", "pt"]},
            "config.yaml:7: site.languages[1]: 'pt' is not a language calfeed is translated "
            "into (en, fr, es, de)",
        ),
        (
            {"language": "de", "languages": ["en", "fr"]},
            "config.yaml:6: site.languages: must hold site.language ('de'): pages fall back to it",
        ),
        (
            {"languages": ["en", "fr", "en"]},
            "config.yaml:8: site.languages[2]: 'en' is listed twice",
        ),
    ],
)
def test_check_names_a_wrong_site_language_by_line(
    write_config: Callable[..., Path],
    problems: Callable[[], list[str]],
    site: dict[str, Any],
    expected: str,
) -> None:
    write_config(site={**SITE, **site})

    assert problems() == [expected]


def test_a_topic_name_in_several_languages_names_the_feeds_in_the_sites_own(
    write_config: Callable[..., Path], load: Callable[[], Catalog]
) -> None:
    write_config(
        site=SITE,
        topics={"procurement": {"name": {"en": "Public procurement", "fr": "Marchés publics"}}},
    )

    topic = load().config.topics["procurement"]

    assert topic.name == "Public procurement"
    assert topic.in_language("fr").name == "Marchés publics"
    assert topic.in_language("de").name == "Public procurement"
    assert load().config.site.languages == ("en", "fr", "es", "de")  # the default: all four


def test_check_names_a_listed_subscribers_language_the_site_does_not_offer(
    write_config: Callable[..., Path], problems: Callable[[], list[str]]
) -> None:
    write_config(
        site={**SITE, "languages": ["en", "fr"]},
        subscribers=[{"email": "team@example.org", "topics": ["procurement"], "language": "de"}],
    )

    assert problems() == [
        'config.yaml:25: subscribers[0].language: language "de" is not one of site.languages '
        "(en, fr)"
    ]
