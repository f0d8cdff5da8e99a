"""The export on a plain static file server: every link of every page resolves.

``python3 -m http.server`` over the output of ``calfeed export`` knows nothing of calfeed,
like S3 or GitHub Pages: it serves files by their names. Every page, feed, event calendar,
style sheet and script a page links to must be there; only the sign-up, which needs
``calfeed serve`` behind the same address, is not.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from ports import free_port
from seed import SEED_IDS, SEED_TOPICS

from service.cli import main

from .conftest import crawl


@contextmanager
def file_server(folder: Path, port: int) -> Iterator[str]:
    """Serve ``folder`` with Python's http.server on ``port``; yield its address."""
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with subprocess.Popen(
        [*command, "--directory", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    urllib.request.urlopen(base + "/", timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        pytest.fail("http.server did not start")
                    time.sleep(0.05)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)


def exported_to(seed_project: Path, base: str, target: Path) -> None:
    config = seed_project / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("http://127.0.0.1:8000", base), "utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "export", str(target)])
    assert result.exit_code == 0, result.output


def test_every_link_of_every_exported_page_resolves_on_a_plain_file_server(
    seed_project: Path, tmp_path: Path
) -> None:
    port = free_port()
    exported_to(seed_project, f"http://127.0.0.1:{port}", tmp_path / "site")

    with file_server(tmp_path / "site", port) as base:
        answers, elsewhere = crawl(base)

    broken = {url: status for url, (status, _) in answers.items() if status != 200}
    # Only the sign-up and the feed builder are not files: they need calfeed serve at the
    # same address. The site's own language is at the top, each other in its folder.
    languages = ("", "/fr", "/es", "/de")
    assert {urlsplit(url).path for url in broken} == {
        f"{folder}{page}" for folder in languages for page in ("/subscribe", "/builder")
    }, broken
    kinds = {urlsplit(url).path: kind for url, (status, kind) in answers.items() if status == 200}
    pages = {
        path
        for folder in languages
        for path in (
            f"{folder}/",
            *(f"{folder}/topics/{s}.html" for s in SEED_TOPICS),
            *(f"{folder}/events/{e}.html" for e in SEED_IDS),
        )
    }
    assert {path for path, kind in kinds.items() if kind.startswith("text/html")} == pages
    calendars = {path for path, kind in kinds.items() if kind == "text/calendar"}
    assert calendars >= {f"/events/{event_id}.ics" for event_id in SEED_IDS}
    assert {"/static/style.css", "/static/localtime.js"} <= set(kinds)
    # The subscribe links name feeds that the file server has.
    webcal = {url for url in elsewhere if url.startswith("webcal://")}
    assert webcal == {
        f"webcal://127.0.0.1:{port}{folder}/feeds/{n}.ics"
        for folder in languages
        for n in ("all", *SEED_TOPICS)
    }
    for url in webcal:
        assert urlsplit(url).path in calendars
