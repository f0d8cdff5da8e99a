"""Benchmark the reminder planner: the first plan, sweeps, one change, and a worker's memory.

    .venv/bin/python bench/planner.py [--events 1000] [--subscribers 50000] [--sweeps 20]
                                      [--quick]

On a synthetic project of E events and S subscribers (20 listed in config.yaml, the others
signed up on the site and confirmed), it times the planner in this process on a fresh
SQLite database, the way a worker plans: one ``Planner`` sweep after sweep, on the catalog
reloaded as the live catalog reloads it (only changed files are read again). It times the
first plan, a sweep with nothing changed (the slowest of five), one event moved by an hour,
a subscriber who signs up, changes topics and leaves (written by a connection of its own,
as the web process writes), and one added to and one removed from config.yaml, each
re-planned after its edit is saved. Then it
starts a real ``calfeed worker`` on a copy of the project with an empty database and reads
its memory from /proc after the first sweep and after each later one (it sweeps every 30
seconds), with its peak and its CPU time a sweep.

Every event starts more than eight days ahead, so nothing comes due during the run and the
worker only plans; at 50,000 subscribers the reminders due within the planner's two-day
horizon make over a million outbox rows.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from _catalog import Person, Project, people, planned_events
from _proc import Memory, cpu_seconds, memory
from _report import Report, Target
from _serving import calfeed, stop_on_sigterm
from _signups import LISTED, signed_up

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The one place this benchmark reaches inside calfeed: the planner, timed in this process,
# and the subscribers the web process would write.
from service.catalog.load import CatalogLoader  # noqa: E402
from service.reminders import subscribers as subscriber_store  # noqa: E402
from service.reminders.planner import Planner  # noqa: E402
from service.store.database import open_database  # noqa: E402

SWEEP_EVERY = 30.0  # seconds between two sweeps of calfeed worker (README)
LARGE = 50_000
AT_LARGE = f"at {LARGE:,} subscribers"


def in_process(report: Report, project: Project, total: int, now: datetime) -> None:
    """Time each plan in this process, after each edit is saved and loaded."""
    engine = open_database(project.database_url)
    web = open_database(project.database_url)  # the web process's, for sign-ups and the like
    label = f"{len(project.events):,} events x {total:,} subscribers"
    large = total >= LARGE
    moment = [now]
    planner = Planner()
    loader = CatalogLoader(project.config)
    started = time.perf_counter()
    catalogs = [loader.load()]
    report.add(f"load the catalog, {label}", time.perf_counter() - started, "s")

    def replan(name: str, edit: Callable[[], object] | None = None) -> float:
        if edit is not None:
            edit()
            catalogs[0] = loader.reload() or catalogs[0]
        moment[0] += timedelta(seconds=1)
        started = time.perf_counter()
        result = planner.sweep(engine, catalogs[0], moment[0])
        seconds = time.perf_counter() - started
        report.note(
            f"{name}: planned {result.planned:,}, withdrew {result.withdrawn:,}; "
            f"outbox rows: {project.outbox_rows():,}"
        )
        return seconds

    report.add(f"first plan, fresh database, {label}", replan("first plan"), "s")
    report.add(
        f"planner sweep, nothing changed, {label}",
        max(replan("nothing changed") for _ in range(5)) * 1000,
        "ms",
        target=Target(most=50, on="value", note=AT_LARGE),
        applies=large,
    )
    first = project.events[0]
    moved = dataclasses.replace(first, start=first.start + timedelta(hours=1))
    report.add(
        f"one edited event re-planned, {label}",
        replan("event moved by an hour", lambda: project.replace(moved)),
        "s",
        target=Target(most=1.0, on="value", note=AT_LARGE),
        applies=large,
    )
    # What the web process does: a sign-up confirmed, new topics, an unsubscribe.
    zone = ZoneInfo("UTC")
    newcomer: list[int] = []

    def sign_up() -> None:
        with web.begin() as connection:
            found, _ = subscriber_store.request(connection, "new@example.org", ["t0"], zone, now)
            subscriber_store.confirm(connection, found.id, now)
            newcomer.append(found.id)

    def retopic() -> None:
        with web.begin() as connection:
            subscriber_store.update(connection, newcomer[0], ["t8", "t9"], zone)

    def leave() -> None:
        with web.begin() as connection:
            subscriber_store.unsubscribe(connection, newcomer[0], now)

    for name, edit in (("added", sign_up), ("changed", retopic), ("removed", leave)):
        seconds = replan(f"subscriber {name} (web)", edit)
        report.add(f"one subscriber {name} re-planned, {label}", seconds, "s")
    edits: list[tuple[str, Callable[[list[Person]], object]]] = [
        ("added", lambda persons: persons.append(Person("listed@example.org", ("t0",), "UTC"))),
        ("removed", lambda persons: persons.pop(1)),
    ]
    for name, config_edit in edits:

        def save(config_edit: Callable[[list[Person]], object] = config_edit) -> None:
            config_edit(project.people)
            project.write_config()

        seconds = replan(f"subscriber {name} in config.yaml", save)
        report.add(f"one subscriber {name} in config.yaml re-planned, {label}", seconds, "s")
    web.dispose()
    engine.dispose()


def worker(report: Report, project: Project, total: int, sweeps: int, log: Path) -> None:
    """Run ``calfeed worker`` on an empty database; print its memory sweep after sweep."""
    label = f"{len(project.events):,} events x {total:,} subscribers"
    with calfeed(project.config, "worker", log=log) as process:
        began = process.wait_for(" running")  # the first sweep starts with the scheduler
        # The first plan commits as it goes: it is done when the worker says what it planned.
        first = process.wait_for("worker: planned ", limit=900.0) - process.started
        after: list[Memory] = [memory(process.pid)]
        cpu = [cpu_seconds(process.pid)]
        for number in range(1, sweeps):
            # Just before sweep number + 1 begins: sweep number has had its 30 seconds.
            wake = began + (number + 1) * SWEEP_EVERY - 1
            time.sleep(max(0.0, wake - time.perf_counter()))
            process.check()
            after.append(memory(process.pid))
            cpu.append(cpu_seconds(process.pid))
        peak = memory(process.pid).peak
    report.add(f"calfeed worker, fresh database: start to first plan, {label}", first, "s")
    report.note(
        f"calfeed worker RSS after each of {sweeps} sweeps (MB): "
        + ", ".join(f"{m.rss:.0f}" for m in after)
    )
    if len(cpu) > 1:
        spent = [later - earlier for earlier, later in zip(cpu, cpu[1:], strict=False)]
        report.note("calfeed worker CPU a sweep (s): " + ", ".join(f"{s:.2f}" for s in spent))
        report.add(f"calfeed worker CPU a sweep at most, nothing changed, {label}", max(spent), "s")
    report.add(f"calfeed worker RSS after the first sweep, {label}", after[0].rss, "MB")
    report.add(f"calfeed worker RSS after sweep {sweeps}, {label}", after[-1].rss, "MB")
    report.add(
        f"calfeed worker peak RSS over {sweeps} sweeps, {label}",
        peak,
        "MB",
        target=Target(most=200, on="value", note=AT_LARGE),
        applies=total >= LARGE,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=LARGE)
    parser.add_argument("--large", action="store_true", help=f"{LARGE:,} subscribers (the default)")
    parser.add_argument("--sweeps", type=int, default=20, help="of the real worker")
    parser.add_argument("--quick", action="store_true", help="20 events, 50 subscribers")
    arguments = parser.parse_args()
    stop_on_sigterm()
    events, subscribers = arguments.events, LARGE if arguments.large else arguments.subscribers
    sweeps = arguments.sweeps
    if arguments.quick:
        events, subscribers, sweeps = 20, 50, 1
    report = Report("bench/planner.py")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    first = now + timedelta(days=8, hours=1)  # a deadline's 3-day reminder is ahead too
    with tempfile.TemporaryDirectory(prefix="calfeed-bench-") as name:
        folder = Path(name)
        project = Project(folder / "project", planned_events(events, first, days=12))
        everyone = people(subscribers)
        project.people = everyone[:LISTED]  # the others signed up
        project.write()
        fresh = project.copy(folder / "worker")
        signed_up(project, everyone[LISTED:], now)
        signed_up(fresh, everyone[LISTED:], now)
        in_process(report, project, subscribers, now)
        worker(report, fresh, subscribers, sweeps, folder / "worker.log")
    report.summary()


if __name__ == "__main__":
    main()
