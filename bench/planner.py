"""Benchmark the reminder planner: the first plan, sweeps, one change, and a worker's memory.

    .venv/bin/python bench/planner.py [--events 1000] [--subscribers 10000] [--large]
                                      [--sweeps 20] [--quick]

On a synthetic project of E events and S subscribers listed in config.yaml (``--large``:
50,000), it times the planner in this process on a fresh SQLite database: the first plan, a
sweep with nothing changed, one event moved by an hour, one subscriber added, one whose
topics changed and one removed, each re-planned after its edit is saved and loaded. Then it
starts a real ``calfeed worker`` on a copy of the project with an empty database and reads
its memory from /proc after the first sweep and after each later one (it sweeps every 30
seconds), with its peak and its CPU time a sweep.

Every event starts more than eight days ahead, so nothing comes due during the run and the
worker only plans; at 10,000 subscribers the reminders due within the planner's two-day
horizon make a few hundred thousand outbox rows.
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

from _catalog import Person, Project, people, planned_events
from _proc import Memory, cpu_seconds, memory
from _report import Report, Target
from _serving import calfeed, stop_on_sigterm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The one place this benchmark reaches inside calfeed: the planner, timed in this process.
from service.catalog import load_catalog  # noqa: E402
from service.reminders.planner import plan  # noqa: E402
from service.store.database import open_database  # noqa: E402

SWEEP_EVERY = 30.0  # seconds between two sweeps of calfeed worker (README)
LARGE = 50_000
AT_LARGE = f"at {LARGE:,} subscribers"


def in_process(report: Report, project: Project, now: datetime) -> None:
    """Time each plan in this process, after each edit is saved and loaded."""
    engine = open_database(project.database_url)
    label = f"{len(project.events):,} events x {len(project.people):,} subscribers"
    large = len(project.people) >= LARGE
    moment = [now]

    def replan(name: str, edit: Callable[[], object] | None = None) -> float:
        if edit is not None:
            edit()
        catalog = load_catalog(project.config)
        moment[0] += timedelta(seconds=1)
        started = time.perf_counter()
        result = plan(engine, catalog, moment[0])
        seconds = time.perf_counter() - started
        report.note(
            f"{name}: planned {result.planned:,}, withdrew {result.withdrawn:,}; "
            f"outbox rows: {project.outbox_rows():,}"
        )
        return seconds

    started = time.perf_counter()
    load_catalog(project.config)
    report.add(f"load the catalog, {label}", time.perf_counter() - started, "s")
    report.add(f"first plan, fresh database, {label}", replan("first plan"), "s")
    report.add(
        f"planner sweep, nothing changed, {label}",
        replan("nothing changed") * 1000,
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
    edits: list[tuple[str, Callable[[list[Person]], object]]] = [
        ("added", lambda persons: persons.append(Person("new@example.org", ("t0",), "UTC"))),
        ("changed", lambda persons: _retopic(persons, 0)),
        ("removed", lambda persons: persons.pop(1)),
    ]
    for name, edit in edits:

        def save(edit: Callable[[list[Person]], object] = edit) -> None:
            edit(project.people)
            project.write_config()

        seconds = replan(f"subscriber {name}", save)
        report.add(f"one subscriber {name} re-planned, {label}", seconds, "s")
    engine.dispose()


def _retopic(persons: list[Person], index: int) -> None:
    person = persons[index]
    topics = ("t8", "t9") if person.topics != ("t8", "t9") else ("t0",)
    persons[index] = dataclasses.replace(person, topics=topics)


def worker(report: Report, project: Project, sweeps: int, log: Path) -> None:
    """Run ``calfeed worker`` on an empty database; print its memory sweep after sweep."""
    label = f"{len(project.events):,} events x {len(project.people):,} subscribers"
    limit = 600.0
    with calfeed(project.config, "worker", log=log) as process:
        began = process.wait_for(" running")  # the first sweep starts with the scheduler
        while project.outbox_rows() == 0:
            process.check()
            if time.perf_counter() - began > limit:
                raise RuntimeError(f"no reminder planned within {limit:.0f} s:\n{process.tail()}")
            time.sleep(0.1)
        first = time.perf_counter() - process.started
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
        applies=len(project.people) >= LARGE,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--large", action="store_true", help=f"{LARGE:,} subscribers")
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
        project.people = people(subscribers)
        project.write()
        fresh = project.copy(folder / "worker")
        in_process(report, project, now)
        worker(report, fresh, sweeps, folder / "worker.log")
    report.summary()


if __name__ == "__main__":
    main()
