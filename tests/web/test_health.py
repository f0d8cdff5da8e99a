"""``/healthz`` (``service/web/health.py``): what a monitor reads about the service.

A monitor gets ok (200), degraded or down (503), and why; nobody gets an address, an SMTP
reply, an absolute path or a database error, not even in a refused edit's problems.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from freezegun import freeze_time
from seed import SEED_IDS, SEED_SESSIONS, SEED_TOPICS

from service.reminders import subscribers as store
from service.reminders.outbox import queue_account_mail
from service.reminders.worker import worker_for
from service.store.tables import outbox

from .conftest import MakeApp, live
from .test_serve import request, running


def test_healthz_reports_the_catalog_being_served(seed_project: Path, make_app: MakeApp) -> None:
    with freeze_time("2020-11-01 09:00:00", tz_offset=0):
        client = make_app().test_client()
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["reasons"] == []
    config = body["config"]
    assert "path" not in config
    assert str(seed_project) not in response.get_data(as_text=True)  # no absolute path
    assert datetime.fromisoformat(config["loaded_at"]) == datetime.fromisoformat(
        "2020-11-01T09:00:00+00:00"
    )
    assert config["events"] == len(SEED_IDS)
    assert config["sessions"] == SEED_SESSIONS
    assert config["topics"] == len(SEED_TOPICS)
    assert config["problems"] == []


def test_healthz_reports_the_database_the_worker_and_the_outbox(client: FlaskClient) -> None:
    body = client.get("/healthz").get_json()

    assert body["database"] == {"ok": True, "backend": "sqlite"}
    # None ran yet, and none is needed: no mail waits and nobody is subscribed.
    assert body["worker"] == {"state": "none", "last_heartbeat": None, "seconds_ago": None}
    assert body["outbox"] == {"waiting": 0, "overdue": 0, "sent": 0, "failed": 0}
    assert body["status"] == "ok"


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
    assert body["reasons"] == ["database: it does not answer (the server log says why)"]
    assert body["database"] == {"ok": False}  # the database's own words may name paths, hosts
    assert "not a database" not in response.get_data(as_text=True)
    assert body["config"]["events"] == len(SEED_IDS)


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

    response = app.test_client().get("/healthz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["reasons"] == [
        "refused edit: 1 problem, the last good catalog is served (calfeed check says what is "
        "wrong)"
    ]
    assert body["config"]["events"] == len(SEED_IDS)
    problems = body["config"]["problems"]
    assert problems, body
    assert all(problem.startswith("feeds/broken.yaml:") for problem in problems), problems
    assert any(problem.startswith("feeds/broken.yaml:3: topics") for problem in problems), problems


BOB = "bob@example.org"
REPLY = f"550 5.1.1 <{BOB}>: Recipient address rejected: User unknown"


def test_healthz_shows_no_address_no_smtp_reply_and_no_absolute_path(
    project: Path, write_config: Callable[..., Path], make_app: MakeApp
) -> None:
    app = make_app()
    now = datetime.now(UTC)
    with live(app).engine.begin() as connection:
        person, _ = store.request(connection, BOB, ["procurement"], ZoneInfo("UTC"), now)
        connection.execute(
            outbox.insert().values(
                subscriber_id=person.id,
                event_id="",
                kind="confirm",
                offset_seconds=0,
                target_at=now + timedelta(days=1),
                due_at=now - timedelta(minutes=1),
                status="failed",
                attempts=1,
                detail=REPLY,
            )
        )
    # A refused edit of config.yaml that quotes an address and a password.
    config = write_config(
        subscribers=[{"email": "carol@@example.org", "topics": ["procurement"]}],
        database="postgresql+psycopg://calfeed:hunter2@db.internal/calfeed?x=",
        bogus_key=1,
    )
    assert live(app).refresh() is False

    response = app.test_client().get("/healthz")

    text = response.get_data(as_text=True)
    for secret in (BOB, "carol", "550", "Recipient", "hunter2", "db.internal", str(project)):
        assert secret not in text, secret
    body = response.get_json()
    assert body["outbox"]["failed"] == 1
    problems = body["config"]["problems"]
    assert problems and all(p.startswith("config.yaml:") for p in problems), problems
    assert all(p.endswith(": details in calfeed check") for p in problems), problems
    assert config.is_file()


def test_healthz_says_no_worker_when_mail_waits_and_the_heartbeat_is_old(
    project: Path, make_app: MakeApp
) -> None:
    with freeze_time("2030-03-02 12:00:00") as clock:
        app = make_app()
        worker_for(live(app)).sweep()  # beats at 12:00:00, sends nothing: nothing is due
        client = app.test_client()
        assert client.get("/healthz").get_json()["worker"]["state"] == "alive"
        with live(app).engine.begin() as connection:
            now = datetime.now(UTC)
            person, kind = store.request(connection, BOB, ["procurement"], ZoneInfo("UTC"), now)
            queue_account_mail(connection, person.id, "confirm", now, timedelta(hours=72))

        clock.tick(timedelta(seconds=90))  # three sweeps: the worker may still be busy
        fresh = client.get("/healthz")
        clock.tick(timedelta(seconds=1))
        stale = client.get("/healthz")

    assert (fresh.status_code, fresh.get_json()["status"]) == (200, "ok")
    assert stale.status_code == 503
    body = stale.get_json()
    assert body["status"] == "degraded"
    assert body["worker"]["state"] == "stale"
    assert body["worker"]["seconds_ago"] == 91
    assert body["reasons"] == [
        "no worker: 1 mail waiting, and no worker sent a heartbeat in the last 90 seconds"
    ]


def test_healthz_of_calfeed_serve_alone_says_no_worker_once_a_sign_up_waits(
    seed_project: Path, tmp_path: Path
) -> None:
    config = seed_project / "config.yaml"
    with running(["--config", str(config), "serve", "--workers", "1"], tmp_path / "log") as port:
        before = request(port, "/healthz")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            fields = {"email": BOB, "topics": "procurement"}
            connection.request(
                "POST",
                "/subscribe",
                body=urlencode({**fields, "timezone": "UTC"}),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            signed_up = connection.getresponse()
            assert signed_up.status == 200, signed_up.read()
            signed_up.read()
        finally:
            connection.close()
        status, _, data = request(port, "/healthz")

    assert before[0] == 200 and json.loads(before[2])["status"] == "ok"
    assert status == 503
    body = json.loads(data)
    assert body["status"] == "degraded"
    assert body["worker"] == {"state": "none", "last_heartbeat": None, "seconds_ago": None}
    assert body["outbox"]["waiting"] == 1
    assert body["reasons"] == ["no worker: 1 mail waiting, and no worker sent a heartbeat ever"]
    assert BOB.encode() not in data and str(seed_project).encode() not in data
