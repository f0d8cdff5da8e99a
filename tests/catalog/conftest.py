"""Fixtures for the catalog tests that go on to store what the catalog holds."""

from __future__ import annotations

import pytest


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """Return PostgreSQL's URL when there is a server (CI requires one), else SQLite's."""
    try:
        url: str = request.getfixturevalue("pg_url")
    except pytest.skip.Exception:
        return "sqlite:///var/calfeed.sqlite3"
    return url
