"""Pages rendered once per edition, served like feeds: a strong ETag and 304 when current.

A page is a function of the edition it shows and, for the lists, of which events have ended.
So a rendered page is kept until the edition changes or, for a list, until the first event on
it that is still upcoming ends (when it moves under "Past events"). The viewer's own time is
added in the browser (``static/localtime.js``), so one rendering serves every visitor.

Event pages are many; the cache keeps the most recently asked ones, up to ``MAX_PAGES``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, Response, current_app, request

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


def cached_page(edition: object, name: Hashable, now: datetime, render: Render) -> Response:
    """Answer with page ``name`` of ``edition``, from the app's cache, 304 when current."""
    cache: PageCache = current_app.extensions["calfeed.pages"]
    # Links in a page start with the prefix the site is mounted under.
    page = cache.get(edition, (name, request.script_root), now, render)
    response = Response(page.body, content_type="text/html; charset=utf-8")
    response.set_etag(page.etag)
    response.make_conditional(request)
    return response


def init_app(app: Flask) -> None:
    """Give the app its page cache."""
    app.extensions["calfeed.pages"] = PageCache()
