"""Benchmark the feeds: cold build, warm request, edit pickup and memory.

    .venv/bin/python bench/feeds.py [--events 10000]

Builds a synthetic catalog (events with sessions in several zones, ten per file), then
prints the cold build time beside a naive icalendar build of the same feed, the warm request
time of /feeds/all.ics through the Flask test client (for 1,000 events and for all), the
time until one edited event is served, and the peak RSS.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service import create_app  # noqa: E402
from service.calendar.edition import Publisher  # noqa: E402
from service.calendar.entries import event_entry  # noqa: E402
from service.calendar.zones import catalog_zones  # noqa: E402
from service.catalog import Catalog, load_catalog  # noqa: E402
from service.database import open_database  # noqa: E402
from service.live import LiveCatalog  # noqa: E402
from service.revisions import RevisionStore  # noqa: E402

ZONES = ["Europe/Brussels", "Europe/Stockholm", "America/New_York", "Asia/Kolkata", "UTC"]
PER_FILE = 10


def write_catalog(root: Path, count: int) -> None:
    """Write config.yaml and ``count`` events, ten per file."""
    (root / "feeds").mkdir(parents=True)
    (root / "config.yaml").write_text(
        "site: {title: Bench, base_url: 'https://events.example.org', timezone: Europe/Brussels}\n"
        "database: sqlite:///var/bench.sqlite3\n"
        "topics:\n" + "".join(f"  t{i}: {{name: Topic {i}}}\n" for i in range(10)),
        encoding="utf-8",
    )
    rng = random.Random(5545)
    base = datetime(2026, 1, 5, 9, 0)
    for number in range(0, count, PER_FILE):
        lines = ["events:"]
        for index in range(number, min(number + PER_FILE, count)):
            start = base + timedelta(days=index % 700, hours=rng.randrange(0, 9))
            lines += [
                f"  - id: event-{index}",
                f"    title: 'Event {index}: sustainable procurement, café ☕'",
                f"    topics: [t{index % 10}, t{(index + 1 + index % 3) % 10}]",
                f"    timezone: {ZONES[index % len(ZONES)]}",
                f"    start: '{start:%Y-%m-%dT%H:%M}'",
                f"    end: '{start + timedelta(hours=3):%Y-%m-%dT%H:%M}'",
                "    location: Online",
                "    description: |",
                "      A webinar on buying for sustainability; with agenda, speakers, questions.",
                "    sessions:",
                f"      - {{start: '{start:%H:%M}', end: '{start + timedelta(hours=1):%H:%M}', "
                "title: Welcome, speakers: [A. Speaker]}",
                f"      - {{start: '{start + timedelta(hours=1):%H:%M}', "
                f"end: '{start + timedelta(hours=3):%H:%M}', title: Discussion}}",
            ]
        (root / "feeds" / f"events-{number:06d}.yaml").write_text(
            "\n".join(lines) + "\n", encoding="utf-8"
        )


def naive_build(catalog: Catalog) -> float:
    """Time the same feed built the plain way: one icalendar Calendar, timezones added."""
    started = time.perf_counter()
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//bench//EN")
    calendar.add("version", "2.0")
    now = datetime.now(UTC)
    zones = catalog_zones(catalog)
    for event in catalog.events:
        entry = event_entry(event, catalog.config, zones)
        entry.add("dtstamp", now)
        entry.add("sequence", 0)
        calendar.add_component(entry)
    calendar.add_missing_timezones()
    calendar.to_ical()
    return time.perf_counter() - started


def warm_requests(client: object, path: str, rounds: int = 200) -> float:
    """Return the median time of a GET of ``path`` once its feed is cached."""
    get = client.get  # type: ignore[attr-defined]
    get(path)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = get(path)
        response.get_data()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--serve-only", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    count = arguments.events
    if arguments.serve_only:
        serve_only(count)
        return
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_catalog(root, count)
        config_path = root / "config.yaml"
        os.chdir(root)

        started = time.perf_counter()
        catalog = load_catalog(config_path)
        print(f"events: {count}; load and check the YAML: {time.perf_counter() - started:.2f} s")
        publisher = Publisher(RevisionStore(open_database("sqlite://")))
        started = time.perf_counter()
        body = publisher.publish(catalog).topic_feed(("all",)).body
        cold = time.perf_counter() - started
        print(
            f"cold build of all.ics ({len(body) / 1e6:.1f} MB): {cold:.2f} s; "
            f"naive icalendar build of the same feed: {naive_build(catalog):.2f} s"
        )
        del catalog, publisher, body

        app = create_app(config_path, {"WATCH": False})
        client = app.test_client()
        live: LiveCatalog = app.extensions["calfeed.live"]
        print(
            f"warm GET /feeds/all.ics ({count} events): "
            f"{warm_requests(client, '/feeds/all.ics', 50) * 1e3:.2f} ms"
        )
        print(
            f"warm GET /feeds/t3.ics ({count // 5} events): "
            f"{warm_requests(client, '/feeds/t3.ics') * 1e3:.2f} ms"
        )

        small = Path(folder) / "small"
        write_catalog(small, 1000)
        small_app = create_app(small / "config.yaml", {"WATCH": False})
        print(
            f"warm GET /feeds/all.ics (1000 events): "
            f"{warm_requests(small_app.test_client(), '/feeds/all.ics') * 1e3:.2f} ms"
        )

        edited = root / "feeds" / "events-000040.yaml"
        text = edited.read_text(encoding="utf-8")
        edited.write_text(text.replace("Event 42:", "Event 42 (moved):"), encoding="utf-8")
        started = time.perf_counter()
        live.refresh()
        body = client.get("/feeds/all.ics").get_data()
        picked = time.perf_counter() - started
        assert b"Event 42 (moved)" in body
        print(f"one edited event served after: {picked * 1e3:.1f} ms")

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process (two catalogs, one naive build): {peak:.0f} MB")
    print(f"server RSS serving {count} events: {serving_rss(count):.0f} MB")


def serving_rss(count: int) -> float:
    """Return the RSS (MB) of a fresh process that loaded ``count`` events and served feeds."""
    command = [sys.executable, __file__, "--events", str(count), "--serve-only"]
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def serve_only(count: int) -> None:
    """Load ``count`` events, serve every topic feed once, print this process's RSS in MB."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_catalog(root, count)
        os.chdir(root)
        client = create_app(root / "config.yaml", {"WATCH": False}).test_client()
        for path in ["/feeds/all.ics", *(f"/feeds/t{i}.ics" for i in range(10))]:
            client.get(path).get_data()
        status = Path("/proc/self/status").read_text().splitlines()
        print(int(next(line.split()[1] for line in status if line.startswith("VmRSS"))) / 1024)


if __name__ == "__main__":
    main()
