"""Static export: the site's feeds and pages as files, for any static host or CDN.

Each file is what the web app answers for the same path, rendered through the app itself,
so an exported feed is byte-identical to the served one. Pages are written as
``<path>.html`` (``topics/procurement.html``), which most static hosts serve at
``/topics/procurement``; ``index.html`` is the home page.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from flask import Flask

from .errors import CalfeedError
from .live import LiveCatalog


def export_site(app: Flask, target: Path) -> list[Path]:
    """Write every feed, event calendar, page and static file under ``target``."""
    live: LiveCatalog = app.extensions["calfeed.live"]
    catalog = live.edition.catalog
    paths = ["/", "/feeds/all.ics"]
    for slug in catalog.config.topics:
        paths += [f"/feeds/{slug}.ics", f"/topics/{slug}"]
    for event in catalog.events:
        paths += [f"/events/{event.id}.ics", f"/events/{event.id}"]
    written = []
    client = app.test_client()
    for path in paths:
        response = client.get(path)
        if response.status_code != 200:
            raise CalfeedError(f"export: {path} answered {response.status_code}")
        name = "index.html" if path == "/" else path.lstrip("/")
        if not name.endswith((".ics", ".html")):
            name += ".html"
        file = target / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(response.get_data())
        written.append(file)
    if app.static_folder:
        shutil.copytree(app.static_folder, target / "static", dirs_exist_ok=True)
    return written
