"""What the seed project (config.yaml and feeds/*.yaml) says, read with PyYAML alone.

Tests compare what the service makes of the seed with this reading rather than with counts
written into them, so that an edit of the seed events changes both sides at once. Pytest puts
this folder on sys.path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SEED_FILES = sorted((REPO / "feeds").glob("*.yaml"))


def _events_in(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text("utf-8"))
    events: list[dict[str, Any]] = data["events"] if "id" not in data else [data]
    return events


# Each event mapping as written, earliest first (by the local start date and time as written).
SEED_EVENTS: tuple[dict[str, Any], ...] = tuple(
    sorted(
        (event for path in SEED_FILES for event in _events_in(path)), key=lambda e: str(e["start"])
    )
)
SEED_IDS: tuple[str, ...] = tuple(event["id"] for event in SEED_EVENTS)
SEED_BY_ID: dict[str, dict[str, Any]] = {event["id"]: event for event in SEED_EVENTS}
SEED_SESSIONS = sum(len(event.get("sessions") or ()) for event in SEED_EVENTS)
SEED_TOPICS: tuple[str, ...] = tuple(
    yaml.safe_load((REPO / "config.yaml").read_text("utf-8"))["topics"]
)
