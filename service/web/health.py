"""``/healthz``: the state of the service for monitors, with nothing personal in it.

It answers one of three states, and 503 for both that are not ok, so that a monitor alerts:

- ``ok`` (200): the catalog loaded without a refused edit, the database answers, no mail is
  overdue, and whenever mail waits or anyone is subscribed a worker sent a heartbeat in
  the last ``STALE_AFTER``.
- ``degraded`` (503): pages and feeds are served, but something needs the operator:
  ``refused edit`` (the last good catalog is served), ``no worker`` (mail waits, or
  subscribers do, and no worker beats), ``mail overdue``.
- ``down`` (503): the database does not answer: no sign-up, confirmation, preference or
  personal feed works.

``reasons`` says why in words. The body holds counts, instants and the places of a refused
edit's problems (paths relative to config.yaml's folder), never an address, an SMTP reply,
an absolute path or a database error. The operator reads those elsewhere: ``calfeed check``
prints every problem in full, ``calfeed reminders`` every failure with its address and
reply, and the server log the database's error.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, jsonify

from .. import urls
from ..catalog import Config
from ..errors import Problem
from ..live import LiveCatalog
from ..reminders import outbox
from ..reminders.heartbeats import last_heartbeat
from ..store.tables import subscribers
from .current import live_catalog

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)
OVERDUE_AFTER = timedelta(minutes=5)
STALE_AFTER = timedelta(seconds=90)  # three of a worker's 30-second sweeps


@bp.get(urls.HEALTH)
def healthz() -> Response:
    """Report catalog, database, worker and outbox; 503 unless all is well."""
    live = live_catalog()
    catalog = live.edition.catalog
    now = live.clock()
    reasons: list[str] = []
    body: dict[str, Any] = {
        "config": {
            "loaded_at": live.loaded_at.isoformat(),
            "events": len(catalog.events),
            "sessions": catalog.session_count,
            "topics": len(catalog.config.topics),
            "problems": [public(problem, catalog.config) for problem in live.problems],
        }
    }
    if live.problems:
        reasons.append(
            f"refused edit: {_count(len(live.problems), 'problem')}, the last good catalog is "
            "served (calfeed check says what is wrong)"
        )
    try:
        state = _state(live, now)
    except sa.exc.SQLAlchemyError as err:
        log.error("/healthz: the database does not answer: %s", err)
        body["database"] = {"ok": False}
        return _answer("down", ["database: it does not answer (the server log says why)"], body)
    counts, beat, subscribed = state
    body["database"] = {"ok": True, "backend": live.engine.dialect.name}
    fresh = beat is not None and now - beat <= STALE_AFTER
    body["worker"] = {
        "state": "alive" if fresh else ("stale" if beat else "none"),
        "last_heartbeat": beat.isoformat() if beat else None,
        "seconds_ago": round((now - beat).total_seconds()) if beat else None,
    }
    waiting = counts.get("planned", 0) + counts.get("sending", 0)
    body["outbox"] = {
        "waiting": waiting,
        "overdue": counts["overdue"],
        "sent": counts.get("sent", 0),
        "failed": counts.get("failed", 0),
    }
    if (waiting or subscribed) and not fresh:
        what = f"{_count(waiting, 'mail')} waiting" if waiting else "subscribers to remind"
        since = f"in the last {STALE_AFTER.seconds} seconds" if beat else "ever"
        reasons.append(f"no worker: {what}, and no worker sent a heartbeat {since}")
    if counts["overdue"]:
        reasons.append(
            f"mail overdue: {_count(counts['overdue'], 'mail')} due more than "
            f"{OVERDUE_AFTER.seconds // 60} minutes ago and not sent"
        )
    return _answer("degraded" if reasons else "ok", reasons, body)


def public(problem: Problem, config: Config) -> str:
    """Write a refused edit's problem as /healthz shows it: where, and what for event files.

    Event files hold what the pages publish; config.yaml holds subscribers' addresses and
    connection settings, so for it only the line and field are shown.
    """
    # The loader writes it relative to the working folder; the file itself may be a loop of
    # links, which only its folder can be resolved past.
    written = Path(problem.path)
    path = written.parent.resolve() / written.name
    root = config.root.resolve()
    shown = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
    published = path.is_relative_to(config.feeds_dir.resolve())
    message = problem.message if published else "details in calfeed check"
    return str(replace(problem, path=shown, message=message))


def _state(live: LiveCatalog, now: datetime) -> tuple[dict[str, int], datetime | None, bool]:
    """Read the outbox counts, the latest heartbeat and whether anyone is subscribed."""
    with live.engine.connect() as connection:
        counts = outbox.counts(connection, now - OVERDUE_AFTER)
        beat = last_heartbeat(connection)
        subscribed = connection.execute(
            sa.select(subscribers.c.id).where(subscribers.c.status == "confirmed").limit(1)
        ).first()
    return counts, beat, subscribed is not None


def _answer(status: str, reasons: list[str], body: dict[str, Any]) -> Response:
    response = jsonify({"status": status, "reasons": reasons, **body})
    response.status_code = 200 if status == "ok" else 503
    response.cache_control.no_store = True
    return response


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def init_app(app: Flask) -> None:
    """Register the health route."""
    app.register_blueprint(bp)
