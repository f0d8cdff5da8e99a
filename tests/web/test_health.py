"""``/healthz`` (``service/health.py``): what a monitor reads about the service."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask.testing import FlaskClient
from freezegun import freeze_time

from .conftest import MakeApp, live


def test_healthz_reports_the_catalog_being_served(seed_project: Path, make_app: MakeApp) -> None:
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        client = make_app().test_client()
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.get_json()
    assert body["status"] == "ok"
    config = body["config"]
    assert config["path"] == str((seed_project / "config.yaml").resolve())
    assert datetime.fromisoformat(config["loaded_at"]) == datetime.fromisoformat(
        "2020-11-01T09:00:00+00:00"
    )
    assert config["events"] == 6
    assert config["sessions"] == 9
    assert config["topics"] == 8
    assert config["problems"] == []


def test_healthz_reports_the_database_the_worker_and_the_outbox(client: FlaskClient) -> None:
    body = client.get("/healthz").get_json()

    assert body["database"] == {"ok": True, "backend": "sqlite"}
    assert body["worker"] == {"last_heartbeat": None, "seconds_ago": None}  # none ran yet
    outbox = body["outbox"]
    assert (outbox["waiting"], outbox["overdue"], outbox["sent"], outbox["failed"]) == (0, 0, 0, 0)
    assert outbox["recent_failures"] == []


def test_healthz_says_down_with_503_when_the_database_is_unreadable(
    seed_project: Path, make_app: MakeApp
) -> None:
    app = make_app()
    live(app).engine.dispose()
    database = seed_project / "var" / "calfeed.sqlite3"
    for leftover in database.parent.glob("calfeed.sqlite3-*"):  # WAL and shared memory
        leftover.unlink()
    database.write_bytes(b"this is not a database" * 100)

    response = app.test_client().get("/healthz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "down"
    assert body["database"]["ok"] is False
    assert "not a database" in body["database"]["error"]
    assert body["config"]["events"] == 6


def test_healthz_moves_loaded_at_when_an_edit_is_served(
    seed_project: Path, make_app: MakeApp
) -> None:
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        app = make_app()
    path = seed_project / "feeds" / "2020-12-circular-cities-webinar.yaml"
    with freeze_time("2020-11-03 12:00:00", tz_offset=0):
        path.write_text(path.read_text("utf-8").replace("status: confirmed", "status: tentative"))
        assert live(app).refresh() is True
        body = app.test_client().get("/healthz").get_json()

    assert datetime.fromisoformat(body["config"]["loaded_at"]) == datetime.fromisoformat(
        "2020-11-03T12:00:00+00:00"
    )
    assert body["status"] == "ok"


def test_healthz_names_a_refused_file_and_keeps_the_last_good_counts(
    seed_project: Path, make_app: MakeApp
) -> None:
    app = make_app()
    (seed_project / "feeds" / "broken.yaml").write_text(
        "id: broken\ntitle: Broken\ntopics: [no-such-topic]\nstart: 2020-12-07\nend: 2020-12-07\n",
        "utf-8",
    )
    assert live(app).refresh() is False

    body = app.test_client().get("/healthz").get_json()

    assert body["status"] == "degraded"
    assert body["config"]["events"] == 6
    problems = body["config"]["problems"]
    assert problems, body
    assert all(problem.startswith("feeds/broken.yaml:") for problem in problems), problems
    assert any(problem.startswith("feeds/broken.yaml:3: topics") for problem in problems), problems
