"""Which language a page is in: the visitor's choice, else their browser's, else the site's.

A page is in the language its address names (``?lang=fr``, which the language switch on
every page links to and which the page's own links keep), else, among ``site.languages``,
the one the browser prefers (``Accept-Language``), else the site's own. There is no cookie
to remember a choice (the site sets none): the address does. A page chosen by the browser's
header says so with ``Vary: Accept-Language``, so that a cache keeps one copy per language.
The pages behind a subscriber's own links (confirm, preferences, unsubscribe) speak the
language of their mails.

The words come from Flask-Babel over the catalogs of ``service/translations``; dates are
written by ``service.language`` for the page's language.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, g, has_request_context, request
from flask_babel import Babel, refresh

from .. import language as words
from ..catalog import Config, Topic
from .current import live_catalog

# The endpoints whose links keep the language a visitor chose: the pages, not the feeds.
_PAGES = ("pages.", "signup.", "embed.")
# The query arguments a page is made of: the language switch keeps them.
_KEPT = ("topic", "topics")


def page_language() -> str:
    """Return the language of the page being answered (and remember how it was chosen)."""
    chosen: str | None = g.get("calfeed_language")
    if chosen is not None:
        return chosen
    site = live_catalog().edition.catalog.config.site
    asked = request.args.get("lang")
    if asked is None and request.method == "POST":
        asked = request.form.get("language")  # a form says the language it was shown in
    if asked in site.languages:
        g.calfeed_language, g.calfeed_negotiated = asked, False
        return asked
    best = request.accept_languages.best_match(site.languages, default=site.language)
    g.calfeed_language, g.calfeed_negotiated = best, len(site.languages) > 1
    return best


def speak(language: str | None) -> None:
    """Answer in a subscriber's own ``language`` (if the site offers it), unless the address
    names another: the pages behind the links of their mails speak as the mails do."""
    site = live_catalog().edition.catalog.config.site
    if language not in site.languages or request.args.get("lang") in site.languages:
        return
    g.calfeed_language, g.calfeed_negotiated = language, False
    refresh()  # Flask-Babel keeps the locale it chose first for the rest of the request


def page_variant() -> tuple[str, bool]:
    """Return what a cached page depends on: its language, and whether its links name it."""
    language = page_language()
    return language, not g.calfeed_negotiated and "lang" in request.args


def topics_in(config: Config, language: str) -> dict[str, Topic]:
    """Return the site's topics, named in ``language``."""
    return {slug: topic.in_language(language) for slug, topic in config.topics.items()}


def _switch() -> list[dict[str, Any]]:
    """Return the language switch: each language the site offers, linking to this page."""
    site = live_catalog().edition.catalog.config.site
    kept = [(key, value) for key, value in request.args.items(multi=True) if key in _KEPT]
    here = request.script_root + request.path
    return [
        {
            "code": code,
            "name": words.NAMES[code],
            "href": f"{here}?{urlencode([*kept, ('lang', code)])}",
            "current": code == page_language(),
        }
        for code in site.languages
    ]


def _context() -> dict[str, Any]:
    """Give every template its language, the switch, and the topics named in it."""
    language, named = page_variant()
    config = live_catalog().edition.catalog.config
    return {
        "language": language,
        "chosen_language": language if named else None,
        "languages": _switch() if len(config.site.languages) > 1 else [],
        "topics": topics_in(config, language),
    }


def _keep_language(endpoint: str, values: dict[str, Any]) -> None:
    """Let a page's own links keep the language its address chose."""
    if not has_request_context() or not endpoint.startswith(_PAGES) or "lang" in values:
        return
    asked = request.args.get("lang")
    if asked is not None and asked == page_language():
        values["lang"] = asked


def _vary(response: Response) -> Response:
    """Say that a page chosen by the browser's language differs with that language."""
    if g.get("calfeed_negotiated") and response.mimetype == "text/html":
        response.vary.add("Accept-Language")
    return response


def init_app(app: Flask) -> None:
    """Give the app its languages: Flask-Babel over calfeed's catalogs, the switch, Vary."""
    Babel(
        app,
        locale_selector=page_language,
        default_translation_directories=str(words.TRANSLATIONS),
    )
    app.context_processor(_context)
    app.url_defaults(_keep_language)
    app.after_request(_vary)
