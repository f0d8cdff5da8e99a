"""``/healthz``: the state of the service as JSON for monitors.

It reports the catalog being served (and the problems of a refused edit, naming their files),
whether the database answers, the reminder worker's last heartbeat, and the outbox: how many
reminders wait, how many are overdue, and the latest failures with the server's reply.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, jsonify
from flask.typing import ResponseReturnValue

from .live import live_catalog
from .reminders import outbox, report
from .reminders.worker import last_heartbeat

bp = Blueprint("health", __name__)
OVERDUE_AFTER = timedelta(minutes=5)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Report catalog, database, worker and outbox; 503 when the database does not answer."""
    live = live_catalog()
    catalog = live.edition.catalog
    now = live.clock()
    body: dict[str, Any] = {
        "config": {
            "path": str(catalog.config.path),
            "loaded_at": live.loaded_at.isoformat(),
            "events": len(catalog.events),
            "sessions": catalog.session_count,
            "topics": len(catalog.config.topics),
            "problems": [str(problem) for problem in live.problems],
        }
    }
    try:
        with live.engine.connect() as connection:
            counts = outbox.counts(connection, now - OVERDUE_AFTER)
            beat = last_heartbeat(connection)
        failures = report.history(live.engine, ["failed"], 5)
    except sa.exc.SQLAlchemyError as err:
        body["database"] = {"ok": False, "error": str(err.orig or err)}  # type: ignore[attr-defined]
        body["status"] = "down"
        return jsonify(body), 503
    body["database"] = {"ok": True, "backend": live.engine.dialect.name}
    body["worker"] = {
        "last_heartbeat": beat.isoformat() if beat else None,
        "seconds_ago": round((now - beat).total_seconds()) if beat else None,
    }
    body["outbox"] = {
        "waiting": counts.get("planned", 0) + counts.get("sending", 0),
        "overdue": counts["overdue"],
        "sent": counts.get("sent", 0),
        "failed": counts.get("failed", 0),
        "recent_failures": [str(line) for line in failures],
    }
    degraded = live.problems or counts["overdue"]
    body["status"] = "degraded" if degraded else "ok"
    return jsonify(body)


def init_app(app: Flask) -> None:
    """Register the health route."""
    app.register_blueprint(bp)
