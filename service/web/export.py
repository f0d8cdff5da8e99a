"""Static export: the site's feeds and pages as files, for any static host or CDN.

Each file is what the web app answers for the same path, rendered through the app itself,
so an exported feed is byte-identical to the served one. Pages are written as
``<path>.html`` (``topics/procurement.html``) and ``index.html`` for the home page, and
link to each other by those names: a plain file server, S3 or GitHub Pages finds every one.
Links are absolute, from ``site.base_url``, where the export is to be hosted (a path under
a host included); the sign-up pages there need ``calfeed serve`` behind the same address.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, url_for

from .. import urls
from ..calendar.edition import ALL
from ..errors import CalfeedError
from ..live import LiveCatalog

# The routes that become files named after their path, with ".html" added.
PAGES = {"pages.topic", "pages.event"}


def export_site(app: Flask, target: Path) -> list[Path]:
    """Write every feed, event calendar, page and static file under ``target``."""
    live: LiveCatalog = app.extensions["calfeed.live"]
    catalog = live.edition.catalog
    app.jinja_env.globals["url_for"] = _file_links(catalog.config.site.base_url)
    paths = [urls.HOME, urls.feed([ALL])]
    for slug in catalog.config.topics:
        paths += [urls.feed([slug]), urls.topic(slug)]
    for event in catalog.events:
        paths += [urls.event_calendar(event.id), urls.event(event.id)]
    written = []
    client = app.test_client()
    for path in paths:
        response = client.get(path)
        if response.status_code != 200:
            raise CalfeedError(f"export: {path} answered {response.status_code}")
        name = "index.html" if path == "/" else path.lstrip("/")
        if not name.endswith((".ics", ".html")):
            name += ".html"
        written.append(_write(target / name, response.get_data()))
    if app.static_folder:
        folder = Path(app.static_folder)
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                written.append(_write(target / "static" / file.relative_to(folder), file))
    return written


def _write(file: Path, content: bytes | Path) -> Path:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(content if isinstance(content, bytes) else content.read_bytes())
    return file


def _file_links(base_url: str) -> Callable[..., str]:
    """Return a ``url_for`` for the pages that links to the exported files' names."""

    def link(endpoint: str, **values: Any) -> str:
        path = url_for(endpoint, **values)
        return base_url + path + (".html" if endpoint in PAGES else "")

    return link
