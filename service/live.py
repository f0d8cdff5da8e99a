"""The live catalog: the edition being served, swapped when the operator's files change.

A watcher polls the files' stamps four times a second. An edit is read once the files it
touched have kept their stamps for a quiet period (looked at again as that period ends), so
a file still being written is never read half-way. A good edit is loaded (only changed
files are re-read), published and swapped in with one assignment, so every request sees
either the old edition or the new one. A broken edit is refused: the last good edition keeps
serving, and its problems are logged and shown by ``/healthz`` until the files are fixed. So
is anything else that keeps an edit from being served, and the watcher itself never stops
without saying so there.

``calfeed run`` watches in a thread of its own; ``calfeed serve`` in gunicorn's master,
which alone looks at the files for all its workers (``web/gunicorn.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from .calendar.edition import Edition, Publisher
from .catalog import Catalog, Config
from .catalog.load import CatalogLoader
from .catalog.source import shown
from .clock import Clock, utc_now
from .errors import CatalogError, Problem
from .store.database import open_database
from .store.parsed import ParsedStore
from .store.renders import RenderStore
from .store.revisions import RevisionStore

log = logging.getLogger(__name__)
POLL_INTERVAL = 0.25  # seconds between two looks at the files
# How long the files an edit touched must keep their stamps before it is read: an edit is
# read between QUIET and QUIET + POLL_INTERVAL after its last write, and served within 1 s.
QUIET = 0.4


class LiveCatalog:
    """Hold the current edition and the problems of the last refused edit."""

    def __init__(
        self,
        config_path: Path,
        clock: Clock = utc_now,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine: Engine | None = None
        self.loader = CatalogLoader(config_path, memo=self._parsed_files)
        catalog = self.loader.load()  # a bad catalog at start stops the service, listed
        self.engine = self._engine or open_database(catalog.config.database_url)
        self.publisher = Publisher(RevisionStore(self.engine, clock), RenderStore(self.engine))
        self.clock = clock
        self.timer = timer  # measures how long files have been still
        self.edition: Edition = self.publisher.publish(catalog)
        self.loaded_at: datetime = clock()
        self.problems: tuple[Problem, ...] = ()
        self.polls = 0  # how many times the watcher has looked at the files
        self._unpublished: Catalog | None = None  # loaded, but its publishing failed
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listeners: list[Callable[[], None]] = []

    def _parsed_files(self, config: Config) -> ParsedStore:
        """Keep the event files as parsed in the database, opened as soon as config.yaml is read."""
        self._engine = open_database(config.database_url)
        return ParsedStore(self._engine)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each new edition is swapped in."""
        self._listeners.append(listener)

    def refresh(self, quiet: float = 0.0) -> bool:
        """Load the files again if they changed; return True if a new edition is served.

        With ``quiet``, an edit is read only once its files have been still that many seconds.
        """
        with self._lock:
            try:
                catalog = self.loader.reload(quiet, self.timer()) or self._unpublished
            except CatalogError as err:
                if err.problems != self.problems:
                    log.error(
                        "edit refused, still serving the last good catalog:\n%s",
                        "\n".join(str(problem) for problem in err.problems),
                    )
                self.problems, self._unpublished = err.problems, None
                return False
            if catalog is None:
                return False
            if catalog.config.database_url != self.edition.catalog.config.database_url:
                log.warning("database changed in config.yaml: restart to use the new one")
            try:
                edition = self.publisher.publish(catalog)
            except Exception as err:  # the database, say: publish it at the next refresh
                self._unpublished = catalog
                self._fail("the edit cannot be published", err)
                return False
            self.edition, self._unpublished = edition, None
            self.loaded_at = self.clock()
            self.problems = ()
            log.info("now serving %d events", len(catalog.events))
        for listener in self._listeners:
            listener()
        return True

    def look(self, quiet: float = QUIET) -> bool:
        """Look at the files once, as the watcher does; return True if what is shown changed.

        That is the edition served or the problems reported. A failure is reported, never
        raised: the next look may succeed.
        """
        edition, problems = self.edition, self.problems
        try:
            self.refresh(quiet)
        except Exception as err:  # keep watching: the next edit may fix it
            self._fail("reloading failed", err)
        self.polls += 1
        return self.edition is not edition or self.problems != problems

    def until_next_look(self, interval: float = POLL_INTERVAL, quiet: float = QUIET) -> float:
        """Return the seconds until the next look: ``interval``, or less when an edit seen
        settles sooner (it is read as soon as it has been still ``quiet`` seconds)."""
        settled = self.loader.settled_at(quiet)
        if settled is None:
            return interval
        return min(interval, max(0.0, settled - self.timer()))

    def watch(self, interval: float = POLL_INTERVAL, quiet: float = QUIET) -> threading.Thread:
        """Start a daemon thread that refreshes every ``interval`` seconds, once files settle."""

        def loop() -> None:
            try:
                while not self._stop.wait(self.until_next_look(interval, quiet)):
                    self.look(quiet)
            finally:
                if not self._stop.is_set():
                    log.critical("the file watcher stopped: edits are no longer served")
                    stopped = "the file watcher stopped: restart the service to serve edits"
                    self.problems = (*self.problems, self._failure(stopped))

        thread = threading.Thread(target=loop, name="calfeed-watch", daemon=True)
        thread.start()
        return thread

    def _fail(self, what: str, err: Exception) -> None:
        """Show an unexpected failure in /healthz; its traceback goes to the log, once."""
        problem = self._failure(f"{what} ({type(err).__name__}; the log says why)")
        if self.problems != (problem,):
            log.exception("%s", what)
        self.problems = (problem,)

    def _failure(self, what: str) -> Problem:
        """Return a problem of the service rather than of a file, shown at the events' folder.

        What the error says stays in the log: it may quote the database's data.
        """
        return Problem(shown(self.edition.catalog.config.feeds_dir), 0, "", what)

    def close(self) -> None:
        """Stop watching and release the database."""
        self._stop.set()
        self.engine.dispose()
