"""Benchmark the reminders: sending through SMTP, wake-up lateness, planning and memory.

    .venv/bin/python bench/reminders.py [--reminders 10000] [--rounds 3]
                                        [--subscribers 10000] [--events 1000]

Starts a local aiosmtpd server in a process of its own (as a real mail server would be) whose
handler only counts what it receives. Then prints, for R rounds, the time the real Sender
(SmtpTransport) takes to hand N reminders due at once to it, beside a bare smtplib loop
sending as many pre-built mails of the same size on one connection just before and just
after; how late a running Worker delivers a reminder after its due time; the planner's time
for E events and S subscribers (first run on a fresh SQLite database, then a run with nothing
new); and the RSS of a fresh worker process that loaded that catalog, planned and sent the
reminders due first. Use smaller --reminders and --subscribers for a quick run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.catalog import load_catalog  # noqa: E402
from service.database import open_database  # noqa: E402
from service.live import LiveCatalog  # noqa: E402
from service.reminders import outbox as outbox_store  # noqa: E402
from service.reminders import planner  # noqa: E402
from service.reminders.mail import Reminder, compose, links_for, message_id  # noqa: E402
from service.reminders.sender import Sender  # noqa: E402
from service.reminders.subscribers import confirmed  # noqa: E402
from service.reminders.transports import SmtpTransport  # noqa: E402
from service.reminders.worker import Worker  # noqa: E402
from service.tables import outbox  # noqa: E402
from service.tokens import Tokens, secret_key  # noqa: E402

ZONES = [
    "Europe/Brussels",
    "Europe/Stockholm",
    "Europe/Lisbon",
    "America/New_York",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "UTC",
]
TOPICS = [f"t{i}" for i in range(10)]
PER_FILE = 10
HOST = "127.0.0.1"


class Counter:
    """An aiosmtpd handler that only counts messages (and notes when the first arrived).

    The numbers live in shared memory: the server runs in a process of its own.
    """

    def __init__(self, count: Any, first: Any) -> None:
        self._count, self._first = count, first

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self._first.value:
            self._first.value = time.time()
        self._count.value += 1
        return "250 OK"


def serve(port: int, count: Any, first: Any, ready: Any, stop: Any) -> None:
    """Run the counting server on ``port`` until ``stop`` is set."""
    controller = Controller(Counter(count, first), hostname=HOST, port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class MailServer:
    """A local aiosmtpd server in a process of its own, as a real mail server would be."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.port = free_port()
        self._count, self._first = context.RawValue("q", 0), context.RawValue("d", 0.0)
        ready, self._stop = context.Event(), context.Event()
        arguments = (self.port, self._count, self._first, ready, self._stop)
        self._process = context.Process(target=serve, args=arguments, daemon=True)
        self._process.start()
        if not ready.wait(60):
            raise RuntimeError("the mail server did not start")

    @property
    def count(self) -> int:
        """Messages received since the last reset."""
        return int(self._count.value)

    @property
    def first(self) -> float | None:
        """When the first message since the last reset arrived (a Unix time), or None."""
        return float(self._first.value) or None

    def reset(self) -> None:
        self._count.value, self._first.value = 0, 0.0

    def stop(self) -> None:
        self._stop.set()
        self._process.join(10)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


# Synthetic projects


def write_config(
    root: Path,
    people: Iterable[tuple[str, Sequence[str], str]],
    before_start: Sequence[str],
    before_deadline: Sequence[str],
    port: int,
) -> None:
    """Write config.yaml: ten topics, SMTP on ``port``, the subscribers ``people``."""
    (root / "feeds").mkdir(parents=True, exist_ok=True)
    lines = [
        "site: {title: Bench, base_url: 'https://events.example.org', timezone: Europe/Brussels}",
        "database: sqlite:///var/bench.sqlite3",
        "topics:",
        *(f"  {slug}: {{name: Topic {slug[1:]}, description: About {slug}}}" for slug in TOPICS),
        "reminders:",
        f"  before_start: [{', '.join(before_start)}]",
        f"  before_registration_deadline: [{', '.join(before_deadline)}]",
        "mail:",
        "  from: Bench Events <events@example.org>",
        "  transport: smtp",
        f"  smtp: {{host: '{HOST}', port: {port}}}",
        "subscribers:",
    ]
    lines += [
        f"  - {{email: {email}, topics: [{', '.join(topics)}], timezone: {zone}}}"
        for email, topics, zone in people
    ]
    (root / "config.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def people(count: int, rng: random.Random) -> list[tuple[str, list[str], str]]:
    """Return ``count`` subscribers with one to three topics each, in various zones."""
    return [
        (f"person{i}@example.org", rng.sample(TOPICS, rng.randint(1, 3)), ZONES[i % len(ZONES)])
        for i in range(count)
    ]


def event_yaml(
    index: int,
    start: datetime,
    topics: Sequence[str],
    zone: str,
    deadline: datetime | None = None,
) -> list[str]:
    """Return the YAML lines of one event starting at the aware ``start``, three hours long."""
    local = start.astimezone(ZoneInfo(zone))
    lines = [
        f"  - id: event-{index}",
        f"    title: 'Event {index}: sustainable procurement, café ☕'",
        f"    topics: [{', '.join(topics)}]",
        f"    timezone: {zone}",
        f"    start: '{local:%Y-%m-%dT%H:%M:%S}'",
        f"    end: '{local + timedelta(hours=3):%Y-%m-%dT%H:%M:%S}'",
        "    location: Online",
        "    description: |",
        "      A webinar on buying for sustainability; with agenda, speakers, questions.",
    ]
    if deadline is not None:
        lines += [
            "    registration:",
            f"      url: https://events.example.org/register/{index}",
            f"      deadline: '{deadline.astimezone(ZoneInfo(zone)):%Y-%m-%dT%H:%M:%S}'",
        ]
    return lines


def write_events(root: Path, events: Sequence[list[str]], name: str = "events") -> None:
    """Write events, ten per file."""
    for number in range(0, len(events), PER_FILE):
        lines = [
            "events:",
            *(line for event in events[number : number + PER_FILE] for line in event),
        ]
        (root / "feeds" / f"{name}-{number:06d}.yaml").write_text(
            "\n".join(lines) + "\n", encoding="utf-8"
        )


def write_catalog(root: Path, events: int, subscribers: int, now: datetime, port: int) -> None:
    """Write the planner's project: ``events`` over the next 60 days, ``subscribers``."""
    rng = random.Random(5545)
    write_config(root, people(subscribers, rng), ["7d", "1d", "1h"], ["3d", "1d"], port)
    hour = now.replace(minute=0, second=0, microsecond=0)
    written = []
    for index in range(events):
        start = hour + timedelta(minutes=15 * rng.randrange(4, 4 * 24 * 60))
        deadline = start - timedelta(days=rng.choice([1, 2, 5])) if index % 3 == 0 else None
        topics = rng.sample(TOPICS, rng.randint(1, 2))
        written.append(event_yaml(index, start, topics, ZONES[index % len(ZONES)], deadline))
    write_events(root, written)


# 1 and 2: sending


def sample_messages(live: LiveCatalog, tokens: Tokens, now: datetime, count: int) -> list[bytes]:
    """Compose ``count`` reminders of the send project the way the Sender does, as bytes."""
    edition = live.edition
    config = edition.catalog.config
    event = edition.catalog.events[0]
    with live.engine.connect() as connection:
        persons = confirmed(connection)[:count]
    messages = []
    for person in persons:
        reminder = Reminder(person.email, person.timezone, event, "start", 3600, event.start)
        message = compose(
            reminder,
            config,
            ics=edition.event_feed(event.id).body,
            links=links_for(config, tokens, person.id, person.generation),
            message_id=message_id(person.id, reminder, config),
            now=now,
        )
        # As smtplib's send_message flattens it: CRLF line ends.
        messages.append(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))
    return messages


def calfeed_send(count: int, port: int, server: MailServer) -> tuple[float, list[bytes]]:
    """Hand ``count`` reminders due at once to SMTP with the Sender; return the time taken."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        now = datetime.now(UTC)
        start = (now + timedelta(hours=1)).replace(microsecond=0)  # its 1 h reminder is due now
        write_config(root, people(count, random.Random(5545)), ["1h"], [], port)
        write_events(root, [event_yaml(0, start, TOPICS, "Europe/Brussels")])
        live = LiveCatalog(root / "config.yaml")
        try:
            # Subscribers confirmed a minute ago, so the reminder due now is theirs.
            result = planner.plan(live.engine, live.edition.catalog, now - timedelta(minutes=1))
            assert result.planned == count, result
            tokens = Tokens(secret_key(root / "var"))
            sender = Sender(live, SmtpTransport(HOST, port), tokens, "bench")
            server.reset()
            started = time.perf_counter()
            outcome = sender.send_due()
            elapsed = time.perf_counter() - started
            assert outcome.sent == count == server.count, (outcome, server.count)
            messages = sample_messages(live, tokens, datetime.now(UTC), min(count, 100))
        finally:
            live.close()
    return elapsed, messages


def bare_send(count: int, port: int, server: MailServer, messages: list[bytes]) -> float:
    """Send ``count`` pre-built messages on one smtplib connection; return the time taken."""
    server.reset()
    started = time.perf_counter()
    client = smtplib.SMTP(HOST, port, timeout=30)
    try:
        client.ehlo()
        for index in range(count):
            recipient = f"person{index}@example.org"
            client.sendmail("events@example.org", [recipient], messages[index % len(messages)])
    finally:
        client.quit()
    elapsed = time.perf_counter() - started
    assert server.count == count, server.count
    return elapsed


def throughput(count: int, rounds: int, server: MailServer) -> None:
    """Print the Sender's mails/s beside the bare loop's, round by round, then the median.

    Each round runs the bare loop, then the Sender, then the bare loop again, and compares
    the Sender with the mean of the two: the machine's speed drifts over a run, and this way
    a slower or faster spell weighs on both sides alike.
    """
    warm = min(count, 500)
    _, messages = calfeed_send(warm, server.port, server)
    bare_send(warm, server.port, server, messages)
    size = sum(len(m) for m in messages) / len(messages) / 1024
    ratios = []
    for number in range(1, rounds + 1):
        before = count / bare_send(count, server.port, server, messages)
        elapsed, messages = calfeed_send(count, server.port, server)
        ours = count / elapsed
        after = count / bare_send(count, server.port, server, messages)
        ratios.append(ours / ((before + after) / 2))
        print(
            f"round {number}: calfeed Sender, {count} reminders due at once -> SMTP: "
            f"{elapsed:.2f} s, {ours:.0f} mails/s; bare smtplib loop, one connection, "
            f"{count} pre-built mails of {size:.1f} KB, before and after: {before:.0f} and "
            f"{after:.0f} mails/s; calfeed / bare: {ratios[-1]:.0%}"
        )
    print(
        f"median of {rounds} rounds, calfeed / bare: {statistics.median(ratios):.0%}  "
        "(target >= 80%)"
    )


# 3: lateness of a running worker


def lateness(port: int, server: MailServer, ahead: float = 2.0) -> float:
    """Start a Worker, plan a reminder due ``ahead`` s later; return its arrival minus due."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        now = datetime.now(UTC)
        write_config(root, people(5, random.Random(5545)), ["1h"], [], port)
        write_events(root, [event_yaml(0, now + timedelta(days=90), TOPICS, "UTC")], "later")
        live = LiveCatalog(root / "config.yaml")
        try:
            worker = Worker(live, SmtpTransport(HOST, port), Tokens(secret_key(root / "var")))
            # The event is added once the worker is built: its first sweep picks it up.
            start = datetime.now(UTC) + timedelta(hours=1, seconds=ahead + 1)
            start = start.replace(microsecond=0)  # due ahead to ahead + 1 s from now
            write_events(root, [event_yaml(1, start, TOPICS, "UTC")], "soon")
            server.reset()
            worker.start()
            try:
                deadline = time.time() + ahead + 30
                while server.first is None and time.time() < deadline:
                    time.sleep(0.005)
            finally:
                worker.stop()
            assert server.first is not None, "the reminder never arrived"
            with live.engine.connect() as connection:
                due: datetime = connection.execute(
                    sa.select(sa.func.min(outbox.c.due_at)).where(outbox.c.event_id == "event-1")
                ).scalar_one()
            return server.first - due.timestamp()
        finally:
            live.close()


# 4: planning


def planning(events: int, subscribers: int, port: int) -> None:
    """Print the planner's time on a fresh database, then with nothing new, and the rows."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        now = datetime.now(UTC)
        write_catalog(root, events, subscribers, now, port)
        started = time.perf_counter()
        catalog = load_catalog(root / "config.yaml")
        loaded = time.perf_counter() - started
        engine = open_database(catalog.config.database_url)
        try:
            started = time.perf_counter()
            first = planner.plan(engine, catalog, now)
            first_time = time.perf_counter() - started
            started = time.perf_counter()
            second = planner.plan(engine, catalog, now + timedelta(seconds=1))
            second_time = time.perf_counter() - started
            with engine.connect() as connection:
                rows = connection.execute(sa.select(sa.func.count()).select_from(outbox)).scalar()
        finally:
            engine.dispose()
    print(f"load {events} events and {subscribers} subscribers: {loaded:.2f} s")
    print(
        f"plan, fresh database: {first_time:.2f} s ({first.planned} outbox rows planned); "
        f"again, nothing new: {second_time:.2f} s ({second.planned} planned, "
        f"{second.withdrawn} withdrawn); outbox rows: {rows}  (target < 10 s)"
    )


# 5: memory of a worker process


def worker_rss(events: int, subscribers: int, port: int) -> tuple[float, float, int, int]:
    """Return RSS and peak RSS (MB), rows planned and mails sent of a fresh worker process."""
    command = [
        sys.executable,
        __file__,
        "--events",
        str(events),
        "--subscribers",
        str(subscribers),
        "--port",
        str(port),
        "--worker-only",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2]), int(out[3])


def worker_only(events: int, subscribers: int, port: int) -> None:
    """Load the catalog, plan, send what is due first; print RSS, peak RSS, planned, sent."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        now = datetime.now(UTC)
        write_catalog(root, events, subscribers, now, port)
        moment = [now]
        live = LiveCatalog(root / "config.yaml", clock=lambda: moment[0])
        worker = Worker(
            live, SmtpTransport(HOST, port), Tokens(secret_key(root / "var")), clock=live.clock
        )
        try:
            worker.sweep()  # heartbeat, plan; nothing is due yet
            with live.engine.connect() as connection:
                planned = connection.execute(
                    sa.select(sa.func.count()).select_from(outbox)
                ).scalar_one()
                due = outbox_store.next_due(connection)
            assert due is not None
            moment[0] = due  # the first reminders come due (one event's audience): send them
            outcome = worker.wake()
            assert outcome is not None
        finally:
            live.close()
        status = dict(
            line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
        )
        rss, peak = (int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))
        print(f"{rss:.1f} {peak:.1f} {planned} {outcome.sent}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reminders", type=int, default=10_000, help="mails sent at once")
    parser.add_argument("--subscribers", type=int, default=10_000, help="for the planner")
    parser.add_argument("--events", type=int, default=1000, help="for the planner")
    parser.add_argument("--rounds", type=int, default=3, help="sending rounds, each side")
    parser.add_argument("--runs", type=int, default=3, help="lateness measurements")
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-only", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker_only:
        worker_only(arguments.events, arguments.subscribers, arguments.port)
        return
    server = MailServer()
    try:
        port = server.port
        throughput(arguments.reminders, arguments.rounds, server)

        late = [lateness(port, server) for _ in range(arguments.runs)]
        print(
            "first mail after its due time, running Worker: "
            + ", ".join(f"{value:.3f}" for value in late)
            + f" s; max {max(late):.3f} s  (target < 1 s)"
        )

        planning(arguments.events, arguments.subscribers, port)

        rss, peak, planned, sent = worker_rss(arguments.events, arguments.subscribers, port)
        print(
            f"worker process ({arguments.events} events, {arguments.subscribers} subscribers, "
            f"planned {planned}, sent {sent}): RSS {rss:.0f} MB, peak {peak:.0f} MB  "
            "(target < 200 MB)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
