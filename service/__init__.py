"""calfeed: timezone-correct calendar feeds and reminder emails from events in YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from .catalog import load_catalog


def create_app(
    config_path: str | Path = "config.yaml", test_config: dict[str, Any] | None = None
) -> Flask:
    """Create the web app serving the catalog defined by ``config_path``."""
    app = Flask(__name__)
    app.config.from_mapping(test_config or {})
    app.extensions["calfeed.catalog"] = load_catalog(Path(config_path))

    from . import health

    health.init_app(app)
    return app
