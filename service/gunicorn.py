"""``calfeed serve``: the web app on gunicorn, a production WSGI server with worker processes.

Each worker builds its own app (its own database connections and file watcher) after the
fork; nothing is shared but the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, config_path: Path, options: dict[str, Any]) -> None:
        self.config_path = config_path
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from . import create_app

        return create_app(self.config_path)


def serve(config_path: Path, bind: str, workers: int) -> None:
    """Serve until stopped."""
    _Server(config_path, {"bind": bind, "workers": workers, "accesslog": "-"}).run()
