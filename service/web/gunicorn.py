"""``calfeed serve``: the web app on gunicorn, a production WSGI server with worker processes.

The catalog is loaded and rendered once, in the master, before the workers are forked
(``preload_app``): every worker starts serving at once, from the same edition, whose memory
they share until an edit replaces it. Each worker then watches the files itself and opens
its own database connections. Behind a proxy (nginx), ``proxies`` says how many set
X-Forwarded-For and -Proto: the client's address is then taken from there, so that the
sign-up's per-client limit counts each visitor, not the proxy.
"""

from __future__ import annotations

import gc
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from werkzeug.middleware.proxy_fix import ProxyFix

from ..live import LiveCatalog
from ..tokens import Tokens


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, live: LiveCatalog, options: dict[str, Any], proxies: int) -> None:
        self.live = live
        self.options = options
        self.proxies = proxies
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("post_fork", self._post_fork)

    def load(self) -> Flask:
        from .. import create_app

        live = self.live
        app = create_app(live, Tokens.for_site(live.edition.catalog.config.root))
        if self.proxies:
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=self.proxies, x_proto=self.proxies)  # type: ignore[method-assign]
        live.engine.dispose()  # no connection of the master's goes into a worker
        gc.freeze()  # the collector leaves the shared objects' pages alone in the workers
        return app

    def _post_fork(self, server: Any, worker: Any) -> None:
        self.live.watch()  # threads do not survive the fork: each worker starts its own


def serve(live: LiveCatalog, bind: str, workers: int, proxies: int = 0) -> None:
    """Serve ``live`` until stopped."""
    options = {"bind": bind, "workers": workers, "accesslog": "-", "preload_app": True}
    _Server(live, options, proxies).run()
