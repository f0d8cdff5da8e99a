"""calfeed: timezone-correct calendar feeds and reminder emails from events in YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from .live import POLL_INTERVAL, LiveCatalog
from .tokens import Tokens, secret_key


def create_app(
    config_path: str | Path = "config.yaml", test_config: dict[str, Any] | None = None
) -> Flask:
    """Create the web app serving the catalog defined by ``config_path``."""
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    live = LiveCatalog(Path(config_path))
    key = secret_key(live.edition.catalog.config.root / "var")
    app.config.from_mapping(SECRET_KEY=key, **(test_config or {}))
    app.extensions["calfeed.live"] = live
    app.extensions["calfeed.tokens"] = Tokens(key)
    if app.config.get("WATCH", True):
        live.watch(app.config.get("WATCH_INTERVAL", POLL_INTERVAL))

    from .web import feeds, health, pages, personal, security, signup

    security.init_app(app)
    feeds.init_app(app)
    pages.init_app(app)
    signup.init_app(app)
    personal.init_app(app)
    health.init_app(app)
    return app
