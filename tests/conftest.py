"""Shared fixtures: a small project on disk and factories to break it.

Every test gets its own project folder (a minimal valid ``config.yaml`` and an empty
``feeds/``) and runs inside it, because problems name files relative to the current folder.
"""

from __future__ import annotations

import copy
import os
import textwrap
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
import yaml

from service.catalog import Catalog, load_catalog
from service.errors import CatalogError

if TYPE_CHECKING:
    from playwright.sync_api import Browser

MINIMAL_CONFIG: dict[str, Any] = {
    "site": {
        "title": "Test events",
        "base_url": "https://events.example.org",
        "timezone": "Europe/Brussels",
    },
    "topics": {
        "procurement": {"name": "Public procurement"},
        "circular-economy": {"name": "Circular economy"},
        "supply-chains": {"name": "Supply chains"},
    },
    "reminders": {"before_start": ["7d", "1h"], "before_registration_deadline": ["1d"]},
}

VALID_EVENT: dict[str, Any] = {
    "id": "circular-cities-webinar",
    "title": "Circular Cities Declaration Webinar",
    "topics": ["circular-economy"],
    "timezone": "Europe/Brussels",
    "start": "2020-12-07T14:00",
    "end": "2020-12-07T16:00",
}


def as_yaml(content: str | Mapping[str, Any]) -> str:
    """Return literal YAML text unchanged (dedented), or dump a mapping."""
    if isinstance(content, str):
        return textwrap.dedent(content)
    return yaml.safe_dump(dict(content), sort_keys=False, allow_unicode=True)


def problem_strings(config_path: Path) -> list[str]:
    """Load a catalog and return what ``calfeed check`` would print, one string a problem."""
    try:
        load_catalog(config_path)
    except CatalogError as err:
        return [str(problem) for problem in err.problems]
    return []


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a folder with a minimal valid config.yaml and an empty feeds/, and work in it."""
    root = tmp_path / "project"
    (root / "feeds").mkdir(parents=True)
    (root / "config.yaml").write_text(as_yaml(MINIMAL_CONFIG), encoding="utf-8")
    monkeypatch.chdir(root)
    monkeypatch.delenv("CALFEED_CONFIG", raising=False)
    return root


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """Return a factory of valid event mappings: ``make_event(id="x", without=["end"])``."""

    def make(*, without: Iterable[str] = (), **overrides: Any) -> dict[str, Any]:
        event = copy.deepcopy(VALID_EVENT)
        event.update(overrides)
        for key in without:
            event.pop(key, None)
        return event

    return make


@pytest.fixture
def write_event(project: Path) -> Callable[[str, str | Mapping[str, Any]], Path]:
    """Return a factory that writes ``feeds/<name>`` from YAML text or a mapping."""

    def write(name: str, content: str | Mapping[str, Any]) -> Path:
        path = project / "feeds" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(as_yaml(content), encoding="utf-8")
        return path

    return write


@pytest.fixture
def write_config(project: Path) -> Callable[..., Path]:
    """Return a factory that rewrites config.yaml: literal text, or the minimal one with
    top-level keys replaced (``write_config(database="mysql://h/db")``)."""

    def write(text: str | None = None, /, **overrides: Any) -> Path:
        path = project / "config.yaml"
        if text is not None:
            path.write_text(as_yaml(text), encoding="utf-8")
        else:
            config = copy.deepcopy(MINIMAL_CONFIG)
            config.update(overrides)
            path.write_text(as_yaml(config), encoding="utf-8")
        return path

    return write


@pytest.fixture
def problems(project: Path) -> Callable[[], list[str]]:
    """Return a function that loads the project and lists the problems it reports."""
    return lambda: problem_strings(project / "config.yaml")


@pytest.fixture
def load(project: Path) -> Callable[[], Catalog]:
    """Return a function that loads the project, failing the test with its problems if any."""

    def run() -> Catalog:
        try:
            return load_catalog(project / "config.yaml")
        except CatalogError as err:
            pytest.fail(f"the project should load, but:\n{err}")

    return run


# A real browser: Debian's Chromium, headless, driven by Playwright (never a downloaded build).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _browser_missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Return headless Chromium, or skip (fail with CALFEED_REQUIRE_BROWSER=1) without it."""
    reason = _browser_missing()
    if reason is not None:
        if os.environ.get("CALFEED_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CALFEED_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(f"browser tests need Chromium and Playwright: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# A real PostgreSQL: a database of the test's own on ``postgres@127.0.0.1:5432`` (trust auth),
# or ``$CALFEED_TEST_POSTGRES`` (a libpq conninfo).
SERVER = os.environ.get("CALFEED_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Return the URL of an empty database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'calfeed.sqlite3'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """Create a database of this test's own; return its SQLAlchemy URL; drop it afterwards."""
    try:
        admin = psycopg.connect(f"{SERVER} dbname=postgres connect_timeout=3", autocommit=True)
    except psycopg.OperationalError as err:
        reason = f"PostgreSQL at {SERVER!r} cannot be reached: {str(err).strip()}"
        if os.environ.get("CALFEED_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}; CALFEED_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(f"{reason}; set CALFEED_REQUIRE_POSTGRES=1 to fail instead")
    name = f"calfeed_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        info = admin.info
        try:
            host, port, user = info.host, info.port, info.user
            yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
