"""``calfeed serve``: the web app on gunicorn, a production WSGI server with worker processes.

The catalog is loaded and rendered once, in the master, before the workers are forked
(``preload_app``): every worker starts serving at once, from the same edition, whose memory
they share. The master alone watches the files. When what it serves or reports changes (a
good edit: a new edition; a refused one: its problems; the end of an event the home page
lists as upcoming), it builds the new edition, the feeds of every event and of each topic
and the home page, stops every worker, and forks new ones once the last has exited. No
worker of the new edition answers while one of the old still takes requests, so a client
never sees the new ETag and then the old one again; connections that arrive meanwhile
wait in the listening socket, which the master holds open. An old worker still answering
a slow client after ``STRAGGLERS_AFTER`` takes no other request: the new workers start
beside it. The master holds no thread, lock or database connection when it forks, so
nothing of the kind is copied half-used into a worker.

Behind a proxy (nginx), ``proxies`` says how many set X-Forwarded-For and -Proto: the
client's address is then taken from there, so that the sign-up's per-client limit counts
each visitor, not the proxy.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import time
from datetime import datetime
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from werkzeug.middleware.proxy_fix import ProxyFix

from ..live import POLL_INTERVAL, QUIET, LiveCatalog
from ..tokens import Tokens
from .feeds import build_topic_feeds
from .pages import build_home

log = logging.getLogger(__name__)
# Seconds the new workers wait for the old ones to exit. A request takes milliseconds, but
# a slow client (reading all.ics over a poor line, say) holds its worker for longer; the
# site would wait with it.
STRAGGLERS_AFTER = 0.5


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, live: LiveCatalog, options: dict[str, Any], proxies: int) -> None:
        self.live = live
        self.options = options
        self.proxies = proxies
        self.flask: Flask | None = None
        self.home_changes: datetime | None = None  # when the first upcoming event ends
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("worker_exit", _exit_at_once)

    def load(self) -> Flask:
        from .. import create_app

        live = self.live
        app = create_app(live, Tokens.for_site(live.edition.catalog.config.root))
        if self.proxies:
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=self.proxies, x_proto=self.proxies)  # type: ignore[method-assign]
        self.flask = app
        self.prepare_fork()
        return app

    def prepare_fork(self) -> None:
        """Build what each worker would build from the whole catalog, then be ready to fork.

        That is the feeds of every event and of each topic, in every language of the site,
        and the home page: built once here and shared, rather than once in every worker,
        each writing to (and so copying) the pages of every event it goes through.
        """
        assert self.flask is not None
        build_topic_feeds(self.live)
        self.home_changes = build_home(self.flask)
        self.live.engine.dispose()  # no connection of the master's goes into a worker
        # Frozen objects are never collected: collect the cycles left since the last freeze
        # (an edit leaves some), then freeze, so that the collector leaves the shared
        # objects' pages alone in the workers.
        gc.collect()
        gc.freeze()

    def run(self) -> None:
        try:
            _Master(self).run()
        except RuntimeError as err:  # as gunicorn's own run says it
            print(f"\nError: {err}\n", file=sys.stderr)
            sys.exit(1)


class _Master(Arbiter):  # type: ignore[misc]
    """Gunicorn's master, which also watches the files and replaces its workers on a change."""

    def __init__(self, server: _Server) -> None:
        super().__init__(server)
        self.server = server
        self.next_look = time.monotonic() + POLL_INTERVAL
        self.retiring: set[int] = set()  # workers of an older edition, asked to stop
        self.retired_at = 0.0
        self.stale: str | None = None  # what the workers serve that the master has anew
        self.failing = False  # building it for them failed at the last try

    def wait_for_signals(self, timeout: float = 1.0) -> list[int]:
        """Wait for signals until the next look at the files is due; look if it is."""
        due = max(0.0, self.next_look - time.monotonic())
        signals: list[int] = super().wait_for_signals(min(timeout, due))
        if time.monotonic() >= self.next_look:
            live, changes = self.server.live, self.server.home_changes
            if live.look(QUIET):
                self.stale = "the new edition"
            elif changes is not None and live.clock() >= changes:
                self.stale = self.stale or "the home page, as an event has ended"
            if self.stale:
                self.replace_workers(self.stale)
            self.next_look = time.monotonic() + live.until_next_look()
        return signals

    def replace_workers(self, what: str) -> None:
        """Build what the workers serve anew, and ask every worker to stop.

        If that fails (the database, say), the workers keep serving what they have, all
        alike, and the master tries again at its next look.
        """
        try:
            self.server.prepare_fork()
        except Exception:
            if not self.failing:  # once, not at every look
                log.exception("%s cannot be built for the workers; trying again", what)
            self.failing = True
            return
        self.stale, self.failing = None, False
        self.retiring.update(self.WORKERS)
        self.retired_at = time.monotonic()
        log.info("replacing %d workers, for %s", len(self.retiring), what)

    def manage_workers(self) -> None:
        """Start no new worker while one of an older edition may still take a request."""
        self.retiring &= self.WORKERS.keys()
        if not self.retiring:
            super().manage_workers()
            return
        waited = time.monotonic() - self.retired_at
        # Again on every turn: a worker that got the signal before it could handle it
        # (still starting) gets it once more; past the graceful timeout it is killed.
        late = waited > self.cfg.graceful_timeout
        for pid in self.retiring:
            self.kill_worker(pid, signal.SIGKILL if late else signal.SIGTERM)
        if waited >= STRAGGLERS_AFTER:
            # Those left are answering a request they took before the switch (a slow
            # client), and take no other: the new workers start beside them.
            for _ in range(self.num_workers - len(self.WORKERS.keys() - self.retiring)):
                self.spawn_worker()

    def spawn_workers(self) -> None:
        """Fork the missing workers at once (gunicorn staggers them by up to 0.1 s each)."""
        for _ in range(self.num_workers - len(self.WORKERS)):
            self.spawn_worker()


def _exit_at_once(server: Any, worker: Any) -> None:
    """End a worker without tearing down its objects one by one.

    Python's own exit would release each object of the edition the worker shares with the
    master, writing to (and so copying) every page of it first. The worker has answered
    its last request; what it leaves open the kernel closes. Gunicorn calls this in the
    master too, for a worker found gone: there it does nothing.
    """
    if os.getpid() != worker.pid:
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def serve(live: LiveCatalog, bind: str, workers: int, proxies: int = 0) -> None:
    """Serve ``live`` until stopped."""
    options = {
        "bind": bind,
        "workers": workers,
        "accesslog": "-",
        "preload_app": True,
        # Gunicorn's control socket is a thread in the master (forking beside a thread can
        # copy a lock it holds), at one path shared by every gunicorn of the user.
        "control_socket_disable": True,
    }
    _Server(live, options, proxies).run()
