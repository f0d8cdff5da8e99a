"""calfeed: timezone-correct calendar feeds and reminder emails from events in YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from .live import LiveCatalog


def create_app(
    config_path: str | Path = "config.yaml", test_config: dict[str, Any] | None = None
) -> Flask:
    """Create the web app serving the catalog defined by ``config_path``."""
    app = Flask(__name__)
    app.config.from_mapping(test_config or {})
    live = LiveCatalog(Path(config_path))
    app.extensions["calfeed.live"] = live
    if app.config.get("WATCH", True):
        live.watch(app.config.get("WATCH_INTERVAL", 1.0))

    from . import feeds, health, pages

    feeds.init_app(app)
    pages.init_app(app)
    health.init_app(app)
    return app
