"""``calfeed serve`` (gunicorn) and ``calfeed run`` (waitress) as real processes on a port."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ports import free_port

CALFEED = Path(sys.executable).with_name("calfeed")
STARTUP = 20.0  # seconds; gunicorn and its workers start in about one


def request(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Send one GET on a new connection; return status, headers (any case) and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.msg, response.read()
    finally:
        connection.close()


@contextmanager
def started(
    args: list[str], log: Path, port: int | None = None, failures: bool = False
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Start ``calfeed ARGS --port P``, wait until it answers, yield P and the process; then
    stop it with SIGTERM, as systemd does, and check that it stops cleanly and at once, and
    that no process of it is left. Its log shows no traceback unless ``failures`` are
    made to happen."""
    port = port or free_port()
    every: set[int] = set()  # each process of it seen while it ran
    with (
        log.open("wb") as out,
        subprocess.Popen(
            [str(CALFEED), *args, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT
        ) as process,
    ):
        try:
            deadline = time.monotonic() + STARTUP
            while True:
                if process.poll() is not None:
                    pytest.fail(f"exited with {process.returncode}:\n{log.read_text()}")
                try:
                    if request(port, "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"no answer within {STARTUP} s:\n{log.read_text()}")
                time.sleep(0.1)
            yield port, process
        finally:
            every.update(children(process.pid))
            process.terminate()
            try:
                status = process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"still running 10 s after SIGTERM:\n{log.read_text()}")
        assert status == 0, f"exited with {status} on SIGTERM:\n{log.read_text()}"
        with pytest.raises(OSError):
            request(port, "/healthz")  # nothing listens any more
        assert failures or "Traceback" not in log.read_text()
        assert [pid for pid in every if Path(f"/proc/{pid}").exists()] == []


@contextmanager
def running(args: list[str], log: Path, port: int | None = None) -> Iterator[int]:
    """Start ``calfeed ARGS --port P`` as ``started`` does; yield P."""
    with started(args, log, port) as (port, _):
        yield port


def children(pid: int) -> list[int]:
    """Return the living processes whose parent is ``pid`` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue  # it ended while we looked
        fields = stat[stat.rindex(")") + 2 :].split() if stat else []
        if fields and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def threads(pid: int) -> int:
    """Return how many threads process ``pid`` runs."""
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def workers_of(process: subprocess.Popen[bytes], count: int) -> list[int]:
    """Wait until gunicorn's master ``process`` has ``count`` workers; return their pids."""
    deadline = time.monotonic() + STARTUP
    while len(found := children(process.pid)) != count:
        assert time.monotonic() < deadline, f"{len(found)} workers, not {count}"
        time.sleep(0.05)
    return found


Answer = tuple[int, http.client.HTTPMessage, bytes]


def from_every_worker(port: int, count: int, path: str, wait: float = 5.0) -> list[Answer] | None:
    """Ask each of the ``count`` workers of ``calfeed serve`` for ``path`` once.

    A gunicorn sync worker holds one connection at a time. So once ``count`` connections
    are all accepted (the kernel lists each with the inode of the socket a process took it
    on), each is held by another worker, and their answers come one from each. None if
    they are not all accepted within ``wait`` seconds (workers being replaced).
    """
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(count)]
    try:
        for connection in connections:
            connection.connect()
        ours = {connection.sock.getsockname()[1] for connection in connections}
        deadline = time.monotonic() + wait
        while len(ours & accepted(port)) < count:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)
        answers = []
        for connection in connections:
            connection.request("GET", path)
            response = connection.getresponse()
            answers.append((response.status, response.msg, response.read()))
        return answers
    finally:
        for connection in connections:
            connection.close()


def accepted(port: int) -> set[int]:
    """Return the client ports of the connections that a process on ``port`` accepted."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], int(fields[9])
        if inode and int(local.split(":")[1], 16) == port:
            found.add(int(remote.split(":")[1], 16))
    return found


def check_feeds(port: int) -> None:
    """Fetch the feed several times, as pollers on either worker would."""
    answers = [request(port, "/feeds/all.ics") for _ in range(6)]
    statuses = {status for status, _, _ in answers}
    assert statuses == {200}
    etags = {headers["ETag"] for _, headers, _ in answers}
    assert len(etags) == 1, etags
    assert len({body for _, _, body in answers}) == 1
    _, headers, body = answers[0]
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert body.startswith(b"BEGIN:VCALENDAR\r\n")
    assert b"UID:circular-cities-webinar-2020-12@127.0.0.1\r\n" in body

    status, _, body = request(port, "/feeds/all.ics", {"If-None-Match": etags.pop()})
    assert (status, body) == (304, b"")
    assert request(port, "/feeds/%2e%2e%2fconfig.yaml.ics")[0] == 404
    assert request(port, "/feeds/unknown.ics")[0] == 404
    status, _, page = request(port, "/")
    assert status == 200
    assert b"1st European Circular Cities Declaration Webinar" in page


def test_calfeed_serve_answers_from_its_workers_with_one_etag(
    seed_project: Path, tmp_path: Path
) -> None:
    config = seed_project / "config.yaml"
    log = tmp_path / "log"
    with running(["--config", str(config), "serve", "--workers", "2"], log) as port:
        deadline = time.monotonic() + STARTUP
        while log.read_text().count("Booting worker with pid") < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        check_feeds(port)
        # Each language's feed was built by the master too: one ETag from every worker.
        french = [request(port, "/fr/feeds/all.ics") for _ in range(6)]
        assert {(status, h["ETag"], h["Content-Language"]) for status, h, _ in french} == {
            (200, french[0][1]["ETag"], "fr")
        }
        assert b"X-WR-CALNAME:Sustainable Procurement Events\r\n" in french[0][2]
        assert b"CATEGORIES:March\xc3\xa9s publics" in french[0][2]
        # The master loaded and rendered the catalog once; the workers were forked from it.
        assert log.read_text().count("loaded 6 events") == 1
        health = json.loads(request(port, "/healthz")[2])
        assert health["worker"]["last_heartbeat"] is None  # serve runs the web server alone
    assert (seed_project / "var" / "calfeed.sqlite3").is_file()


def test_an_edit_is_served_by_every_worker_of_calfeed_serve_at_once_and_never_undone(
    seed_project: Path, tmp_path: Path
) -> None:
    config = seed_project / "config.yaml"
    log = tmp_path / "log"
    path = seed_project / "feeds" / "2020-12-circular-cities-webinar.yaml"
    serve = ["--config", str(config), "serve", "--workers", "3"]
    with started(serve, log) as (port, process):
        first = workers_of(process, 3)
        # One thread in each process: no worker watches the files, and the master forks
        # beside no other thread.
        assert [threads(pid) for pid in [process.pid, *first]] == [1, 1, 1, 1]
        before = from_every_worker(port, 3, "/feeds/all.ics")
        assert before is not None
        [old] = {headers["ETag"] for _, headers, _ in before}

        got: list[str] = []  # the ETags one client is answered, one request after the other
        failed: list[BaseException] = []
        stop = threading.Event()

        def client() -> None:
            try:
                while not stop.is_set():
                    got.append(request(port, "/feeds/all.ics")[1]["ETag"])
            except BaseException as err:  # shown by the test, not lost in the thread
                failed.append(err)

        polling = threading.Thread(target=client)
        polling.start()
        try:
            path.write_text(
                path.read_text("utf-8").replace("Circular Cities", "Round Cities"), "utf-8"
            )
            saved = time.monotonic()
            while True:
                answers = from_every_worker(port, 3, "/feeds/all.ics", wait=0.2)
                if answers and all(b"Round Cities" in body for _, _, body in answers):
                    break
                assert time.monotonic() - saved < 10, "an edit not served by every worker"
            took = time.monotonic() - saved
            time.sleep(0.3)  # the client asks a few more times
        finally:
            stop.set()
            polling.join(10)
        assert failed == []
        again = from_every_worker(port, 3, "/feeds/all.ics")
        home = from_every_worker(port, 3, "/")
        assert again is not None and home is not None
        assert threads(process.pid) == 1

    [new] = {headers["ETag"] for _, headers, _ in answers}
    assert new != old
    assert {headers["ETag"] for _, headers, _ in again} == {new}  # none serves the old one
    assert all(b"Round Cities" in body for _, _, body in home)
    switched = got.index(new)
    assert set(got[:switched]) == {old} and set(got[switched:]) == {new}, got
    assert took < 5  # about 0.6 s; a busy machine may take longer
    # The master alone read the edit, once; every worker was replaced by one of the edit.
    assert log.read_text().count("now serving 6 events") == 1


def test_a_slow_client_of_an_old_worker_does_not_hold_up_an_edit(
    seed_project: Path, tmp_path: Path
) -> None:
    config = seed_project / "config.yaml"
    path = seed_project / "feeds" / "2020-12-circular-cities-webinar.yaml"
    serve = ["--config", str(config), "serve", "--workers", "2"]
    with started(serve, tmp_path / "log") as (port, process):
        workers_of(process, 2)
        [(_, headers, _)] = from_every_worker(port, 1, "/feeds/all.ics") or []
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"GET /feeds/all.ics HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # not done
            deadline = time.monotonic() + STARTUP
            while slow.getsockname()[1] not in accepted(port):  # a worker waits for the rest
                assert time.monotonic() < deadline
                time.sleep(0.005)
            path.write_text(
                path.read_text("utf-8").replace("Circular Cities", "Round Cities"), "utf-8"
            )
            saved = time.monotonic()
            while True:
                answers = from_every_worker(port, 2, "/feeds/all.ics", wait=0.2)
                if answers and all(b"Round Cities" in body for _, _, body in answers):
                    break
                assert time.monotonic() - saved < 5, "an edit held up by a slow client"
            slow.sendall(b"Connection: close\r\n\r\n")
            late = slow.makefile("rb").read()

    # The slow request was taken before the edit; it is answered as it was then.
    assert late.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"ETag: {headers['ETag']}".encode() in late and b"Round Cities" not in late


# How long after an event's end the workers may take to list it as past: the master looks
# every second, but a machine busy with other work (two cores) can hold it up for seconds.
LATE = timedelta(seconds=30)


def test_every_worker_of_calfeed_serve_lists_an_event_that_ended_under_past_events(
    seed_project: Path, tmp_path: Path
) -> None:
    config = seed_project / "config.yaml"
    log = tmp_path / "log"
    now = datetime.now(UTC).replace(microsecond=0)
    ends = now + timedelta(seconds=4)
    (seed_project / "feeds" / "ending.yaml").write_text(
        "id: ending-now\ntitle: Ending now\ntopics: [procurement]\ntimezone: UTC\n"
        f"start: '{(now - timedelta(hours=1)):%Y-%m-%dT%H:%M:%S}'\n"
        f"end: '{ends:%Y-%m-%dT%H:%M:%S}'\n",
        "utf-8",
    )
    serve = ["--config", str(config), "serve", "--workers", "2"]
    with started(serve, log) as (port, process):
        workers_of(process, 2)
        before = from_every_worker(port, 2, "/")
        assert before is not None
        while True:
            after = from_every_worker(port, 2, "/", wait=0.2)
            if after and all(b"Past events" in body and sections(body) for _, _, body in after):
                if all("Ending now" in sections(body)[-1][1] for _, _, body in after):
                    break
            assert datetime.now(UTC) < ends + LATE, "still listed as upcoming"
            time.sleep(0.05)
        # The master renders the page anew and replaces the workers, which then share it.
        replaced = "replacing 2 workers, for the home page, as an event has ended"
        while replaced not in log.read_text():
            assert datetime.now(UTC) < ends + LATE, "workers not replaced"
            time.sleep(0.05)
        again = from_every_worker(port, 2, "/")
        assert again is not None

    for _, _, body in before:
        assert sections(body)[0][1] == ["Ending now"]  # the one upcoming event
    assert [body for _, _, body in again] == [body for _, _, body in after]


def sections(body: bytes) -> list[tuple[str, list[str]]]:
    """Return each month heading of a listing page with the event titles under it."""
    found = []
    for chunk in re.split(r'<h2 class="month">', body.decode())[1:]:
        heading, _, rest = chunk.partition("</h2>")
        titles = re.findall(r"<h3><a [^>]*>([^<]*)</a></h3>", rest)
        found.append((heading, titles))
    return found


def test_calfeed_serve_outlives_a_database_gone_during_an_edit_and_serves_it_after(
    seed_project: Path, tmp_path: Path
) -> None:
    config = seed_project / "config.yaml"
    database = seed_project / "var" / "calfeed.sqlite3"
    path = seed_project / "feeds" / "2020-12-circular-cities-webinar.yaml"
    serve = ["--config", str(config), "serve", "--workers", "2"]
    with started(serve, tmp_path / "log", failures=True) as (port, process):
        workers_of(process, 2)
        before = from_every_worker(port, 2, "/feeds/all.ics")
        assert before is not None
        database.rename(tmp_path / "kept.sqlite3")
        database.mkdir()  # no database can be opened there
        path.write_text(path.read_text("utf-8").replace("Circular Cities", "Round Cities"), "utf-8")
        log = tmp_path / "log"
        deadline = time.monotonic() + 10
        while "cannot be built for the workers" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        during = from_every_worker(port, 2, "/feeds/all.ics")
        database.rmdir()
        (tmp_path / "kept.sqlite3").rename(database)
        while True:
            after = from_every_worker(port, 2, "/feeds/all.ics", wait=0.2)
            if after and all(b"Round Cities" in body for _, _, body in after):
                break
            assert time.monotonic() < deadline + 10, "the edit not served once the database is back"

    assert during is not None
    assert [body for _, _, body in during] == [body for _, _, body in before]
    assert log.read_text().count("cannot be built for the workers") == 1


def test_a_broken_edit_keeps_every_worker_of_calfeed_serve_on_the_last_good_catalog(
    seed_project: Path, tmp_path: Path
) -> None:
    config = seed_project / "config.yaml"
    log = tmp_path / "log"
    path = seed_project / "feeds" / "2020-12-circular-cities-webinar.yaml"
    serve = ["--config", str(config), "serve", "--workers", "2"]
    with started(serve, log) as (port, process):
        workers_of(process, 2)
        before = from_every_worker(port, 2, "/feeds/all.ics")
        assert before is not None
        good = path.read_text("utf-8")
        path.write_text(good.replace("Circular Cities", "Round Cities") + "agenda: [\n", "utf-8")
        saved = time.monotonic()
        while True:
            health = from_every_worker(port, 2, "/healthz", wait=0.2)
            if health and all(status == 503 for status, _, _ in health):
                break
            assert time.monotonic() - saved < 10, "a broken edit not reported by every worker"
        feeds = from_every_worker(port, 2, "/feeds/all.ics")
        assert feeds is not None
        path.write_text(good.replace("Circular Cities", "Round Cities"), "utf-8")
        while True:
            fixed = from_every_worker(port, 2, "/healthz", wait=0.2)
            if fixed and all(status == 200 for status, _, _ in fixed):
                break
            assert time.monotonic() - saved < 20, "a fixed edit not served by every worker"
        after = from_every_worker(port, 2, "/feeds/all.ics")
        assert after is not None

    assert [body for _, _, body in feeds] == [body for _, _, body in before]
    assert {h["ETag"] for _, h, _ in feeds} == {h["ETag"] for _, h, _ in before}
    for _, _, body in health:
        report = json.loads(body)
        assert report["status"] == "degraded"
        [problem] = report["config"]["problems"]
        assert problem.startswith("feeds/2020-12-circular-cities-webinar.yaml:"), problem
    # Said once, by the master, with the file and line, as calfeed run says it.
    text = log.read_text()
    assert text.count("edit refused, still serving the last good catalog") == 1
    assert "2020-12-circular-cities-webinar.yaml:" in text.split("edit refused")[1]
    assert all(b"Round Cities" in body for _, _, body in after)


def test_calfeed_run_answers_on_waitress(seed_project: Path, tmp_path: Path) -> None:
    config = seed_project / "config.yaml"
    with running(["--config", str(config), "run"], tmp_path / "log") as port:
        check_feeds(port)
        deadline = time.monotonic() + 10  # run starts the reminder worker beside the server
        while True:
            health = json.loads(request(port, "/healthz")[2])
            if health["worker"]["last_heartbeat"] is not None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert health["worker"]["last_heartbeat"] is not None, health
    assert f"calfeed serving on http://127.0.0.1:{port}/" in (tmp_path / "log").read_text()


def test_serve_and_run_serve_the_same_bytes(seed_project: Path, tmp_path: Path) -> None:
    config = seed_project / "config.yaml"
    with running(["--config", str(config), "serve", "--workers", "2"], tmp_path / "a") as port:
        served = [request(port, path) for path in ("/feeds/procurement.ics", "/de/feeds/ict.ics")]
    with running(["--config", str(config), "run"], tmp_path / "b") as port:
        ran = [request(port, path) for path in ("/feeds/procurement.ics", "/de/feeds/ict.ics")]

    for (_, ran_headers, ran_body), (_, headers, body) in zip(ran, served, strict=True):
        assert ran_body == body
        assert ran_headers["ETag"] == headers["ETag"]
        assert ran_headers["Last-Modified"] == headers["Last-Modified"]


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_busy_port_is_one_clear_line_before_anything_claims_to_serve(
    seed_project: Path, command: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(CALFEED), "--config", str(seed_project / "config.yaml"), command]
            + ["--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 1
    assert result.stdout == ""  # neither "serving on" nor a worker that started sending
    errors = [line for line in result.stderr.splitlines() if " INFO " not in line]
    assert errors == [
        f"Error: cannot listen on 127.0.0.1:{port}: the port is in use "
        "(another calfeed? choose one with --port)"
    ]
    assert "service.reminders.worker" not in result.stderr  # the worker never started


def test_serving_on_another_port_than_base_url_warns_where_links_point(
    seed_project: Path, tmp_path: Path
) -> None:
    config = seed_project / "config.yaml"  # base_url: http://127.0.0.1:8000
    with running(["--config", str(config), "run"], tmp_path / "log") as port:
        status, _, page = request(port, "/topics/procurement")
    assert status == 200
    assert b'href="webcal://127.0.0.1:8000/feeds/procurement.ics"' in page
    assert (
        f"warning: site.base_url is http://127.0.0.1:8000, but this serves port {port}: "
        "feeds, pages and mails link to base_url; set it in config.yaml to the address "
        "people use"
    ) in (tmp_path / "log").read_text()


def test_serving_where_base_url_points_gives_no_warning(seed_project: Path, tmp_path: Path) -> None:
    config = seed_project / "config.yaml"
    port = free_port()
    text = config.read_text("utf-8").replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")
    config.write_text(text, "utf-8")
    with running(["--config", str(config), "serve", "--workers", "1"], tmp_path / "log", port):
        pass
    assert "warning" not in (tmp_path / "log").read_text()


def sign_up(port: int, client: str, email: str) -> int:
    """Sign up through ``calfeed serve`` as a visitor at ``client``, as a proxy reports it."""
    headers = {"X-Forwarded-For": client}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        fields = {"email": email, "topics": "procurement", "timezone": "UTC"}
        body = urllib.parse.urlencode(fields)
        headers |= {"Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", "/subscribe", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_behind_a_proxy_the_sign_up_limit_counts_each_visitor(
    seed_project: Path, tmp_path: Path
) -> None:
    config = seed_project / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("20/hour", "2/hour"), "utf-8")
    serve = ["--config", str(config), "serve", "--workers", "1", "--proxies", "1"]
    with running(serve, tmp_path / "log") as port:
        first = [sign_up(port, "203.0.113.1", f"a{n}@example.org") for n in range(3)]
        other = sign_up(port, "203.0.113.2", "b@example.org")

    assert first == [200, 200, 429]  # one visitor over the limit
    assert other == 200  # another visitor is not: the proxy's own address is not the key
