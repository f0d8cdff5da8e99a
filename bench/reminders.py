"""Benchmark sending: due reminders through ``calfeed worker`` beside a bare smtplib loop.

    .venv/bin/python bench/reminders.py [--reminders 10000] [--rounds 3] [--sweeps 6] [--quick]

A local aiosmtpd server runs in a process of its own, as a real mail server would, and only
counts what it receives and when (it keeps the first 100 mails). Each round then runs, in
turn, so that a slower spell of the machine weighs on both sides alike:

1. a bare smtplib loop on one connection sending N pre-built mails, calfeed's own as the
   server kept them: seconds from the loop's start to the server's last receipt;
2. calfeed: a fresh ``calfeed worker`` (``mail.smtp.connections``: 4, or ``--connections``)
   on a project of N subscribers and one event whose
   1-hour reminder comes due a margin after the start, so that the worker has planned it
   before: seconds from the due instant to the server's last receipt, and how late the
   first mail came;
3. the bare loop again; calfeed is compared with the mean of the two.

Last, one more worker sends N due reminders and sweeps on (every 30 seconds): its RSS once
it has sent them and after each sweep, and its peak.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import smtplib
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _catalog import TOPICS, Event, Project, people
from _proc import memory
from _report import Report, Target
from _serving import CALFEED, HOST, Process, calfeed, free_port, stop_on_sigterm
from _signups import LISTED, signed_up

SWEEP_EVERY = 30.0  # seconds between two sweeps of calfeed worker (README)
KEEP = 100  # mails the server keeps, for the bare loop


class Counter:
    """An aiosmtpd handler that counts messages, notes the first and last, keeps a few.

    The numbers live in shared memory: the server runs in a process of its own.
    """

    def __init__(self, count: Any, first: Any, last: Any, keep: Path) -> None:
        self._count, self._first, self._last, self._keep = count, first, last, keep

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.time()
        if not self._first.value:
            self._first.value = now
        self._last.value = now
        if self._count.value < KEEP:
            (self._keep / f"{self._count.value}.eml").write_bytes(envelope.original_content)
        self._count.value += 1
        return "250 OK"


def _serve(port: int, shared: tuple[Any, Any, Any], keep: Path, ready: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(Counter(*shared, keep), hostname=HOST, port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class MailServer:
    """A local aiosmtpd server in a process of its own."""

    def __init__(self, keep: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self.port, self.keep = free_port(), keep
        keep.mkdir(parents=True, exist_ok=True)
        # The count, and when the first and the last message arrived.
        self._values: tuple[Any, Any, Any] = (
            context.RawValue("q", 0),
            context.RawValue("d", 0.0),
            context.RawValue("d", 0.0),
        )
        ready, self._stop = context.Event(), context.Event()
        arguments = (self.port, self._values, keep, ready, self._stop)
        self._process = context.Process(target=_serve, args=arguments, daemon=True)
        self._process.start()
        if not ready.wait(60):
            raise RuntimeError("the mail server did not start")

    @property
    def count(self) -> int:
        """Messages received since the last reset."""
        return int(self._values[0].value)

    @property
    def first(self) -> float:
        """When the first message since the last reset arrived (Unix time; 0: none yet)."""
        return float(self._values[1].value)

    @property
    def last(self) -> float:
        """When the latest message arrived (Unix time)."""
        return float(self._values[2].value)

    def kept(self) -> list[bytes]:
        """Return the messages the server kept."""
        return [path.read_bytes() for path in sorted(self.keep.glob("*.eml"))]

    def reset(self) -> None:
        for value in self._values:
            value.value = 0

    def wait(self, count: int, limit: float, process: Process | None = None) -> None:
        """Wait until ``count`` messages arrived since the reset (bounded)."""
        deadline = time.monotonic() + limit
        while self.count < count:
            if process is not None:
                process.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.count} of {count} mails within {limit:.0f} s")
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._process.join(10)


def bare(server: MailServer, count: int, messages: list[bytes]) -> float:
    """Send ``count`` pre-built messages on one smtplib connection; return mails a second."""
    server.reset()
    started = time.time()
    with smtplib.SMTP(HOST, server.port, timeout=30) as client:
        for index in range(count):
            recipient = f"person{index}@example.org"
            client.sendmail("events@example.org", [recipient], messages[index % len(messages)])
    server.wait(count, 60)
    return count / (server.last - started)


@dataclass(frozen=True)
class Sent:
    """What one worker run measured."""

    rate: float  # mails a second, from the due instant to the server's last receipt
    late: float  # seconds from the due instant to the first mail
    ahead: float  # seconds from the worker's last plan to the due instant
    planning: float  # seconds from the worker's start to its plan


class Sending:
    """One run of ``calfeed worker`` sending ``count`` reminders that all come due at once.

    They come due ``margin`` seconds after the worker starts, which should cover its start
    and first plan. Before it starts, ``calfeed reminders`` lists what is to come, which
    confirms the few subscribers listed in config.yaml (the others are stored as sign-ups
    confirmed a day before): only reminders due after that are theirs,
    so a worker that plans late still sends them (at once), and the figures say it was late.
    """

    def __init__(
        self, server: MailServer, count: int, margin: float, folder: Path, connections: int = 4
    ) -> None:
        self.server, self.count = server, count
        start = datetime.now(UTC) + timedelta(hours=1, seconds=margin + 30)  # a first guess
        event = Event(0, start, "Europe/Brussels", TOPICS, sessions=False)  # everyone's topic
        everyone = people(count)
        self.project = Project(
            folder, [event], everyone[:LISTED], server.port, ("1h",), (), connections
        )
        self.project.write()
        signed_up(self.project, everyone[LISTED:], datetime.now(UTC))
        listed = subprocess.run(
            [CALFEED, "--config", self.project.config, "reminders"], capture_output=True
        )
        assert listed.returncode == 0, listed.stderr.decode(errors="replace")
        self.due = float(int(time.time() + margin))  # now that the listing is done
        start = datetime.fromtimestamp(self.due, UTC) + timedelta(hours=1)
        self.project.replace(dataclasses.replace(event, start=start))
        server.reset()
        self.process = calfeed(self.project.config, "worker", log=folder / "worker.log")
        self.began = self.process.wait_for(" running")

    def __enter__(self) -> Sending:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    def send(self) -> Sent:
        """Wait until the worker has planned and sent every reminder; return the figures."""
        limit = 120 + self.count / 50
        while self.project.outbox_rows() < self.count:
            self.process.check()
            if time.time() > self.due + limit:
                raise RuntimeError(f"calfeed worker planned no {self.count} reminders in time")
            time.sleep(0.02)
        planning = time.perf_counter() - self.process.started
        ahead = self.due - time.time()
        self.server.wait(self.count, limit, self.process)
        return Sent(
            self.count / (self.server.last - self.due),
            self.server.first - self.due,
            ahead,
            planning,
        )


def margin_after(sent: Sent) -> float:
    """Return a margin that covers a worker start and first plan like the one of ``sent``."""
    return 2 * sent.planning + 2


def rounds(report: Report, server: MailServer, count: int, number: int, folder: Path) -> float:
    """Print each round's calfeed and bare rates, the median and the worst lateness; return
    the margin the last round needed."""
    with Sending(server, min(count, 500), 5 + count / 1000, folder / "warm") as warm:
        margin = margin_after(warm.send()) + count / 2000  # planning grows with the count
    messages = server.kept()
    size = sum(map(len, messages)) / len(messages) / 1024
    report.note(f"bare loop: {len(messages)} of calfeed's mails, {size:.1f} KB on average")
    ratios, late = [], []
    for round_number in range(1, number + 1):
        before = bare(server, count, messages)
        with Sending(server, count, margin, folder / f"round-{round_number}") as sending:
            sent = sending.send()
        after = bare(server, count, messages)
        margin = margin_after(sent)
        late.append(sent.late)
        report.note(
            f"round {round_number}: calfeed worker planned {sent.planning:.1f} s after its "
            f"start, {sent.ahead:.1f} s before due; first mail {sent.late:.3f} s after due"
        )
        figure = report.add(
            f"round {round_number}: {count:,} due reminders -> SMTP, 4 connections",
            sent.rate,
            "mails/s",
            (before + after) / 2,
            "bare smtplib loop, one connection (before and after)",
            Target(least=1.0),
        )
        assert figure.ratio is not None
        ratios.append(figure.ratio)
    report.add(
        f"median of {number} rounds: calfeed worker / bare loop, {count:,} reminders",
        statistics.median(ratios),
        "x",
        target=Target(least=1.0, on="value"),
    )
    report.add(
        f"first mail after its due time, worst of {number} rounds",
        max(late),
        "s",
        target=Target(most=1.0, on="value"),
    )
    return margin


def sweeps(
    report: Report, server: MailServer, count: int, number: int, margin: float, folder: Path
) -> None:
    """Print a worker's memory once it has sent ``count`` reminders, then sweep by sweep."""
    with Sending(server, count, margin, folder / "memory") as sending:
        sending.send()
        pid = sending.process.pid
        sent = memory(pid)
        after = []
        for sweep in range(1, number + 1):
            # Just before the sweep after ``sweep`` begins.
            wake = sending.began + sweep * SWEEP_EVERY + SWEEP_EVERY - 1
            time.sleep(max(0.0, wake - time.perf_counter()))
            sending.process.check()
            after.append(memory(pid))
        peak = memory(pid).peak
    label = f"{count:,} reminders sent"
    if after:
        report.note(
            f"calfeed worker RSS after each of {number} sweeps (MB): "
            + ", ".join(f"{m.rss:.0f}" for m in after)
        )
    report.add(f"calfeed worker RSS once {label}", sent.rss, "MB")
    if after:
        report.add(f"calfeed worker RSS {number} sweeps later", after[-1].rss, "MB")
    report.add(f"calfeed worker peak RSS, {label} and {number} sweeps", peak, "MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=10_000, help="due at once")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sweeps", type=int, default=6, help="of the worker, for its memory")
    parser.add_argument("--quick", action="store_true", help="50 reminders, one round")
    arguments = parser.parse_args()
    stop_on_sigterm()
    count, number, swept = arguments.reminders, arguments.rounds, arguments.sweeps
    if arguments.quick:
        count, number, swept = 50, 1, 0
    report = Report("bench/reminders.py")
    with tempfile.TemporaryDirectory(prefix="calfeed-bench-") as name:
        folder = Path(name)
        server = MailServer(folder / "kept")
        try:
            margin = rounds(report, server, count, number, folder)
            sweeps(report, server, count, swept, margin, folder)
        finally:
            server.stop()
    report.summary()


if __name__ == "__main__":
    main()
