"""``calfeed serve``: the web app on gunicorn, a production WSGI server with worker processes.

Each worker builds its own app (its own database connections and file watcher) after the
fork; nothing is shared but the database. Behind a proxy (nginx), ``proxies`` says how many
set X-Forwarded-For and -Proto: the client's address is then taken from there, so that the
sign-up's per-client limit counts each visitor, not the proxy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from werkzeug.middleware.proxy_fix import ProxyFix


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, config_path: Path, options: dict[str, Any], proxies: int) -> None:
        self.config_path = config_path
        self.options = options
        self.proxies = proxies
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from .. import open_app

        app = open_app(self.config_path)
        app.extensions["calfeed.live"].watch()
        if self.proxies:
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=self.proxies, x_proto=self.proxies)  # type: ignore[method-assign]
        return app


def serve(config_path: Path, bind: str, workers: int, proxies: int = 0) -> None:
    """Serve until stopped."""
    _Server(config_path, {"bind": bind, "workers": workers, "accesslog": "-"}, proxies).run()
