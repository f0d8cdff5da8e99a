"""Which language a page or feed is in: the one its address names, else the browser's.

Each language of ``site.languages`` besides the site's own has the whole site under its
code: ``/fr/topics/procurement`` is the topic's page in French, ``/fr/feeds/all.ics`` the
calendar with its names, titles and calfeed's own words in French. ``LanguagePaths`` moves
the code from the path into the script root, so every link a page makes (``url_for``)
stays in its language, and a static host serves an export's ``fr/`` folder the same way.
The language switch on every page and its ``hreflang`` alternates link there; the older
``?lang=fr`` is sent on there.

A page whose address names no language is in the one the browser prefers among
``site.languages`` (``Accept-Language``), else the site's own, and says so with ``Vary:
Accept-Language``, so that a cache keeps one copy per language. A feed whose address names
none is in the site's own: a calendar app sends no language worth following. There is no
cookie to remember a choice (the site sets none): the address does. The pages behind a
subscriber's own links (confirm, preferences, unsubscribe) speak the language of their
mails. Every page and feed says its language in ``Content-Language``.

The words come from Flask-Babel over the catalogs of ``service/translations``; dates are
written by ``service.language`` for the page's language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, redirect, request
from flask_babel import Babel, refresh

from .. import language as words
from .. import urls
from ..catalog import Config, Topic
from ..live import LiveCatalog
from .current import ROOT, live_catalog, site_root

# The endpoints of pages, which the older ``?lang=`` sends on to their language's path.
_PAGES = ("pages.", "signup.", "embed.")
# The query arguments a page is made of: the language switch keeps them.
_KEPT = ("topic", "topics")
# Where LanguagePaths leaves the language a path names, and the script root before it.
_LANGUAGE = "calfeed.language"

Environ = dict[str, Any]
WsgiApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]


class LanguagePaths:
    """Serve the site in each of its other languages under ``/<language>``.

    ``/fr/events/x`` reaches the route of ``/events/x``, with ``/fr`` added to the script
    root, where Flask's links start. Only a language the site offers and not its own is
    taken: ``/en/...`` on an English site is not found, as any other unknown path.
    """

    def __init__(self, app: WsgiApp, live: LiveCatalog) -> None:
        self.app = app
        self.live = live

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        code, _, rest = path[1:].partition("/")
        if len(code) == 2 and path.startswith(f"/{code}"):
            site = self.live.edition.catalog.config.site
            if code in site.languages and code != site.language:
                root = environ.get("SCRIPT_NAME", "")
                environ.update(path_environ(code, root))
                environ["SCRIPT_NAME"] = f"{root}/{code}"
                environ["PATH_INFO"] = "/" + rest
        return self.app(environ, start_response)


def path_environ(language: str, root: str = "") -> dict[str, str]:
    """Return what a request whose path names ``language`` carries in its WSGI environment,
    besides its script root (``root``, and the language's path)."""
    return {_LANGUAGE: language, ROOT: root}


def path_language() -> str | None:
    """Return the language the address of this request names by its path, if any."""
    named: str | None = request.environ.get(_LANGUAGE)
    return named


def feed_language() -> str:
    """Return the language of the feed being answered: its path's, else the site's own."""
    return path_language() or live_catalog().edition.catalog.config.site.language


def page_language() -> str:
    """Return the language of the page being answered (and remember how it was chosen)."""
    chosen: str | None = g.get("calfeed_language")
    if chosen is not None:
        return chosen
    site = live_catalog().edition.catalog.config.site
    if len(site.languages) == 1:  # nothing to choose: no address or header to read
        g.calfeed_language, g.calfeed_negotiated = site.language, False
        return site.language
    asked = path_language() or request.args.get("lang")
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
    named = path_language() or request.args.get("lang")
    if language not in site.languages or named in site.languages:
        return
    g.calfeed_language, g.calfeed_negotiated = language, False
    refresh()  # Flask-Babel keeps the locale it chose first for the rest of the request


def topics_in(config: Config, language: str) -> dict[str, Topic]:
    """Return the site's topics, named in ``language``."""
    return {slug: topic.in_language(language) for slug, topic in config.topics.items()}


def _switch() -> list[dict[str, Any]]:
    """Return the language switch: each language the site offers, linking to this page in it.

    Each has the link the page gives (``href``: a path, or in the export a file's name) and
    the absolute address search engines are told of (``hreflang`` alternates).
    """
    config = live_catalog().edition.catalog.config
    kept = [(key, value) for key, value in request.args.items(multi=True) if key in _KEPT]
    query = f"?{urlencode(kept)}" if kept else ""
    here = request.path
    exported = current_app.config.get("STATIC_EXPORT")
    if exported:
        from .export import file_path  # the export imports the pages: not at the top

        here = file_path(here)
    choices = []
    for code in config.site.languages:
        address = urls.in_language(config, code, here) + query
        if exported:
            href = address
        else:
            prefix = "" if code == config.site.language else f"/{code}"
            href = site_root() + prefix + here + query
        choices.append(
            {
                "code": code,
                "name": words.NAMES[code],
                "href": href,
                "address": address,
                "current": code == page_language(),
                "own": code == config.site.language,  # also where no language is named
            }
        )
    return choices


def _context() -> dict[str, Any]:
    """Give every template its language, the switch, and the topics named in it."""
    language = page_language()
    config = live_catalog().edition.catalog.config
    return {
        "language": language,
        "languages": _switch() if len(config.site.languages) > 1 else [],
        "topics": topics_in(config, language),
    }


def _to_language_path() -> Response | None:
    """Send a page asked for with ``?lang=`` to its address in that language (GET only:
    a form posted with it is answered where it was posted)."""
    asked = request.args.get("lang")
    endpoint = request.endpoint or ""
    if asked is None or request.method != "GET" or not endpoint.startswith(_PAGES):
        return None
    config = live_catalog().edition.catalog.config
    if asked not in config.site.languages or path_language() is not None:
        return None
    prefix = "" if asked == config.site.language else f"/{asked}"
    kept = [(key, value) for key, value in request.args.items(multi=True) if key != "lang"]
    query = f"?{urlencode(kept)}" if kept else ""
    return redirect(site_root() + prefix + request.path + query, 301)  # type: ignore[return-value]


def _say_language(response: Response) -> Response:
    """Say a page's and a feed's language, and that a page chosen by the browser's
    language differs with it."""
    language = g.get("calfeed_language") or path_language()
    if response.mimetype == "text/html" and language is not None:
        response.headers["Content-Language"] = language
        if g.get("calfeed_negotiated"):
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
    app.before_request(_to_language_path)
    app.after_request(_say_language)
    live: LiveCatalog = app.extensions["calfeed.live"]
    app.wsgi_app = LanguagePaths(app.wsgi_app, live)  # type: ignore[method-assign]
