"""Load config.yaml and every event file under feeds_dir into one Catalog.

Each file is read and checked on its own, so one broken file never hides the problems of
another; the catalog exists only when every file is clean. A file holds one event (a mapping
with ``id``) or several (``events:`` followed by a list).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import CatalogError, Problem
from . import values
from .build import Checker, build_config, build_event
from .models import Catalog, Config, Event
from .schema import ConfigSpec, EventListSpec, EventSpec, validate
from .source import Document, Loc, read_document

log = logging.getLogger(__name__)
EVENT_SUFFIXES = (".yaml", ".yml")


def load_catalog(config_path: Path) -> Catalog:
    """Load and check everything; raise CatalogError listing every problem found."""
    problems: list[Problem] = []
    config_path = Path(config_path)
    config = _load_config(config_path, problems)
    if config is None:
        site_zone, topics, feeds_dir = _fallbacks(config_path, problems)
    else:
        site_zone, topics, feeds_dir = config.site.timezone, config.topics, config.feeds_dir
    events = _load_events(feeds_dir, site_zone, topics, problems) if feeds_dir else []
    if problems or config is None:
        raise CatalogError(sorted(set(problems)))
    ordered = tuple(sorted(events, key=lambda event: (event.start, event.id)))
    log.info("loaded %d events from %s", len(ordered), shown(feeds_dir or config_path))
    return Catalog(config, ordered)


def event_files(feeds_dir: Path) -> list[Path]:
    """List the event files under ``feeds_dir``, skipping hidden files and folders."""
    found = (
        path
        for path in feeds_dir.rglob("*")
        if path.suffix in EVENT_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(feeds_dir).parts)
    )
    return sorted(found)


def shown(path: Path) -> str:
    """Write a path as the operator would type it: relative to here when it is below here."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _load_config(path: Path, problems: list[Problem]) -> Config | None:
    doc = _read(path, problems)
    if doc is None:
        return None
    if not isinstance(doc.data, dict):
        problems.append(
            doc.problem((), "config.yaml must be a mapping of settings (site:, topics:, ...)")
        )
        return None
    spec = validate(ConfigSpec, doc, (), problems)
    if spec is None:
        return None
    return build_config(spec, path.resolve(), Checker(doc, (), problems))


def _fallbacks(
    path: Path, problems: list[Problem]
) -> tuple[ZoneInfo, Mapping[str, Any] | None, Path | None]:
    """Read what events need from a broken config.yaml, so their problems show too."""
    try:
        data = read_document(path, shown(path)).data
    except CatalogError:  # already recorded by _load_config
        return ZoneInfo("UTC"), None, None
    data = data if isinstance(data, dict) else {}
    site = data.get("site") if isinstance(data.get("site"), dict) else {}
    try:
        zone = values.zone(site.get("timezone")) if isinstance(site, dict) else ZoneInfo("UTC")
    except ValueError:
        zone = ZoneInfo("UTC")
    topics = data.get("topics") if isinstance(data.get("topics"), dict) else None
    folder = path.parent / str(data.get("feeds_dir", "feeds"))
    return zone, topics, folder if folder.is_dir() else None


def _load_events(
    feeds_dir: Path, site_zone: ZoneInfo, topics: Any, problems: list[Problem]
) -> list[Event]:
    events: list[Event] = []
    first_seen: dict[str, Event] = {}
    for path in event_files(feeds_dir):
        doc = _read(path, problems)
        if doc is None:
            continue
        for loc in _event_locations(doc, problems):
            check = Checker(doc, loc, problems)
            spec = validate(EventSpec, doc, loc, problems)
            event = build_event(spec, site_zone, topics, check) if spec else None
            if event is None:
                continue
            if event.id in first_seen:
                check.fail(
                    ("id",),
                    f"duplicate id {event.id!r}: also used at {first_seen[event.id].source}",
                )
                continue
            first_seen[event.id] = event
            events.append(event)
    return events


def _event_locations(doc: Document, problems: list[Problem]) -> list[Loc]:
    if isinstance(doc.data, dict) and "events" in doc.data and "id" not in doc.data:
        spec = validate(EventListSpec, doc, (), problems)
        return [("events", index) for index in range(len(spec.events))] if spec else []
    if isinstance(doc.data, dict):
        return [()]
    what = "empty" if doc.data is None else f"a {type(doc.data).__name__}"
    problems.append(
        doc.problem(
            (), f"file is {what}: write one event (a mapping with id:) or events: and a list"
        )
    )
    return []


def _read(path: Path, problems: list[Problem]) -> Document | None:
    try:
        return read_document(path, shown(path))
    except CatalogError as err:
        problems.extend(err.problems)
        return None
