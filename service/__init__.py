"""calfeed: timezone-correct calendar feeds and reminder emails from events in YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from .live import LiveCatalog
from .tokens import Tokens


def create_app(
    live: LiveCatalog, tokens: Tokens, test_config: dict[str, Any] | None = None
) -> Flask:
    """Create the web app serving ``live``; it reads, writes and starts nothing of its own.

    The caller opens the live catalog (which loads the files and brings the database up to
    date) and starts its watcher where edits should be picked up (``calfeed run``, ``serve``).
    """
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.from_mapping(SECRET_KEY=tokens.key, **(test_config or {}))
    app.extensions["calfeed.live"] = live
    app.extensions["calfeed.tokens"] = tokens

    from .web import embed, feeds, health, languages, page_cache, pages, personal, security, signup

    languages.init_app(app)
    security.init_app(app)
    feeds.init_app(app)
    embed.init_app(app)
    page_cache.init_app(app)
    pages.init_app(app)
    signup.init_app(app)
    personal.init_app(app)
    health.init_app(app)
    return app


def open_app(config_path: Path, test_config: dict[str, Any] | None = None) -> Flask:
    """Open the site of ``config_path`` (catalog, database, signing key) and create its app.

    No watcher is started: ``app.extensions["calfeed.live"].watch()`` does that.
    """
    live = LiveCatalog(config_path)
    return create_app(live, Tokens.for_site(live.edition.catalog.config.root), test_config)
