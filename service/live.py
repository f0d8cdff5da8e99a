"""The live catalog: the edition being served, swapped when the operator's files change.

A watcher thread polls the files' modification times. A good edit is loaded (only changed
files are re-read), published and swapped in with one assignment, so every request sees
either the old edition or the new one. A broken edit is refused: the last good edition keeps
serving, and its problems are logged and shown by ``/healthz`` until the files are fixed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from flask import current_app

from .calendar.edition import Edition, Publisher
from .catalog.load import CatalogLoader
from .database import open_database
from .errors import CatalogError, Problem
from .revisions import Clock, RevisionStore, utc_now

log = logging.getLogger(__name__)


class LiveCatalog:
    """Hold the current edition and the problems of the last refused edit."""

    def __init__(self, config_path: Path, clock: Clock = utc_now) -> None:
        self.loader = CatalogLoader(config_path)
        catalog = self.loader.load()  # a bad catalog at start stops the service, listed
        self.engine = open_database(catalog.config.database_url)
        self.publisher = Publisher(RevisionStore(self.engine, clock))
        self.clock = clock
        self.edition: Edition = self.publisher.publish(catalog)
        self.loaded_at: datetime = clock()
        self.problems: tuple[Problem, ...] = ()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each new edition is swapped in."""
        self._listeners.append(listener)

    def refresh(self) -> bool:
        """Load the files again if they changed; return True if a new edition is served."""
        with self._lock:
            try:
                catalog = self.loader.reload()
            except CatalogError as err:
                if err.problems != self.problems:
                    log.error(
                        "edit refused, still serving the last good catalog:\n%s",
                        "\n".join(str(problem) for problem in err.problems),
                    )
                self.problems = err.problems
                return False
            if catalog is None:
                return False
            if catalog.config.database_url != self.edition.catalog.config.database_url:
                log.warning("database changed in config.yaml: restart to use the new one")
            self.edition = self.publisher.publish(catalog)
            self.loaded_at = self.clock()
            self.problems = ()
            log.info("now serving %d events", len(catalog.events))
        for listener in self._listeners:
            listener()
        return True

    def watch(self, interval: float = 1.0) -> threading.Thread:
        """Start a daemon thread that refreshes every ``interval`` seconds."""

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception:  # keep watching: the next edit may fix it
                    log.exception("reloading the catalog failed")

        thread = threading.Thread(target=loop, name="calfeed-watch", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Stop watching and release the database."""
        self._stop.set()
        self.engine.dispose()


def live_catalog() -> LiveCatalog:
    """Return the live catalog of the app handling the current request."""
    live: LiveCatalog = current_app.extensions["calfeed.live"]
    return live
