"""``/healthz``: whether the service has a good catalog, as JSON for monitors."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from .catalog import Catalog

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Report the configuration in use."""
    catalog: Catalog = current_app.extensions["calfeed.catalog"]
    return jsonify(
        status="ok",
        config={
            "path": str(catalog.config.path),
            "events": len(catalog.events),
            "sessions": catalog.session_count,
            "topics": len(catalog.config.topics),
            "problems": [],
        },
    )


def init_app(app: Flask) -> None:
    """Register the health route."""
    app.register_blueprint(bp)
