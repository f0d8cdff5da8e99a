"""Benchmark the feeds: cold and warm builds, the export, edit pickup and memory of serve.

    .venv/bin/python bench/feeds.py [--events 10000] [--large] [--serve-only] [--quick]

On a synthetic project of N events (default 10,000; ``--large`` adds 50,000) it prints:

- the cold build: seconds from starting ``calfeed serve --workers 1`` on an empty database to
  its first complete answer for /feeds/all.ics (one web worker, so the figure is one
  process's build and start, not workers competing for two cores), beside two peers run as
  fresh processes on the same YAML: a plain icalendar build (``naive.py``) and ical-generator
  on Node (``node/build.mjs``); then the same start with the database that start left;
- ``calfeed export`` of every file on an empty database, and again with nothing changed,
  beside the plain icalendar build of all.ics alone; then of the same site in four
  languages (every file again in ``fr/``, ``es/``, ``de/``), beside four one-language exports;
- ``calfeed serve --workers 4``: its first answer, when every worker answers, the memory of
  master and workers (PSS: shared pages once) beside one ``calfeed run`` process, the idle
  CPU of the master (which alone watches the files) and of each worker, and, after one
  event file is saved, when the first worker and when every worker served the new ETag
  (each worker asked in turn, see ``_serving``).

``--serve-only`` measures ``calfeed serve`` alone, leaving out the builds and the export.

Run ``make bench`` once to install the Node peer (bench/node) with npm.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _catalog import Project, feed_events
from _proc import Memory, cpu_seconds, group_memory, memory
from _report import Report, Target
from _serving import (
    CALFEED,
    Process,
    calfeed,
    first_answer,
    free_port,
    get,
    per_worker,
    serve,
    stop_on_sigterm,
    wait_for_workers,
)

HERE = Path(__file__).resolve().parent
NODE = HERE / "node"
ALL = "/feeds/all.ics"
WARM_PATHS = (ALL, "/feeds/t3.ics", "/", "/events/event-1")


def timed(command: list[str | Path], log: Path) -> float:
    """Run ``command`` to its end; return the seconds it took."""
    started = time.perf_counter()
    with log.open("wb") as out:
        subprocess.run([str(part) for part in command], stdout=out, stderr=out, check=True)
    return time.perf_counter() - started


def peers(project: Project, folder: Path) -> tuple[float, float | None]:
    """Time the plain icalendar build and, if installed, the Node build of all.ics."""
    naive = timed(
        [sys.executable, HERE / "naive.py", project.config, folder / "naive.ics"],
        folder / "naive.log",
    )
    node = None
    if shutil.which("node") and (NODE / "node_modules").is_dir():
        node = timed(
            ["node", NODE / "build.mjs", project.config, folder / "node.ics"], folder / "node.log"
        )
    return naive, node


def cold_start(project: Project, folder: Path, name: str, limit: float) -> tuple[float, int]:
    """Start ``calfeed serve --workers 1``; return the seconds to its first all.ics, its size."""
    port = free_port()
    with serve(project.config, port, 1, folder / f"{name}.log") as process:
        seconds, answer = first_answer(process, port, ALL, limit)
    return seconds, len(answer.body)


def builds(report: Report, project: Project, folder: Path, limit: float) -> float:
    """Print the cold build, with an empty and with an existing database; return naive's time."""
    count = len(project.events)
    naive, node = peers(project, folder)
    cold, size = cold_start(project, folder, f"cold-{count}", limit)
    report.note(
        f"all.ics of {count:,} events: calfeed {size / 1e6:.1f} MB, plain icalendar "
        f"{(folder / 'naive.ics').stat().st_size / 1e6:.1f} MB"
        + (f", ical-generator {(folder / 'node.ics').stat().st_size / 1e6:.1f} MB" if node else "")
    )
    name = f"fresh process, empty database, {count:,} events -> all.ics"
    report.add(name, cold, "s", naive, "plain icalendar", Target(most=1.0))
    if node is None:
        report.note("ical-generator: not installed (make bench); left out")
    else:
        report.add(name, cold, "s", node, "ical-generator (Node)")
    warm, _ = cold_start(project, folder, f"warm-{count}", limit)
    report.add(
        f"the same, existing database, {count:,} events",
        warm,
        "s",
        naive,
        "plain icalendar",
        Target(most=1.5, on="value"),
    )
    return naive


def export(report: Report, project: Project, folder: Path, naive: float) -> None:
    """Print ``calfeed export`` on an empty database, then again with nothing changed."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{project.database}{suffix}").unlink(missing_ok=True)
    target = folder / "site"
    command: list[str | Path] = [CALFEED, "--config", project.config, "export", target]
    first = timed(command, folder / "export-1.log")
    files = sum(
        1 for path in target.rglob("*") if path.is_file() and path.name != ".calfeed-export"
    )
    again = timed(command, folder / "export-2.log")
    count = len(project.events)
    report.note(f"calfeed export wrote {files:,} files")
    report.add(
        f"calfeed export, {count:,} events, empty database",
        first,
        "s",
        naive,
        "plain icalendar all.ics alone",
        Target(most=2.0),
    )
    report.add(
        f"calfeed export again, nothing changed, {count:,} events",
        again,
        "s",
        first,
        "the first export",
        Target(most=0.25),
    )
    # The same site in four languages: four times the files.
    languages = dataclasses.replace(project, languages=("en", "fr", "es", "de"))
    languages.write_config()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{project.database}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(target)
    four = timed(command, folder / "export-4.log")
    project.write_config()
    report.add(
        f"calfeed export in four languages, {count:,} events, empty database",
        four,
        "s",
        4 * first,
        "four one-language exports",
        Target(most=1.0),
    )


def serving(report: Report, project: Project, folder: Path, workers: int, limit: float) -> None:
    """Print serve's start, memory beside one process, watcher CPU and edit pickup."""
    count = len(project.events)
    port = free_port()
    with serve(project.config, port, workers, folder / f"serve-{count}.log") as process:
        first, _ = first_answer(process, port, ALL, limit)
        ready, pids, started = wait_for_workers(process, port, workers, ALL, limit)
        report.add(f"calfeed serve --workers {workers}, {count:,} events: first answer", first, "s")
        report.add(f"calfeed serve --workers {workers}, {count:,} events: every worker", ready, "s")
        if started > workers:
            report.note(f"gunicorn started {started} worker processes for {workers}")
        for path in WARM_PATHS:
            per_worker(port, pids, path)
        group = group_memory([process.pid, *pids])
        idle = idle_cpu([process.pid, *pids])
        before = per_worker(port, pids, ALL)
        etag = next(iter(before.values())).etag
        assert etag is not None and len({a.etag for a in before.values()}) == 1, before
        pickup(report, project, process, port, etag, f"{workers} workers, {count:,} events")
    single = one_process(project, folder)
    report.note(
        f"memory: serve master + {workers} workers RSS {group.rss:,.0f} MB, PSS "
        f"{group.pss:,.0f} MB; one calfeed run RSS {single.rss:,.0f} MB, PSS {single.pss:,.0f} MB"
    )
    report.add(
        f"calfeed serve --workers {workers}, {count:,} events: memory (PSS)",
        group.pss,
        "MB",
        single.pss,
        "one calfeed run",
        Target(most=1.5),
    )
    master, *each = idle
    report.add(
        f"calfeed serve, {count:,} events: CPU of the idle master (it watches the files), "
        "per second",
        master * 1000,
        "ms",
    )
    report.add(
        f"calfeed serve, {count:,} events: CPU of each idle worker, per second",
        sum(each) / len(each) * 1000,
        "ms",
    )


def idle_cpu(pids: list[int], seconds: float = 3.0) -> list[float]:
    """Return the CPU seconds per second each of ``pids`` uses while nobody asks."""
    before = [cpu_seconds(pid) for pid in pids]
    time.sleep(seconds)
    return [(cpu_seconds(pid) - was) / seconds for pid, was in zip(pids, before, strict=True)]


def pickup(
    report: Report, project: Project, process: Process, port: int, old: str, label: str
) -> None:
    """Save an edit to one event; print when the first and when every worker served it.

    The workers are looked up again on every round: a worker may be replaced by a new one
    that serves the new edition.
    """
    workers = len(process.workers())
    index = min(42, len(project.events) - 1)
    event = project.events[index]
    project.replace(dataclasses.replace(event, title=f"Event {index} (moved): a new title"))
    saved = time.perf_counter()
    new: str | None = None
    first: float | None = None
    every: float | None = None
    back = 0  # answers with the old ETag to requests sent after the new one was served
    rounds = 0
    while every is None and time.perf_counter() - saved < 30:
        asked = old if new is None else f"{old}, {new}"
        pids = process.workers()
        sent = time.perf_counter() - saved
        # A short wait: the workers asked for may be gone, replaced by new ones.
        answers = per_worker(port, pids, ALL, {"If-None-Match": asked}, wait=0.05)
        at = time.perf_counter() - saved
        rounds += 1
        fresh = [a for a in answers.values() if a.etag != old and a.status in (200, 304)]
        if fresh:
            new = fresh[0].etag
            first = at if first is None else first
        if first is not None and sent > first:
            back += len(answers) - len(fresh)
        if len(fresh) == len(answers) == workers == len(pids):
            every = at
    report.note(
        f"edit pickup ({label}): {rounds} rounds of one request per worker; "
        + ("every worker served the new ETag" if every else "not every worker served it")
        + (f"; {back} answers went back to the old one" if back else "")
    )
    report.add(f"edit saved -> first worker serves it ({label})", first, "s")
    report.add(
        f"edit saved -> every worker serves it ({label})",
        every,
        "s",
        target=Target(most=1.0, on="value"),
    )


def one_process(project: Project, folder: Path) -> Memory:
    """Start ``calfeed run``, ask it for the same pages and feeds; return its memory."""
    port = free_port()
    log = folder / "run.log"
    with calfeed(project.config, "run", "--port", str(port), log=log) as process:
        first_answer(process, port, ALL, 600)
        for path in WARM_PATHS:
            get(port, path)
        return memory(process.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--large", action="store_true", help="also 50,000 events")
    parser.add_argument("--workers", type=int, default=4, help="of calfeed serve")
    parser.add_argument("--serve-only", action="store_true", help="calfeed serve alone")
    parser.add_argument("--quick", action="store_true", help="20 events, 2 workers")
    arguments = parser.parse_args()
    stop_on_sigterm()
    count, workers = (20, 2) if arguments.quick else (arguments.events, arguments.workers)
    report = Report("bench/feeds.py")
    with tempfile.TemporaryDirectory(prefix="calfeed-bench-") as name:
        folder = Path(name)
        project = Project(folder / "project", feed_events(count)).write()
        limit = 60 + count / 50  # seconds; bounds every wait on a start
        if not arguments.serve_only:
            naive = builds(report, project, folder, limit)
            export(report, project, folder, naive)
        serving(report, project, folder, workers, limit)
        if arguments.large and not arguments.quick:
            large = Project(folder / "large", feed_events(50_000)).write()
            if not arguments.serve_only:
                builds(report, large, folder, 60 + 50_000 / 50)
            serving(report, large, folder, workers, 60 + 50_000 / 50)
    report.summary()


if __name__ == "__main__":
    main()
