"""Pages rendered once per edition, served like feeds: a strong ETag and 304 when current.

A page is a function of the edition it shows, of its language (``languages``) and, for the
lists, of which events have ended.
So a rendered page is kept until the edition changes or, for a list, until the first event on
it that is still upcoming ends (when it moves under "Past events"). The viewer's own time is
added in the browser (``static/localtime.js``), so one rendering serves every visitor.

Event pages are many; the cache keeps the most recently asked ones, up to ``MAX_PAGES``.

The lists are long (the home page lists every event), and an edit changes few of their
entries: each event's entry is rendered once and kept for as long as the event is
unchanged (``PartCache``), so a list is joined again, not rendered again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, Response, current_app, request
from markupsafe import Markup

from .languages import page_language

MAX_PAGES = 2000


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered page: its bytes, a strong ETag, and when it must be rendered again."""

    body: bytes
    etag: str  # unquoted, as the response sets it
    until: datetime | None  # None: for as long as the edition is served


# What renders a page: its HTML, and the moment it stops being right (None: never).
Render = Callable[[], tuple[str, datetime | None]]


class PageCache:
    """The pages of one edition at a time, each rendered once."""

    def __init__(self, most: int = MAX_PAGES) -> None:
        self._most = most
        self._edition: object = None
        self._pages: OrderedDict[Hashable, Page] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, edition: object, key: Hashable, now: datetime, render: Render) -> Page:
        """Return the page ``key`` of ``edition`` at ``now``, rendering it if need be."""
        with self._lock:
            if edition is not self._edition:
                self._edition, self._pages = edition, OrderedDict()
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
        if page is None or (page.until is not None and now >= page.until):
            html, until = render()  # outside the lock: other pages are served meanwhile
            body = html.encode("utf-8")
            page = Page(body, hashlib.sha256(body).hexdigest()[:32], until)
            with self._lock:
                if edition is self._edition:
                    self._pages[key] = page
                    while len(self._pages) > self._most:
                        self._pages.popitem(last=False)
        return page


class PartCache:
    """Parts of pages, each rendered once per object it shows, kept while it is shown.

    A part is kept by the identity of its object (an event an edit left unchanged is the
    same object in the next edition) and what else it depends on; parts not asked for in
    the edition shown are dropped with the edition after it.
    """

    def __init__(self) -> None:
        self._edition: object = None
        self._parts: dict[Hashable, tuple[object, Markup]] = {}
        self._older: dict[Hashable, tuple[object, Markup]] = {}
        self._lock = threading.Lock()

    def get(
        self, edition: object, shown: object, key: Hashable, render: Callable[[], Markup]
    ) -> Markup:
        """Return the part ``key`` showing ``shown`` in ``edition``, rendering it if need be."""
        key = (id(shown), key)
        with self._lock:
            if edition is not self._edition:
                self._edition, self._older, self._parts = edition, self._parts, {}
            found = self._parts.get(key)
            if found is None:
                found = self._older.get(key)
                if found is not None and found[0] is shown:
                    self._parts[key] = found
        if found is not None and found[0] is shown:
            return found[1]
        part = render()
        with self._lock:
            if edition is self._edition:
                self._parts[key] = (shown, part)
        return part


Parts = Callable[[object, Hashable, Callable[[], Markup]], Markup]


def cached_parts(edition: object) -> Parts:
    """Return a getter of parts of pages of ``edition`` for this request, from the app's cache.

    ``parts(shown, name, render)`` returns part ``name`` showing ``shown``.
    """
    cache: PartCache = current_app.extensions["calfeed.parts"]
    # Links in a part depend on the prefix the site is mounted under, and on the url_for the
    # templates are given (the export gives its own).
    # And on the page's language (which a path names in the script root, or the browser).
    links = (
        request.script_root,
        id(current_app.jinja_env.globals.get("url_for")),
        page_language(),
    )
    return lambda shown, name, render: cache.get(edition, shown, (name, *links), render)


def built_page(edition: object, name: Hashable, now: datetime, render: Render) -> Page:
    """Return page ``name`` of ``edition`` for this request, from the app's cache."""
    cache: PageCache = current_app.extensions["calfeed.pages"]
    # Links in a page start with the prefix the site is mounted under; its words are in the
    # page's language.
    return cache.get(edition, (name, request.script_root, page_language()), now, render)


def cached_page(edition: object, name: Hashable, now: datetime, render: Render) -> Response:
    """Answer with page ``name`` of ``edition``, from the app's cache, 304 when current."""
    page = built_page(edition, name, now, render)
    response = Response(page.body, content_type="text/html; charset=utf-8")
    response.set_etag(page.etag)
    response.make_conditional(request)
    return response


def init_app(app: Flask) -> None:
    """Give the app its caches of pages and of their parts."""
    app.extensions["calfeed.pages"] = PageCache()
    app.extensions["calfeed.parts"] = PartCache()
