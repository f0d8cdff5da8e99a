"""Benchmark the web server: requests a second and latency, calfeed beside the bare bytes.

    .venv/bin/python bench/serve.py [--sizes 1000 10000] [--seconds 5] [--workers 4] [--quick]

For each catalog size it starts ``calfeed serve --workers W`` on a synthetic project, fetches
once the home page, one event page, one topic page and all.ics, and starts a bare Flask app
(``bare.py``) on the same gunicorn setup (same worker count, access log on) serving those
very bytes with the same type and ETag. Each route is then loaded with wrk (two threads, 16
connections, a bounded time; Python threads when wrk is missing) on calfeed and on the bare
app in turn, warm (every worker answered every route once before), all.ics in full and as
304. With nginx installed, nginx also serves ``calfeed export``'s all.ics, full and 304.
Last, each size measures /events/<id> while two clients keep asking for the home page.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from _catalog import Project, feed_events
from _load import Load, load, settle, wrk_installed
from _report import Report, Target
from _serving import (
    BIN,
    CALFEED,
    HOST,
    Process,
    free_port,
    get,
    per_worker,
    serve,
    stop_on_sigterm,
    wait_for_workers,
)

HERE = Path(__file__).resolve().parent
ALL = "/feeds/all.ics"


class Server:
    """A server under load: its port and the processes whose CPU tells it is busy."""

    def __init__(self, process: Process, port: int) -> None:
        self.process, self.port = process, port

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def pids(self) -> list[int]:
        return [self.process.pid, *self.process.workers()]

    def run(self, path: str, seconds: int, headers: dict[str, str] | None = None) -> Load:
        """Load ``path``, then wait until the server is idle again."""
        result = load(self.url(path), seconds, headers)
        settle(self.pids())
        return result


def capture(port: int, paths: list[str], folder: Path) -> dict[str, str | None]:
    """Save calfeed's answer for each path for the bare app; return the ETags by path."""
    folder.mkdir()
    items, etags = [], {}
    for number, path in enumerate(paths):
        answer = get(port, path)
        assert answer.status == 200, (path, answer.status)
        (folder / f"{number}.body").write_bytes(answer.body)
        content_type = answer.headers["Content-Type"]
        items.append(
            {
                "path": path,
                "file": f"{number}.body",
                "content_type": content_type,
                "etag": answer.etag,
            }
        )
        etags[path] = answer.etag
    (folder / "answers.json").write_text(json.dumps(items), encoding="utf-8")
    return etags


def bare(folder: Path, workers: int, log: Path) -> tuple[Process, int]:
    """Start the bare Flask app on gunicorn, as calfeed serve runs: same workers, access log."""
    port = free_port()
    command: list[str | Path] = [
        BIN / "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"{HOST}:{port}",
        "--access-logfile",
        "-",
        "--chdir",
        HERE,
        f"bare:create_app({str(folder)!r})",
    ]
    return Process(command, log), port


def nginx(site: Path, workers: int, folder: Path) -> tuple[Process, int] | None:
    """Start nginx serving the export in ``site``, or return None if it is not installed."""
    binary = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if binary is None:
        return None
    port = free_port()
    folder.mkdir()
    conf = folder / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(
        f"    {kind}_temp_path {folder}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf.write_text(
        f"{user}worker_processes {workers};\ndaemon off;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n    types {{ text/calendar ics; text/html html; }}\n"
        f"    access_log {folder}/access.log;\n{temp}"
        f"    server {{ listen {HOST}:{port}; root {site}; }}\n}}\n",
        encoding="utf-8",
    )
    return Process([binary, "-p", folder, "-c", conf], folder / "out.log"), port


def wait_answering(process: Process, port: int, path: str, limit: float = 60) -> None:
    """Wait until ``port`` answers ``path``."""
    deadline = time.monotonic() + limit
    while True:
        process.check()
        try:
            if get(port, path, timeout=10).status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer within {limit:.0f} s:\n{process.tail()}")
        time.sleep(0.05)


def figures(
    report: Report, label: str, ours: Load, peer: Load, peer_name: str, target: Target | None
) -> None:
    """Print the rate, p50 and p99 of one route, calfeed beside the peer."""
    report.add(f"{label}: requests", ours.rate, "req/s", peer.rate, peer_name, target)
    report.add(f"{label}: p50", ours.p50, "ms", peer.p50, peer_name)
    report.add(f"{label}: p99", ours.p99, "ms", peer.p99, peer_name)
    for name, result in (("calfeed", ours), (peer_name, peer)):
        if result.errors:
            report.note(f"{label}: {name}: {result.errors} of {result.requests} failed or late")


def size_run(report: Report, count: int, folder: Path, workers: int, seconds: int) -> None:
    """Print every route's figures for a catalog of ``count`` events."""
    project = Project(folder / "project", feed_events(count)).write()
    site = folder / "site"
    subprocess.run(
        [CALFEED, "--config", project.config, "export", site], check=True, capture_output=True
    )
    event = f"/events/event-{count // 2}"
    paths = {"/": "/", "/events/<id>": event, "/topics/<slug>": "/topics/t3", "all.ics": ALL}
    port = free_port()
    with serve(project.config, port, workers, folder / "calfeed.log") as process:
        _, pids, _ = wait_for_workers(process, port, workers, ALL, 120 + count / 20)
        etags = capture(port, list(paths.values()), folder / "answers")
        for path in paths.values():
            per_worker(port, pids, path)  # every worker has answered every route once
        calfeed = Server(process, port)
        conditional = {"If-None-Match": str(etags[ALL])}
        cases: list[tuple[str, str, dict[str, str] | None]] = [
            (name, path, None) for name, path in paths.items()
        ]
        cases.append(("all.ics 304", ALL, conditional))
        ours: dict[str, Load] = {}
        peer_process, peer_port = bare(folder / "answers", workers, folder / "bare.log")
        with peer_process:
            wait_answering(peer_process, peer_port, ALL)
            peer = Server(peer_process, peer_port)
            for name, path, headers in cases:
                # In turn, so that a slower spell of the machine weighs on both alike.
                ours[name] = calfeed.run(path, seconds, headers)
                theirs = peer.run(path, seconds, headers)
                label = f"GET {name}, {count:,} events"
                figures(report, label, ours[name], theirs, "bare Flask", Target(least=0.9))
        figures(
            report,
            f"GET /events/<id> while two GET / run, {count:,} events",
            while_busy(calfeed, event, seconds),
            ours["/events/<id>"],
            "calfeed with nothing else",
            None,
        )
    started = nginx(site, workers, folder / "nginx")
    if started is None:
        report.note("nginx: not installed (make bench); left out")
        return
    with started[0] as web:
        wait_answering(web, started[1], ALL)
        front = Server(web, started[1])
        mark = {"If-None-Match": str(get(front.port, ALL).etag)}
        for name, headers in (("all.ics", None), ("all.ics 304", mark)):
            label = f"GET {name} beside nginx on the export, {count:,} events"
            figures(report, label, ours[name], front.run(ALL, seconds, headers), "nginx", None)


def while_busy(server: Server, path: str, seconds: int) -> Load:
    """Load ``path`` while two clients keep asking for the home page."""
    stop = threading.Event()

    def ask_home() -> None:
        while not stop.is_set():
            try:
                get(server.port, "/", timeout=120)
            except OSError:
                pass

    clients = [threading.Thread(target=ask_home) for _ in range(2)]
    for client in clients:
        client.start()
    time.sleep(0.5)  # both are in flight
    try:
        return load(server.url(path), seconds)
    finally:
        stop.set()
        for client in clients:
            client.join(180)
        settle(server.pids())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--seconds", type=int, default=5, help="of each load run")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers on each side")
    parser.add_argument("--quick", action="store_true", help="20 events, 1 s runs, 2 workers")
    arguments = parser.parse_args()
    stop_on_sigterm()
    sizes, seconds, workers = [20], 1, 2
    if not arguments.quick:
        sizes, seconds, workers = arguments.sizes, arguments.seconds, arguments.workers
    report = Report("bench/serve.py")
    tool = "wrk" if wrk_installed() else "Python threads (wrk is not installed: make bench)"
    report.note(
        f"load: {tool}, {seconds} s a run, 2 threads, 16 connections; "
        f"{workers} gunicorn workers on each side"
    )
    for count in sizes:
        with tempfile.TemporaryDirectory(prefix="calfeed-bench-") as name:
            size_run(report, count, Path(name), workers, seconds)
    report.summary()


if __name__ == "__main__":
    main()
