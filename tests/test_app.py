"""The app factory (``service.create_app``): it creates an app and does nothing else."""

from __future__ import annotations

import threading
from pathlib import Path

from service import create_app
from service.live import LiveCatalog
from service.tokens import Tokens


def files_under(root: Path) -> set[Path]:
    return {path for path in root.rglob("*")}


def test_creating_the_app_reads_writes_and_starts_nothing(project: Path) -> None:
    live = LiveCatalog(project / "config.yaml")  # loading and migrating happen here
    try:
        threads, files = set(threading.enumerate()), files_under(project)

        app = create_app(live, Tokens("a key"), {"TESTING": True})

        assert set(threading.enumerate()) == threads  # no watcher of its own
        assert files_under(project) == files  # no secret key, no database written
        assert app.extensions["calfeed.live"] is live
        assert app.config["SECRET_KEY"] == "a key"
        assert app.test_client().get("/").status_code == 200
    finally:
        live.close()
