"""``/healthz``: whether the service has a good catalog, as JSON for monitors."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify
from flask.typing import ResponseReturnValue

from .live import live_catalog

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Report the catalog being served and any refused edit, naming its files."""
    live = live_catalog()
    catalog = live.edition.catalog
    return jsonify(
        status="ok" if not live.problems else "degraded",
        config={
            "path": str(catalog.config.path),
            "loaded_at": live.loaded_at.isoformat(),
            "events": len(catalog.events),
            "sessions": catalog.session_count,
            "topics": len(catalog.config.topics),
            "problems": [str(problem) for problem in live.problems],
        },
    )


def init_app(app: Flask) -> None:
    """Register the health route."""
    app.register_blueprint(bp)
