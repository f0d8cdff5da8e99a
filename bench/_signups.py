"""Subscribers who signed up on the site, stored as the web process stores them.

config.yaml lists a team, not a crowd: a file holds at most 50,000 values, so a benchmark of
thousands of subscribers lists a few there and stores the others as confirmed sign-ups.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

from _catalog import Person, Project

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from service.store.database import open_database  # noqa: E402
from service.store.tables import subscribers  # noqa: E402

LISTED = 20  # subscribers in config.yaml; the others signed up on the site


def signed_up(project: Project, persons: list[Person], now: datetime) -> None:
    """Store ``persons`` as sign-ups confirmed a day before ``now``."""
    engine = open_database(project.database_url)  # creates the schema if need be
    rows = [
        {
            "email": p.email,
            "timezone": p.zone,
            "topics": " ".join(p.topics),
            "status": "confirmed",
            "source": "web",
            "created_at": now - timedelta(days=1),
            "confirmed_at": now - timedelta(days=1),
        }
        for p in persons
    ]
    try:
        with engine.begin() as connection:
            for start in range(0, len(rows), 5000):
                connection.execute(subscribers.insert(), rows[start : start + 5000])
    finally:
        engine.dispose()
