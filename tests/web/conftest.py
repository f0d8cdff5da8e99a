"""Fixtures for the web layer: apps built on a project folder, the seed events, helpers.

``make_app()`` builds the app on the current test's project (``tests/conftest.py``'s
``project``) without the file watcher, and closes every app it built when the test ends,
so no thread or database connection outlives its test.
"""

from __future__ import annotations

import html
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from seed import SEED_FILES
from werkzeug.serving import make_server

from service import open_app
from service.live import LiveCatalog

REPO = Path(__file__).resolve().parents[2]
MakeApp = Callable[..., Flask]


def copy_seed(root: Path) -> Path:
    """Copy the real config.yaml and the seed events into ``root``; return the config."""
    (root / "feeds").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config.yaml", root / "config.yaml")
    for path in SEED_FILES:
        shutil.copy(path, root / "feeds" / path.name)
    return root / "config.yaml"


def live(app: Flask) -> LiveCatalog:
    """Return the app's live catalog."""
    catalog: LiveCatalog = app.extensions["calfeed.live"]
    return catalog


def unfold(body: bytes) -> str:
    """Return an ICS body as text with folded lines joined back."""
    text = body.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "")
    return text.replace("\r\n", "\n")


def entries(body: bytes) -> dict[str, bytes]:
    """Return each VEVENT of an ICS body, by UID, as the exact bytes served."""
    found: dict[str, bytes] = {}
    for block in re.findall(rb"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", body, re.S):
        uid = re.search(r"^UID:(.*)$", unfold(block), re.M)
        assert uid is not None, block
        assert uid.group(1) not in found, f"UID {uid.group(1)} twice"
        found[uid.group(1)] = block
    return found


def prop(block: bytes, name: str) -> str:
    """Return the value of the one property ``name`` of an entry (unfolded)."""
    values = re.findall(rf"^{name}(?:;[^:]*)?:(.*)$", unfold(block), re.M)
    assert len(values) == 1, f"{name}: {values}"
    value: str = values[0]
    return value


class Html(HTMLParser):
    """What a reader sees on a page: its links, headings and the text of marked elements."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.headings: list[tuple[str, str, str]] = []  # (tag, class, text)
        self.texts: list[tuple[str, str]] = []  # (class, text) of every element with a class
        self.title = ""
        self._open: list[tuple[str, dict[str, str], list[str]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "input", "meta", "link", "img"):
            return
        self._open.append((tag, {k: v or "" for k, v in attrs}, []))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            name, attrs, parts = self._open.pop()
            text = " ".join("".join(parts).split())
            if self._open:
                self._open[-1][2].append("".join(parts))
            if name == "a":
                self.links.append((attrs.get("href", ""), text))
            elif name in ("h1", "h2", "h3"):
                self.headings.append((name, attrs.get("class", ""), text))
            elif name == "title":
                self.title = text
            if attrs.get("class"):
                self.texts.append((attrs["class"], text))
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2].append(data)

    def hrefs(self, text: str) -> list[str]:
        """Return the targets of the links whose text is ``text``."""
        return [href for href, shown in self.links if shown == text]

    def classed(self, name: str) -> list[str]:
        """Return the text of every element whose class is ``name``."""
        return [text for cls, text in self.texts if name in cls.split()]


@pytest.fixture(scope="module")
def served_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Flask]]:
    """Serve the seed project from a thread; return its base URL and the app.

    The pages' clock is set to 1 November 2020, so that every seed event is upcoming.
    """
    config = copy_seed(tmp_path_factory.mktemp("browser"))
    app = open_app(config)
    live(app).clock = lambda: datetime(2020, 11, 1, 9, tzinfo=UTC)  # the pages' "now"
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}", app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        live(app).close()


@pytest.fixture(scope="module")
def site(served_site: tuple[str, Flask]) -> str:
    """Return the base URL of the seed project served from a thread."""
    return served_site[0]


@pytest.fixture(scope="module")
def site_app(served_site: tuple[str, Flask]) -> Flask:
    """Return the app behind ``site``."""
    return served_site[1]


@pytest.fixture
def seed_project(project: Path) -> Path:
    """Return the project folder holding the real config.yaml and the seed events."""
    copy_seed(project)
    return project


@pytest.fixture
def make_app(
    project: Path, write_event: Callable[[str, str | Mapping[str, Any]], Path]
) -> Iterator[MakeApp]:
    """Return a factory of apps on the project (no watcher unless asked); close them after.

    ``make_app(events={"a.yaml": mapping_or_yaml}, watch=0.05)`` writes the event files
    first and starts the watcher, polling that often; other keyword arguments are Flask
    settings.
    """
    built: list[Flask] = []

    def make(
        events: Mapping[str, str | Mapping[str, Any]] | None = None,
        watch: float | None = None,
        **settings: Any,
    ) -> Flask:
        for name, content in (events or {}).items():
            write_event(name, content)
        app = open_app(project / "config.yaml", {"TESTING": True, **settings})
        if watch is not None:
            live(app).watch(watch)
        built.append(app)
        return app

    yield make
    for app in built:
        live(app).close()


@pytest.fixture
def app(seed_project: Path, make_app: MakeApp) -> Flask:
    """Return the app serving the seed events."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Return a test client of ``app``."""
    return app.test_client()


@pytest.fixture
def runner() -> CliRunner:
    """Return a runner of the ``calfeed`` command line."""
    return CliRunner()


LINK = re.compile(r"""(?:href|src|action)="([^"]*)\"""")


def crawl(base: str, timeout: float = 5.0) -> tuple[dict[str, tuple[int, str]], set[str]]:
    """Follow every link of every page under ``base``, as a visitor's browser would.

    Returns what each address under ``base`` answered (status, content type), and every
    link that leaves it (webcal, Google, Outlook.com, mail addresses).
    """
    answers: dict[str, tuple[int, str]] = {}
    elsewhere: set[str] = set()
    queue = [base + "/"]
    while queue:
        url = queue.pop()
        if url in answers:
            continue
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                status, kind, body = (
                    response.status,
                    response.headers["Content-Type"],
                    response.read(),
                )
        except urllib.error.HTTPError as err:
            status, kind, body = err.code, err.headers["Content-Type"] or "", b""
        answers[url] = (status, kind)
        if status != 200 or not kind.startswith("text/html"):
            continue
        for link in LINK.findall(body.decode("utf-8")):
            absolute = urllib.parse.urljoin(url, html.unescape(link)).partition("#")[0]
            if absolute.startswith(base + "/"):
                queue.append(absolute)
            else:
                elsewhere.add(absolute)
    return answers, elsewhere
